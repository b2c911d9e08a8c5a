"""The review queue as the desk pages it: filters, sort and paging run in DuckDB over the
run's rows of ``review_queue`` with every value a bound parameter (only the sort column is
chosen from a fixed list), so one page costs the same at 300 items or 300,000, and nothing
but the page leaves the database.

"Size of move" is how many priority levels an item crosses between the cohort it was in
and the one proposed (joining or leaving the campaign counts one). "Owner" selects the
items a person of the owners file may decide: the same scope ``owners.may_review`` checks
item by item, written as SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from segflow.errors import SegflowError

SORTS = {"rule": "rule", "customer": "entity_id", "proposed": "proposed_cohort",
         "before": "cohort_before", "status": "status", "move": "move",
         "item": "review_id"}
STATUSES = ("open", "confirmed", "overridden")
PAGE_SIZES = (25, 50, 100, 200)
COLUMNS = ("review_id", "entity_id", "rule", "detail", "cohort_before", "proposed_cohort",
           "template", "status", "decided_by", "reason", "move")


@dataclass(frozen=True)
class Filters:
    rule: str | None = None      # a rule or its start ("boundary", "boundary:engaged.c1")
    cohort: str | None = None    # before or proposed, split cohorts by their base name
    owner: str | None = None     # a person id: the items they may decide
    status: str | None = None
    min_move: int | None = None
    sort: str = "rule"
    desc: bool = False
    page: int = 1
    size: int = 50

    def checked(self) -> Filters:
        if self.sort not in SORTS:
            raise SegflowError(f"unknown sort {self.sort!r}; one of {', '.join(SORTS)}")
        if self.status is not None and self.status not in STATUSES:
            raise SegflowError(f"unknown status {self.status!r}; one of {', '.join(STATUSES)}")
        if self.size not in PAGE_SIZES:
            raise SegflowError(f"page size {self.size} is not one of {PAGE_SIZES}")
        if self.page < 1 or (self.min_move is not None and self.min_move < 0):
            raise SegflowError("page and size of move count from 1 and 0")
        return self

    def as_query(self) -> dict:
        """The filters as URL parameters (empty ones left out)."""
        out = {k: "true" if v is True else v for k, v in self.__dict__.items()
               if v is not None and v != "" and v is not False}
        out.pop("page", None)
        return out


def _levels(ctx) -> tuple[list[str], list[int]]:
    """Cohort names and their priority level (0 = the highest priority)."""
    tiers = {r.spec.name: r.spec.priority for r in ctx.rules.values()}
    order = {p: i for i, p in enumerate(sorted(set(tiers.values())))}
    names = sorted(tiers)
    return names, [order[tiers[n]] for n in names]


def _base(column: str) -> str:
    return f"split_part({column}, '__', 1)"


ITEM_COLUMNS = ("review_id, entity_id, rule, detail, cohort_before, proposed_cohort, "
                "template, status, decided_by, reason")


def items_sql(ctx, with_move: bool) -> tuple[str, list]:
    """The run's items as a subquery and its parameters; ``with_move`` adds the size of
    move (two joins with the cohorts' levels, from the run's frozen campaign), which costs a
    pass over every item, so it is added only when a filter or the sort needs it."""
    if not with_move:
        return (f"SELECT {ITEM_COLUMNS} FROM review_queue WHERE run_id = ?::VARCHAR",
                [ctx.run_id])
    return (f"SELECT *, {_MOVE} AS move FROM (SELECT {ITEM_COLUMNS} FROM review_queue "
            f"WHERE run_id = ?::VARCHAR) q {_tiers(ctx)}", [ctx.run_id])


_MOVE = """CASE WHEN coalesce(q.cohort_before, '') = coalesce(q.proposed_cohort, '') THEN 0
    WHEN q.cohort_before IS NULL OR q.proposed_cohort IS NULL THEN 1
    ELSE coalesce(abs(b.level - a.level), 1) END"""


def _tiers(ctx) -> str:
    """LEFT JOINs giving ``b.level`` and ``a.level`` of an item ``q``'s cohorts."""
    from segflow.governance.reasons import lit

    names, levels = _levels(ctx)
    values = ", ".join(f"({lit(n)}, {int(v)})" for n, v in zip(names, levels, strict=True))
    table = f"(VALUES {values})" if values else \
        "(SELECT NULL::VARCHAR, NULL::INTEGER WHERE false)"
    return (f"LEFT JOIN {table} AS b(name, level) ON b.name = {_base('q.cohort_before')} "
            f"LEFT JOIN {table} AS a(name, level) ON a.name = {_base('q.proposed_cohort')}")


