"""`segflow serve` deploys only campaigns the project can run: templates that check, models
with a champion, source tables in the workspace; the others are named with the reason."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "governance"))


def test_a_campaign_with_its_tables_is_runnable_and_a_broken_one_is_not(refreshed_run,
                                                                       tmp_path):
    from govworld import copy_world

    from segflow.flows.deploy import runnable_campaigns, why_not_runnable

    settings = copy_world(refreshed_run[0], tmp_path / "w")
    assert runnable_campaigns(settings) == (["holi_test"], {})
    # a cohort reading a model's score runs only with that model's champion
    engaged = settings.templates_dir / "engaged.yaml"
    scored = settings.campaigns_dir / "scored.yaml"
    scored.write_text((settings.campaigns_dir / "holi_test.yaml").read_text()
                      .replace("name: holi_test", "name: scored"))
    engaged.write_text(engaged.read_text().replace(
        "where: engagement_score >= $min_score",
        "where: engagement_score >= $min_score AND holi_propensity > 0.1"))
    assert why_not_runnable(settings, "scored", lambda model: True) is None
    assert why_not_runnable(settings, "scored", lambda model: False) == (
        "model(s) holi_propensity have no champion: train and promote them (`segflow train`)")
    scored.unlink()
    engaged.write_text(engaged.read_text().replace("engagement_score >=", "engagment_score >="))
    ready, skipped = runnable_campaigns(settings)
    assert ready == [] and skipped["holi_test"].startswith("its templates do not check (")
    assert "engagment_score" in skipped["holi_test"]


def test_an_empty_workspace_names_what_each_campaign_lacks(tmp_path):
    """The Holi project in a new workspace: no canonical tables (the registry is not
    created just to be asked)."""
    from segflow.flows.deploy import runnable_campaigns
    from segflow.settings import Settings

    settings = Settings(home=tmp_path / "ws").ensure()
    ready, skipped = runnable_campaigns(settings)
    assert ready == [] and set(skipped) == {"holi_2027", "account_tiers"}
    assert skipped["holi_2027"] == ("no customers, engagement_events, orders in the "
                                    "workspace's canonical tables: run `segflow ingest`")
    # relations derived in the feature repo are named by the tables they need
    assert "billing," in skipped["account_tiers"] and "rollup" not in skipped["account_tiers"]
    assert not settings.mlflow_db_path.exists()
    with pytest.raises(Exception, match="no campaign file nope"):
        runnable_campaigns(settings, ["nope"])


def test_serve_with_nothing_runnable_exits_1_naming_each_campaign(tmp_path, capsys,
                                                                   monkeypatch):
    """The command (in process: the same code path as the installed CLI, without a second
    interpreter importing Feast): one line per skipped campaign, exit 1, no server needed."""
    from segflow.cli import run

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    code = run(["--home", str(tmp_path / "ws"), "serve"])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "skipped holi_2027: no " in out and "skipped account_tiers: " in out
    assert "no campaign and no scheduled source can run here" in err
