"""Prefect tasks: the refresh sequence's steps (``segflow.flows.sequence``) run as tasks, plus the
feedback step.

Tasks take and return small values (run ids, times, counts). Steps that touch external
systems (source databases, the MLflow store, the publication database) retry with back-off;
pure computation does not, because retrying a deterministic failure only delays the alert.
Publication may retry: publishing a run already published is a no-op.
"""

from __future__ import annotations

from collections.abc import Callable

from prefect import task
from prefect.cache_policies import NO_CACHE

from segflow.settings import get_settings

EXTERNAL = {"retries": 2, "retry_delay_seconds": [5, 30]}
RETRIED = ("ingest", "train", "publish")


def as_task(name: str, fn: Callable):
    """A sequence step as a Prefect task of that name (never cached: each run is new)."""
    return task(fn, name=name, cache_policy=NO_CACHE,
                **(EXTERNAL if name in RETRIED else {}))


@task(name="ingest", cache_policy=NO_CACHE, **EXTERNAL)
def ingest_step() -> dict:
    from segflow.flows.sequence import ingest_step as run

    return run(get_settings())


@task(name="features", cache_policy=NO_CACHE)
def features_step(as_of: list) -> list[str]:
    from segflow.flows.sequence import features_step as run

    return run(get_settings(), as_of)


@task(name="train", cache_policy=NO_CACHE, **EXTERNAL)
def train_step(campaign: str) -> list[str]:
    from segflow.flows.sequence import train_step as run

    return run(get_settings(), campaign)


@task(name="feedback", cache_policy=NO_CACHE)
def feedback_step(campaign: str) -> dict:
    from segflow.monitoring.config import load_monitoring_config
    from segflow.monitoring.feedback_run import run_feedback

    settings = get_settings()
    summary = run_feedback(settings, campaign, load_monitoring_config(settings, campaign).feedback)
    return summary["overall"]
