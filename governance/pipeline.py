"""One call for the lead's refresh: ``govern_run`` runs controls, movement, review, the
seal, the report and the audit entry for a run; ``publish_run`` lives in
``segflow.governance.publish``, ``export_for`` here."""

from __future__ import annotations

from dataclasses import dataclass, field

from segflow.db import connect
from segflow.engines import SPARK
from segflow.errors import ControlFailed
from segflow.governance import audit, review_sets
from segflow.governance.context import RunContext
from segflow.governance.movement import (
    Movement,
    compute_movement,
    register_views,
)
from segflow.governance.store import canonical_path, ensure_schema
from segflow.lock import holds_workspace
from segflow.runstore import run_dir, save_run
from segflow.settings import Settings


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
    """Every canonical table the workspace holds (those of the project's contracts and what
    ingest derives, such as the account hierarchy): controls and exports use those they
    name, so the platform keeps no list of a project's tables."""
    return {p.stem: p for p in sorted(settings.canonical_dir.glob("*.parquet"))}


def _titles(con, ctx: RunContext) -> dict[str, str]:
    rows = con.execute("SELECT DISTINCT cohort FROM m_cur WHERE cohort IS NOT NULL UNION "
                       "SELECT DISTINCT cohort FROM m_prev WHERE cohort IS NOT NULL").fetchall()
    return {c: ctx.title(c) for (c,) in rows}


def movement_for(settings: Settings, run_id: str, previous: str | None = None,
                 con=None) -> Movement:
    """Movement of a run against ``previous`` (default: the campaign's current publication)."""
    from segflow.governance.publications import last_published_run

    ctx = RunContext.of(settings, run_id)
    if previous is None:
        previous = last_published_run(settings, ctx.run.campaign, before=run_id)
    if con is None:
        with connect(settings) as own:
            return movement_for(settings, run_id, previous, own)
    con.execute("SET TimeZone = 'UTC'")
    register_views(settings, con, run_id, previous)
    from segflow.governance.curated import register_notes

    register_notes(con, ctx.run)  # why accounts joined or left curated cohorts
    return compute_movement(settings, con, ctx.rules, run_id, previous, _titles(con, ctx),
                            ctx.config.model_reasons_limit)


def run_controls(con, ctx: RunContext, canonical: dict, has_previous: bool) -> list:
    """Every control's result (nothing saved: ``govern_run`` saves them with its entry)."""
    from datetime import datetime

    from segflow.governance import controls as c
    from segflow.governance.revenue import revenue_reconciles
    from segflow.ingest.contract import load_contracts
    from segflow.project import require_project

    cfg = ctx.config
    named = {t: p for t in cfg.revenue.tables
             if (p := canonical_path(ctx.settings, t)) is not None}
    currency = require_project(ctx.settings.project).base_currency  # money is reported in it
    bounds = {s.name: tuple(s.expected_size) for s in cfg.cohorts if s.expected_size}
    results = [
        c.contracts_hold(con, canonical, load_contracts(ctx.settings.contracts_dir),
                         bool(cfg.controls.get("recheck_contracts", False))),
        c.accounted_once(con, cfg.exclusive),
        revenue_reconciles(con, {**canonical, **named}, datetime.fromisoformat(ctx.run.as_of),
                           cfg.revenue, currency),
        c.sizes_within_bounds(con, bounds),
        c.no_sudden_change(con, has_previous, cfg.max_growth),
    ]
    from segflow.governance.curated import control as curated_control

    curated = curated_control(con, ctx.live or ctx.settings, ctx.run)
    return results + ([curated] if curated is not None else [])


def controls_entry(controls: list) -> dict:
    """The controls as the audit entry of ``govern`` records them, on either engine."""
    return {r.name: {"passed": r.passed, "severity": r.severity, "message": r.message}
            for r in controls}


@holds_workspace("govern")
def govern_run(settings: Settings, run_id: str, actor: str = "segflow") -> GovernanceResult:
    """Controls, movement with reasons, exception review, the seal and the report for one
    run. Everything is computed first; the results, the review items, the seal and the
    audit entry are then committed in one transaction (``segflow.governance.audit.record``).

    The SQL runs on the project's engine (``segflow.sqlengine``: the same text on DuckDB
    and Spark). On Spark the movers, the movement with its reasons and the review items
    are written by the executors (``runs/<id>/movement.parquet/``,
    ``review_items/<set>/``); the review items stay in that Parquet, which the workspace's
    review queue reads (``governance.review_sets``), and the seal is computed from the
    executors' hashes. Only
    counts, control figures, per-cohort summaries and digests reach the driver (the model
    reasons' TreeSHAP runs on the executors too: ``segflow.governance.model_reasons``)."""
    from segflow.governance import seal as seals
    from segflow.governance.review import find_exceptions
    from segflow.sqlengine import connection

    ctx = RunContext.of(settings, run_id)
    result = GovernanceResult(run_id)
    spark = settings.engine == SPARK
    items = review_sets.new_folder(run_dir(settings, run_id)) if spark else None
    try:
        with connection(settings) as con:
            if not spark:
                ensure_schema(con)
            result.movement = movement_for(settings, run_id, con=con)
            result.previous_run_id = result.movement.previous_run_id
            result.controls = run_controls(con, ctx, canonical_tables(settings),
                                           result.previous_run_id is not None)
            find_exceptions(con, ctx)
            if items is not None:
                _write_items(con, ctx, items)
            found = con.execute("SELECT count(*) FROM new_items").fetchone()[0]
            seal = seals.compute(settings, con, run_id)
            if not spark:  # the workspace's DuckDB is the connection: commit on it
                _commit(settings, ctx, actor, result, seal, found, con=con)
        if spark:
            _commit(settings, ctx, actor, result, seal, found, items=items)
    except BaseException:
        if items is not None:
            review_sets.discard(settings, run_id, items)
        raise
    review_sets.remove_others(run_dir(settings, run_id), items)
    return _finish(settings, ctx, result)


