"""Evaluate a resolved campaign over a scored frame into memberships, in one DuckDB query.

One scan computes every cohort's and suppression's predicate as a boolean column (params
bound), top-fraction cohorts rank their matches in score buckets (``segflow.scoring.ranking``:
the same ranks as one window, in thousands of small sorts), then each entity's matching
cohorts are collected in priority order: exclusive campaigns keep the first, overlapping
ones keep all. Suppressions, the stable-hash holdout and the rank within cohort follow.
Cost is linear in rows x cohorts plus the sorts of ranked cohorts; no Python per entity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from segflow.scoring.arms import cuts
from segflow.scoring.ranking import rank_ctes
from segflow.scoring.resolve import Bound, Resolved
from segflow.scoring.sqlparts import bind_predicate, duck, quote, split_sql, unit_hash_sql

MEMBERSHIP_COLUMNS = ("run_id", "campaign", "entity_id", "cohort", "template", "split_value",
                      "status", "arm", "suppressed_by", "priority", "rank", "score", "channels")


@dataclass(frozen=True)
class Parts:
    """The two pieces of the evaluation query an engine writes its own way: a template's
    bound predicate (``bind_predicate``'s signature) and the stable holdout/offer draw
    (``unit_hash_sql``'s). Everything else is one query, translated for Spark whole."""

    predicate: Callable[..., str]
    unit_hash: Callable[..., str]


DUCKDB = Parts(bind_predicate, unit_hash_sql)


def entity_key(entity: str) -> str:
    return f"{entity}_id"


def matches_sql(resolved: Resolved, params: dict[str, Any], parts: Parts = DUCKDB) -> str:
    """SELECT of entity_id, _u (holdout draw), _c<i>/_s<i>/_v<i> per cohort, _x<j> per
    suppression: the one pass over the frame. Fills ``params`` with bound values."""
    bind_predicate, unit_hash_sql = parts.predicate, parts.unit_hash
    key = quote(entity_key(resolved.campaign.entity))
    cols = [f"CAST({key} AS VARCHAR) AS entity_id", f"{unit_hash_sql(key)} AS _u"]
    if resolved.offers:  # the offer draw: the same stable hash under the experiment's salt
        cols.append(f"{unit_hash_sql(key, 'offer_salt')} AS _a")
        params["offer_salt"] = resolved.campaign.experiment.salt
    ranked = []
    for i, b in enumerate(resolved.cohorts):
        cols.append(f"{bind_predicate(b.tree, b.params, f'c{i}_', params)} AS _m{i}")
        cols.append(f"{split_sql(b.spec.split_by)} AS _s{i}")
        score = b.template.score_column
        cols.append(f"CAST({quote(score) if score else 'NULL'} AS DOUBLE) AS _v{i}")
        if b.template.rank_by and (b.template.top_fraction or b.template.top_n):
            cols.append(f"CAST({quote(b.template.rank_by)} AS DOUBLE) AS _r{i}")
            ranked.append(i)
    for j, b in enumerate(resolved.suppressions):
        cols.append(f"{bind_predicate(b.tree, b.params, f'x{j}_', params)} AS _x{j}")
    params["salt"] = resolved.campaign.salt
    base = f"SELECT {', '.join(cols)} FROM frame"
    if not ranked:
        plain = [f"_m{i} AS _c{i}" for i in range(len(resolved.cohorts))]
        return f"SELECT *, {', '.join(plain) or 'true AS _none'} FROM ({base})"
    ranks = [_rank_sql(i, resolved.cohorts[i], params) for i in ranked]
    cs = [f"coalesce(_m{i} AND _k{i}, false) AS _c{i}" if i in ranked else f"_m{i} AS _c{i}"
          for i in range(len(resolved.cohorts))]
    joins = " ".join(f"LEFT JOIN r{i} USING (entity_id)" for i in ranked)
    return (f"WITH base AS MATERIALIZED ({base}), {', '.join(ranks)} "
            f"SELECT base.*, {', '.join(cs)} FROM base {joins}")


def _rank_sql(i: int, b: Bound, params: dict[str, Any]) -> str:
    """CTE r<i>: whether each match of cohort i is among its best top_fraction / top_n (per
    split value), its place numbered in pieces (``segflow.scoring.ranking``: one window
    over a cohort without a split would sort all its matches in one task on Spark). Ranked
    over the matches' few columns only: a window over the whole wide row (three columns per
    cohort) cost most of the evaluation at 1M."""
    t = b.template
    if t.top_n is not None:
        params[f"top{i}"] = _value(t.top_n, b.params)
        limit = f"$top{i}"
    else:
        params[f"top{i}"] = float(_value(t.top_fraction, b.params))
        limit = f"ceil($top{i} * _total)"
    matches = f"SELECT entity_id, _s{i} AS _g0, _r{i} AS _o FROM base WHERE _m{i}"
    return (f"{rank_ctes(f'q{i}', matches, 1)}, "
            f"r{i} AS (SELECT entity_id, _rank <= {limit} AS _k{i} FROM q{i})")


def _value(setting, values: dict[str, Any]):
    return values[setting[1:]] if isinstance(setting, str) else setting


def specs_table(resolved: Resolved):
    """Cohort metadata by index (names, priorities, channels), joined rather than pasted."""
    import pyarrow as pa

    cs = resolved.cohorts
    return pa.table({
        "i": pa.array(range(len(cs)), pa.int32()),
        "cohort": [b.key for b in cs], "template": [b.template.name for b in cs],
        "priority": pa.array([b.spec.priority for b in cs], pa.int32()),
        "channels": pa.array([list(b.channels) for b in cs], pa.list_(pa.string())),
        "offer_names": pa.array([[n for n, _ in resolved.offers_of(b)] for b in cs],
                                pa.list_(pa.string())),
        "offer_cuts": pa.array([cuts(resolved.offers_of(b)) for b in cs],
                               pa.list_(pa.float64())),
    })


def _arm_sql(resolved: Resolved, prior: bool) -> str:
    """The arm of a row: holdout, the plain 'treatment', or in an experiment cohort the
    offer kept from the prior run (when still offered) else the offer whose band of the
    experiment draw ``_a`` holds it."""
    if not resolved.offers:
        return "CASE status WHEN 'assigned' THEN 'treatment' WHEN 'holdout' THEN 'holdout' END"
    drawn = ("CASE WHEN array_length(_offers) = 0 THEN 'treatment' ELSE _offers[1 + "
             "array_length(list_filter(_cuts, lambda c: c <= _a))] END")
    if prior:
        drawn = (f"CASE WHEN list_contains(_offers, _prior_arm) THEN _prior_arm "
                 f"ELSE {drawn} END")
    return f"CASE status WHEN 'assigned' THEN {drawn} WHEN 'holdout' THEN 'holdout' END"


def memberships_sql(resolved: Resolved, params: dict[str, Any], prior: bool = False,
                    parts: Parts = DUCKDB) -> str:
    """The full query: matches -> chosen cohort rows -> status, arm, rank, channels.
    ``prior``: a view ``prior`` (entity_id, cohort, arm) holds offers to keep. ``parts``:
    how a template's predicate and the holdout hash are written (DuckDB's SQL; for Spark,
    markers ``segflow.scoring.evaluate_spark`` replaces with their translations)."""
    c = resolved.campaign
    hits = [f"struct_pack(i := {i}, ok := _c{i}, s := _s{i}, v := _v{i})"
            for i in range(len(resolved.cohorts))]
    every = [(j, b) for j, b in enumerate(resolved.suppressions) if not b.channels]
    some = [(j, b) for j, b in enumerate(resolved.suppressions) if b.channels]
    applies = _applies(resolved, params)
    blocked = " || ".join(f"(CASE WHEN {applies[j]} THEN $bc{j} ELSE []::VARCHAR[] END)"
                          for j, _ in some) or "[]::VARCHAR[]"
    for j, b in some:
        params[f"bc{j}"] = list(b.channels)
    xs = "".join(f"_x{j}, " for j in range(len(resolved.suppressions)))
    params.update(campaign=c.name, holdout=float(c.holdout_fraction))
    if c.exclusive:  # the first match in priority order: a CASE, not a list per row
        first = " ".join(f"WHEN _c{i} THEN {hit}" for i, hit in enumerate(hits))
        chosen = f"CASE {first} END AS hit" if first else "NULL AS hit"
        unit = "SELECT * FROM h"
    else:
        chosen = f"list_filter([{', '.join(hits)}], lambda x: x.ok) AS _hits"
        unit = (f"SELECT entity_id, _u, {'_a, ' if resolved.offers else ''}{xs}"
                "unnest(CASE WHEN array_length(_hits) = 0 THEN [NULL] ELSE _hits END) AS hit "
                "FROM h")
    return f"""
WITH m AS ({matches_sql(resolved, params, parts)}),
h AS (SELECT entity_id, _u, {"_a, " if resolved.offers else ""}{xs}{chosen} FROM m),
u AS ({unit}),
j AS (SELECT h.*, {_first_name(every, applies, params, "sa")} AS _sup_all,
             {_first_name(some, applies, params, "sc")} AS _sup_chan, {blocked} AS _blocked,
             s.cohort AS _base, s.template, s.priority,
             list_filter(s.channels, lambda ch: NOT list_contains(_blocked, ch)) AS _left,
             array_length(s.channels) AS _nchan, s.offer_names AS _offers, s.offer_cuts AS _cuts
      FROM u h LEFT JOIN specs s ON s.i = h.hit.i),
st AS (SELECT *, CASE
         WHEN _sup_all IS NOT NULL THEN 'suppressed'
         WHEN hit IS NULL THEN 'unassigned'
         WHEN _nchan > 0 AND array_length(_left) = 0 THEN 'suppressed'
         WHEN _u < $holdout THEN 'holdout' ELSE 'assigned' END AS status,
       CASE WHEN hit.s IS NULL THEN _base ELSE _base || '__' || hit.s END AS _cohort FROM j),
sp AS ({"SELECT st.*, p.arm AS _prior_arm FROM st LEFT JOIN prior p ON p.entity_id = "
        "st.entity_id AND p.cohort = st._cohort" if prior else "SELECT * FROM st"})
SELECT $run_id AS run_id, $campaign AS campaign, entity_id, _cohort AS cohort,
       template, hit.s AS split_value, status,
       {_arm_sql(resolved, prior)} AS arm,
       CASE WHEN status = 'suppressed' THEN coalesce(_sup_all, _sup_chan) END AS suppressed_by,
       priority,
       CASE WHEN status IN ('assigned', 'holdout') THEN row_number() OVER (
         PARTITION BY _base, hit.s, status IN ('assigned', 'holdout')
         ORDER BY hit.v DESC NULLS LAST, entity_id) END AS rank,
       hit.v AS score,
       array_to_string(CASE WHEN status = 'suppressed' THEN [] ELSE _left END, ',') AS channels
FROM sp ORDER BY entity_id, priority NULLS LAST"""


def _applies(resolved: Resolved, params: dict[str, Any]) -> dict[int, str]:
    """Per suppression, the SQL condition that it applies to a row: its predicate, and for
    a suppression with ``exempt`` cohorts, that the row's cohort is not one of them (an
    unassigned row is never exempt)."""
    index = {b.key: i for i, b in enumerate(resolved.cohorts)}
    out = {}
    for j, b in enumerate(resolved.suppressions):
        exempt = [index[name] for name in getattr(b.spec, "exempt", ()) if name in index]
        if not exempt:
            out[j] = f"_x{j}"
            continue
        params[f"ex{j}"] = exempt
        out[j] = f"(_x{j} AND NOT coalesce(list_contains($ex{j}, hit.i), false))"
    return out


def _first_name(items: list[tuple[int, Bound]], applies: dict[int, str],
                params: dict[str, Any], tag: str) -> str:
    """CASE naming the first suppression of ``items`` that applies (NULL when none)."""
    if not items:
        return "CAST(NULL AS VARCHAR)"
    whens = []
    for j, b in items:
        params[f"{tag}{j}"] = b.key
        whens.append(f"WHEN {applies[j]} THEN ${tag}{j}")
    return f"CASE {' '.join(whens)} END"


def evaluate_memberships(frame, resolved: Resolved, run_id: str | None = None,
                         prior=None):
    """Memberships (Arrow, columns as in docs/architecture.md) of ``frame`` for a campaign;
    ``frame`` is an Arrow table or the path of a scored Parquet file (read by DuckDB, so a
    10M-row frame need not be in memory). ``prior``: the memberships Parquet of the run
    before, whose experiment offers customers keep (only new assignments are drawn)."""
    from pathlib import Path

    import pyarrow as pa

    params: dict[str, Any] = {"run_id": run_id}
    use_prior = prior is not None and bool(resolved.offers)
    sql = memberships_sql(resolved, params, use_prior)
    with duck() as con:
        from segflow.scoring.runfiles import parquet_sql

        if use_prior:
            con.execute("CREATE VIEW prior AS SELECT entity_id, cohort, arm FROM "
                        f"{parquet_sql(prior)} WHERE status = 'assigned'")
        if isinstance(frame, (str, Path)):
            con.execute(f"CREATE VIEW frame AS SELECT * FROM {parquet_sql(Path(frame))}")
        else:
            con.register("frame", frame)
        con.register("specs", specs_table(resolved))
        table = con.sql(sql, params=params).to_arrow_table()
    return table.select(list(MEMBERSHIP_COLUMNS)).cast(pa.schema([
        ("run_id", pa.string()), ("campaign", pa.string()), ("entity_id", pa.string()),
        ("cohort", pa.string()), ("template", pa.string()), ("split_value", pa.string()),
        ("status", pa.string()), ("arm", pa.string()), ("suppressed_by", pa.string()),
        ("priority", pa.int32()), ("rank", pa.int64()), ("score", pa.float64()),
        ("channels", pa.string())]))
