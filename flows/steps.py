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
def refresh_step(campaign: str, as_of: datetime) -> str:
    from governance.refresh import refresh_with_overrides

    return refresh_with_overrides(get_settings(), campaign, as_of).run_id


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
