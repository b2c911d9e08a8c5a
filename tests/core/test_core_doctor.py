"""segflow doctor: leftovers of interrupted commands are found, repaired, and reported."""

from __future__ import annotations

from datetime import UTC, datetime

from typer.testing import CliRunner

from segflow.cli import app
from segflow.doctor import examine
from segflow.runstore import create_run, load_run


def test_doctor_removes_temp_files_and_fails_unfinished_runs(home):
    tmp = home.canonical_dir / "orders.parquet.tmp"
    tmp.write_bytes(b"half")
    run = create_run(home, "c1", datetime(2027, 3, 1, tzinfo=UTC), {})
    dry = examine(home, repair=False)
    assert {f.subject for f in dry if not f.ok} == {"canonical/orders.parquet.tmp", run.run_id}
    assert tmp.exists() and load_run(home, run.run_id).status == "created"
    fixed = examine(home, repair=True)
    assert all(f.ok for f in fixed) and not tmp.exists()
    record = load_run(home, run.run_id)
    assert record.status == "failed" and "interrupted" in record.inputs["failure"]


def test_doctor_cli_exit_codes(home):
    (home.home / "x.tmp").write_text("")
    runner = CliRunner()
    assert runner.invoke(app, ["doctor", "--dry-run"]).exit_code == 1
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0 and "repaired" in result.output
