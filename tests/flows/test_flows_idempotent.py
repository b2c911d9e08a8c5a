"""Re-running the campaign-refresh flow for the same campaign and as-of time is idempotent:
the repeat is recognised, nothing is governed, queued or published twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.integration

AS_OF = datetime(2027, 1, 1, tzinfo=UTC)


def test_same_campaign_and_as_of_twice_is_one_decision(home, monkeypatch, prefect_api):
    from segflow.db import connect
    from segflow.flows.prefect_env import configure_prefect
    from segflow.ingest.pipeline import run_ingest
    from segflow.ingest.synthetic.accounts import write_accounts_world
    from segflow.runstore import list_runs

    write_accounts_world(home.sources_dir, 300, seed=5, truth_dir=home.truth_dir)
    run_ingest(home)
    for key, value in configure_prefect(home, apply=False).items():
        monkeypatch.setenv(key, value)
    from segflow.flows.campaign import run_refresh

    _, first = run_refresh(campaign="account_tiers", as_of=AS_OF, ingest=False)
    _, second = run_refresh(campaign="account_tiers", as_of=AS_OF, ingest=False)

    assert first["repeat"] is False and second["repeat"] is True
    assert second["run_id"] == first["run_id"]
    assert second["waiting_for"] == first["waiting_for"]
    runs = list_runs(home, "account_tiers")
    assert [r.status for r in runs].count("duplicate") == 1
    assert next(r for r in runs if r.status == "duplicate").inputs["duplicate_of"] == \
        first["run_id"]
    with connect(home) as con:
        queued = con.execute("SELECT run_id, count(*) FROM review_queue GROUP BY 1").fetchall()
    assert [run for run, _ in queued] in ([], [first["run_id"]])
    # the repeat is kept for the record only: approving, publishing or exporting it names
    # the original instead of asking for a governance it will never get
    from segflow.errors import ControlFailed
    from segflow.governance.gate import verdict
    from segflow.governance.publish import approve

    repeat = next(r for r in runs if r.status == "duplicate").run_id
    v = verdict(home, repeat)
    assert v.state == "blocked" and [r.code for r in v.reasons] == ["duplicate"]
    assert f"use run {first['run_id']}" in v.reasons[0].command
    with pytest.raises(ControlFailed, match=f"repeated run {first['run_id']} with the same "
                       "inputs"):
        approve(home, repeat, "finance.lead", "figures checked against the finance report")
    # a later step may change its status (a drift check's breach: needs_review); the run it
    # repeats is still named, and a drift check of the campaign checks the original
    from segflow.runstore import load_run, save_run

    record = load_run(home, repeat)
    record.status = "needs_review"
    save_run(home, record)
    assert [r.code for r in verdict(home, repeat).reasons] == ["duplicate"]
