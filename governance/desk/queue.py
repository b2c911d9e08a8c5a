"""The review queue as the desk pages it: filters, sort and paging run in DuckDB over the
run's rows of ``review_queue`` with every value a bound parameter (only the sort column is
chosen from a fixed list), and nothing but the page leaves the database.

Paging is keyset ("seek") paging: a page link carries the sort value and item id of the
last row shown (``after``, Next) or of the first (``before``, Previous), and a page is the
``size`` rows past that key in the sort order, the item id breaking ties. A deep page costs
what the first costs (LIMIT/OFFSET sorted and skipped every row before it: 1.2 s for page
2,000 of 300,000 items), and a decision taken meanwhile neither skips nor repeats a row.

Filters and sorts read plain columns: "size of move" (how many priority levels an item
crosses between the cohort it was in and the one proposed; joining or leaving the campaign
counts one) and the cohorts' base names (a split cohort ``engaged__north|hindi`` is
``engaged``) are stored with each item by ``fill_keys``, once per run, from the run's
frozen cohort levels, so no filter computes per row at request time. "Owner" selects the
items a person of the owners file may decide: the scope ``owners.may_review`` checks item
by item, written as SQL.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from segflow.errors import SegflowError
from segflow.governance.owners import note_rule
from segflow.governance.review_keys import keys_sql
from segflow.governance.review_sets import require_items

SORTS = {"rule": "rule", "customer": "entity_id", "proposed": "proposed_cohort",
         "before": "cohort_before", "status": "status", "move": "move",
         "item": "review_id"}
STATUSES = ("open", "confirmed", "overridden")
PAGE_SIZES = (25, 50, 100, 200)
COLUMNS = ("review_id", "entity_id", "rule", "detail", "cohort_before", "proposed_cohort",
           "template", "status", "decided_by", "reason", "move")
# the cohort an item is summarised under: the one it was in, else the one proposed
COHORT = "coalesce(nullif(cohort_before, ''), nullif(proposed_cohort, ''), '')"
DAMAGED = "the page link is damaged: go back to the first page of the queue"


@dataclass(frozen=True)
class Filters:
    rule: str | None = None      # a rule or its start ("boundary", "boundary:engaged.c1")
    cohort: str | None = None    # before or proposed, split cohorts by their base name
    owner: str | None = None     # a person id: the items they may decide
    status: str | None = None
    min_move: int | None = None
    sort: str = "rule"
    desc: bool = False
    page: int = 1                # the page's number, as shown (the key below chooses rows)
    size: int = 50
    after: str | None = None     # the key of the previous page's last row: the next page
    before: str | None = None    # the key of the next page's first row: the page before

    def checked(self) -> Filters:
        if self.sort not in SORTS:
            raise SegflowError(f"unknown sort {self.sort!r}; one of {', '.join(SORTS)}")
        if self.status is not None and self.status not in STATUSES:
            raise SegflowError(f"unknown status {self.status!r}; one of {', '.join(STATUSES)}")
        if self.size not in PAGE_SIZES:
            raise SegflowError(f"page size {self.size} is not one of {PAGE_SIZES}")
        if self.page < 1 or (self.min_move is not None and self.min_move < 0):
            raise SegflowError("page and size of move count from 1 and 0")
        self.key()
        return self

    def key(self) -> tuple[bool, object, str] | None:
        """(forward, sort value, item id) of the page link's key, or None (the first
        page). A key is JSON ``[value, id]``: a string, or a whole number for move."""
        if self.after and self.before:
            raise SegflowError(DAMAGED)
        text = self.after or self.before
        if not text:
            return None
        try:
            value, item = json.loads(text)
        except (ValueError, TypeError):
            raise SegflowError(DAMAGED) from None
        kind = int if self.sort == "move" else str
        if not isinstance(item, str) or not (value is None or (
                isinstance(value, kind) and not isinstance(value, bool))):
            raise SegflowError(DAMAGED)
        return bool(self.after), value, item

    def as_query(self) -> dict:
        """The filters and sort as URL parameters (empty ones left out): the selection a
        decision acts on, without the page's number and key."""
        out = {k: "true" if v is True else v for k, v in self.__dict__.items()
               if v is not None and v != "" and v is not False}
        for name in ("page", "after", "before"):
            out.pop(name, None)
        return out


