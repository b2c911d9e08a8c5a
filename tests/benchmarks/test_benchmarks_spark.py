"""The Spark benchmark's measuring parts: the engines' outputs compared whatever their form,
Spark's event log read into the sizing figures, and memory summed over a process tree."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq


def _outputs(tmp_path, *, changed: bool = False):
    """DuckDB's form (one file: INTEGER, TIMESTAMPTZ) and Spark's (a folder of two part
    files, other row order: BIGINT, naive TIMESTAMP, floats off in the 12th digit, its own
    run id)."""
    ts = [datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 2, 22, tzinfo=UTC)]
    duck = tmp_path / "duck.parquet"
    pq.write_table(pa.table({"customer_id": ["C1", "C2"], "n": pa.array([1, 2], pa.int32()),
                             "score": [0.5, 0.25], "at": pa.array(ts, pa.timestamp("us", "UTC")),
                             "run_id": ["r1", "r1"]}), duck)
    spark = tmp_path / "spark.parquet"
    spark.mkdir()
    naive = [t.replace(tzinfo=None) for t in ts]
    rows = [("C2", 2, 0.25 + 1e-12, naive[1]), ("C1", 3 if changed else 1, 0.5, naive[0])]
    for i, (cid, n, score, at) in enumerate(rows):
        pq.write_table(pa.table({"customer_id": [cid], "n": pa.array([n], pa.int64()),
                                 "score": [score], "at": pa.array([at], pa.timestamp("us")),
                                 "run_id": ["r2"]}), spark / f"part-{i}.parquet")
    (spark / "_SUCCESS").write_text("")
    return duck, spark


def test_outputs_of_either_form_compare_equal_by_content(tmp_path):
    from benchmarks.engine_checks import compare

    duck, spark = _outputs(tmp_path)
    result = compare(duckdb.connect(), duck, spark)
    assert result == {"equal": True, "rows": [2, 2], "columns_compared": 4}


def test_a_changed_value_is_found_and_its_column_named(tmp_path):
    from benchmarks.engine_checks import compare

    duck, spark = _outputs(tmp_path, changed=True)
    result = compare(duckdb.connect(), duck, spark)
    assert result["equal"] is False
    assert result["differing_columns"] == ["n"]


def test_a_missing_output_is_not_equal(tmp_path):
    from benchmarks.engine_checks import compare

    duck, _ = _outputs(tmp_path)
    result = compare(duckdb.connect(), duck, tmp_path / "absent.parquet")
    assert result["equal"] is False and "absent.parquet" in result["error"]


def test_sparks_event_log_gives_totals_and_the_largest_task(tmp_path):
    from benchmarks.spark_events import summary

    def task(read, shuffle_w, remote, local, peak):
        return {"Event": "SparkListenerTaskEnd", "Task Metrics": {
            "Executor Run Time": 1500, "Peak Execution Memory": peak,
            "Input Metrics": {"Bytes Read": read}, "Output Metrics": {"Bytes Written": 10},
            "Shuffle Write Metrics": {"Shuffle Bytes Written": shuffle_w},
            "Shuffle Read Metrics": {"Remote Bytes Read": remote, "Local Bytes Read": local},
            "Memory Bytes Spilled": 0, "Disk Bytes Spilled": 5}}

    events = [task(100, 40, 0, 7, 64), task(300, 0, 2, 3, 256),
              {"Event": "SparkListenerStageCompleted", "Stage Info": {"Number of Tasks": 2}},
              {"Event": "SparkListenerJobEnd"}]
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "local-1").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    got = summary(folder)
    assert got == {"jobs": 1, "stages": 1, "tasks": 2, "input_bytes": 400, "output_bytes": 20,
                   "shuffle_write_bytes": 40, "shuffle_read_bytes": 12,
                   "memory_spill_bytes": 0, "disk_spill_bytes": 10,
                   "max_task_input_bytes": 300, "max_task_shuffle_read_bytes": 7,
                   "max_task_peak_execution_memory": 256, "executor_run_seconds": 3.0,
                   "max_stage_tasks": 2}
    assert summary(tmp_path / "none") == {}


def test_memory_is_summed_over_the_whole_process_tree():
    """A child holding 200 MB (as Spark's JVM is a child of the stage's process) counts."""
    import os

    import psutil

    from benchmarks.proctree import _sample

    me = psutil.Process(os.getpid())
    alone, _, _ = _sample(me, {})
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; b = bytearray(200 * 2**20); b[::4096] = b'x' * "
         "len(b[::4096]); print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        cpu: dict = {}
        rss, pss, count = _sample(me, cpu)
    finally:
        child.communicate("")
    assert count >= 2 and rss - alone >= 200 and pss >= 200
    assert child.pid in {pid for pid, _ in cpu}


def test_every_phase_the_spark_benchmark_times_names_a_function_that_exists():
    """A renamed function fails here, not in a benchmark run an hour in (a 1M run stopped
    at govern on 2026-12-03: pipeline.compute_movers had been renamed)."""
    from benchmarks.spark_engine import PHASES, phase_targets

    for stage in PHASES:
        for module, name, _ in phase_targets(stage):
            assert callable(getattr(module, name, None)), f"{module.__name__}.{name}"


def test_a_partitioned_spark_folder_compares_equal_to_duckdbs_file(tmp_path):
    """Spark writes memberships partitioned by cohort (cohort=<name>/part-*.parquet): read
    as segflow reads it, the partition column included."""
    from benchmarks.engine_checks import compare

    table = pa.table({"entity_id": ["a", "b", "c"], "cohort": ["x", "y", "x"],
                      "n": pa.array([1, 2, 3], pa.int64())})
    pq.write_table(table, tmp_path / "duck.parquet")
    folder = tmp_path / "spark.parquet"
    for cohort in ("x", "y"):
        part = table.filter(pa.compute.equal(table["cohort"], cohort)).drop_columns(["cohort"])
        (folder / f"cohort={cohort}").mkdir(parents=True)
        pq.write_table(part, folder / f"cohort={cohort}" / "part-0.parquet")
    result = compare(duckdb.connect(), tmp_path / "duck.parquet", folder)
    assert result == {"equal": True, "rows": [3, 3], "columns_compared": 3}