def _write_items(con, ctx: RunContext, folder) -> None:
    """The executors write the run's review items, with the desk's keys
    (``governance.review_keys``), as Parquet where they stay (``governance.review_sets``)."""
    from segflow.governance.review_keys import keys_sql

    keys = ", ".join(f"{sql} AS {name}" for name, sql in keys_sql(ctx).items())
    con.execute(f"COPY (SELECT DISTINCT n.*, {keys} FROM new_items n) TO '{_q(folder)}' "
                "(FORMAT parquet)")


def _q(path) -> str:
    return str(path).replace("'", "''")


def _commit(settings: Settings, ctx: RunContext, actor: str, result: GovernanceResult,
            seal, found: int, con=None, items=None) -> None:
    """The control results, the review items, the seal and the audit entry, in one
    transaction on the workspace's DuckDB, on either engine. ``items``: the Parquet folder
    the executors wrote the review items to, registered as the run's (else the temp table
    ``new_items`` of ``con``, copied into the queue)."""
    from segflow.governance import seal as seals
    from segflow.governance.controls import save_results
    from segflow.governance.review import store_exceptions

    run_id = ctx.run_id
    if con is None:
        with connect(settings) as own:
            return _commit(settings, ctx, actor, result, seal, found, own, items)

    def writes(c):
        save_results(c, run_id, result.controls)
        result.exceptions = store_exceptions(c, run_id, items)
        seals.store(c, seal)

    ensure_schema(con)
    before = seals.current(con, run_id)
    payload = {
        "engine": settings.engine, "campaign": ctx.run.campaign,
        "as_of": ctx.run.as_of, "inputs": ctx.run.inputs,
        "controls": controls_entry(result.controls),
        "movement": {"previous_run_id": result.previous_run_id, **result.movement.counts,
                     "model_reasons": result.movement.model_reasons},
        "exceptions_found": found,
        "seal": seal.to_dict(),
        "reseal": None if before is None or before.seal_hash == seal.seal_hash else {
            "previous_seal": before.seal_hash,
            "note": "the memberships changed since the run was last governed: approvals "
                    "of the earlier content no longer count"}}
    audit.record(settings, actor, "govern", payload, run_id=run_id, writes=writes, con=con)
    seals.write_file(settings, seal)
    return None


def _finish(settings: Settings, ctx: RunContext, result: GovernanceResult
            ) -> GovernanceResult:
    """After the commit, on either engine: the verdict's inputs, controls.json, the run's
    status, the report and the workspace's pages."""
    import json

    from segflow.governance.home import refresh_workspace_pages
    from segflow.governance.report import write_report

    result.blocked = [r.message for r in result.controls
                      if not r.passed and r.severity == "block"]
    result.needs_approval = (ctx.config.approval_required or result.exceptions > 0
                             or any(not r.passed for r in result.controls))
    (settings.runs_dir / ctx.run_id / "controls.json").write_text(json.dumps(
        [r.to_dict() for r in result.controls], indent=2, default=str))
    ctx.run.status = "blocked" if result.blocked else "governed"
    save_run(settings, ctx.run)
    result.report = str(write_report(settings, ctx.run_id))
    refresh_workspace_pages(settings)
    return result


@holds_workspace("export")
def export_for(settings: Settings, run_id: str, actor: str = "segflow") -> dict:
    """Channel exports of a run with manifests, recorded in the audit log; refused by the
    same gate as publication (or for a published run whose memberships are intact)."""
    from segflow.governance.exports import export_run
    from segflow.governance.gate import verdict
    from segflow.governance.home import refresh_pages
    from segflow.governance.store import features_view, memberships_view

    v = verdict(settings, run_id)
    if not v.may_export:
        raise ControlFailed(f"cannot export {run_id} ({v.state}): " + "; ".join(
            f"{r.message} -> {r.command}" for r in v.reasons)
            + ("" if v.reasons else "; it is not published"))
    from segflow.sqlengine import connection

    ctx = RunContext.of(settings, run_id)
    with connection(settings) as con:  # the project's engine: DuckDB or Spark
        memberships_view(con, settings, run_id, "m_cur")
        features_view(con, settings, run_id, "f_cur")
        index = export_run(settings, con, ctx, canonical_tables(settings), v.seal)
    audit.record(settings, actor, "export", {
        "seal_hash": v.seal["seal_hash"], "left_out": index["left_out"],
        "events_table": index["events_table"], "engine": index["engine"],
        "files": [{k: f[k] for k in ("cohort", "channel", "rows", "sha256")}
                  for f in index["files"]],
        **({"handoff": [{k: f[k] for k in ("owner", "rows", "sha256")}
                        for f in index["handoff"]["files"]]} if "handoff" in index else {})},
        run_id=run_id)
    refresh_pages(settings, run_id)
    return index
