"""Template and campaign validation: shipped files pass, each broken example fails with
file, line and a useful message."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from holi_project import ROOT as PROJECT_ROOT

from segflow.scoring.validate import load_bundle
from segflow.settings import get_settings

SHIPPED = PROJECT_ROOT / "segment_templates"
FILES = sorted(SHIPPED.glob("*.yaml")) + sorted((SHIPPED / "campaigns").glob("*.yaml"))


@pytest.fixture(scope="module")
def shipped_problems():
    """All shipped files checked once against the real Feast catalogue and model configs."""
    return [str(p) for p in load_bundle(get_settings()).problems]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_shipped_file_is_valid(shipped_problems, path):
    """Every shipped template and campaign validates (a new file is picked up here)."""
    assert [p for p in shipped_problems if p.startswith(f"{path}:")] == []


def test_holi_campaign_has_the_promised_cohorts(home, columns):
    bundle = load_bundle(home, [SHIPPED / "campaigns" / "holi_2027.yaml"], columns=columns)
    holi = bundle.campaigns["holi_2027"]
    used = {c.template for c in holi.cohorts}
    assert len(holi.cohorts) >= 37
    assert {"lapsed_high_value", "regional_cluster", "new_signups", "festival_buyers",
            "flash_sale_responders", "holi_propensity_threshold",
            "holi_propensity_top"} <= used
    assert any(c.split_by == ("region_language_cluster",) for c in holi.cohorts)
    assert {"inactive_14d", "unsubscribed", "complained"} <= {s.template
                                                             for s in holi.suppressions}


@pytest.fixture
def tdir(tmp_path, home):
    """A copy of the shipped templates the test may break; settings pointing at it."""
    root = tmp_path / "segment_templates"
    shutil.copytree(SHIPPED, root)
    return dataclasses.replace(home, templates_root=root)


def _break(settings, name: str, old: str, new: str) -> Path:
    path = Path(settings.templates_dir) / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def _problems(settings, path, columns) -> list[str]:
    return [str(p) for p in load_bundle(settings, [path], columns=columns).problems]


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_unknown_column_names_line_and_nearest(tdir, columns):
    path = _break(tdir, "lapsed_high_value.yaml", "AND lifetime_spend >", "AND lifetime_spnd >")
    [problem] = _problems(tdir, path, columns)
    assert problem.startswith(f"{path}:{_line_of(path, 'lifetime_spnd')}:")
    assert "unknown column 'lifetime_spnd'" in problem and "lifetime_spend" in problem


def test_misspelt_function_suggests_the_right_one(tdir, columns):
    path = _break(tdir, "email_engaged_nonbuyers.yaml", "coalesce(recency_days",
                  "coalese(recency_days")
    [problem] = _problems(tdir, path, columns)
    assert problem.startswith(f"{path}:{_line_of(path, 'coalese')}:")
    assert "coalese" in problem and "did you mean coalesce" in problem


def test_wrong_param_type_in_campaign(tdir, columns):
    path = Path(tdir.campaigns_dir) / "holi_2027.yaml"
    text = path.read_text().replace("params: {lapsed_days: 90,", "params: {lapsed_days: ninety,")
    path.write_text(text)
    [problem] = _problems(tdir, path, columns)
    assert problem.startswith(f"{path}:{_line_of(path, 'lapsed_days: ninety')}:")
    assert "lapsed_days" in problem and "expected an int" in problem


def test_a_param_default_of_the_wrong_type_is_one_problem(tdir, columns):
    """Its where clause is not reported again for naming an undeclared param: the param is
    declared, only its default is wrong."""
    path = _break(tdir, "lapsed_high_value.yaml", "lapsed_days: {type: int, default: 90",
                  "lapsed_days: {type: int, default: ninety")
    [problem] = _problems(tdir, path, columns)
    assert problem.startswith(f"{path}:{_line_of(path, 'default: ninety')}: default of param "
                              "'lapsed_days' (int): expected an int")


def test_param_compared_with_wrong_column_type(tdir, columns):
    path = _break(tdir, "lapsed_high_value.yaml", "lapsed_days: {type: int, default: 90",
                  "lapsed_days: {type: str, default: '90'")
    problems = _problems(tdir, path, columns)
    assert any("$lapsed_days is str but column 'recency_days' is numeric" in p
               for p in problems)


def test_unknown_key(tdir, columns):
    path = _break(tdir, "new_signups.yaml", "kind: cohort", "kind: cohort\nowners_team: crm")
    [problem] = _problems(tdir, path, columns)
    assert problem.startswith(f"{path}:{_line_of(path, 'owners_team')}:")
    assert "unknown key 'owners_team'" in problem


def test_duplicate_name(tdir, columns):
    copy = Path(tdir.templates_dir) / "zz_copy.yaml"
    copy.write_text((Path(tdir.templates_dir) / "app_engaged.yaml").read_text())
    problems = _problems(tdir, copy, columns)
    assert any("duplicate template name 'app_engaged'" in p for p in problems)
    assert any("must equal the file name 'zz_copy'" in p for p in problems)


def test_duplicate_cohort_name_in_campaign(tdir, columns):
    path = Path(tdir.campaigns_dir) / "account_tiers.yaml"
    path.write_text(path.read_text().replace("name: key,", "name: strategic,"))
    assert any("duplicate cohort name 'strategic'" in p for p in _problems(tdir, path, columns))


@pytest.mark.parametrize("bad, expected", [
    ("region IN (SELECT region FROM customers)", "sub-queries are not allowed"),
    ("read_csv('/etc/passwd') IS NOT NULL", "function 'read_csv' reads data outside"),
    ("app_sessions_30d >= $min_sessions; DROP TABLE memberships",
     "must be one boolean expression, found 2 statements"),
    ("sum(app_sessions_30d) > 1", "function 'sum' is not allowed"),
    ("app_sessions_30d >= $min_sesions", "param $min_sesions is not declared"),
])
def test_forbidden_predicates(tdir, columns, bad, expected):
    path = _break(tdir, "app_engaged.yaml", "where: app_sessions_30d >= $min_sessions",
                  f"where: \"{bad}\"")
    problems = _problems(tdir, path, columns)
    assert len(problems) == 1 and expected in problems[0]
    assert problems[0].startswith(f"{path}:{_line_of(path, 'where:')}:")


def test_all_errors_of_all_files_are_reported(tdir, columns):
    a = _break(tdir, "app_engaged.yaml", "kind: cohort", "kind: cohort\nextra: 1")
    b = _break(tdir, "loyal_frequent.yaml", "frequency_365d >=", "frequncy_365d >=")
    c = _break(tdir, "loyal_frequent.yaml", "tenure_days >=", "tenur_days >=")
    problems = _problems(tdir, Path(tdir.templates_dir), columns)
    assert any(str(a) in p and "extra" in p for p in problems)
    assert sum(str(b) in p for p in problems) == 2 and b == c


def _without_advice(path: Path) -> str:
    return "".join(line for line in path.read_text().splitlines(keepends=True)
                   if not line.startswith(("when_to_use:", "caveats:", "  - ")))


def test_when_to_use_and_caveats_are_parsed(tdir):
    """The catalogue's advice: one sentence and a list of sentences, whitespace folded."""
    from segflow.scoring.schema import Problems
    from segflow.scoring.templates import load_template

    problems = Problems()
    t = load_template(Path(tdir.templates_dir) / "lapsed_high_value.yaml", problems)
    assert not problems
    assert t.when_to_use.startswith("Win-back campaigns") and len(t.caveats) == 2
    bare = Path(tdir.templates_dir) / "bare.yaml"
    bare.write_text(_without_advice(t.path).replace("name: lapsed_high_value", "name: bare"))
    plain = load_template(bare, problems)
    assert not problems and plain.when_to_use is None and plain.caveats == ()


