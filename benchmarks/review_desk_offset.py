"""The review desk's queue paging as it was before keyset paging (main at 9e3d5a7): LIMIT/
OFFSET over the run's items, the size of move and the cohorts' base names computed per row
at request time. Kept only as the peer ``benchmarks.review_desk`` measures in the same run;
the desk pages with ``segflow.governance.desk.queue``."""

from __future__ import annotations

from segflow.governance.desk.queue import SORTS, Filters
from segflow.governance.review_keys import cohort_levels

ITEM_COLUMNS = ("review_id, entity_id, rule, detail, cohort_before, proposed_cohort, "
                "template, status, decided_by, reason")
MOVE = """CASE WHEN coalesce(q.cohort_before, '') = coalesce(q.proposed_cohort, '') THEN 0
    WHEN q.cohort_before IS NULL OR q.proposed_cohort IS NULL THEN 1
    ELSE coalesce(abs(b.level - a.level), 1) END"""


def _base(column: str) -> str:
    return f"split_part({column}, '__', 1)"


def _tiers(ctx) -> str:
    from segflow.governance.reasons import lit

    names, levels = cohort_levels(ctx)
    values = ", ".join(f"({lit(n)}, {int(v)})" for n, v in zip(names, levels, strict=True))
    return (f"LEFT JOIN (VALUES {values}) AS b(name, level) ON b.name = "
            f"{_base('q.cohort_before')} LEFT JOIN (VALUES {values}) AS a(name, level) ON "
            f"a.name = {_base('q.proposed_cohort')}")


def _items(ctx, with_move: bool) -> tuple[str, list]:
    if not with_move:
        return (f"SELECT {ITEM_COLUMNS} FROM review_queue WHERE run_id = ?::VARCHAR",
                [ctx.run_id])
    return (f"SELECT *, {MOVE} AS move FROM (SELECT {ITEM_COLUMNS} FROM review_queue "
            f"WHERE run_id = ?::VARCHAR) q {_tiers(ctx)}", [ctx.run_id])


def _scope(ctx, person) -> tuple[str, list]:
    owned = sorted(name for name, rule in ctx.rules.items() if person.id in rule.owners)
    terms = [(owned, _base("proposed_cohort")), (owned, _base("cohort_before")),
             (sorted(person.templates), "template"),
             (sorted(person.cohorts), _base("coalesce(proposed_cohort, cohort_before)")),
             (sorted(person.accounts), "entity_id")]
    used = [(values, column) for values, column in terms if values]
    return ("(" + " OR ".join(f"{column} IN (SELECT unnest(?::VARCHAR[]))" for _, column in used)
            + ")", [values for values, _ in used])


def _where(ctx, f: Filters, owners) -> tuple[str, list]:
    parts, params = ["true"], []
    if f.rule:
        parts.append("starts_with(rule, ?::VARCHAR)")
        params.append(f.rule)
    if f.cohort:
        parts.append("(cohort_before = ?::VARCHAR OR proposed_cohort = ?::VARCHAR OR "
                     "starts_with(cohort_before, ?::VARCHAR) OR "
                     "starts_with(proposed_cohort, ?::VARCHAR))")
        params += [f.cohort, f.cohort, f.cohort + "__", f.cohort + "__"]
    if f.status:
        parts.append("status = ?::VARCHAR")
        params.append(f.status)
    if f.min_move is not None:
        parts.append("move >= ?::INTEGER")
        params.append(f.min_move)
    if f.owner:
        sql, more = _scope(ctx, owners.people[f.owner])
        parts.append(sql)
        params += more
    return " AND ".join(parts), params


def page(con, ctx, f: Filters, owners) -> tuple[list, int]:
    """One page by LIMIT/OFFSET (page ``f.page``) and the count, as the desk did."""
    needs_move = f.min_move is not None or f.sort == "move"
    base, base_params = _items(ctx, needs_move)
    where, params = _where(ctx, f, owners)
    total = con.execute(f"SELECT count(*) FROM ({base}) WHERE {where}",
                        base_params + params).fetchone()[0]
    order = f"{SORTS[f.sort]} {'DESC' if f.desc else 'ASC'} NULLS LAST, review_id"
    rows = con.execute(f"""SELECT q.*, {MOVE} AS move FROM (
        SELECT {ITEM_COLUMNS} FROM ({base}) WHERE {where} ORDER BY {order}
        LIMIT ? OFFSET ?) q {_tiers(ctx)} ORDER BY {order.replace('move', MOVE)}""",
                       base_params + params + [f.size, (f.page - 1) * f.size]).fetchall()
    return rows, total
