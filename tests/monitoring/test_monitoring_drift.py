"""Drift report and gate: an injected regional shift is flagged and blocks; no shift passes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from segflow.errors import ConfigError, SegflowError
from segflow.monitoring.config import load_monitoring_config
from segflow.monitoring.drift import run_drift
from segflow.monitoring.gate import acknowledge, gate_status, record_verdict
from segflow.runstore import load_run, run_dir

CAMPAIGN = """name: holi_2027
drift:
  sample_size: 1500
  seed: 3
  scores: [holi_propensity]
  key_features: [engagement_score, monetary_365d]
  mix_attributes: [region_zone, preferred_language]
bias:
  attributes: [region_zone, preferred_language]
"""


@pytest.fixture
def runs(world):
    (world.settings.campaigns_dir / "holi_2027.yaml").write_text(CAMPAIGN)
    reference = world.add_run(world.frame(3000, seed=1))
    return world, reference


def _check(world, run_id):
    config = load_monitoring_config(world.settings, "holi_2027")
    summary = run_drift(world.settings, run_id, config)
    return summary, record_verdict(world.settings, run_id, summary, config)


def test_engagement_halved_in_one_region_is_flagged_and_blocks(runs):
    world, reference = runs
    current = world.add_run(world.frame(3000, seed=2, halve_north=True))
    summary, gate = _check(world, current)
    assert summary["reference"] == reference
    assert {"engagement_score", "email_opens_30d"} <= set(summary["features"]["drifted"])
    assert not {"monetary_365d", "tenure_days", "preferred_language"} & set(
        summary["features"]["drifted"])
    assert summary["scores"]["drifted"] == ["holi_propensity"]
    affected = summary["affected_cohorts"]
    assert "engaged__north" in affected
    assert not {"engaged__south", "engaged__west", "engaged__east"} & set(affected)
    assert not gate["passed"]
    assert load_run(world.settings, current).status == "needs_review"
    passed, reasons = gate_status(world.settings, current)
    assert not passed and any("engaged__north" in r for r in reasons)


def test_unshifted_world_passes(runs):
    world, _ = runs
    current = world.add_run(world.frame(3000, seed=2))
    summary, gate = _check(world, current)
    assert summary["features"]["drifted"] == [] and summary["affected_cohorts"] == {}
    assert gate["passed"] and gate_status(world.settings, current) == (True, [])


def test_report_files_state_the_sample_and_read_back(runs):
    world, _ = runs
    current = world.add_run(world.frame(3000, seed=2, halve_north=True))
    _check(world, current)
    out = run_dir(world.settings, current) / "drift"
    saved = json.loads((out / "drift.json").read_text())
    assert saved["sample"]["current"] == {"rows": 1500, "of": 3000} and saved["sample"]["sampled"]
    evidently = json.loads((out / "features.json").read_text())
    assert evidently["metadata"]["sampled_current"] == "1500 of 3000"
    table = pd.read_parquet(out / "summary.parquet")
    assert set(table.columns) >= {"feature", "drifted", "statistic", "threshold"}
    assert "name" not in set(table["feature"])  # free text is not compared
    for page in ("report.html", "features.html", "scores.html"):
        text = (out / page).read_text()
        assert text.lstrip().lower().startswith("<!doctype html") or "<html" in text[:500]
    assert "engaged__north" in (out / "report.html").read_text()


def test_acknowledgement_unblocks_with_a_recorded_reason(runs):
    world, _ = runs
    current = world.add_run(world.frame(3000, seed=2, halve_north=True))
    _check(world, current)
    with pytest.raises(SegflowError, match="must say why"):
        acknowledge(world.settings, current, "asha", "  ")
    with pytest.raises(SegflowError, match="'nobody' is not in the owners file"):
        acknowledge(world.settings, current, "nobody", "monsoon outage in the north")
    with pytest.raises(SegflowError, match="'mallory' may not acknowledge drift"):
        acknowledge(world.settings, current, "mallory", "monsoon outage in the north")
    gate = acknowledge(world.settings, current, "asha", "monsoon outage in the north")
    assert gate["acknowledged"]["by"] == "asha"
    passed, reasons = gate_status(world.settings, current)
    assert passed and "monsoon outage" in reasons[0]
    assert load_run(world.settings, current).status != "needs_review"
    from segflow.governance.audit import read
    entry = read(world.settings, current)[-1]
    assert entry["action"] == "drift_acknowledged" and entry["actor"] == "asha"
    assert "monsoon" in entry["payload"]["reason"] and entry["os_user"]


def test_reference_is_the_last_published_run(runs):
    """Found through governance's read API (the publications table), not the audit log."""
    from segflow.db import connect
    from segflow.governance.publications import ensure_tables

    world, published = runs
    world.add_run(world.frame(3000, seed=5, halve_north=True))  # a later, unpublished run
    with connect(world.settings) as con:  # the publication record as governance writes it
        ensure_tables(con)
        con.execute("INSERT INTO publications (campaign, version, run_id) VALUES "
                    "('holi_2027', 1, ?)", [published])
        con.execute("INSERT INTO publication_pointer VALUES ('holi_2027', 1)")
    current = world.add_run(world.frame(3000, seed=2))
    summary, gate = _check(world, current)
    assert summary["reference"] == published and gate["passed"]


