"""Review queue operations behind ``segflow review``: list, show, decide (with audit)."""

from __future__ import annotations

from segflow.db import connect
from segflow.governance import audit
from segflow.governance.review_sets import require_items
from segflow.governance.store import ensure_schema
from segflow.lock import holds_workspace
from segflow.settings import Settings

LIST_COLUMNS = ("review_id", "run_id", "entity_id", "rule", "cohort_before",
                "proposed_cohort", "status")


def list_items(settings: Settings, run: str | None, status: str | None) -> list[tuple]:
    """Rows in LIST_COLUMNS order (the CLI lists through ``desk.queue.listing``)."""
    with connect(settings) as con:
        ensure_schema(con)
        require_items(con, run)
        return con.execute(f"""SELECT {', '.join(LIST_COLUMNS)} FROM review_queue
            WHERE (? IS NULL OR run_id = ?) AND (? IS NULL OR status = ?)
            ORDER BY run_id, rule, entity_id""", [run, run, status, status]).fetchall()


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
    from segflow.governance.review import decision_writes, get_item, plan_decisions

    reason = require_reason(reason, "review reason")
    with connect(settings) as con:
        ensure_schema(con)
        item = get_item(con, item_id)
        ctx = RunContext.of(settings, item["run_id"])
        [plan] = plan_decisions(con, ctx, [item], by, reason, to, expires)
        audit.record(settings, by, "review_" + plan.decision["status"], plan.decision,
                     run_id=item["run_id"], writes=decision_writes([plan]), con=con)
    refresh_pages(settings, item["run_id"])
    return plan.decision


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
    from segflow.governance.review import decision_writes, get_items, plan_decisions

    reason = require_reason(reason, "review reason")
    if not item_ids:
        raise SegflowError("no review item matches the selection: nothing to decide")
    with connect(settings) as con:
        ensure_schema(con)
        ctx = RunContext.of(settings, run_id)
        plans = plan_decisions(con, ctx, get_items(con, run_id, item_ids), by, reason, to,
                               expires)
        status = "confirmed" if to is None else "overridden"
        summary = {"run_id": run_id, "status": status, "count": len(plans), "by": by,
                   "reason": reason, "to": to,
                   "expires": expires.isoformat() if expires else None,
                   "items": [{k: p.decision[k] for k in ("review_id", "entity_id")}
                             | ({"override_id": p.decision["override_id"]}
                                if "override_id" in p.decision else {}) for p in plans]}
        audit.record(settings, by, "review_bulk_" + status, summary, run_id=run_id,
                     writes=decision_writes(plans), con=con)
    if to is None:
        refresh_report(settings, run_id)
    else:
        from segflow.governance.refresh import apply_overrides_now

        summary["governed"] = apply_overrides_now(settings, run_id, by).exceptions
    return summary