@dataclass
class Page:
    rows: list[dict]
    total: int
    has_next: bool
    has_previous: bool

    def keys(self, f: Filters) -> tuple[str, str]:
        """The keys of the first and last rows: Previous and Next links carry them."""
        if not self.rows:
            return "", ""
        column = SORTS[f.sort]
        return tuple(json.dumps([r[column], r["review_id"]], separators=(",", ":"))
                     for r in (self.rows[0], self.rows[-1]))


_FILLING = threading.Lock()  # the desk's request threads share one database


def fill_keys(con, ctx) -> int:
    """Store the size of move and the cohorts' base names of the run's items that lack
    them (all of a run the desk has not shown yet; the open items a re-run replaced), in
    one statement; returns how many. A move is a fact of the item's two cohorts and the
    run's frozen priorities, so it never needs refreshing. A Spark run's items are written
    with them (``governance.pipeline``), so only ``review_rows`` can lack them."""
    with _FILLING:
        missing = con.execute("SELECT count(*) FROM review_rows WHERE run_id = ? AND "
                              "move IS NULL", [ctx.run_id]).fetchone()[0]
        if not missing:
            return 0
        keys = keys_sql(ctx)
        con.execute(f"UPDATE review_rows SET {', '.join(f'{k} = {v}' for k, v in keys.items())}"
                    " WHERE run_id = ? AND move IS NULL", [ctx.run_id])
        return missing


def scope_sql(ctx, person) -> tuple[str, list]:
    """A condition true for the items ``person`` may decide (``owners.may_review``): their
    scope in every owners file that rules the run (today's and the run's frozen copy, as
    ``RunOwners.allowed``), so a scope granted after the run lists nothing it cannot decide."""
    from segflow.governance.owners import run_owners

    if person is None:
        return "false", []
    parts = [_file_scope_sql(ctx, owners.people.get(person.id))
             for owners in run_owners(ctx.live or ctx.settings, ctx.run_id).files]
    if any(sql == "false" for sql, _ in parts):
        return "false", []
    used = [(sql, params) for sql, params in parts if sql != "true"]
    if not used:
        return "true", []
    return (" AND ".join(sql for sql, _ in used),
            [value for _, params in used for value in params])


def _file_scope_sql(ctx, person) -> tuple[str, list]:
    """``scope_sql`` for the person as one owners file describes them."""
    cfg = ctx.config
    if person is None or not (person.has("reviewer") and person.covers(cfg.campaign)):
        return "false", []
    reviewers = set(cfg.owners) | set(cfg.review.get("reviewers") or [])
    if "admin" in person.roles or person.id in reviewers:
        return "true", []
    owned = sorted(name for name, rule in ctx.rules.items() if person.id in rule.owners)
    terms = [(owned, "base_proposed"), (owned, "base_before"),
             (sorted(person.templates), "template"),
             (sorted(person.cohorts), "coalesce(base_proposed, base_before)"),
             (sorted(person.accounts), "entity_id"),
             (sorted(note_rule(t) for t in person.topics), "rule")]
    used = [(values, column) for values, column in terms if values]  # DuckDB cannot bind []
    if not used:
        return "false", []
    return ("(" + " OR ".join(f"{column} IN (SELECT unnest(?::VARCHAR[]))" for _, column in used)
            + ")", [values for values, _ in used])


def listing_sql(con, settings, runs: list[str], f: Filters, owners) -> tuple[str, list]:
    """One SELECT of every item of ``runs`` the filters keep (``where_sql`` per run, its
    keys filled first): ``segflow review list`` counts and lists through it, so the CLI and
    the desk select with the same rule, cohort, status and owner conditions."""
    from segflow.governance.context import RunContext

    parts, params = [], []
    for run_id in runs:
        ctx = RunContext.of(settings, run_id)
        require_items(con, run_id)
        fill_keys(con, ctx)
        where, more = where_sql(ctx, f, owners)
        parts.append(f"SELECT * FROM review_queue WHERE {where}")
        params += more
    return " UNION ALL ".join(parts) or "SELECT * FROM review_queue WHERE false", params


