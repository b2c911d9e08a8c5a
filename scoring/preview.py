"""Preview a campaign before publishing: sizes, clause funnels, overlaps, holdout and
suppression counts, and the effect of parameter changes. Nothing is written.

Funnels and overlaps are one aggregate query each over the scored frame (the same clause
SQL that governance and explain use); sizes come from the real membership evaluation, so a
preview shows exactly what a refresh would produce.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segflow.scoring.arms import balance_of, offer_counts
from segflow.scoring.clauses import clause_sql, clauses
from segflow.scoring.evaluate import matches_sql
from segflow.scoring.resolve import Resolved
from segflow.scoring.sqlparts import duck, quote, split_sql


@dataclass
class Preview:
    campaign: str
    entities: int
    status: dict[str, int]  # assigned / holdout / suppressed / unassigned
    suppressed_by: dict[str, int]
    cohorts: list[dict]  # cohort, template, priority, matched, assigned, holdout, suppressed
    funnels: dict[str, list[tuple[str, int]]]  # cohort spec -> (clause text, cumulative n)
    overlaps: list[tuple[str, str, int]]  # pairs of cohort specs matching the same entity
    changes: list[dict] = field(default_factory=list)  # with overrides: before/after sizes
    offers: list[dict] = field(default_factory=list)  # experiment cohorts: offer sizes, checks
    # (cohort or suppression, column) where a rule reads a column null for every entity
    all_null: list[tuple[str, str]] = field(default_factory=list)


def preview(frame, resolved: Resolved, baseline: Resolved | None = None) -> Preview:
    """Everything ``segflow preview`` shows, on DuckDB for the scored Arrow ``frame``;
    ``baseline`` (the campaign without --set) adds the size changes."""
    from segflow.scoring.evaluate import evaluate_memberships

    with duck() as con:
        con.register("frame", frame)
        con.register("m", evaluate_memberships(frame, resolved))
        params: dict[str, Any] = {}
        con.execute(f"CREATE TEMP TABLE matches AS {matches_sql(resolved, params)}", params)
        if baseline is not None:
            con.register("m_before", evaluate_memberships(frame, baseline))
        return preview_on(con, resolved, baseline is not None)


def preview_campaign(settings, resolved: Resolved, as_of,
                     baseline: Resolved | None = None) -> Preview:
    """``segflow preview`` on the project's engine: the champions' scores as of ``as_of``
    (retrieved and scored as a refresh would, nothing written), then ``preview``."""
    from segflow.engines import SPARK

    if settings.engine == SPARK:
        from segflow.scoring.preview_spark import preview_on_spark

        return preview_on_spark(settings, resolved, as_of, baseline)
    from segflow.progress import stage
    from segflow.scoring.score import score

    with stage(f"scored {resolved.campaign.name}"):
        scored = score(settings, resolved, as_of)
    with stage("evaluated cohorts, funnels and overlaps"):
        return preview(scored.frame, resolved, baseline)


def preview_on(con, resolved: Resolved, changes: bool = False) -> Preview:
    """The preview from the views on ``con`` (DuckDB, or Spark through
    ``segflow.sqlengine``: the same SQL, only counts come back): ``frame`` (the scored
    features), ``m`` (its memberships), ``matches`` (``matches_sql``: each rule's matches
    before exclusivity) and, with ``changes``, ``m_before`` (the memberships without the
    --set overrides)."""
    status, sup, cohorts = cohort_sizes(con, "m")
    matched = matched_counts(con, resolved)
    specs = {b.key: b for b in resolved.cohorts}
    for row in cohorts:
        key = row["cohort"].split("__")[0] if row["cohort"] not in specs else row["cohort"]
        row["matched"] = matched.get(key)
        size = specs[key].spec.expected_size if key in specs else None
        row["expected"] = size
        total = row["assigned"] + row["holdout"]
        row["outside_expected"] = bool(size and not size[0] <= total <= size[1])
    steps = funnels(con, resolved)
    for b in resolved.cohorts:
        t = b.template
        if t.top_fraction is not None or t.top_n is not None:
            keep = t.top_fraction if t.top_n is None else t.top_n
            keep = b.params[keep[1:]] if isinstance(keep, str) else keep
            label = f"top {keep:g} of them" if t.top_n is None else f"top {keep}"
            steps[b.key].append((f"{label} by {t.rank_by}", matched[b.key]))
    (entities,) = con.execute("SELECT count(*) FROM frame").fetchone()
    result = Preview(resolved.campaign.name, int(entities), status, sup, cohorts, steps,
                     overlaps(con, resolved), offers=offer_balance(con, resolved),
                     all_null=all_null_columns(con, resolved))
    if changes:
        _, _, before = cohort_sizes(con, "m_before")
        result.changes = size_changes(before, cohorts)
    return result


def all_null_columns(con, resolved: Resolved) -> list[tuple[str, str]]:
    """Rules that read a column null for every entity: such a rule silently matches nobody
    (or, under NOT or COALESCE, everybody), which is almost always a missing source or a
    feature that was never built, not a business fact. One aggregate query over ``frame``."""
    from segflow.scoring.predicate import columns_used

    names = {row[0] for row in con.execute("DESCRIBE frame").fetchall()}
    rules = [(b.key, c) for b in (*resolved.cohorts, *resolved.suppressions)
             for c in columns_used(b.tree) if c in names]
    columns = sorted({c for _, c in rules})
    if not columns:
        return []
    *counts, rows = con.execute("SELECT " + ", ".join(f'count("{c}")' for c in columns)
                                + ", count(*) FROM frame").fetchone()
    if rows == 0:
        return []
    empty = {c for c, n in zip(columns, counts, strict=True) if n == 0}
    return [(key, c) for key, c in rules if c in empty]


def cohort_sizes(con, view: str) -> tuple[dict, dict, list[dict]]:
    """Status counts, suppression counts and per-cohort counts of the memberships ``view``."""
    status = dict(con.execute(f"SELECT status, count(*) FROM {view} GROUP BY 1").fetchall())
    sup = dict(con.execute(f"SELECT suppressed_by, count(*) FROM {view} WHERE suppressed_by "
                           "IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1").fetchall())
    names = ["cohort", "template", "priority", "assigned", "holdout", "suppressed"]
    rows = con.execute(f"""SELECT cohort, min(template) AS template, min(priority) AS priority,
        count(*) FILTER (WHERE status = 'assigned') AS assigned,
        count(*) FILTER (WHERE status = 'holdout') AS holdout,
        count(*) FILTER (WHERE status = 'suppressed') AS suppressed
        FROM {view} WHERE cohort IS NOT NULL GROUP BY cohort ORDER BY priority, cohort""")
    return status, sup, [dict(zip(names, r, strict=True)) for r in rows.fetchall()]


def funnels(con, resolved: Resolved) -> dict[str, list[tuple[str, int]]]:
    """For each cohort spec: entities passing clause 1, then 1 and 2, ... (one query)."""
    params: dict[str, Any] = {}
    exprs, labels = [], []
    for i, b in enumerate(resolved.cohorts):
        parts = clause_sql(b.template, b.params, params, prefix=f"f{i}_")
        texts = [c.text for c in clauses(b.template, b.params)]
        for n in range(1, len(parts) + 1):
            exprs.append(f"count_if({' AND '.join(parts[:n])})")
            labels.append((b.key, texts[n - 1]))
    if not exprs:
        return {}
    counts = con.execute(f"SELECT {', '.join(exprs)} FROM frame", params).fetchone()
    out: dict[str, list[tuple[str, int]]] = {}
    for (key, text), n in zip(labels, counts, strict=True):
        out.setdefault(key, []).append((text, int(n)))
    return out


def overlaps(con, resolved: Resolved, top: int = 15) -> list[tuple[str, str, int]]:
    """Largest pairwise overlaps of cohort specs' matches (before exclusivity)."""
    n = len(resolved.cohorts)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if not pairs:
        return []
    sums = ", ".join(f"count_if(_c{i} AND _c{j})" for i, j in pairs)
    counts = con.execute(f"SELECT {sums} FROM matches").fetchone()
    found = [(resolved.cohorts[i].key, resolved.cohorts[j].key, int(c))
             for (i, j), c in zip(pairs, counts, strict=True) if c]
    return sorted(found, key=lambda t: -t[2])[:top]


