"""`templates check` type-checks each predicate with DuckDB: what passes runs in preview."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from holi_project import ROOT as PROJECT_ROOT
from scoring_frames import FRAMES

from segflow.scoring.clauses import evaluate_clauses
from segflow.scoring.validate import load_bundle

SHIPPED = PROJECT_ROOT / "segment_templates"
APP_ENGAGED = "where: app_sessions_30d >= $min_sessions"


@pytest.fixture
def tdir(tmp_path, home):
    root = tmp_path / "segment_templates"
    shutil.copytree(SHIPPED, root)
    return dataclasses.replace(home, templates_root=root)


def _with_where(settings, where: str, params: str = "") -> Path:
    path = Path(settings.templates_dir) / "app_engaged.yaml"
    text = path.read_text()
    assert APP_ENGAGED in text
    text = text.replace(APP_ENGAGED, f"where: \"{where}\"")
    if params:
        text = text.replace("params:\n", f"params:\n{params}\n", 1)
    path.write_text(text)
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize(("where", "expected"), [
    ("lifetime_spend", "must be a condition (true or false), but 'lifetime_spend' is a DOUBLE"),
    ("'abc'", "must be a condition (true or false), but ''abc'' is a VARCHAR"),
    ("app_sessions_30d >= $min_sessions AND CAST(region AS regionz) = 'x'",
     "cannot run: Type with name regionz does not exist"),
    ("app_sessions_30d >= $min_sessions AND regexp_matches(region, 'a{2,1}')",
     "invalid regular expression: invalid repetition size: {2,1}"),
    ("lower(lifetime_spend) = 'x'", "No function matches the given name and argument types"),
    ("lifetime_spend > 'lots'", "Could not convert string 'lots' to DOUBLE"),
])
def test_predicates_that_cannot_run_are_reported_at_their_line(tdir, columns, where, expected):
    path = _with_where(tdir, where)
    problems = [str(p) for p in load_bundle(tdir, [path], columns=columns).problems]
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{_line_of(path, 'where:')}: where: ")
    assert expected in problems[0]


def test_a_regex_param_is_checked_with_its_value(tdir, columns):
    path = _with_where(tdir, "regexp_matches(region, $pattern)",
                       "  pattern: {type: str, default: 'Maha(', description: a regex}")
    [problem] = [str(p) for p in load_bundle(tdir, [path], columns=columns).problems]
    assert "invalid regular expression: missing )" in problem


def test_a_campaign_param_that_breaks_the_predicate_is_reported(tdir, columns):
    path = _with_where(tdir, "app_sessions_30d >= $min_sessions AND regexp_matches(region, "
                             "$pattern)",
                       "  pattern: {type: str, default: 'Maha', description: a regex}")
    campaign = Path(tdir.campaigns_dir) / "holi_2027.yaml"
    text = campaign.read_text()
    use = "{template: app_engaged,"
    assert use in text
    campaign.write_text(text.replace(use, "{template: app_engaged, params: {pattern: "
                                          "'x{3,1}'},"))
    problems = [str(p) for p in load_bundle(tdir, [path, campaign], columns=columns).problems]
    assert any(p.startswith(f"{campaign}:") and "invalid regular expression" in p
               for p in problems), problems


def test_every_template_that_passes_the_check_runs_on_a_real_shaped_frame(home, columns):
    bundle = load_bundle(home, columns=columns)
    assert not bundle.problems
    assert len(bundle.trees) >= 25
    for name, template in bundle.templates.items():
        table = evaluate_clauses(FRAMES[template.entity], template)
        assert table.num_rows == FRAMES[template.entity].num_rows, name