def owned_items(settings, runs: set[str], owner: str) -> set[str]:
    """Review ids of ``runs`` that ``owner`` may decide (``scope_sql``, as the owner filter
    of the desk)."""
    from segflow.db import connect
    from segflow.governance.owners import load_owners

    owners = load_owners(settings.owners_path)
    if owners.people.get(owner) is None:
        raise SegflowError(f"{owner!r} is not in the owners file {settings.owners_path}")
    with connect(settings) as con:
        sql, params = listing_sql(con, settings, sorted(runs), Filters(owner=owner), owners)
        return {i for (i,) in con.execute(f"SELECT review_id FROM ({sql})", params).fetchall()}


def where_sql(ctx, f: Filters, owners) -> tuple[str, list]:
    """The run and the filters as a WHERE clause over ``review_queue``, and its
    parameters (``fill_keys`` first: it reads the stored move and base names)."""
    parts, params = ["run_id = ?::VARCHAR"], [ctx.run_id]
    if f.rule:  # the rule, or a family at a separator: "boundary" and "boundary:engaged"
        parts.append("(rule = $1 OR starts_with(rule, $1 || ':') OR "  # but not c1 for c10
                     "starts_with(rule, $1 || '.'))".replace("$1", "?::VARCHAR"))
        params += [f.rule] * 3
    if f.cohort:
        parts.append("(base_before = ?::VARCHAR OR base_proposed = ?::VARCHAR OR "
                     "cohort_before = ?::VARCHAR OR proposed_cohort = ?::VARCHAR)")
        params += [f.cohort] * 4
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


def order_sql(f: Filters, reverse: bool = False) -> str:
    """The sort: the chosen column (missing values last), then the item id."""
    desc = f.desc != reverse
    return (f"{SORTS[f.sort]} {'DESC' if desc else 'ASC'} NULLS "
            f"{'FIRST' if reverse else 'LAST'}, review_id {'DESC' if reverse else 'ASC'}")


def _seek(f: Filters, forward: bool, value, item: str) -> tuple[str, list]:
    """Rows past the key (``forward``) or before it, in the order of ``order_sql(f)``."""
    k = SORTS[f.sort]
    cast = "INTEGER" if f.sort == "move" else "VARCHAR"
    if value is None:  # the key's row is among the missing values, sorted last
        return ((f"({k} IS NULL AND review_id > ?::VARCHAR)", [item]) if forward else
                (f"({k} IS NOT NULL OR review_id < ?::VARCHAR)", [item]))
    past = "<" if f.desc == forward else ">"
    tie = ">" if forward else "<"
    sql = f"({k} {past} ?::{cast} OR ({k} = ?::{cast} AND review_id {tie} ?::VARCHAR)"
    return sql + (f" OR {k} IS NULL)" if forward else ")"), [value, value, item]


def page(con, ctx, f: Filters, owners) -> Page:
    """One page of items (dicts of COLUMNS), how many match in all, and whether there are
    pages after and before it."""
    f = f.checked()
    require_items(con, ctx.run_id)
    fill_keys(con, ctx)
    where, params = where_sql(ctx, f, owners)
    total = con.execute(f"SELECT count(*) FROM review_queue WHERE {where}",
                        params).fetchone()[0]
    key = f.key()
    seek, more = ("true", []) if key is None else _seek(f, *key)
    backward = key is not None and not key[0]
    cur = con.execute(f"SELECT {', '.join(COLUMNS)} FROM review_queue WHERE {where} AND "
                      f"{seek} ORDER BY {order_sql(f, backward)} LIMIT ?",
                      params + more + [f.size + 1])
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in cur.fetchall()]
    beyond = len(rows) > f.size
    rows = rows[:f.size]
    if backward:
        rows.reverse()
        return Page(rows, total, True, beyond)
    return Page(rows, total, beyond, key is not None)


