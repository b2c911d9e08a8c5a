"""The drift gate before each campaign: a breach marks the run as needing review and blocks
publication until someone acknowledges it with a reason.

The verdict lives in ``runs/<run_id>/drift/gate.json`` so publication can ask
``gate_status`` without re-running drift; acknowledgements are also appended to the audit
log when governance provides one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from monitoring.config import MonitoringConfig
from monitoring.drift import drift_dir
from segflow.errors import SegflowError
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
    """Write gate.json and, on a breach, mark the run as needing review."""
    reasons = breaches(summary, config)
    record = load_run(settings, run_id)
    previous = _read(settings, run_id) or {}
    prior_status = (previous.get("prior_status") if record.status == NEEDS_REVIEW
                    else record.status)
    gate = {"run_id": run_id, "passed": not reasons, "reasons": reasons,
            "checked_at": _now(), "reference": summary.get("reference"),
            "prior_status": prior_status, "acknowledged": None}
    if reasons:
        record.status = NEEDS_REVIEW
        save_run(settings, record)
    _write(settings, run_id, gate)
    return gate


def check(settings: Settings, campaign: str, run_id: str | None = None,
          reference: str | None = None) -> tuple[dict, dict]:
    """Drift report and verdict for a run of ``campaign`` (default: its latest run)."""
    from monitoring.config import load_monitoring_config
    from monitoring.drift import run_drift
    from segflow.runstore import list_runs

    if run_id is None:
        runs = list_runs(settings, campaign)
        if not runs:
            raise SegflowError(f"campaign '{campaign}' has no runs yet")
        run_id = runs[-1].run_id
    elif load_run(settings, run_id).campaign != campaign:
        raise SegflowError(f"run '{run_id}' belongs to campaign "
                           f"'{load_run(settings, run_id).campaign}', not '{campaign}'")
    config = load_monitoring_config(settings, campaign)
    summary = run_drift(settings, run_id, config, reference)
    return summary, record_verdict(settings, run_id, summary, config)


def acknowledge(settings: Settings, run_id: str, by: str, reason: str) -> dict:
    """Accept a breach with a named person and a reason; publication may then go ahead."""
    if not by.strip() or not reason.strip():
        raise SegflowError("an acknowledgement needs a name (--by) and a reason (--reason)")
    gate = _read(settings, run_id)
    if gate is None:
        raise SegflowError(f"run '{run_id}' has no drift verdict yet: run `segflow drift "
                           f"--campaign <campaign> --run {run_id}` first")
    if gate["passed"]:
        raise SegflowError(f"run '{run_id}' passed the drift gate: nothing to acknowledge")
    gate["acknowledged"] = {"by": by.strip(), "reason": reason.strip(), "at": _now()}
    _write(settings, run_id, gate)
    record = load_run(settings, run_id)
    if record.status == NEEDS_REVIEW:
        record.status = gate.get("prior_status") or "created"
        save_run(settings, record)
    record_acknowledgement(settings, by.strip(), run_id,
                           {"reason": reason.strip(), "breaches": gate["reasons"]})
    return gate


def record_acknowledgement(settings: Settings, actor: str, run_id: str, payload: dict) -> bool:
    """Append the acknowledgement to governance's audit log; False if there is none yet
    (gate.json still holds who, when and why)."""
    try:
        from governance.audit import append
    except ImportError:
        return False
    append(settings, actor, "drift_acknowledged", payload, run_id=run_id)
    return True


def gate_status(settings: Settings, run_id: str) -> tuple[bool, list[str]]:
    """For publication: (may publish, reasons). Unchecked runs may not publish."""
    gate = _read(settings, run_id)
    if gate is None:
        return False, [f"drift not checked for run '{run_id}' (segflow drift --run {run_id})"]
    if gate["passed"]:
        return True, []
    ack = gate.get("acknowledged")
    if ack:
        return True, [f"drift breach acknowledged by {ack['by']} at {ack['at']}: "
                      f"{ack['reason']}"]
    return False, [*gate["reasons"], f"acknowledge with: segflow drift ack {run_id} "
                   "--by NAME --reason TEXT"]


def _read(settings: Settings, run_id: str) -> dict | None:
    path = _gate_path(settings, run_id)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _write(settings: Settings, run_id: str, gate: dict) -> None:
    path = _gate_path(settings, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(gate, indent=1), encoding="utf-8")
    tmp.replace(path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
