"""The governance commands end to end on a small world: refresh (scoring's), govern, drift,
approve, publish (refused until the gate allows, then a no-op when repeated), runs show,
and a re-run that reproduces the memberships; every step in the signed audit log."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from govworld import ACCEPTANCE, APPROVAL, AS_OF_1, base_features, write_canonical
from typer.testing import CliRunner

from segflow.cli import app


def cli(*args):
    return CliRunner().invoke(app, list(args))


def _decision(run: str) -> str | None:
    """What `runs list --json` says governance decided for ``run``."""
    listed = {r["run_id"]: r for r in json.loads(cli("runs", "list", "--json").output)}
    assert listed[run]["status"] == "governed"
    return listed[run]["decision"]


@pytest.mark.integration
def test_refresh_govern_drift_approve_publish_rerun(world):
    from segflow.scoring.refresh import refresh_campaign

    f = base_features()
    write_canonical(world, list(f.customer_id))
    run = refresh_campaign(world, "holi_test", as_of=AS_OF_1,
                           features=pa.Table.from_pandas(f, preserve_index=False)).run_id
    assert run in cli("runs", "list", "--campaign", "holi_test").output
    out = cli("govern", run)
    assert out.exit_code == 0, out.output
    assert "PASS accounted_once" in out.output and "PASS revenue_reconciles" in out.output
    assert "verdict: BLOCKED" in out.output and "drift has not been checked" in out.output
    refused = cli("publish", run, "--by", "lead.analyst")
    assert refused.exit_code == 1 and "drift has not been checked" in str(refused.exception)
    out = cli("drift", "--campaign", "holi_test", "--run", run)
    assert out.exit_code == 0, out.output
    open_items = json.loads(cli("runs", "show", run, "--json").output)["verdict"]["open_exceptions"]
    refused = cli("publish", run, "--by", "lead.analyst")
    assert refused.exit_code == 1 and f"--accept-open {open_items}" in str(refused.exception)
    out = cli("approve", run, "--by", "lead.analyst", "--reason", APPROVAL)
    assert out.exit_code == 0 and "verdict: WAITING" in out.output, out.output
    assert _decision(run) == "approved"
    out = cli("publish", run, "--by", "lead.analyst", "--accept-open", str(open_items),
              "--reason", ACCEPTANCE)
    assert out.exit_code == 0 and f"published holi_test version 1: run {run}" in out.output
    again = cli("publish", run, "--by", "lead.analyst")
    assert again.exit_code == 0 and "already published as version 1" in again.output
    assert _decision(run) == "published v1 (current)"  # the refresh's status stays governed
    shown = json.loads(cli("runs", "show", run, "--json").output)
    assert shown["publications"][0]["current"] and shown["approvals"][0]["by"] == "lead.analyst"
    assert shown["verdict"]["state"] == "published" and shown["frozen_rules"]
    assert {c["name"] for c in shown["controls"]} >= {"accounted_once", "revenue_reconciles"}
    out = cli("runs", "rerun", run, "--reuse-features")
    assert out.exit_code == 0 and "memberships identical" in out.output, out.output
    actions = [e["action"] for e in map(json.loads,
                                        world.audit_log_path.read_text().splitlines())]
    assert actions == ["govern", "drift_checked", "approve", "publish", "rerun"]
    out = cli("audit", "verify")
    assert out.exit_code == 0 and "audit log intact: 5 entries" in out.output
