"""Flow states that tell the truth: a run waiting for approval or blocked ends in a named,
non-Completed state and posts the alert with its report; `segflow run` exits 1 for them;
`segflow refresh --no-drift --publish` is refused by the gate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.integration

# one as-of time per test: a refresh repeating another test's would be recognised as a
# repeat and not governed again
EARLIER, AS_OF = datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
MIDWAY = datetime(2026, 11, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    """The B2B world (300 accounts) ingested, with features for two quarters."""
    import os

    from segflow.flows.prefect_env import configure_prefect
    from segflow.flows.sequence import features_step
    from segflow.ingest.pipeline import run_ingest
    from segflow.ingest.synthetic.accounts import write_accounts_world
    from segflow.settings import get_settings, set_home

    before = os.environ.get("SEGFLOW_HOME")
    os.environ["SEGFLOW_HOME"] = str(tmp_path_factory.mktemp("states") / "ws")
    set_home(None)  # the CLI's --home callback resets it too: the environment holds it
    settings = get_settings().ensure()
    write_accounts_world(settings.sources_dir, 300, seed=5, truth_dir=settings.truth_dir)
    run_ingest(settings)
    features_step(settings, [EARLIER, MIDWAY, AS_OF])
    yield settings, configure_prefect(settings, apply=False)
    if before is None:
        os.environ.pop("SEGFLOW_HOME", None)
    else:
        os.environ["SEGFLOW_HOME"] = before


def test_refresh_without_drift_cannot_publish(accounts):
    from segflow.cli import app

    settings, _ = accounts
    out = CliRunner().invoke(app, ["refresh", "--campaign", "account_tiers", "--as-of",
                                   EARLIER.date().isoformat(), "--no-drift", "--publish"])
    assert out.exit_code == 1, out.output
    assert "verdict: BLOCKED" in out.output and "drift has not been checked" in out.output
    assert "published" not in out.output.replace("is published", "")


def test_a_run_awaiting_approval_ends_so_and_alerts(accounts, webhook, monkeypatch,
                                                    prefect_api):
    from segflow.cli import app

    settings, prefect_env = accounts
    url, received = webhook
    for key, value in {**prefect_env, "SEGFLOW_ALERT_WEBHOOK": url}.items():
        monkeypatch.setenv(key, value)
    out = CliRunner().invoke(app, ["run", "--campaign", "account_tiers", "--as-of",
                                   AS_OF.isoformat(), "--no-ingest"])
    assert out.exit_code == 1, out.output
    assert "flow run ended AwaitingApproval" in out.output and "state: waiting" in out.output
    (alert,) = received
    assert alert["state"] == "waiting" and alert["campaign"] == "account_tiers"
    assert alert["report"].endswith("report.html") and "needs an approval" in alert["text"]


def _flow_run(flow_run_id):
    """The flow run and its link artifacts, from the Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return run, [a for a in artifacts if a.key in ("report-account-tiers", "segflow-home")]


def test_a_blocked_run_ends_blocked(accounts, webhook, monkeypatch, prefect_api):
    """A canonical file edited after ingest so that it breaks its contract (a contact's
    language outside the allowed list): the contracts control blocks, the flow says so."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from segflow.flows.campaign import run_refresh

    settings, prefect_env = accounts
    url, received = webhook
    for key, value in {**prefect_env, "SEGFLOW_ALERT_WEBHOOK": url}.items():
        monkeypatch.setenv(key, value)
    path = settings.canonical_dir / "customers.parquet"
    original = path.read_bytes()
    table = pq.read_table(path)
    column = table.schema.get_field_index("preferred_language")
    languages = table["preferred_language"].to_pylist()
    languages[0] = "klingon"
    pq.write_table(table.set_column(column, table.schema.field(column),
                                    pa.array(languages, pa.string())), path)
    try:
        state, outcome = run_refresh(campaign="account_tiers", as_of=MIDWAY, ingest=False)
    finally:
        path.write_bytes(original)  # the other tests of the module share the world
    assert (state.type.value, state.name) == ("FAILED", "Blocked")
    assert outcome["state"] == "blocked" and not outcome["published"]
    run, links = _flow_run(state.state_details.flow_run_id)
    assert run.name == "account_tiers 2026-11-15"  # not a random name
    report = (settings.runs_dir / outcome["run_id"] / "report.html").resolve().as_uri()
    home = (settings.home / "index.html").resolve().as_uri()
    assert sorted(a.key for a in links) == ["report-account-tiers", "segflow-home"]
    assert {a.key: a.data for a in links}["report-account-tiers"].endswith(f"]({report})")
    assert f"]({home})" in {a.key: a.data for a in links}["segflow-home"]
    assert any("contracts_hold" in w for w in outcome["waiting_for"]), outcome
    (alert,) = received
    assert alert["state"] == "blocked" and "contracts_hold" in alert["text"]
