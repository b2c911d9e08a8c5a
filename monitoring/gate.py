"""The drift gate before each campaign: a breach marks the run as needing review and holds
publication until an approver acknowledges it with a reason; a check that crashed blocks.

The verdict lives in ``runs/<run_id>/drift/gate.json``, which governance's gate reads
(governance never imports monitoring): no file means "drift not checked" and blocks; a file
with ``error`` (the check crashed: Evidently, a full disk) blocks too. Checks and
acknowledgements are recorded in the audit log (``segflow.governance.audit.record``) before the
file is written, so a crash between the two leaves the run blocked, never open.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from segflow.errors import CheckFailed, SegflowError
from segflow.lock import holds_workspace
from segflow.monitoring.config import MonitoringConfig
from segflow.monitoring.drift import drift_dir
from segflow.runstore import load_run, save_run
from segflow.settings import Settings

NEEDS_REVIEW = "needs_review"


def breaches(summary: dict, config: MonitoringConfig) -> list[str]:
    """Plain-English reasons the drift summary breaks the campaign's thresholds."""
    limit = config.drift.max_drifted_share
    reasons = []
    for kind in ("features", "scores"):
        block = summary.get(kind) or {}
        if block.get("n") and block["drifted_share"] > limit:
            reasons.append(f"{len(block['drifted'])} of {block['n']} {kind} drifted "
                           f"({', '.join(block['drifted'])}): share "
                           f"{block['drifted_share']:.2f} > {limit}")
    for cohort, why in (summary.get("affected_cohorts") or {}).items():
        reasons.append(f"cohort {cohort}: {'; '.join(why)}")
    if config.bias.blocks:
        for flag in summary.get("bias_flags") or []:
            reasons.append(f"bias: {flag['group']} {flag['attribute']}={flag['value']} "
                           f"disparity {flag['disparity_ratio']:.2f}")
    return reasons


def _gate_path(settings: Settings, run_id: str) -> Path:
    return drift_dir(settings, run_id) / "gate.json"


def record_verdict(settings: Settings, run_id: str, summary: dict,
                   config: MonitoringConfig) -> dict:
    """Record the verdict (audit entry, then gate.json); a breach marks the run as needing
    review."""
    from segflow.governance.audit import record

    reasons = breaches(summary, config)
    record_ = load_run(settings, run_id)
    previous = _read(settings, run_id) or {}
    prior_status = (previous.get("prior_status") if record_.status == NEEDS_REVIEW
                    else record_.status)
    gate = {"run_id": run_id, "passed": not reasons, "reasons": reasons,
            "checked_at": _now(), "reference": summary.get("reference"),
            "excluded_columns": summary.get("excluded_columns") or {},
            "empty_cohorts": summary.get("empty_cohorts") or {},
            "prior_status": prior_status, "acknowledged": None, "error": None,
            "sample": summary.get("sample")}
    record(settings, "segflow", "drift_checked", {
        k: gate[k] for k in ("passed", "reasons", "reference", "excluded_columns",
                             "empty_cohorts")}, run_id=run_id)
    if reasons:
        record_.status = NEEDS_REVIEW
        save_run(settings, record_)
    _write(settings, run_id, gate)
    return gate


def record_error(settings: Settings, run_id: str, err: BaseException) -> dict:
    """The check crashed: gate.json says so (governance's gate then blocks the run)."""
    gate = {"run_id": run_id, "passed": False, "reasons": [], "checked_at": _now(),
            "error": f"{type(err).__name__}: {err}", "acknowledged": None}
    _write(settings, run_id, gate)
    try:
        from segflow.governance.audit import record

        record(settings, "segflow", "drift_failed", {"error": gate["error"]}, run_id=run_id)
    except Exception:  # noqa: BLE001 - the errored gate.json already blocks the run
        pass
    return gate


