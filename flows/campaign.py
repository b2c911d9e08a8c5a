"""The campaign_refresh flow and the single-stage flows it is made of.

Order: ingest -> features (+ online store) -> train (when asked or no champion) ->
refresh (score + segment) -> govern (controls, movement, review, report) -> drift gate ->
publish (only when nothing blocks) . A failed step fails the flow with that step's own
error, posts an alert, and publishes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from prefect import flow

from flows import steps
from flows.alerts import failure_message, post_alert
from segflow.settings import get_settings


def _run_link(run_id: str | None) -> str | None:
    """Where a person looks first: the Prefect UI when a server is configured."""
    from prefect.context import FlowRunContext

    settings = get_settings()
    ctx = FlowRunContext.get()
    if settings.prefect_api_url and ctx and ctx.flow_run:
        ui = settings.prefect_api_url.rstrip("/").removesuffix("/api")
        return f"{ui}/runs/flow-run/{ctx.flow_run.id}"
    if run_id:
        return str(settings.runs_dir / run_id / "report.html")
    return None


def _step(campaign: str, name: str, fn: Callable, *args, run_id: str | None = None, **kw):
    """Run one step; on failure post the alert naming the step, then re-raise."""
    try:
        return fn(*args, **kw)
    except Exception as err:
        payload = failure_message(campaign, name, f"{type(err).__name__}: {err}",
                                  _run_link(run_id))
        post_alert(get_settings().alert_webhook_url, payload)
        raise


@flow(name="campaign-refresh", log_prints=True)
def campaign_refresh(campaign: str, as_of: datetime | None = None, ingest: bool = True,
                     train: bool = False, publish: bool = True) -> dict:
    """Refresh one campaign end to end as of a time; returns the run id and the verdicts."""
    from scoring.refresh import run_as_of
    from scoring.resolve import resolve_campaign

    as_of = run_as_of(resolve_campaign(get_settings(), campaign, None), as_of)
    if ingest:
        _step(campaign, "ingest", steps.ingest_step)
    _step(campaign, "features", steps.features_step, [as_of])
    if train:
        _step(campaign, "train", steps.train_step, campaign)
    refreshed = _step(campaign, "refresh", steps.refresh_step, campaign, as_of)
    run_id = refreshed["run_id"]
    if refreshed["repeat"]:  # same inputs, same data: the earlier run stands (idempotent)
        governed = _step(campaign, "status", steps.status_step, run_id, run_id=run_id)
        drift = governed["drift"]
    else:
        governed = _step(campaign, "govern", steps.govern_step, run_id, run_id=run_id)
        drift = _step(campaign, "drift", steps.drift_step, campaign, run_id, run_id=run_id)
    waiting = _waiting_for(governed, drift, run_id)
    published = governed.get("published") or None
    if publish and not waiting and not published:
        published = _step(campaign, "publish", steps.publish_step, run_id, run_id=run_id)
    return {"run_id": run_id, "repeat": refreshed["repeat"], "report": governed["report"],
            "drift_passed": drift["passed"], "waiting_for": waiting, "published": published}


def _waiting_for(governed: dict, drift: dict, run_id: str) -> list[str]:
    """What stands between this run and publication; an empty list means publish now.

    A blocked run is not a failed flow: controls and the drift gate did their job, and the
    run waits for people (review, approval, acknowledgement) with its reasons recorded.
    """
    waiting = [f"control: {m}" for m in governed["blocked"]]
    waiting += [f"drift: {r}" for r in drift["reasons"]] if not drift["passed"] else []
    if governed["needs_approval"]:
        waiting.append(f"approval: segflow approve {run_id} --by NAME --reason TEXT")
    return waiting


@flow(name="ingest")
def ingest_flow() -> dict:
    return steps.ingest_step()


@flow(name="build-features")
def features_flow(as_of: list[datetime]) -> list[str]:
    return steps.features_step(as_of)


@flow(name="train")
def train_flow(campaign: str) -> list[str]:
    return steps.train_step(campaign)


@flow(name="feedback")
def feedback_flow(campaign: str) -> str:
    return steps.feedback_step(campaign)
