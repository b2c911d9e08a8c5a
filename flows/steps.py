"""Prefect tasks: one per stage, each a call into the stage's own public function.

Tasks take and return small values (run ids, times, counts). Steps that touch external
systems (source databases, the MLflow store, the publication database) retry with back-off;
pure computation does not, because retrying a deterministic failure only delays the alert.
"""

from __future__ import annotations

from datetime import datetime

from prefect import task

from segflow.settings import get_settings

EXTERNAL = {"retries": 2, "retry_delay_seconds": [5, 30]}


@task(name="ingest", **EXTERNAL)
def ingest_step() -> dict:
    from ingest.pipeline import run_ingest

    report = run_ingest(get_settings())
    return {name: t.accepted for name, t in report.tables.items()}


@task(name="features")
def features_step(as_of: list[datetime], online: bool = True) -> list[str]:
    from segflow.featurestore.build import build_features

    settings = get_settings()
    build_features(settings, as_of)
    if online:
        from segflow.featurestore.online import load_online

        load_online(settings, max(as_of))
    return [t.isoformat() for t in as_of]


@task(name="train", **EXTERNAL)
def train_step(campaign: str) -> list[str]:
    from training.train import train_models

    return [str(r) for r in train_models(get_settings(), campaign=campaign)]


@task(name="refresh")
def refresh_step(campaign: str, as_of: datetime) -> dict:
    """A new run, or the earlier run it repeats (then ``repeat`` is true)."""
    from governance.refresh import refresh_with_overrides
    from segflow.runstore import find_equivalent, mark_duplicate

    settings = get_settings()
    record = refresh_with_overrides(settings, campaign, as_of)
    original = find_equivalent(settings, record)
    if original is None:
        return {"run_id": record.run_id, "repeat": False}
    mark_duplicate(settings, record, original)
    return {"run_id": original.run_id, "repeat": True}


@task(name="status")
def status_step(run_id: str) -> dict:
    """Governance and drift verdicts already recorded for a run (a repeated refresh)."""
    from governance.publish import current_publication, drift_blocks, gate
    from segflow.runstore import load_run, run_dir

    settings = get_settings()
    blocks, needs, approved = gate(settings, run_id)
    drift = drift_blocks(settings, run_id)
    current = current_publication(settings, load_run(settings, run_id).campaign)
    return {"blocked": [b for b in blocks if b not in drift],
            "needs_approval": needs and not approved,
            "drift": {"passed": not drift, "reasons": drift},
            "report": str(run_dir(settings, run_id) / "report.html"),
            "published": bool(current and current["run_id"] == run_id)}


@task(name="govern")
def govern_step(run_id: str) -> dict:
    from governance.pipeline import govern_run

    result = govern_run(get_settings(), run_id)
    return {"blocked": result.blocked, "needs_approval": result.needs_approval,
            "exceptions": result.exceptions, "report": result.report}


@task(name="drift")
def drift_step(campaign: str, run_id: str) -> dict:
    from monitoring.gate import check

    _, verdict = check(get_settings(), campaign, run_id)
    return {"passed": verdict["passed"], "reasons": verdict["reasons"]}


@task(name="publish", **EXTERNAL)
def publish_step(run_id: str) -> dict:
    from governance.publish import publish_run

    return publish_run(get_settings(), run_id)


@task(name="feedback")
def feedback_step(campaign: str) -> dict:
    from monitoring.config import load_monitoring_config
    from monitoring.feedback_run import run_feedback

    settings = get_settings()
    summary = run_feedback(settings, campaign, load_monitoring_config(settings, campaign).feedback)
    return summary["overall"]