@holds_workspace("drift check")
def check(settings: Settings, campaign: str, run_id: str | None = None,
          reference: str | None = None) -> tuple[dict, dict]:
    """Drift report and verdict for a run of ``campaign`` (default: its latest run). A
    crash is recorded as an errored verdict, which blocks publication, and reported as a
    failed check (exit 1)."""
    from segflow.monitoring.config import load_monitoring_config
    from segflow.monitoring.drift import run_drift
    from segflow.runstore import frozen_settings, list_runs

    if run_id is None:
        # a repeat of an earlier run (marked duplicate) is kept for the record only
        runs = [r for r in list_runs(settings, campaign) if not r.inputs.get("duplicate_of")]
        if not runs:
            raise SegflowError(f"campaign '{campaign}' has no runs yet")
        run_id = runs[-1].run_id
    elif load_run(settings, run_id).campaign != campaign:
        raise SegflowError(f"run '{run_id}' belongs to campaign "
                           f"'{load_run(settings, run_id).campaign}', not '{campaign}'")
    config = load_monitoring_config(frozen_settings(settings, run_id), campaign)
    try:
        from segflow.progress import stage

        with stage("checked drift against the reference"):
            summary = run_drift(settings, run_id, config, reference)
    except KeyboardInterrupt:
        raise
    except Exception as err:  # recorded: an earlier verdict must not stand for this check
        gate = record_error(settings, run_id, err)
        if isinstance(err, SegflowError):
            raise
        raise CheckFailed(f"the drift check of {run_id} crashed ({gate['error']}); the run "
                          "stays blocked until a check completes: fix the cause and run "
                          f"`segflow drift --campaign {campaign} --run {run_id}`") from err
    return summary, record_verdict(settings, run_id, summary, config)


@holds_workspace("drift acknowledgement")
def acknowledge(settings: Settings, run_id: str, by: str, reason: str) -> dict:
    """Accept a breach: a listed approver of the campaign who wrote no override or review
    decision in the run, with a reason that says something."""
    from segflow.governance.audit import record
    from segflow.governance.owners import require_approver, require_reason

    reason = require_reason(reason, "acknowledgement reason")
    gate = _read(settings, run_id)
    if gate is None:
        raise SegflowError(f"run '{run_id}' has no drift verdict yet: run `segflow drift "
                           f"--campaign <campaign> --run {run_id}` first")
    if gate.get("error"):
        raise SegflowError(f"the drift check of '{run_id}' crashed ({gate['error']}): a "
                           "crash cannot be acknowledged; run the check again")
    if gate.get("passed"):
        raise SegflowError(f"run '{run_id}' passed the drift gate: nothing to acknowledge")
    run = load_run(settings, run_id)
    require_approver(settings, run_id, run.campaign, by, "acknowledge drift in")
    gate["acknowledged"] = {"by": by, "reason": reason, "at": _now()}
    record(settings, by, "drift_acknowledged",
           {"reason": reason, "breaches": gate.get("reasons") or []}, run_id=run_id)
    _write(settings, run_id, gate)
    if run.status == NEEDS_REVIEW:
        run.status = gate.get("prior_status") or "created"
        save_run(settings, run)
    return gate


def gate_status(settings: Settings, run_id: str) -> tuple[bool, list[str]]:
    """Monitoring's own reading of gate.json: (passed or acknowledged, reasons). Unchecked
    and crashed checks do not pass. Publication asks ``segflow.governance.gate.verdict``."""
    gate = _read(settings, run_id)
    if gate is None:
        return False, [f"drift not checked for run '{run_id}' (segflow drift --run {run_id})"]
    if gate.get("error"):
        return False, [f"the drift check crashed: {gate['error']}"]
    if gate.get("passed"):
        return True, []
    ack = gate.get("acknowledged")
    if ack:
        return True, [f"drift breach acknowledged by {ack['by']} at {ack['at']}: "
                      f"{ack['reason']}"]
    return False, [*(gate.get("reasons") or []),
                   f"acknowledge with: segflow drift ack {run_id} --by NAME --reason TEXT"]


def _read(settings: Settings, run_id: str) -> dict | None:
    path = _gate_path(settings, run_id)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _write(settings: Settings, run_id: str, gate: dict) -> None:
    from segflow.durable import write_atomic

    write_atomic(_gate_path(settings, run_id),
                 json.dumps(gate, indent=1, default=str).encode("utf-8"))
    _pages_again(settings, run_id, gate)
    _report_again(settings, run_id)


def _pages_again(settings: Settings, run_id: str, gate: dict) -> None:
    """The drift page with the verdict, then the run's report (neither ever raises)."""
    from segflow.monitoring.drift_report import rewrite_page

    try:
        rewrite_page(drift_dir(settings, run_id), gate, settings)
    except Exception as err:  # noqa: BLE001 - the verdict is recorded; a page is not
        import logging

        logging.getLogger("segflow.drift").warning("could not render the drift page of %s "
                                                   "again: %s", run_id, err)


def _report_again(settings: Settings, run_id: str) -> None:
    from segflow.governance.home import refresh_pages

    refresh_pages(settings, run_id)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
