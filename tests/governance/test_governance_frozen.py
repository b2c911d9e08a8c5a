"""Frozen runs: a run keeps the campaign, templates and owners file it was made with;
editing a template afterwards changes nothing in that run's governance or re-run."""

from __future__ import annotations

import pytest
from govworld import AS_OF_1, copy_world, refreshed_world


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return refreshed_world(tmp_path_factory.mktemp("frozen"))


def _edit_template(settings) -> None:
    path = settings.templates_dir / "lapsed_high_value.yaml"
    path.write_text(path.read_text().replace("default: 5000", "default: 100")
                    .replace("default: 90", "default: 10"))
    campaign = settings.campaigns_dir / "holi_test.yaml"
    campaign.write_text(campaign.read_text().replace("band: 0.1", "band: 0.3"))


def _decisions(settings, run) -> tuple:
    from segflow.db import connect

    with connect(settings) as con:
        items = con.execute("SELECT review_id, rule, detail FROM review_queue WHERE run_id = ? "
                            "ORDER BY 1", [run]).fetchall()
        controls = con.execute("SELECT name, passed, message FROM control_results WHERE "
                               "run_id = ? ORDER BY 1", [run]).fetchall()
        seal = con.execute("SELECT seal_hash FROM run_seals WHERE run_id = ? AND current",
                           [run]).fetchall()
    return items, controls, seal


def test_the_run_folder_holds_its_rules(prepared):
    from segflow.runstore import frozen_dir

    settings, _, run = prepared
    frozen = frozen_dir(settings, run)
    assert sorted(p.relative_to(frozen).as_posix() for p in frozen.rglob("*.yaml")) == [
        "owners.yaml", "segment_templates/campaigns/holi_test.yaml",
        "segment_templates/engaged.yaml", "segment_templates/inactive_14d.yaml",
        "segment_templates/lapsed_high_value.yaml", "segment_templates/new_signups.yaml"]


def test_a_template_edited_after_the_refresh_changes_nothing_in_its_governance(prepared,
                                                                             tmp_path):
    from segflow.governance.context import RunContext
    from segflow.governance.pipeline import govern_run

    base, _, run = prepared
    settings = copy_world(base, tmp_path / "w")
    before = _decisions(settings, run)
    _edit_template(settings)
    govern_run(settings, run)
    assert _decisions(settings, run) == before
    rule = RunContext.of(settings, run).rules["lapsed_high_value"]
    assert rule.params["p0_min_spend"] == 5000 and RunContext.of(settings, run).config.band == 0.1


def test_a_rerun_uses_the_frozen_rules(prepared, tmp_path):
    import duckdb

    from segflow.governance.refresh import refresh_with_overrides
    from segflow.governance.status import rerun

    base, table, run = prepared
    settings = copy_world(base, tmp_path / "w")
    _edit_template(settings)
    same, new_run, detail = rerun(settings, run, reuse_features=True)
    assert same, detail
    today = refresh_with_overrides(settings, "holi_test", AS_OF_1, features=table).run_id
    count = "SELECT count(*) FILTER (WHERE cohort = 'lapsed_high_value') FROM read_parquet(?)"
    with duckdb.connect() as con:
        n = [con.execute(count, [str(settings.runs_dir / r / "memberships.parquet")])
             .fetchall()[0][0] for r in (run, new_run, today)]
    assert n[0] == n[1] < n[2]  # today's edited template would have decided differently


def test_the_frozen_owners_file_edited_after_the_run_refuses_every_decision(prepared,
                                                                          tmp_path):
    """The frozen copy is read-only, but a chmod undoes that: an approver added there (and
    in today's file) would approve. Its sha256, recorded with the run in the govern audit
    entry, must still match before anyone approves, reviews or acknowledges under it."""
    import hashlib

    from segflow.errors import ControlFailed
    from segflow.governance.audit import read
    from segflow.governance.publish import approve
    from segflow.runstore import frozen_dir

    base, _, run = prepared
    settings = copy_world(base, tmp_path / "w")
    frozen = frozen_dir(settings, run) / "owners.yaml"
    (govern,) = [e for e in read(settings, run) if e["action"] == "govern"]
    assert govern["payload"]["inputs"]["frozen"]["owners.yaml"] == \
        hashlib.sha256(frozen.read_bytes()).hexdigest()
    for path in (frozen, settings.owners_path):   # mallory, a viewer, made an approver
        path.chmod(0o644)
        text = path.read_text()
        assert "mallory: {name: Mallory, roles: [viewer]}" in text
        path.write_text(text.replace("roles: [viewer]}", "roles: [approver]}"))
    with pytest.raises(ControlFailed, match=f"the owners file frozen with run {run} .* changed "
                       "after the run was made .*restore it, or refresh the campaign"):
        approve(settings, run, "mallory", "figures checked against the finance report")
    with pytest.raises(ControlFailed, match="changed after the run was made"):
        approve(settings, run, "lead.analyst", "figures checked against the finance report")
    frozen.unlink()   # without its copy the run would fall back to today's file alone
    with pytest.raises(ControlFailed, match=f"the owners file frozen with run {run} .* is "
                       "missing, though the run recorded it"):
        approve(settings, run, "mallory", "figures checked against the finance report")


def test_a_refresh_after_an_owners_edit_is_a_new_run_not_a_repeat(prepared, tmp_path):
    """The frozen files' hashes are part of the run's key: with the same data and rules a
    refresh repeats the run, but after an owners edit it is a run under the new file (a
    repeat would keep the old frozen copy, and no one granted since could approve)."""
    from segflow.governance.refresh import refresh_with_overrides
    from segflow.runstore import find_equivalent

    base, table, _ = prepared
    settings = copy_world(base, tmp_path / "w")   # its rules' paths differ: its own first run
    first = refresh_with_overrides(settings, "holi_test", AS_OF_1, features=table)
    again = refresh_with_overrides(settings, "holi_test", AS_OF_1, features=table)
    assert find_equivalent(settings, again).run_id == first.run_id
    text = settings.owners_path.read_text()
    settings.owners_path.write_text(text.replace("roles: [viewer]}", "roles: [approver]}"))
    edited = refresh_with_overrides(settings, "holi_test", AS_OF_1, features=table)
    assert find_equivalent(settings, edited) is None
