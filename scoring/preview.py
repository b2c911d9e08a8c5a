"""Preview a campaign before publishing: sizes, clause funnels, overlaps, holdout and
suppression counts, and the effect of parameter changes. Nothing is written.

Funnels and overlaps are one aggregate query each over the scored frame (the same clause
SQL that governance and explain use); sizes come from the real membership evaluation, so a
preview shows exactly what a refresh would produce.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segflow.scoring.arms import balance
from segflow.scoring.clauses import clause_sql, clauses
from segflow.scoring.evaluate import evaluate_memberships, matches_sql
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


def cohort_sizes(memberships) -> tuple[dict, dict, list[dict]]:
    """Status counts, suppression counts and per-cohort counts from memberships."""
    import duckdb

    con = duckdb.connect()
    con.register("m", memberships)
    status = dict(con.sql("SELECT status, count(*) FROM m GROUP BY 1").fetchall())
    sup = dict(con.sql("SELECT suppressed_by, count(*) FROM m WHERE suppressed_by IS NOT NULL "
                       "GROUP BY 1 ORDER BY 2 DESC").fetchall())
    rows = con.sql("""SELECT cohort, any_value(template) AS template, min(priority) AS priority,
        count(*) FILTER (status = 'assigned') AS assigned,
        count(*) FILTER (status = 'holdout') AS holdout,
        count(*) FILTER (status = 'suppressed') AS suppressed
        FROM m WHERE cohort IS NOT NULL GROUP BY cohort ORDER BY priority, cohort""")
    cohorts = [dict(zip(rows.columns, r, strict=True)) for r in rows.fetchall()]
    con.close()
    return status, sup, cohorts


def funnels(frame, resolved: Resolved) -> dict[str, list[tuple[str, int]]]:
    """For each cohort spec: entities passing clause 1, then 1 and 2, ... (one query)."""
    params: dict[str, Any] = {}
    exprs, labels = [], []
    for i, b in enumerate(resolved.cohorts):
        parts = clause_sql(b.template, b.params, params, prefix=f"f{i}_")
        texts = [c.text for c in clauses(b.template, b.params)]
        for n in range(1, len(parts) + 1):
            exprs.append(f"count_if({' AND '.join(parts[:n])})")
            labels.append((b.key, texts[n - 1]))
    with duck() as con:
        con.register("frame", frame)
        counts = con.sql(f"SELECT {', '.join(exprs)} FROM frame", params=params).fetchall()[0]
    out: dict[str, list[tuple[str, int]]] = {}
    for (key, text), n in zip(labels, counts, strict=True):
        out.setdefault(key, []).append((text, int(n)))
    return out


def overlaps(frame, resolved: Resolved, top: int = 15) -> list[tuple[str, str, int]]:
    """Largest pairwise overlaps of cohort specs' matches (before exclusivity)."""
    n = len(resolved.cohorts)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if not pairs:
        return []
    params: dict[str, Any] = {}
    inner = matches_sql(resolved, params)
    sums = ", ".join(f"count_if(_c{i} AND _c{j})" for i, j in pairs)
    with duck() as con:
        con.register("frame", frame)
        counts = con.sql(f"SELECT {sums} FROM ({inner})", params=params).fetchall()[0]
    found = [(resolved.cohorts[i].key, resolved.cohorts[j].key, int(c))
             for (i, j), c in zip(pairs, counts, strict=True) if c]
    return sorted(found, key=lambda t: -t[2])[:top]


def matched_counts(frame, resolved: Resolved) -> dict[str, int]:
    """Entities matching each cohort spec's rule (with top fraction), before exclusivity."""
    params: dict[str, Any] = {}
    inner = matches_sql(resolved, params)
    sums = ", ".join(f"count_if(_c{i})" for i in range(len(resolved.cohorts)))
    with duck() as con:
        con.register("frame", frame)
        counts = con.sql(f"SELECT {sums} FROM ({inner})", params=params).fetchall()[0]
    return {b.key: int(c) for b, c in zip(resolved.cohorts, counts, strict=True)}


def preview(frame, resolved: Resolved, baseline: Resolved | None = None) -> Preview:
    """Everything ``segflow preview`` shows; ``baseline`` (without --set) adds changes."""
    memberships = evaluate_memberships(frame, resolved)
    status, sup, cohorts = cohort_sizes(memberships)
    matched = matched_counts(frame, resolved)
    specs = {b.key: b for b in resolved.cohorts}
    for row in cohorts:
        key = row["cohort"].split("__")[0] if row["cohort"] not in specs else row["cohort"]
        row["matched"] = matched.get(key)
        size = specs[key].spec.expected_size if key in specs else None
        row["expected"] = size
        total = row["assigned"] + row["holdout"]
        row["outside_expected"] = bool(size and not size[0] <= total <= size[1])
    steps = funnels(frame, resolved)
    for b in resolved.cohorts:
        t = b.template
        if t.top_fraction is not None or t.top_n is not None:
            keep = t.top_fraction if t.top_n is None else t.top_n
            keep = b.params[keep[1:]] if isinstance(keep, str) else keep
            label = f"top {keep:g} of them" if t.top_n is None else f"top {keep}"
            steps[b.key].append((f"{label} by {t.rank_by}", matched[b.key]))
    result = Preview(resolved.campaign.name, frame.num_rows, status, sup, cohorts, steps,
                     overlaps(frame, resolved), offers=offer_balance(frame, resolved,
                                                                     memberships))
    if baseline is not None:
        _, _, before = cohort_sizes(evaluate_memberships(frame, baseline))
        result.changes = size_changes(before, cohorts)
    return result


def offer_balance(frame, resolved: Resolved, memberships) -> list[dict]:
    """Offer sizes and balance checks of the experiment cohorts (``segflow.scoring.arms``),
    with the offer mix per stratum when the experiment names ``stratify_by`` columns."""
    exp = resolved.campaign.experiment
    if exp is None or not resolved.offers:
        return []
    strata = None
    if exp.stratify_by:
        key = quote(f"{resolved.campaign.entity}_id")
        with duck() as con:
            con.register("frame", frame)
            strata = con.sql(f"SELECT CAST({key} AS VARCHAR) AS entity_id, "
                             f"{split_sql(exp.stratify_by)} AS stratum FROM frame"
                             ).to_arrow_table()
    return balance(memberships, resolved.offers, strata, min_per_offer=exp.min_per_offer)


def size_changes(before: list[dict], after: list[dict]) -> list[dict]:
    """Cohorts whose assigned + holdout size differs between two evaluations."""
    size = lambda rows: {r["cohort"]: r["assigned"] + r["holdout"] for r in rows}  # noqa: E731
    b, a = size(before), size(after)
    return [{"cohort": c, "before": b.get(c, 0), "after": a.get(c, 0)}
            for c in sorted(set(b) | set(a)) if b.get(c, 0) != a.get(c, 0)]