def test_unchecked_run_may_not_publish(runs):
    world, reference = runs
    passed, reasons = gate_status(world.settings, reference)
    assert not passed and "not checked" in reasons[0]


def test_bad_threshold_names_file_and_line(world):
    path = world.settings.campaigns_dir / "holi_2027.yaml"
    path.write_text("name: holi_2027\ndrift:\n  sample_size: 500\n  max_drifted_share: lots\n")
    with pytest.raises(ConfigError, match=r"holi_2027.yaml:4"):
        load_monitoring_config(world.settings, "holi_2027")
    path.write_text("name: holi_2027\ndrift:\n  max_drift: 0.2\n")
    with pytest.raises(ConfigError, match=r":3: unknown key 'drift.max_drift'"):
        load_monitoring_config(world.settings, "holi_2027")


def test_cli_drift_blocks_then_ack_unblocks(runs, monkeypatch):
    from typer.testing import CliRunner

    from segflow.cli import app

    world, _ = runs
    current = world.add_run(world.frame(3000, seed=2, halve_north=True))
    home = ["--home", str(world.settings.home)]
    monkeypatch.setenv("SEGFLOW_TEMPLATES", str(world.settings.templates_root))
    blocked = CliRunner().invoke(app, [*home, "drift", "--campaign", "holi_2027"])
    assert blocked.exit_code == 1 and "NEEDS REVIEW" in blocked.output
    assert "engagement_score" in blocked.output and "1,500 of 3,000" in blocked.output
    acked = CliRunner().invoke(app, [*home, "drift", "ack", current, "--by", "asha",
                                     "--reason", "a known outage in the north"])
    assert acked.exit_code == 0, acked.output
    assert gate_status(world.settings, current)[0]


def test_empty_and_constant_columns_are_reported_not_crashed(runs):
    """Evidently raises on an all-null column ("An empty column 'engagement_score' was
    provided"); such columns are left out of Evidently and reported. A column emptied in the
    current run only counts as drifted; one constant on both sides does not."""
    world, _ = runs
    frame = world.frame(3000, seed=2)
    frame["engagement_score"] = float("nan")
    frame["tenure_days"] = 7
    previous = world.frame(3000, seed=1).assign(tenure_days=7)
    reference = world.add_run(previous)
    current = world.add_run(frame)
    summary, gate = _check(world, current)
    assert summary["reference"] == reference
    assert summary["excluded_columns"] == {
        "engagement_score": "all values are null in the current run",
        "tenure_days": "constant: one and the same value on both sides"}
    assert "engagement_score" in summary["features"]["drifted"]
    assert "tenure_days" not in summary["features"]["drifted"]
    saved = json.loads((run_dir(world.settings, current) / "drift" / "gate.json").read_text())
    assert saved["excluded_columns"] == summary["excluded_columns"] and not saved["error"]


def test_empty_cohorts_are_reported(runs):
    world, reference = runs
    frame = world.frame(3000, seed=2)
    frame["monetary_365d"] = 10.0  # nobody is high value any more
    current = world.add_run(frame)
    summary, _ = _check(world, current)
    assert summary["empty_cohorts"]["high_value"].startswith("emptied: ")


def test_a_crashed_check_records_an_errored_gate_that_blocks(runs):
    from segflow.db import connect
    from segflow.errors import CheckFailed
    from segflow.governance.gate import _drift
    from segflow.monitoring.gate import check

    world, _ = runs
    current = world.add_run(world.frame(3000, seed=2))
    (run_dir(world.settings, current) / "features.parquet").write_bytes(b"not parquet")
    with pytest.raises(CheckFailed, match="the drift check of .* crashed"):
        check(world.settings, "holi_2027", current)
    gate = json.loads((run_dir(world.settings, current) / "drift" / "gate.json").read_text())
    assert gate["error"] and not gate["passed"]
    with connect(world.settings) as con:
        (reason,) = _drift(world.settings, current, "holi_2027", con)
    assert reason.code == "drift_crashed" and reason.kind == "blocked"
    assert gate_status(world.settings, current)[0] is False


def test_no_bias_attributes_is_not_an_error(runs):
    world, _ = runs
    path = world.settings.campaigns_dir / "holi_2027.yaml"
    path.write_text(CAMPAIGN.replace("bias:\n  attributes: [region_zone, preferred_language]",
                                     "bias: {attributes: []}"))
    current = world.add_run(world.frame(3000, seed=2))
    summary, gate = _check(world, current)
    assert summary["bias_flags"] == [] and gate["passed"]
