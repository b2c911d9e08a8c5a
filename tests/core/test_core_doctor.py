"""segflow doctor: leftovers of interrupted commands are found, repaired, and reported."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from segflow.cli import app
from segflow.doctor import examine
from segflow.runstore import create_run, load_run
from segflow.staging import PREFIX, staged_path


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


def test_the_shared_spill_folder_is_a_leftover_only_when_it_holds_files(home):
    """Every in-memory DuckDB connection spills into one workspace folder that stays between
    commands: empty, it is no sign of an interrupted command (doctor said so after every
    demo); a file left in it is."""
    from segflow.db import spill_dir

    folder = Path(spill_dir(home))
    assert not [f for f in examine(home, repair=False) if not f.ok]
    (folder / "duckdb_temp_block-1.block").write_bytes(b"x")
    assert {f.subject for f in examine(home, repair=False) if not f.ok} == {folder.name}


def test_doctor_cli_exit_codes(home):
    (home.home / "x.tmp").write_text("")
    runner = CliRunner()
    assert runner.invoke(app, ["doctor", "--dry-run"]).exit_code == 1
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0 and "repaired" in result.output


def test_doctor_removes_a_spark_refresh_s_staged_folders(home):
    """A command on Spark stages its output as folders of part files (a refresh's scored
    frame `runs/.staged-scoring-<id>.parquet/` and its `...-contributions.parquet/`, the
    writer's `.tmp` folder, a preview's scored frame, the online store's rows): an
    interrupted one leaves folders, which doctor removes whole, as it removes DuckDB's
    staged files."""
    staged = [staged_path(home, purpose) for purpose in ("scoring", "preview", "online")]
    names = [*(s.name for s in staged), f"{staged[0].stem}-contributions.parquet",
             f"{staged[0].stem}-contributions.parquet.tmp"]
    for name in names:
        folder = home.runs_dir / name
        folder.mkdir()
        for part in ("part-00000-x.snappy.parquet", "_SUCCESS", ".part-00000-x.snappy.parquet.crc"):
            (folder / part).write_bytes(b"PAR1")
    dry = examine(home, repair=False)
    assert {f.subject for f in dry if not f.ok} == {f"runs/{n}" for n in names}
    assert all((home.runs_dir / n).is_dir() for n in names)
    fixed = examine(home, repair=True)
    assert all(f.ok for f in fixed)
    assert not [p for p in home.runs_dir.iterdir() if p.name.startswith(PREFIX)]
