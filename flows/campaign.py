"""The campaign_refresh flow and the single-stage flows it is made of.

The flow runs the one refresh sequence (``segflow.flows.sequence``: ingest -> features -> train
when asked -> refresh -> govern -> drift gate -> publish when the gate allows), each step
as a Prefect task. A failed step fails the flow with that step's own error, posts an
alert, and publishes nothing.

Its final state tells the truth: ``Completed`` when the run was published (or may be, when
publishing was not asked for); ``Failed`` named ``Blocked`` when a control, the drift check
or the seal stops the run, named ``AwaitingApproval`` when it waits for a person (approval,
a drift acknowledgement, open review items). Both post the alert with the report's path.
Called directly, a flow that ends so raises ``NotPublished`` (exit code 1 in the CLI);
``return_state=True`` gives the state, whose result holds the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from prefect import flow

from segflow.errors import CheckFailed
from segflow.flows import steps
from segflow.flows.alerts import failure_message, post_alert, verdict_message
from segflow.settings import get_settings

STATE_NAMES = {"blocked": "Blocked", "waiting": "AwaitingApproval"}


class NotPublished(CheckFailed):
    """The flow ran, and the gate held the run back; ``outcome`` says why and where."""

    def __init__(self, message: str, outcome: dict):
        super().__init__(message)
        self.outcome = outcome

    def __reduce__(self):
        return NotPublished, (str(self), self.outcome)


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


def _as_tasks(campaign: str) -> Callable:
    """The sequence's ``call``: each step as a task; on failure post the alert naming the
    step, then re-raise."""
    def call(name: str, fn: Callable, *args):
        try:
            return steps.as_task(name, fn)(*args)
        except Exception as err:
            run_id = next((a for a in args if isinstance(a, str)
                           and a.startswith(f"{campaign}-")), None)
            payload = failure_message(campaign, name, f"{type(err).__name__}: {err}",
                                      _run_link(run_id))
            post_alert(get_settings().alert_webhook_url, payload)
            raise
    return call


def run_name() -> str:
    """'holi_2027 2027-03-01': the campaign and the as-of date the run is for (the campaign's
    own as-of when none is given), instead of Prefect's random names."""
    from prefect.runtime import flow_run

    parameters = flow_run.parameters
    as_of = parameters.get("as_of")
    return f"{parameters['campaign']} {str(as_of)[:10] if as_of else 'latest'}"


def link_report(campaign: str, run_id: str | None, report: str | None) -> None:
    """A link artifact to the run's refresh report on the flow run, so the Prefect UI leads
    to the page that says what the run is waiting for, and one to the workspace home page.
    Never fails the flow."""
    import logging
    import re
    from pathlib import Path

    if not report:
        return
    try:
        from prefect.artifacts import create_link_artifact

        create_link_artifact(link=Path(report).resolve().as_uri(),
                             link_text=f"Refresh report of {run_id}",
                             key="report-" + re.sub(r"[^a-z0-9-]+", "-", campaign.lower()),
                             description=f"The refresh report of run {run_id}: its verdict "
                                         "first, sizes, controls, movement, review, exports.")
        home = get_settings().home / "index.html"
        if home.exists():  # every campaign's state, beside this run's report
            create_link_artifact(link=home.resolve().as_uri(), link_text="All campaigns",
                                 key="segflow-home",
                                 description="The workspace home page: every campaign's "
                                             "latest run, state, size and last lift.")
    except Exception as err:  # noqa: BLE001 - the run is done; a missing link is logged
        logging.getLogger("segflow.flows").warning("could not attach the report link: %s",
                                                   err)


@flow(name="campaign-refresh", log_prints=True, flow_run_name=run_name)
def campaign_refresh(campaign: str, as_of: datetime | None = None, ingest: bool = True,
                     train: bool = False, publish: bool = True):
    """Refresh one campaign end to end as of a time; returns the outcome (run id, state,
    report, what it waits for), or a Failed state named Blocked / AwaitingApproval."""
    from prefect.states import Failed

    from segflow.flows.sequence import refresh_sequence

    settings = get_settings()
    outcome = refresh_sequence(settings, campaign, as_of, ingest=ingest, features=True,
                               train=train, drift=True, publish=publish,
                               call=_as_tasks(campaign))
    summary = outcome.summary()
    link_report(campaign, outcome.run_id, outcome.report)
    if outcome.state not in STATE_NAMES:
        return summary
    post_alert(settings.alert_webhook_url, verdict_message(
        campaign, outcome.run_id, outcome.state, summary["waiting_for"], outcome.report,
        _run_link(outcome.run_id)))
    message = outcome.verdict.headline() if outcome.verdict.reasons else \
        summary["waiting_for"][0]
    return Failed(name=STATE_NAMES[outcome.state], message=message,
                  data=NotPublished(message, summary))


def run_refresh(**parameters) -> tuple:
    """Run the flow and return (final state, outcome dict) whatever state it ended in; an
    error the flow raised (a failed step) is raised again."""
    state = campaign_refresh(**parameters, return_state=True)
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException) and not isinstance(result, NotPublished):
        raise result
    return state, getattr(result, "outcome", result)


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
