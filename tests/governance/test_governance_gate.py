"""One gate decides publication and export: what is published is what was governed and
approved, and every run that is unchecked, crashed, breached, unapproved or has open items
is refused by both, with the reason and the command that resolves it."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from govworld import (
    ACCEPTANCE,
    APPROVAL,
    AS_OF_1,
    drift_passed,
    governed,
    write_run,
)
from typer.testing import CliRunner

from segflow.cli import app
from segflow.errors import ControlFailed


def _refusals(settings, run) -> tuple[str, str]:
    """The messages of publish and export refusing ``run`` (both must refuse)."""
    from segflow.governance.pipeline import export_for
    from segflow.governance.publish import publish_run

    with pytest.raises(ControlFailed) as published:
        publish_run(settings, run, by="lead.analyst", accept_open=None)
    with pytest.raises(ControlFailed) as exported:
        export_for(settings, run)
    return str(published.value), str(exported.value)


def _cut(settings, run, rows: int) -> None:
    path = settings.runs_dir / run / "memberships.parquet"
    pq.write_table(pq.read_table(path).slice(0, rows), path)


def test_memberships_truncated_after_approval_are_refused(world_data):
    from segflow.governance.gate import verdict
    from segflow.governance.publish import approve

    settings, f = world_data
    run = governed(settings, f, AS_OF_1)
    approve(settings, run, "lead.analyst", APPROVAL)
    sealed = verdict(settings, run).seal["memberships_sha256"]
    _cut(settings, run, 30)
    now = verdict(settings, run).memberships_sha256
    for message in _refusals(settings, run):
        assert "memberships changed after governance" in message
        assert sealed[:16] in message and now[:16] in message
        assert f"segflow govern {run}" in message


def test_an_edited_row_is_refused_too(world_data):
    from segflow.governance.publish import approve

    settings, f = world_data
    run = governed(settings, f, AS_OF_1)
    approve(settings, run, "lead.analyst", APPROVAL)
    path = settings.runs_dir / run / "memberships.parquet"
    frame = pq.read_table(path).to_pandas()
    frame.loc[0, "cohort"] = "engaged"
    frame.to_parquet(path, index=False)
    for message in _refusals(settings, run):
        assert "memberships changed after governance" in message


def test_regoverning_changed_content_voids_the_approval(world_data):
    from segflow.governance.gate import verdict
    from segflow.governance.pipeline import govern_run
    from segflow.governance.publish import approve

    settings, f = world_data
    run = governed(settings, f, AS_OF_1)
    approve(settings, run, "lead.analyst", APPROVAL)
    before = verdict(settings, run).seal["seal_hash"]
    _cut(settings, run, len(f))  # same rows, rewritten: a new file hash
    frame = pq.read_table(settings.runs_dir / run / "memberships.parquet").to_pandas()
    frame.loc[frame.index[-1], "score"] = 0.123456
    frame.to_parquet(settings.runs_dir / run / "memberships.parquet", index=False)
    govern_run(settings, run)
    v = verdict(settings, run)
    assert v.seal["seal_hash"] != before and v.seal_intact
    assert [r.code for r in v.reasons if r.code.startswith("approval")] == ["approval_stale"]
    assert not v.may_publish and json.loads(
        (settings.runs_dir / run / "seal.json").read_text())["seal_hash"] == v.seal["seal_hash"]


def test_a_run_never_governed_or_drift_checked_is_refused(world_data):
    from segflow.governance.pipeline import govern_run

    settings, f = world_data
    run = write_run(settings, f, AS_OF_1)
    for message in _refusals(settings, run):
        assert "has not been governed" in message and f"segflow govern {run}" in message
    govern_run(settings, run)
    for message in _refusals(settings, run):
        assert "drift has not been checked" in message


def test_a_crashed_drift_check_blocks(world_data):
    settings, f = world_data
    run = governed(settings, f, AS_OF_1)
    gate = settings.runs_dir / run / "drift" / "gate.json"
    gate.write_text(json.dumps({"run_id": run, "passed": False, "reasons": [],
                                "error": "ValueError: An empty column 'engagement_score' was "
                                         "provided"}))
    for message in _refusals(settings, run):
        assert "the drift check crashed" in message and "engagement_score" in message


def test_a_breached_drift_gate_waits_for_an_acknowledgement(world_data):
    from segflow.governance.gate import verdict

    settings, f = world_data
    run = governed(settings, f, AS_OF_1)
    gate = settings.runs_dir / run / "drift" / "gate.json"
    gate.write_text(json.dumps({"run_id": run, "passed": False, "acknowledged": None,
                                "reasons": ["cohort engaged: share 10% -> 30%"]}))
    assert verdict(settings, run).state == "waiting"
    for message in _refusals(settings, run):
        assert "drift gate is breached" in message and f"segflow drift ack {run}" in message


def _breached(settings, run) -> str:
    """The run's drift check recorded as monitoring records a breach; the file's path."""
    from segflow.governance.audit import record

    reasons = ["cohort engaged: share 10% -> 30%"]
    record(settings, "segflow", "drift_checked", {"passed": False, "reasons": reasons},
           run_id=run)
    gate = settings.runs_dir / run / "drift" / "gate.json"
    gate.write_text(json.dumps({"run_id": run, "passed": False, "acknowledged": None,
                                "reasons": reasons}))
    return gate


@pytest.mark.parametrize("claim", [{"passed": True}, {"passed": True, "reasons": []},
                                   {"passed": False, "acknowledged": {"by": "lead.analyst"}}])
def test_a_drift_pass_or_acknowledgement_written_by_hand_blocks(world_data, claim):
    """The verdict file is a plain file: a pass or an acknowledgement in it counts only where
    the audit log records that check or acknowledgement."""
    from segflow.governance.gate import verdict

    settings, f = world_data
    run = governed(settings, f, AS_OF_1)
    gate = _breached(settings, run)
    gate.write_text(json.dumps({"run_id": run, **claim}))
    v = verdict(settings, run)
    assert v.state == "blocked"   # the other reasons (approval, open items) only wait
    assert [r.code for r in v.reasons if r.code.startswith("drift")] == ["drift_unrecorded"]
    said, why = (("passed", "records that its last drift check found a breach")
                 if claim["passed"] else
                 ("was acknowledged", "records no acknowledgement of its last drift check"))
    for message in _refusals(settings, run):
        assert f"{gate} says the run {said}, but the audit log {why}" in message
        assert "the file was not written by segflow" in message


def test_a_drift_breach_acknowledged_through_segflow_passes_the_gate(world_data):
    from segflow.governance.gate import verdict
    from segflow.monitoring.gate import acknowledge

    settings, f = world_data
    run = governed(settings, f, AS_OF_1)
    _breached(settings, run)
    assert "drift_breached" in [r.code for r in verdict(settings, run).reasons]
    acknowledge(settings, run, "lead.analyst", "a known promotion moved the engaged share")
    assert not [r for r in verdict(settings, run).reasons if r.code.startswith("drift")]


def test_a_drift_pass_file_without_any_audited_check_blocks(world_data):
    from segflow.governance.gate import verdict

    settings, f = world_data
    run = write_run(settings, f, AS_OF_1)
    from segflow.governance.pipeline import govern_run

    govern_run(settings, run)
    gate = settings.runs_dir / run / "drift" / "gate.json"
    gate.parent.mkdir(parents=True, exist_ok=True)
    gate.write_text(json.dumps({"run_id": run, "passed": True}))
    (reason,) = [r for r in verdict(settings, run).reasons if r.code.startswith("drift")]
    assert reason.code == "drift_unrecorded" and "records no drift check of this run" in \
        reason.message


def test_open_items_need_an_explicit_acceptance_of_their_count(world_data):
    from segflow.governance.gate import verdict
    from segflow.governance.publish import approve, publish_run

    settings, f = world_data
    run = governed(settings, f, AS_OF_1)
    approve(settings, run, "lead.analyst", APPROVAL)
    n = verdict(settings, run).open_exceptions
    assert n > 0
    for message in _refusals(settings, run):
        assert f"{n} review item(s) are open" in message and f"--accept-open {n}" in message
    with pytest.raises(ControlFailed, match="does not match"):
        publish_run(settings, run, by="lead.analyst", accept_open=n - 1, reason=ACCEPTANCE)
    from segflow.errors import SegflowError

    with pytest.raises(SegflowError, match="must say why"):
        publish_run(settings, run, by="lead.analyst", accept_open=n, reason="ok")
    entry = publish_run(settings, run, by="lead.analyst", accept_open=n, reason=ACCEPTANCE)
    assert entry["accepted_open"] == {"open": n, "reason": ACCEPTANCE}


def test_unapproved_run_is_refused_and_export_follows_publication(world_data):
    from segflow.governance.gate import verdict
    from segflow.governance.pipeline import export_for
    from segflow.governance.publish import approve, publish_run

    settings, f = world_data
    path = settings.campaigns_dir / "holi_test.yaml"
    path.write_text(path.read_text().replace(
        "review: {band: 0.1, big_mover_tiers: 2, revenue_limit: 20000, revenue_column: "
        "lifetime_spend}", "review: {band: 0.0}")
                    .replace("approval_required: false", "approval_required: true"))
    run = governed(settings, f.drop(columns="is_anomaly"), AS_OF_1)
    v = verdict(settings, run)
    assert v.needs_approval and not v.open_exceptions  # the campaign asks for approval
    for message in _refusals(settings, run):
        assert "it needs an approval" in message
    approve(settings, run, "lead.analyst", APPROVAL)
    assert verdict(settings, run).may_export
    publish_run(settings, run, by="lead.analyst")
    assert verdict(settings, run).state == "published"
    assert export_for(settings, run)["files"]


def test_cli_publish_prints_every_reason_and_exits_1(world_data):
    settings, f = world_data
    run = write_run(settings, f, AS_OF_1)
    out = CliRunner().invoke(app, ["publish", run, "--by", "lead.analyst"])
    assert out.exit_code == 1 and "has not been governed" in str(out.exception)
    from segflow.governance.pipeline import govern_run

    govern_run(settings, run)
    drift_passed(settings, run)
    shown = json.loads(CliRunner().invoke(app, ["runs", "show", run, "--json"]).output)
    assert shown["verdict"]["state"] == "waiting" and not shown["verdict"]["may_publish"]
    assert {r["code"] for r in shown["verdict"]["reasons"]} == {"open_exceptions"} | (
        {"approval_missing"} if shown["verdict"]["needs_approval"] else set())
