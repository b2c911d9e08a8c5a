"""Review queue operations behind ``segflow review``: list, show, decide (with audit)."""

from __future__ import annotations

from governance import audit
from governance.store import ensure_schema
from segflow.db import connect
from segflow.settings import Settings

LIST_COLUMNS = ("review_id", "run_id", "entity_id", "rule", "cohort_before",
                "proposed_cohort", "status")


def list_items(settings: Settings, run: str | None, status: str | None) -> list[tuple]:
    """Rows in LIST_COLUMNS order (the CLI prints them as a tab-separated table)."""
    with connect(settings) as con:
        ensure_schema(con)
        return con.execute("""SELECT review_id, run_id, entity_id, rule, cohort_before,
            proposed_cohort, status FROM review_queue
            WHERE (? IS NULL OR run_id = ?) AND (? IS NULL OR status = ?)
            ORDER BY run_id, rule, entity_id""", [run, run, status, status]).fetchall()


def show_item(settings: Settings, item_id: str) -> dict:
    """The item, the entity's features in that run and the membership decided for it."""
    from governance.review import get_item
    from governance.store import features_view

    with connect(settings) as con:
        ensure_schema(con)
        item = get_item(con, item_id)
        features_view(con, settings, item["run_id"], "f_item")
        cur = con.execute("SELECT * FROM f_item WHERE entity_id = ?", [item["entity_id"]])
        row = cur.fetchone()
        item["features"] = dict(zip([d[0] for d in cur.description], row, strict=True)) \
            if row else None
    return item


def decide_item(settings: Settings, item_id: str, by: str, reason: str,
                to: str | None = None, expires=None) -> dict:
    """Confirm or override; the decision goes to DuckDB and to the audit log together."""
    from governance.context import RunContext
    from governance.review import decide, get_item

    with connect(settings) as con:
        ensure_schema(con)
        item = get_item(con, item_id)
        ctx = RunContext.of(settings, item["run_id"])
        decision = decide(con, ctx, item, by, reason, to, expires)
    audit.append(settings, by, "review_" + decision["status"], decision,
                 run_id=item["run_id"])
    return decision
