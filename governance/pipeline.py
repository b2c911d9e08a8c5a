"""One call for the lead's refresh: ``govern_run`` runs controls, movement, review, the
report and the audit entries for a run; ``publish_run`` lives in ``governance.publish``."""

from __future__ import annotations

from dataclasses import dataclass, field

from governance import audit
from governance.context import RunContext
from governance.movement import Movement, compute_movement, register_views
from governance.store import canonical_path, ensure_schema
from segflow.db import connect
from segflow.runstore import save_run
from segflow.settings import Settings

CANONICAL = ("customers", "orders", "billing", "engagement_events", "accounts",
             "account_hierarchy")


@dataclass
class GovernanceResult:
    run_id: str
    previous_run_id: str | None = None
    controls: list = field(default_factory=list)
    movement: Movement | None = None
    exceptions: int = 0
    report: str | None = None
    blocked: list[str] = field(default_factory=list)
    needs_approval: bool = False


def canonical_tables(settings: Settings) -> dict:
    return {t: p for t in CANONICAL if (p := canonical_path(settings, t)) is not None}


def _titles(con, ctx: RunContext) -> dict[str, str]:
    rows = con.execute("SELECT DISTINCT cohort FROM m_cur WHERE cohort IS NOT NULL UNION "
                       "SELECT DISTINCT cohort FROM m_prev WHERE cohort IS NOT NULL").fetchall()
    return {c: ctx.title(c) for (c,) in rows}


def movement_for(settings: Settings, run_id: str, previous: str | None = None,
                 con=None) -> Movement:
    """Movement of a run against ``previous`` (default: the campaign's current publication)."""
    from governance.store import last_published_run

    ctx = RunContext.of(settings, run_id)
    if previous is None:
        previous = last_published_run(settings, ctx.run.campaign, before=run_id)
    if con is None:
        with connect(settings) as own:
            return movement_for(settings, run_id, previous, own)
    con.execute("SET TimeZone = 'UTC'")
    register_views(settings, con, run_id, previous)
    return compute_movement(settings, con, ctx.rules, run_id, previous, _titles(con, ctx),
                            ctx.config.model_reasons_limit)


def run_controls(con, ctx: RunContext, canonical: dict, has_previous: bool) -> list:
    from datetime import datetime

    from governance import controls as c
    from ingest.contract import load_contracts

    cfg = ctx.config
    bounds = {s.name: tuple(s.expected_size) for s in cfg.cohorts if s.expected_size}
    results = [
        c.contracts_hold(con, canonical, load_contracts(),
                         bool(cfg.controls.get("recheck_contracts", False))),
        c.accounted_once(con, cfg.exclusive),
        c.revenue_reconciles(con, canonical, datetime.fromisoformat(ctx.run.as_of),
                             cfg.revenue_period_days, cfg.revenue_tolerance,
                             cfg.controls.get("revenue_source", "orders")),
        c.sizes_within_bounds(con, bounds),
        c.no_sudden_change(con, has_previous, cfg.max_growth),
    ]
    c.save_results(con, ctx.run_id, results)
    return results


def govern_run(settings: Settings, run_id: str, actor: str = "segflow") -> GovernanceResult:
    """Controls, movement with reasons, exception review and the report for one run."""
    import json

    from governance.report import write_report
    from governance.review import find_exceptions

    ctx = RunContext.of(settings, run_id)
    result = GovernanceResult(run_id)
    with connect(settings) as con:
        ensure_schema(con)
        result.movement = movement_for(settings, run_id, con=con)
        result.previous_run_id = result.movement.previous_run_id
        result.controls = run_controls(con, ctx, canonical_tables(settings),
                                       result.previous_run_id is not None)
        result.exceptions = find_exceptions(con, ctx)
        result.report = str(write_report(settings, con, ctx, result.controls, result.movement))
    result.blocked = [r.message for r in result.controls
                      if not r.passed and r.severity == "block"]
    result.needs_approval = (ctx.config.approval_required or result.exceptions > 0
                             or any(not r.passed for r in result.controls))
    (settings.runs_dir / run_id / "controls.json").write_text(json.dumps(
        [r.to_dict() for r in result.controls], indent=2, default=str))
    audit.append(settings, actor, "run", {"campaign": ctx.run.campaign, "as_of": ctx.run.as_of,
                                          "inputs": ctx.run.inputs}, run_id=run_id)
    audit.append(settings, actor, "controls", {r.name: {"passed": r.passed,
                                                        "message": r.message}
                                               for r in result.controls}, run_id=run_id)
    audit.append(settings, actor, "movement", {"previous_run_id": result.previous_run_id,
                                               **result.movement.counts,
                                               "model_reasons": result.movement.model_reasons,
                                               "exceptions": result.exceptions}, run_id=run_id)
    ctx.run.status = "blocked" if result.blocked else "governed"
    save_run(settings, ctx.run)
    return result


def export_for(settings: Settings, run_id: str, actor: str = "segflow") -> dict:
    """Channel exports of a run with manifests, recorded in the audit log."""
    from governance.exports import export_run
    from governance.store import features_view, memberships_view

    ctx = RunContext.of(settings, run_id)
    with connect(settings) as con:
        memberships_view(con, settings, run_id, "m_cur")
        features_view(con, settings, run_id, "f_cur")
        index = export_run(settings, con, ctx, canonical_tables(settings))
    audit.append(settings, actor, "export", {"files": [
        {k: f[k] for k in ("cohort", "channel", "rows", "sha256")} for f in index["files"]]},
        run_id=run_id)
    return index
