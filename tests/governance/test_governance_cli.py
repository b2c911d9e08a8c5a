"""The governance commands end to end on a small world: refresh (scoring's), govern,
approve, publish, runs show, and a re-run that reproduces the memberships."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from govworld import AS_OF_1, base_features, write_canonical
from typer.testing import CliRunner

from segflow.cli import app


def cli(*args):
    out = CliRunner().invoke(app, list(args))
    return out


@pytest.mark.integration
def test_refresh_govern_approve_publish_rerun(world):
    from scoring.refresh import refresh_campaign

    f = base_features()
    write_canonical(world, list(f.customer_id))
    run = refresh_campaign(world, "holi_test", as_of=AS_OF_1,
                           features=pa.Table.from_pandas(f, preserve_index=False)).run_id
    assert run in cli("runs", "list", "--campaign", "holi_test").output
    out = cli("govern", run)
    assert out.exit_code == 0, out.output
    assert "PASS accounted_once" in out.output and "PASS revenue_reconciles" in out.output
    refused = cli("publish", run, "--by", "lead.analyst")
    assert refused.exit_code != 0 and "approval" in str(refused.exception)
    assert cli("approve", run, "--by", "lead.analyst", "--reason", "ok").exit_code == 0
    assert cli("publish", run, "--by", "lead.analyst").exit_code == 0
    shown = json.loads(cli("runs", "show", run).output)
    assert shown["publications"][0]["current"] and shown["approvals"][0]["by"] == "lead.analyst"
    assert {c["name"] for c in shown["controls"]} >= {"accounted_once", "revenue_reconciles"}
    out = cli("runs", "rerun", run, "--reuse-features")
    assert out.exit_code == 0 and "memberships identical" in out.output, out.output
    actions = [e["action"] for e in map(json.loads,
                                        world.audit_log_path.read_text().splitlines())]
    assert actions[:5] == ["run", "controls", "movement", "approve", "publish"]
    assert cli("audit", "verify").exit_code == 0