@pytest.mark.parametrize("bad, says", [
    ('when_to_use: ""', "when_to_use must be a sentence"),
    ("when_to_use: [a, b]", "when_to_use must be a sentence"),
    ('caveats: "one sentence"', "caveats must be a list of sentences"),
    ("caveats: []", "caveats must be a list of sentences"),
    ("caveats: [fine, 3]", "caveats must be a list of sentences"),
])
def test_bad_advice_names_its_line(tdir, columns, bad, says):
    path = Path(tdir.templates_dir) / "app_engaged.yaml"
    path.write_text(_without_advice(path))
    _break(tdir, "app_engaged.yaml", "kind: cohort", f"kind: cohort\n{bad}")
    [problem] = _problems(tdir, path, columns)
    assert problem.startswith(f"{path}:{_line_of(path, bad.split(':')[0] + ':')}:"), problem
    assert says in problem


def _live(settings, name: str, value: str = "true", realtime: bool = True) -> Path:
    """Mark template ``name`` live; realtime.yaml beside the templates with email opens
    as a live column (Email Opened adds to email_opens_30d)."""
    path = _break(settings, f"{name}.yaml", "kind: ", f"live: {value}\nkind: ")
    if realtime:
        text = (PROJECT_ROOT / "realtime.yaml").read_text()
        old = "events: [Email Opened]}"
        assert old in text
        settings.realtime_path.write_text(text.replace(
            old, "events: [Email Opened], column: email_opens_30d}"))
    return path