def _needs_move(f: Filters) -> bool:
    return f.min_move is not None or f.sort == "move"


def scope_sql(ctx, person) -> tuple[str, list]:
    """A condition true for the items ``person`` may decide (``owners.may_review``)."""
    cfg = ctx.config
    if person is None or not (person.has("reviewer") and person.covers(cfg.campaign)):
        return "false", []
    reviewers = set(cfg.owners) | set(cfg.review.get("reviewers") or [])
    if "admin" in person.roles or person.id in reviewers:
        return "true", []
    owned = sorted(name for name, rule in ctx.rules.items() if person.id in rule.owners)
    terms = [(owned, _base("proposed_cohort")), (owned, _base("cohort_before")),
             (sorted(person.templates), "template"),
             (sorted(person.cohorts), _base("coalesce(proposed_cohort, cohort_before)")),
             (sorted(person.accounts), "entity_id")]
    used = [(values, column) for values, column in terms if values]  # DuckDB cannot bind []
    if not used:
        return "false", []
    return ("(" + " OR ".join(f"{column} IN (SELECT unnest(?::VARCHAR[]))" for _, column in used)
            + ")", [values for values, _ in used])


def where_sql(ctx, f: Filters, owners) -> tuple[str, list]:
    """The filters as a WHERE clause over ``items_sql`` and its parameters."""
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
        sql, more = scope_sql(ctx, owners.people.get(f.owner))
        parts.append(sql)
        params += more
    return " AND ".join(parts), params


def page(con, ctx, f: Filters, owners) -> tuple[list[dict], int]:
    """One page of items (dicts of COLUMNS) and how many match in all: the count and the
    page's rows are chosen over the bare items; the size of move is computed for the page
    only, unless a filter or the sort needs it for all."""
    f = f.checked()
    base, base_params = items_sql(ctx, _needs_move(f))
    where, params = where_sql(ctx, f, owners)
    total = con.execute(f"SELECT count(*) FROM ({base}) WHERE {where}",
                        base_params + params).fetchone()[0]
    order = f"{SORTS[f.sort]} {'DESC' if f.desc else 'ASC'} NULLS LAST, review_id"
    cur = con.execute(f"""SELECT q.*, {_MOVE} AS move FROM (
        SELECT {ITEM_COLUMNS} FROM ({base}) WHERE {where} ORDER BY {order}
        LIMIT ? OFFSET ?) q {_tiers(ctx)} ORDER BY {order.replace('move', _MOVE)}""",
                      base_params + params + [f.size, (f.page - 1) * f.size])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()], total


def selected_ids(con, ctx, f: Filters, owners, limit: int | None) -> list[str]:
    """The open items of a selection in the page's order (a bulk decision acts on these)."""
    f = f.checked()
    base, base_params = items_sql(ctx, _needs_move(f))
    where, params = where_sql(ctx, f, owners)
    order = f"{SORTS[f.sort]} {'DESC' if f.desc else 'ASC'} NULLS LAST, review_id"
    rows = con.execute(f"SELECT review_id FROM ({base}) WHERE {where} AND status = 'open' "
                       f"ORDER BY {order} LIMIT ?",
                       base_params + params + [limit if limit else 2**62]).fetchall()
    return [r[0] for r in rows]


def facets(con, ctx) -> dict[str, list]:
    """The values the filter menus offer: rules, cohorts and counts by status."""
    rules = [r[0] for r in con.execute("SELECT DISTINCT rule FROM review_queue WHERE "
                                       "run_id = ? ORDER BY 1", [ctx.run_id]).fetchall()]
    cohorts = [r[0] for r in con.execute(
        f"SELECT DISTINCT {_base('c')} FROM (SELECT cohort_before AS c FROM review_queue "
        "WHERE run_id = ? UNION SELECT proposed_cohort FROM review_queue WHERE run_id = ?) "
        "WHERE c IS NOT NULL ORDER BY 1", [ctx.run_id, ctx.run_id]).fetchall()]
    status = dict(con.execute("SELECT status, count(*) FROM review_queue WHERE run_id = ? "
                              "GROUP BY 1", [ctx.run_id]).fetchall())
    return {"rules": rules, "cohorts": cohorts, "status": status}
