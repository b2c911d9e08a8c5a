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

    from segflow.flows.deploy import runnable_campaigns

    settings = copy_world(refreshed_run[0], tmp_path / "w")
    assert runnable_campaigns(settings) == (["holi_test"], {})
    engaged = settings.templates_dir / "engaged.yaml"
    engaged.write_text(engaged.read_text().replace("engagement_score >=", "engagment_score >="))
    ready, skipped = runnable_campaigns(settings)
    assert ready == [] and skipped["holi_test"].startswith("its templates do not check (")
    assert "engagment_score" in skipped["holi_test"]


def test_an_empty_workspace_names_what_each_campaign_lacks(tmp_path):
    """The Holi project in a new workspace: no canonical tables, then (with them assumed)
    no champions; the registry is not created just to be asked."""
    from segflow.flows.deploy import runnable_campaigns, why_not_runnable
    from segflow.settings import Settings

    settings = Settings(home=tmp_path / "ws").ensure()
    ready, skipped = runnable_campaigns(settings)
    assert ready == [] and set(skipped) == {"holi_2027", "account_tiers"}
    assert "customers" in skipped["holi_2027"] and "`segflow ingest`" in skipped["holi_2027"]
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
    assert "no campaign can run here" in err
