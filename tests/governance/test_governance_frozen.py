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