def test_a_live_template_over_a_live_column_passes(tdir, columns):
    path = _live(tdir, "email_engaged_nonbuyers")
    assert _problems(tdir, path, columns) == []
    bundle = load_bundle(tdir, [path], columns=columns)
    assert bundle.templates["email_engaged_nonbuyers"].live is True


@pytest.mark.parametrize("name, value, realtime, says", [
    ("app_engaged", "true", True, "live: true, but the rule references no live column, so "
     "no event can change it (live columns, realtime.yaml features with column: "
     "email_opens_30d)"),
    ("unsubscribed", "true", True, "live: true applies to cohort templates only"),
    ("holi_propensity_top", "true", True, "live: true cannot rank (rank_by, top_n, "
     "top_fraction)"),
    ("email_engaged_nonbuyers", "true", False, "live: true needs a readable realtime.yaml: "
     "no real-time configuration at"),
    ("email_engaged_nonbuyers", '"yes"', True, "template.live must be bool, got 'yes'"),
])
def test_a_template_that_cannot_be_live_gets_one_line(tdir, columns, name, value, realtime,
                                                      says):
    path = _live(tdir, name, value, realtime)
    [problem] = _problems(tdir, path, columns)
    assert problem.startswith(f"{path}:{_line_of(path, 'live:')}: ")
    assert says in problem, problem


def _with_live_additions(tmp_path, text: str):
    from segflow.scoring.campaigns import load_campaign
    from segflow.scoring.schema import Problems

    path = tmp_path / "holi_2027.yaml"
    path.write_text((SHIPPED / "campaigns" / "holi_2027.yaml").read_text()
                    + f"\nlive_additions: {text}\n")
    problems = Problems()
    return path, load_campaign(path, problems), [str(p) for p in problems]


@pytest.mark.parametrize("text, bound", [
    ("{max_customers: 500, max_share: 0.05}", 500),   # 5% of 20,000 is 1,000
    ("{max_share: 0.01}", 200),
    ("{max_customers: 50}", 50),
])
def test_live_additions_bound_is_the_smaller_against_the_approved_size(tmp_path, text, bound):
    _, campaign, problems = _with_live_additions(tmp_path, text)
    assert problems == [] and campaign.live_additions.bound(20_000) == bound


@pytest.mark.parametrize("text, says", [
    ("{}", "live_additions needs max_customers, max_share or both"),
    ("{max_customers: 0}", "max_customers must be a positive whole number, got 0"),
    ("{max_share: 1.5}", "max_share must be a share in (0, 1]"),
    ("{max_rows: 5}", "unknown key 'max_rows' in live_additions"),
])
def test_live_additions_bounds_are_parsed_strictly(tmp_path, text, says):
    path, _, problems = _with_live_additions(tmp_path, text)
    [problem] = problems
    assert says in problem and problem.startswith(f"{path}:{_line_of(path, 'live_add')}:")
