"""The CLI: templates check fails with file:line on a broken file; refresh then explain."""

from __future__ import annotations

import shutil

from holi_project import ROOT as PROJECT_ROOT
from scoring_frames import account_frame
from typer.testing import CliRunner

from segflow.cli import app
from segflow.scoring.refresh import refresh_campaign


def test_templates_check_reports_file_and_line(tmp_path, home):
    bad = tmp_path / "app_engaged.yaml"
    shutil.copy(PROJECT_ROOT / "segment_templates" / "app_engaged.yaml", bad)
    bad.write_text(bad.read_text().replace("app_sessions_30d >=", "app_sesions_30d >="))
    result = CliRunner().invoke(app, ["templates", "check", str(bad)])
    assert result.exit_code == 1
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "where:" in t)
    assert f"{bad}:{line}: where: unknown column 'app_sesions_30d'" in result.output
    assert "app_sessions_30d" in result.output


def test_templates_check_of_a_project_whose_campaign_uses_a_broken_template_exits_1(tmp_path):
    """Checking the whole project reads each campaign's sections too; a template a campaign
    uses that does not load is a problem the check found (exit 1, each at its line), not a
    crash of the campaign's reader (exit 2)."""
    from segflow.starters import init_project

    project = init_project(tmp_path / "shop", "blank").root
    bad = project / "segment_templates" / "lapsed_customers.yaml"
    bad.write_text(bad.read_text().replace("where: |", "wher: |"))
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "ws"), "--project",
                                      str(project), "templates", "check"])
    assert result.exit_code == 1, result.output
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "wher:" in t)
    assert f"{bad}:{line}: unknown key 'wher' in template (did you mean where" in result.output
    assert "problem(s)" in result.output and "Traceback" not in result.output


def test_templates_check_names_owners_and_reviewers_missing_from_the_owners_file(tmp_path):
    """A misspelt reviewer would get no review item and a misspelt owner no question; both
    are named at their line with the nearest person of the owners file."""
    from segflow.starters import init_project

    project = init_project(tmp_path / "shop", "blank").root
    campaign = project / "segment_templates" / "campaigns" / "winback.yaml"
    template = project / "segment_templates" / "loyal_customers.yaml"
    campaign.write_text(campaign.read_text().replace("owner: ana.lead", "owner: ana.led")
                        .replace("[sam.analyst]", "[sam.analsyt]"))
    template.write_text(template.read_text().replace("owner: sam.analyst", "owner: sam.anlyst"))
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "ws"), "--project",
                                      str(project), "templates", "check"])
    assert result.exit_code == 1, result.output

    def line(path, text):
        return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if text in t)

    owners = project / "owners.yaml"
    for path, key, name, meant in ((template, "owner", "sam.anlyst", "sam.analyst"),
                                   (campaign, "owner", "ana.led", "ana.lead"),
                                   (campaign, "reviewers", "sam.analsyt", "sam.analyst")):
        assert (f"{path}:{line(path, name)}: {key}: '{name}' is not in the owners file "
                f"{owners} (did you mean {meant}?)") in result.output
    assert "3 problem(s)" in result.output


def test_explain_of_an_unknown_campaign_names_the_campaigns_not_a_refresh(home, capsys):
    from segflow.cli import run

    assert run(["explain", "--campaign", "holi_2072", "--customer", "C00000001"]) == 2
    err = capsys.readouterr().err
    assert "no campaign 'holi_2072' in " in err and "(did you mean holi_2027?)" in err
    assert "segflow refresh" not in err


def test_explain_from_the_cli_reads_the_latest_run(home):
    record = refresh_campaign(home, "account_tiers", features=_accounts())
    result = CliRunner().invoke(app, ["explain", "--campaign", "account_tiers",
                                      "--customer", "A00001"])
    assert result.exit_code == 0, result.output
    assert record.run_id in result.output
    assert "tier_strategic.c1" not in result.output  # clause ids render as text
    assert "strategic_flag" in result.output and "revenue_4q" in result.output


def test_explain_full_lists_every_clause_and_json_parses(home):
    import json

    record = refresh_campaign(home, "account_tiers", features=_accounts())
    args = ["explain", "--campaign", "account_tiers", "--account", "A00001"]
    full = CliRunner().invoke(app, [*args, "--full"])
    assert full.exit_code == 0, full.output
    data = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    assert data["run_id"] == record.run_id and data["entity_id"] == "A00001"
    uses = [*data["cohorts"], *data["suppressions"]]
    assert sum(line.lstrip().startswith(("[MATCH] ", "[no] "))
               for line in full.output.splitlines()) == len(uses)
    clauses = [c for u in uses for c in u["clauses"]]
    assert sum(line.lstrip().startswith(("pass  ", "FAIL  "))
               for line in full.output.splitlines()) == len(clauses)
    assert {r["status"] for r in data["memberships"]} <= {"assigned", "holdout", "suppressed",
                                                           "unassigned"}


def _accounts():
    return account_frame(50)