def selected_ids(con, ctx, f: Filters, owners, limit: int | None) -> list[str]:
    """The open items of a selection in the page's order (a bulk decision acts on these)."""
    f = f.checked()
    require_items(con, ctx.run_id)
    fill_keys(con, ctx)
    where, params = where_sql(ctx, f, owners)
    rows = con.execute(f"SELECT review_id FROM review_queue WHERE {where} AND status = 'open' "
                       f"ORDER BY {order_sql(f)} LIMIT ?",
                       params + [limit if limit else 2**62]).fetchall()
    return [r[0] for r in rows]


def facets(con, ctx) -> dict[str, list]:
    """The values the filter menus offer: rules, cohorts and counts by status."""
    require_items(con, ctx.run_id)
    rules = [r[0] for r in con.execute("SELECT DISTINCT rule FROM review_queue WHERE "
                                       "run_id = ? ORDER BY 1", [ctx.run_id]).fetchall()]
    cohorts = [r[0] for r in con.execute(
        "SELECT DISTINCT c FROM (SELECT split_part(cohort_before, '__', 1) AS c FROM "
        "review_queue WHERE run_id = ? UNION SELECT split_part(proposed_cohort, '__', 1) "
        "FROM review_queue WHERE run_id = ?) WHERE c IS NOT NULL ORDER BY 1",
        [ctx.run_id, ctx.run_id]).fetchall()]
    status = dict(con.execute("SELECT status, count(*) FROM review_queue WHERE run_id = ? "
                              "GROUP BY 1", [ctx.run_id]).fetchall())
    return {"rules": rules, "cohorts": cohorts, "status": status}


@dataclass
class Listing:
    """What ``segflow review list`` shows: the items the filters keep counted by rule,
    cohort and status (largest groups first), and the first items in LIST_COLUMNS order."""
    total: int
    groups: list[tuple]      # (rule, cohort, status, items), at most ``GROUPS``
    group_count: int
    rows: list[tuple]


GROUPS = 15  # summary lines: a screen's worth


def listing(settings, run: str | None, filters: Filters, limit: int | None) -> Listing:
    """Count, group and list the queue in DuckDB with the desk's filters
    (``desk.queue.listing_sql``): only the summary and ``limit`` rows (all when None)
    leave the database, however many items a run has."""
    from segflow.db import connect
    from segflow.governance.owners import load_owners
    from segflow.governance.review_cli import LIST_COLUMNS
    from segflow.governance.store import ensure_schema

    filters = filters.checked()
    owners = load_owners(settings.owners_path) if filters.owner else None
    if owners is not None and owners.people.get(filters.owner) is None:
        raise SegflowError(f"{filters.owner!r} is not in the owners file "
                           f"{settings.owners_path}")
    with connect(settings) as con:
        ensure_schema(con)
        runs = [run] if run else [r for (r,) in con.execute(
            "SELECT DISTINCT run_id FROM review_queue ORDER BY run_id").fetchall()]
        sql, params = listing_sql(con, settings, runs, filters, owners)
        con.execute(f"CREATE OR REPLACE TEMP TABLE listed AS {sql}", params)
        total, group_count = con.execute(
            "SELECT count(*), count(DISTINCT (rule, cohort, status)) FROM (SELECT rule, "
            f"{COHORT} AS cohort, status FROM listed)").fetchone()
        groups = con.execute(f"""SELECT rule, {COHORT} AS cohort, status, count(*) AS n
            FROM listed GROUP BY ALL ORDER BY n DESC, rule, cohort, status
            LIMIT {GROUPS}""").fetchall()
        rows = con.execute(f"SELECT {', '.join(LIST_COLUMNS)} FROM listed ORDER BY run_id, "
                           "rule, entity_id" + ("" if limit is None else f" LIMIT {int(limit)}")
                           ).fetchall()
    return Listing(total, groups, group_count, rows)