def matched_counts(con, resolved: Resolved) -> dict[str, int]:
    """Entities matching each cohort spec's rule (with top fraction), before exclusivity."""
    if not resolved.cohorts:
        return {}
    sums = ", ".join(f"count_if(_c{i})" for i in range(len(resolved.cohorts)))
    counts = con.execute(f"SELECT {sums} FROM matches").fetchone()
    return {b.key: int(c) for b, c in zip(resolved.cohorts, counts, strict=True)}


def offer_balance(con, resolved: Resolved) -> list[dict]:
    """Offer sizes and balance checks of the experiment cohorts (``segflow.scoring.arms``),
    with the offer mix per stratum when the experiment names ``stratify_by`` columns."""
    exp = resolved.campaign.experiment
    if exp is None or not resolved.offers:
        return []
    if exp.stratify_by:
        key = quote(f"{resolved.campaign.entity}_id")
        con.execute(f"CREATE TEMP VIEW s AS SELECT CAST({key} AS VARCHAR) AS entity_id, "
                    f"{split_sql(exp.stratify_by)} AS stratum FROM frame")
    rows, by_stratum = offer_counts(con, bool(exp.stratify_by))
    return balance_of(rows, by_stratum, resolved.offers, min_per_offer=exp.min_per_offer)


def size_changes(before: list[dict], after: list[dict]) -> list[dict]:
    """Cohorts whose assigned + holdout size differs between two evaluations."""
    size = lambda rows: {r["cohort"]: r["assigned"] + r["holdout"] for r in rows}  # noqa: E731
    b, a = size(before), size(after)
    return [{"cohort": c, "before": b.get(c, 0), "after": a.get(c, 0)}
            for c in sorted(set(b) | set(a)) if b.get(c, 0) != a.get(c, 0)]
