"""The CLI answers --help on every command, quickly, without importing the heavy stack."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from segflow.cli import app


def _commands(group, prefix=()):
    import typer.main

    click_group = typer.main.get_command(group) if not prefix else group
    for name, cmd in getattr(click_group, "commands", {}).items():
        yield (*prefix, name)
        yield from _commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path", sorted(set(_commands(app))))
def test_every_command_has_help(path):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    assert "<bool>" not in result.output  # a flag takes no value: no type beside it


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from segflow.cli import app; "
        "heavy = [m for m in ('pandas', 'feast', 'mlflow', 'prefect', 'evidently', 'lightgbm',"
        " 'sklearn', 'duckdb') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _groups(group, prefix=()):
    import typer.main

    click_group = typer.main.get_command(group) if not prefix else group
    yield prefix
    for name, cmd in getattr(click_group, "commands", {}).items():
        if getattr(cmd, "commands", None):
            yield from _groups(cmd, (*prefix, name))


@pytest.mark.parametrize("path", sorted(set(_groups(app))))
def test_each_command_list_gives_one_line_per_command(path):
    """On a terminal wide enough, each command's summary is one line: a docstring wrapped
    at the source's width must not print as ragged half-lines (typer keeps its line
    breaks; segflow.cli joins them)."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    panel = result.output.split("Commands")[1].splitlines()[1:]
    rows = [line for line in panel if line.startswith("│")]
    assert rows
    continued = [line for line in rows if line.startswith("│  ")]
    assert not continued, "\n".join(continued)


def test_the_project_and_home_options_work_after_the_command(cli, tmp_path):
    """``segflow templates check --project P`` reads P, as ``segflow --project P templates
    check`` does (click alone refused the first: "No such option: --project")."""
    nowhere = tmp_path / "nowhere"
    before = cli(tmp_path / "ws", "--project", nowhere, "templates", "check")
    after = cli(tmp_path / "ws", "templates", "check", "--project", nowhere)
    assert (after.code, after.line) == (before.code, before.line) == (
        2, f"error: no segflow.yaml in {nowhere}: a segflow project is a folder with a "
           "segflow.yaml at its top (`segflow init` writes one)")


def test_only_the_root_options_move_before_the_command():
    """What the reordering does to argv: the root's options after the command go first (with
    their values); everything else, and anything after ``--``, keeps its place."""
    from segflow.cli import global_options_first

    assert global_options_first(["ingest", "--full", "--project", "p", "-v"]) == [
        "--project", "p", "-v", "ingest", "--full"]
    assert global_options_first(["--home", "h", "models", "promote", "--home=g"]) == [
        "--home=g", "--home", "h", "models", "promote"]
    assert global_options_first(["approve", "run1", "--", "--project", "x"]) == [
        "approve", "run1", "--", "--project", "x"]
