"""Progress lines for long steps: one line per stage with its time on stderr, never on
stdout; off for library callers, --quiet and --json."""

from __future__ import annotations

import pytest

from segflow import progress
from segflow.cli import run


@pytest.fixture
def restore():
    before = progress.enabled()
    yield
    progress.enable(before)


def test_a_stage_prints_one_line_with_its_time_on_stderr(capsys, restore):
    progress.enable(True)
    with progress.stage("built feature view customer_rfm"):
        pass
    with pytest.raises(ValueError), progress.stage("scored holi"):
        raise ValueError("boom")
    out, err = capsys.readouterr()
    assert out == ""
    first, second = err.splitlines()
    assert first.startswith("  built feature view customer_rfm: done in ") and first.endswith(" s")
    assert second.startswith("  scored holi: failed in ")


def test_library_callers_hear_nothing(capsys, restore):
    progress.enable(False)
    with progress.stage("anything"):
        pass
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("argv, on", [
    (["runs", "list"], True),
    (["--quiet", "runs", "list"], False),
    (["-q", "runs", "list"], False),
    (["runs", "list", "--json"], False),
])
def test_the_cli_turns_progress_on_unless_quiet_or_json(argv, on, tmp_path, restore,
                                                         capsys):
    run(["--home", str(tmp_path / "ws"), *argv])
    capsys.readouterr()
    assert progress.enabled() is on
