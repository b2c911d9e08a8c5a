"""Review queue operations behind ``segflow review``: list, show, decide (with audit)."""

from __future__ import annotations

from dataclasses import dataclass

from segflow.db import connect
from segflow.errors import SegflowError
from segflow.governance import audit
from segflow.governance.store import ensure_schema
from segflow.lock import holds_workspace
from segflow.settings import Settings

# the cohort an item is summarised under: the one it was in, else the one proposed
COHORT = "coalesce(nullif(cohort_before, ''), nullif(proposed_cohort, ''), '')"
LIST_COLUMNS = ("review_id", "run_id", "entity_id", "rule", "cohort_before",
                "proposed_cohort", "status")


@dataclass
class Listing:
    """What ``segflow review list`` shows: the items the filters keep counted by rule,
    cohort and status (largest groups first), and the first items in LIST_COLUMNS order."""
    total: int
    groups: list[tuple]      # (rule, cohort, status, items), at most ``GROUPS``
    group_count: int
    rows: list[tuple]


GROUPS = 15  # summary lines: a screen's worth


def listing(settings: Settings, run: str | None, filters, limit: int | None) -> Listing:
    """Count, group and list the queue in DuckDB with the desk's filters
    (``desk.queue.listing_sql``): only the summary and ``limit`` rows (all when None)
    leave the database, however many items a run has."""
    from segflow.governance.desk.queue import listing_sql
    from segflow.governance.owners import load_owners

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


def list_items(settings: Settings, run: str | None, status: str | None) -> list[tuple]:
    """Every item of ``run`` (all runs when None) with ``status``, in LIST_COLUMNS order."""
    from segflow.governance.desk.queue import Filters

    return listing(settings, run, Filters(status=status), None).rows


def show_item(settings: Settings, item_id: str) -> dict:
    """The item, the entity's features in that run and the membership decided for it."""
    from segflow.governance.review import get_item
    from segflow.governance.store import features_view

    with connect(settings) as con:
        ensure_schema(con)
        item = get_item(con, item_id)
        features_view(con, settings, item["run_id"], "f_item")
        cur = con.execute("SELECT * FROM f_item WHERE entity_id = ?", [item["entity_id"]])
        row = cur.fetchone()
        item["features"] = dict(zip([d[0] for d in cur.description], row, strict=True)) \
            if row else None
    return item


@holds_workspace("review")
def decide_item(settings: Settings, item_id: str, by: str, reason: str,
                to: str | None = None, expires=None) -> dict:
    """Confirm or override; the decision and its audit entry commit together."""
    from segflow.governance.context import RunContext
    from segflow.governance.home import refresh_pages
    from segflow.governance.owners import require_reason
    from segflow.governance.review import get_item, plan_decision

    reason = require_reason(reason, "review reason")
    with connect(settings) as con:
        ensure_schema(con)
        item = get_item(con, item_id)
        ctx = RunContext.of(settings, item["run_id"])
        decision, writes = plan_decision(con, ctx, item, by, reason, to, expires)
        audit.record(settings, by, "review_" + decision["status"], decision,
                     run_id=item["run_id"], writes=writes, con=con)
    refresh_pages(settings, item["run_id"])
    return decision


@holds_workspace("review")
def decide_many(settings: Settings, run_id: str, item_ids: list[str], by: str, reason: str,
                to: str | None = None, expires=None) -> dict:
    """Confirm or override many items of one run with one reason, all or nothing: every
    item is checked first (open, the reviewer's scope, the target cohort), then the
    decisions and one audit entry commit together. Overrides then apply to the run at once
    (``apply_overrides_now``: memberships, counts, controls, seal and report re-derived)."""
    from segflow.errors import SegflowError
    from segflow.governance.context import RunContext
    from segflow.governance.owners import require_reason
    from segflow.governance.report import refresh_report
    from segflow.governance.review import get_item, plan_decision

    reason = require_reason(reason, "review reason")
    if not item_ids:
        raise SegflowError("no review item matches the selection: nothing to decide")
    with connect(settings) as con:
        ensure_schema(con)
        ctx = RunContext.of(settings, run_id)
        plans = []
        for item_id in item_ids:
            item = get_item(con, item_id)
            if item["run_id"] != run_id:
                raise SegflowError(f"review item {item_id} belongs to run {item['run_id']}, "
                                   f"not {run_id}")
            plans.append(plan_decision(con, ctx, item, by, reason, to, expires))

        def writes(c):
            for _, write in plans:
                write(c)

        status = "confirmed" if to is None else "overridden"
        summary = {"run_id": run_id, "status": status, "count": len(plans), "by": by,
                   "reason": reason, "to": to,
                   "expires": expires.isoformat() if expires else None,
                   "items": [{k: d[k] for k in ("review_id", "entity_id")
                              if k in d} | ({"override_id": d["override_id"]}
                                            if "override_id" in d else {})
                             for d, _ in plans]}
        audit.record(settings, by, "review_bulk_" + status, summary, run_id=run_id,
                     writes=writes, con=con)
    if to is None:
        refresh_report(settings, run_id)
    else:
        from segflow.governance.refresh import apply_overrides_now

        summary["governed"] = apply_overrides_now(settings, run_id, by).exceptions
    return summary
