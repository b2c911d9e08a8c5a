"""The refresh sequence, defined once for the CLI and for Prefect.

Order: ingest (optional) -> features (optional) -> train (optional) -> refresh (score and
segment, with overrides) -> govern (controls, movement, review, seal, report) -> drift
gate -> publish, only when the gate allows it. A repeated refresh (same inputs, same data)
is recognised and the earlier run stands: it is neither governed nor checked again.

``refresh_sequence`` runs the steps through ``call(name, fn, *args)``: ``segflow refresh``
calls each step directly, the ``campaign-refresh`` flow runs each as a Prefect task (with
its retries and the failure alert). The step functions are plain functions.

On ``engine: spark`` (docs/scale-out.md) each step runs on Spark where its stage does and
otherwise refuses in its own function, naming itself (``segflow.engines.require_duckdb``):
features (the build and the online load), the refresh step (score and segment), govern
(movers, controls, review, seal), the drift gate (on a bounded sample the executors take)
and publish (the version a folder partitioned by cohort) run on Spark, and train prepares
its data there (the fit on the driver); ingest refuses (``segflow run`` refuses it before
the flow starts, naming ``--no-ingest``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from segflow.settings import Settings

Call = Callable[..., Any]


def direct(name: str, fn: Callable, *args, **kwargs):
    return fn(*args, **kwargs)


@dataclass
class Outcome:
    campaign: str
    run_id: str
    repeat: bool = False
    governed: Any = None          # segflow.governance.pipeline.GovernanceResult (None for a repeat)
    drift: dict | None = None     # the drift gate's verdict (None when not checked now)
    published: dict | None = None
    unpublished: str | None = None  # why publishing was asked for and did not happen
    verdict: Any = None           # segflow.governance.gate.Verdict after the last step
    report: str = ""              # runs/<id>/report.html
    steps: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """Small, serialisable: what the flow returns and the CLI prints."""
        v = self.verdict
        waiting = [f"{r.message} -> {r.command}" for r in v.reasons]
        if self.unpublished and not waiting:
            waiting = [self.unpublished]
        return {"run_id": self.run_id, "repeat": self.repeat, "state": self.state,
                "report": self.report, "published": self.published, "waiting_for": waiting,
                "drift_passed": None if self.drift is None else self.drift["passed"]}

    @property
    def state(self) -> str:
        """The gate's state; a run that may be published but needs an approver to publish
        it (publishing was asked for, by the scheduler) is waiting."""
        if self.unpublished and self.verdict.state == "ready":
            return "waiting"
        return self.verdict.state


# --- the steps ---------------------------------------------------------------------------
def ingest_step(settings: Settings) -> dict:
    from segflow.ingest.pipeline import run_ingest

    report = run_ingest(settings)
    return {name: t.accepted for name, t in report.tables.items()}


def features_step(settings: Settings, as_of: list[datetime], online: bool = True) -> list:
    from segflow.featurestore.build import build_features

    build_features(settings, as_of)
    if online:
        from segflow.featurestore.online import load_online

        load_online(settings, max(as_of))
    return [t.isoformat() for t in as_of]


def train_step(settings: Settings, campaign: str) -> list[str]:
    from segflow.training.train import train_models

    return [str(r) for r in train_models(settings, campaign=campaign)]


def refresh_step(settings: Settings, campaign: str, as_of, params: dict | None = None) -> dict:
    """A new run, or the earlier run it repeats (then ``repeat`` is true)."""
    from segflow.governance.refresh import refresh_with_overrides
    from segflow.runstore import find_equivalent, mark_duplicate

    record = refresh_with_overrides(settings, campaign, as_of, params)
    original = find_equivalent(settings, record)
    if original is None:
        return {"run_id": record.run_id, "repeat": False}
    mark_duplicate(settings, record, original)
    return {"run_id": original.run_id, "repeat": True}


def govern_step(settings: Settings, run_id: str):
    from segflow.governance.pipeline import govern_run

    return govern_run(settings, run_id)


def drift_step(settings: Settings, campaign: str, run_id: str) -> dict:
    """The drift gate; a crash is recorded in gate.json (which then blocks) and re-raised."""
    from segflow.monitoring.gate import check

    return check(settings, campaign, run_id)[1]


def publish_step(settings: Settings, run_id: str, by: str | None = None) -> dict:
    """Publish when the gate allows it now, and the publisher may: the scheduler (no
    ``by``) publishes only a run that needs nobody's approval. Returns the publication, or
    ``{"unpublished": why}``."""
    from segflow.governance.gate import verdict
    from segflow.governance.publish import publish_run

    v = verdict(settings, run_id)
    if not v.may_publish:
        return {"unpublished": v.headline()}
    if by is None and v.needs_approval:
        return {"unpublished": f"approved, and publishing it needs an approver: segflow "
                               f"publish {run_id} --by APPROVER"}
    return publish_run(settings, run_id, by)


# --- the sequence --------------------------------------------------------------------------
def refresh_sequence(settings: Settings, campaign: str, as_of=None,
                     params: dict | None = None, *, ingest: bool = False,
                     features: bool = False, train: bool = False, drift: bool = True,
                     publish: bool = False, by: str | None = None,
                     call: Call = direct) -> Outcome:
    """Run the steps in order under the workspace lock; returns what happened and the
    gate's verdict at the end."""
    from segflow.governance.gate import verdict
    from segflow.lock import workspace_lock
    from segflow.runstore import run_dir
    from segflow.scoring.refresh import run_as_of
    from segflow.scoring.resolve import resolve_campaign

    with workspace_lock(settings, f"refresh {campaign}"):
        when = run_as_of(resolve_campaign(settings, campaign, None), as_of)
        done = []
        if ingest:
            call("ingest", ingest_step, settings)
            done.append("ingest")
        if features:
            call("features", features_step, settings, [when])
            done.append("features")
        if train:
            call("train", train_step, settings, campaign)
            done.append("train")
        refreshed = call("refresh", refresh_step, settings, campaign, when, params)
        out = Outcome(campaign, refreshed["run_id"], refreshed["repeat"], steps=done,
                      report=str(run_dir(settings, refreshed["run_id"]) / "report.html"))
        done.append("refresh")
        if not out.repeat:
            out.governed = call("govern", govern_step, settings, out.run_id)
            done.append("govern")
            if drift:
                out.drift = call("drift", drift_step, settings, campaign, out.run_id)
                done.append("drift")
        if publish:
            result = call("publish", publish_step, settings, out.run_id, by)
            out.unpublished = result.get("unpublished")
            out.published = None if out.unpublished else result
            done.append("publish")
        out.verdict = verdict(settings, out.run_id)
        return out
