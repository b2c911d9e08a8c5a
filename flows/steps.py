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
    return {"tables": len(report.tables)} if hasattr(report, "tables") else {}


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

    results = train_models(get_settings(), campaign=campaign)
    return [str(r) for r in results]


@task(name="refresh")
def refresh_step(campaign: str, as_of: datetime) -> str:
    from scoring.refresh import refresh_campaign

    return refresh_campaign(get_settings(), campaign, as_of=as_of).run_id


@task(name="govern")
def govern_step(run_id: str) -> dict:
    from governance.pipeline import govern_run

    result = govern_run(get_settings(), run_id)
    return {"run_id": run_id, "blocked": bool(getattr(result, "blocking", []))}


@task(name="drift")
def drift_step(campaign: str, run_id: str) -> bool:
    from monitoring.gate import run_drift_gate

    return bool(run_drift_gate(get_settings(), campaign, run_id).passed)


@task(name="publish", **EXTERNAL)
def publish_step(run_id: str) -> str | None:
    from governance.publish import publish_run

    publication = publish_run(get_settings(), run_id)
    return str(publication) if publication else None


@task(name="feedback")
def feedback_step(campaign: str) -> str:
    from monitoring.feedback import run_feedback

    return str(run_feedback(get_settings(), campaign))
