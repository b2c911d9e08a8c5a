"""The two worked examples, end to end, as a newcomer runs them.

Holi: generate a world, ingest, build features, train, refresh the Holi 2027 campaign a week
before its as-of time (approved and published as the baseline), refresh again a week later
(movement, review queue, drift gate), then read last year's campaign back as feedback.
Accounts: the same for the quarterly B2B tier refresh, one quarter apart.
Each refresh goes through the real ``campaign-refresh`` Prefect flow.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from segflow.engines import require_duckdb
from segflow.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class DemoPlan:
    """What one demo does; the times are the example's, not the wall clock's."""

    name: str
    campaign: str
    world: Callable[[Settings], object]
    train_as_of: list[datetime]
    first: datetime
    second: datetime
    feedback: str | None = None
    feedback_splits: list[str] | None = None  # last year's campaign has no file to name them
    outputs: dict = field(default_factory=dict)


def _holi_world(customers: int, seed: int):
    def write(settings: Settings):
        from segflow.ingest.synthetic.writer import write_holi_sources

        return write_holi_sources(settings.sources_dir, settings.truth_dir, customers, seed)[0]
    return write


def _accounts_world(accounts: int, seed: int):
    def write(settings: Settings):
        from segflow.ingest.synthetic.accounts import write_accounts_world

        return write_accounts_world(settings.sources_dir, accounts, seed,
                                    truth_dir=settings.truth_dir)
    return write


def holi_plan(customers: int = 100_000, seed: int = 7) -> DemoPlan:
    return DemoPlan("holi", "holi_2027", _holi_world(customers, seed),
                    train_as_of=[datetime(2026, 2, 18, tzinfo=UTC)],
                    first=datetime(2027, 2, 22, tzinfo=UTC),
                    second=datetime(2027, 3, 1, tzinfo=UTC), feedback="holi_2026",
                    feedback_splits=["region", "preferred_language"])


def accounts_plan(accounts: int = 5_000, seed: int = 7) -> DemoPlan:
    return DemoPlan("accounts", "account_tiers", _accounts_world(accounts, seed),
                    train_as_of=[], first=datetime(2026, 10, 1, tzinfo=UTC),
                    second=datetime(2027, 1, 1, tzinfo=UTC))


def run_demo(settings: Settings, plan: DemoPlan, say: Callable[[str], None]) -> DemoPlan:
    """Run every step of the plan, announcing each with its duration."""
    require_duckdb(settings, "demo")
    from segflow.flows.prefect_env import configure_prefect

    configure_prefect(settings)
    prefect_ready = _start_prefect()
    steps = _steps(settings, plan, prefect_ready)
    for number, (title, action) in enumerate(steps, 1):
        say(f"[{number}/{len(steps)}] {title} ...")
        started = time.perf_counter()
        detail = action()
        say(f"      done in {time.perf_counter() - started:.1f}s"
            + (f": {detail}" if detail else ""))
    return plan


BASELINE_APPROVAL = "demo baseline: sizes, controls and movement checked by the campaign owner"
BASELINE_ACCEPTANCE = ("demo baseline: the open boundary and anomaly items go out as "
                       "proposed, to be reviewed before the next refresh")


def _start_prefect() -> threading.Thread:
    """Reach Prefect's API in the background: without a configured server that starts the
    temporary server of a local run, its own process (tens of seconds to import and create
    its database), while this one generates, ingests and trains; on two cores the two
    overlap. The first flow waits for it; should it fail, that flow starts the server itself
    and reports the error."""
    def reach():
        try:
            from prefect.client.orchestration import get_client

            with get_client(sync_client=True) as client:
                client.api_healthcheck()
        except Exception as err:  # noqa: BLE001 (the first flow reports it)
            log.debug("Prefect's API not reached ahead of the first flow: %s", err)

    thread = threading.Thread(target=reach, name="prefect-start", daemon=True)
    thread.start()
    return thread


def _steps(settings: Settings, plan: DemoPlan,
           prefect_ready: threading.Thread | None = None) -> list[tuple[str, Callable]]:
    from segflow.featurestore.build import build_features
    from segflow.featurestore.online import load_online
    from segflow.governance.gate import verdict
    from segflow.governance.publish import approve, publish_run
    from segflow.ingest.pipeline import run_ingest
    from segflow.scoring.resolve import resolve_campaign
    from segflow.training.train import train_models

    owner = resolve_campaign(settings, plan.campaign, None).campaign.owners[0]

    def ingest():
        report = run_ingest(settings)
        bad = sum(t.quarantined_total for t in report.tables.values())
        return f"{len(report.tables)} tables, {bad:,d} rows quarantined with reasons"

    def features():
        build_features(settings, [*plan.train_as_of, plan.first, plan.second])
        load_online(settings, plan.second)

    def train():
        return ", ".join(str(r) for r in train_models(settings, campaign=plan.campaign))

    def first():
        """The baseline: the owner, a listed approver, approves it with a reason and
        publishes it, accepting its open review items explicitly (count and reason)."""
        if prefect_ready is not None:
            prefect_ready.join()
        result = _flow(plan.campaign, plan.first)
        run_id = result["run_id"]
        approve(settings, run_id, owner, BASELINE_APPROVAL)
        open_items = verdict(settings, run_id).open_exceptions
        published = publish_run(settings, run_id, by=owner, accept_open=open_items,
                                reason=BASELINE_ACCEPTANCE)
        plan.outputs["first_run"] = run_id
        return (f"run {run_id} approved by {owner} and published as version "
                f"{published['version']} ({open_items:,} open review item(s) accepted)")

    def second():
        result = _flow(plan.campaign, plan.second)
        plan.outputs.update(second_run=result["run_id"], report=result["report"],
                            waiting_for=result["waiting_for"])
        return f"run {result['run_id']}, waiting for {len(result['waiting_for'])} decision(s)"

    steps = [("Generate the synthetic world", lambda: str(plan.world(settings))),
             ("Ingest sources (contracts, identifiers, duplicates, quarantine)", ingest),
             ("Build features and load the online store", features),
             ("Train models and compare with the champions", train),
             (f"Refresh {plan.campaign} as of {plan.first:%Y-%m-%d} (baseline)", first),
             (f"Refresh {plan.campaign} as of {plan.second:%Y-%m-%d}", second)]
    if plan.feedback:
        steps.append((f"Feedback on last year's campaign {plan.feedback}",
                      lambda: _feedback(settings, plan)))
    return steps


def _flow(campaign: str, as_of: datetime) -> dict:
    """The campaign-refresh flow, unpublished; its outcome whatever state it ended in (a
    run waiting for approval ends AwaitingApproval, as it should)."""
    from segflow.flows.campaign import run_refresh

    return run_refresh(campaign=campaign, as_of=as_of, ingest=False, publish=False)[1]


def _feedback(settings: Settings, plan: DemoPlan) -> str:
    from dataclasses import replace

    from segflow.monitoring.config import load_monitoring_config
    from segflow.monitoring.feedback_run import feedback_dir, run_feedback

    config = load_monitoring_config(settings, plan.feedback).feedback
    if plan.feedback_splits is not None:
        config = replace(config, splits=plan.feedback_splits)
    overall = run_feedback(settings, plan.feedback, config)["overall"]
    plan.outputs["feedback"] = str(feedback_dir(settings, plan.feedback) / "feedback.html")
    return (f"lift {overall['lift']:+.2%} [{overall['lift_low']:+.2%}, "
            f"{overall['lift_high']:+.2%}]")
