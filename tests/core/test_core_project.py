"""A project is a folder with a segflow.yaml: found from where the user stands, named by
--project or SEGFLOW_PROJECT, parsed strictly, and the source of every project path."""

from __future__ import annotations

import subprocess
import sys

import pytest

from segflow.errors import ConfigError
from segflow.project import find_project, load_project

MINIMAL = "name: shop\nbase_currency: USD\n"
OIDC = ("review_desk:\n  sign_in: oidc\n  oidc:\n    issuer: https://login.shop.example\n"
        "    client_id: desk\n    client_secret_env: DESK_SECRET\n")


def _segflow(cwd, *args, env_project=None):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("SEGFLOW_PROJECT", "SEGFLOW_HOME")}
    if env_project:
        env["SEGFLOW_PROJECT"] = str(env_project)
    return subprocess.run([sys.executable, "-m", "segflow.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_project_is_found_from_a_subfolder_and_its_paths_are_its_own(tmp_path):
    (tmp_path / "segflow.yaml").write_text(MINIMAL + "paths:\n  segment_templates: rules\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project(deep) == tmp_path
    project = load_project(tmp_path)
    assert project.path("segment_templates") == tmp_path / "rules"
    assert project.path("owners") == tmp_path / "owners.yaml"
    assert project.workspace == tmp_path / "workspace"
    assert project.timezone == "UTC" and project.fiscal_year_start == 1


def test_settings_take_every_project_path_and_the_workspace_from_the_project(tmp_path):
    (tmp_path / "segflow.yaml").write_text(MINIMAL + "workspace: data/ws\n")
    code = ("from segflow.settings import get_settings; s = get_settings(); "
            "print(s.home, s.templates_dir, s.feature_repo_dir, s.contracts_dir, s.owners_path)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / ".", capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / p) for p in (
        "data/ws", "segment_templates", "feature_repo", "contracts", "owners.yaml")]


@pytest.mark.parametrize("text, line, words", [
    (MINIMAL + "currency: USD\n", 3, "unknown key 'currency'"),
    ("name: shop\nbase_currency: dollars\n", 2, "ISO-4217"),
    (MINIMAL + "timezone: Mars/Olympus\n", 3, "unknown time zone"),
    (MINIMAL + "fiscal_year_start: 13\n", 3, "1..12"),
    (MINIMAL + "paths:\n  templates: rules\n", 4, "unknown path 'templates'"),
    ("base_currency: USD\n", 1, "missing 'name'"),
    (MINIMAL + "review_desk:\n  sign_in: saml\n", 4, "review_desk.sign_in is password, "
     "oidc or a list"),
    (MINIMAL + "review_desk:\n  sign_in: oidc\n", 4, "add review_desk.oidc with issuer"),
    (MINIMAL + OIDC.replace("sign_in: oidc", "sign_in: password"), 5, "review_desk.oidc is "
     "given but sign_in does not name oidc"),
    (MINIMAL + OIDC.replace("https://login.shop.example", "http://login.shop.example"), 6,
     "issuer must be an https:// address"),
    (MINIMAL + OIDC.replace("DESK_SECRET", "'hunter2 with spaces'"), 8, "names an environment "
     "variable (letters, digits, _), not the secret itself; got a value of 19 characters"),
    (MINIMAL + OIDC.replace("    client_id: desk\n", ""), 5, "review_desk.oidc needs client_id"),
    (MINIMAL + OIDC + "    secret: abc\n", 9, "unknown key 'review_desk.oidc.secret'"),
    (MINIMAL + OIDC + "    scopes: openid\n", 9, "review_desk.oidc.scopes must be a non-empty "
     "list of strings"),
    (MINIMAL + "explain:\n  store_contributions: yes please\n", 4,
     "explain has 'store_contributions: true | false'"),
    (MINIMAL + "review_desk:\n  oidc_issuer: x\n", 4, "unknown key "
     "'review_desk.oidc_issuer'"),
    (MINIMAL + "tables:\n  outcomes: results\n  orders: o\n", 5, "unknown table role 'orders'"),
    (MINIMAL + "tables:\n  events: my events\n", 4, "tables.events names a canonical table"),
])
def test_a_bad_project_file_names_file_line_and_the_fix(tmp_path, text, line, words):
    (tmp_path / "segflow.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_project(tmp_path)
    assert f"segflow.yaml:{line}:" in str(err.value) and words in str(err.value)


def test_the_review_desk_signs_in_with_oidc_password_or_both(tmp_path):
    (tmp_path / "segflow.yaml").write_text(MINIMAL + OIDC.replace(
        "sign_in: oidc", "sign_in: [oidc, password]") + "    claim: preferred_username\n")
    project = load_project(tmp_path)
    assert project.desk_sign_in == ("oidc", "password")
    oidc = project.desk_oidc
    assert (oidc.issuer, oidc.client_id, oidc.client_secret_env, oidc.claim, oidc.scopes) == (
        "https://login.shop.example", "desk", "DESK_SECRET", "preferred_username",
        ("openid", "email", "profile"))
    assert oidc.secret_env_line == 8 and oidc.redirect_url is None
    (tmp_path / "segflow.yaml").write_text(MINIMAL)
    assert load_project(tmp_path).desk_sign_in == ("password",)
    assert load_project(tmp_path).desk_oidc is None


def test_the_tables_a_stage_reads_by_role_are_the_projects(tmp_path):
    """The platform names no table: each role is the project's, and a role left out is
    None (the stage that needs it says so or leaves that part off)."""
    (tmp_path / "segflow.yaml").write_text(MINIMAL + "tables:\n  outcomes: results\n")
    project = load_project(tmp_path)
    assert project.table("outcomes") == "results"
    assert project.table("surveys") is None and project.table("events") is None


def test_without_a_project_a_command_says_how_to_get_one(tmp_path):
    done = _segflow(tmp_path, "templates", "check")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: no segflow project here: no segflow.yaml in {tmp_path} or any folder above "
        "it; cd into a project, run `segflow --project DIR <command>` or set SEGFLOW_PROJECT "
        "(`segflow init DIR` creates one)"]


@pytest.mark.parametrize("example", ["holi", "accounts"])
def test_a_demo_outside_a_project_says_so_before_it_makes_anything(tmp_path, example):
    """The check comes before the demo's flows are imported (seconds) and before its
    workspace is made: one line, exit 2, no folder left behind."""
    done = _segflow(tmp_path, "--home", tmp_path / "ws", "demo", example)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith("error: no segflow project here")
    assert not (tmp_path / "ws").exists()


def test_a_named_project_must_exist_and_wins_over_the_working_directory(tmp_path):
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "segflow.yaml").write_text("name: here\nbase_currency: EUR\n")
    missing = _segflow(tmp_path / "here", "--project", tmp_path / "typo", "templates", "check")
    assert missing.returncode == 2 and f"no segflow.yaml in {tmp_path / 'typo'}" in missing.stderr
    by_env = _segflow(tmp_path / "here", "templates", "check", env_project=tmp_path / "typo")
    assert by_env.returncode == 2 and "typo" in by_env.stderr
