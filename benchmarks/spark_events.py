"""What Spark itself measured during a stage, read from its event log
(``spark.eventLog.enabled``, one JSON event a line): jobs, stages and tasks, bytes read
and written, shuffle bytes written and read, spill, and the largest task's input, shuffle
read and peak execution memory: the figures the sizing arithmetic of docs/scale-out.md
scales from."""

from __future__ import annotations

import json
from pathlib import Path


def summary(folder: Path) -> dict:
    """Totals and per-task maxima over every event log in ``folder`` ({} when none); Spark 4
    rolls its log into files under ``eventlog_v2_<app>/``, so the folder is read whole."""
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file()) if Path(folder).is_dir() \
        else []
    if not files:
        return {}
    out = {"jobs": 0, "stages": 0, "tasks": 0, "input_bytes": 0, "output_bytes": 0,
           "shuffle_write_bytes": 0, "shuffle_read_bytes": 0, "memory_spill_bytes": 0,
           "disk_spill_bytes": 0, "max_task_input_bytes": 0, "max_task_shuffle_read_bytes": 0,
           "max_task_peak_execution_memory": 0, "executor_run_seconds": 0.0,
           "max_stage_tasks": 0}
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    _add(out, line)
                except json.JSONDecodeError:  # the last line of a log cut off mid-write
                    out["lines_cut_off"] = out.get("lines_cut_off", 0) + 1
    out["executor_run_seconds"] = round(out["executor_run_seconds"], 1)
    return out


def _add(out: dict, line: str) -> None:
    if '"SparkListenerTaskEnd"' in line:
        metrics = json.loads(line).get("Task Metrics") or {}
        read = metrics.get("Shuffle Read Metrics") or {}
        shuffle_read = read.get("Remote Bytes Read", 0) + read.get("Local Bytes Read", 0)
        task_input = (metrics.get("Input Metrics") or {}).get("Bytes Read", 0)
        peak = metrics.get("Peak Execution Memory", 0)
        out["tasks"] += 1
        out["input_bytes"] += task_input
        out["output_bytes"] += (metrics.get("Output Metrics") or {}).get("Bytes Written", 0)
        out["shuffle_write_bytes"] += (metrics.get("Shuffle Write Metrics") or {}).get(
            "Shuffle Bytes Written", 0)
        out["shuffle_read_bytes"] += shuffle_read
        out["memory_spill_bytes"] += metrics.get("Memory Bytes Spilled", 0)
        out["disk_spill_bytes"] += metrics.get("Disk Bytes Spilled", 0)
        out["executor_run_seconds"] += metrics.get("Executor Run Time", 0) / 1000
        out["max_task_input_bytes"] = max(out["max_task_input_bytes"], task_input)
        out["max_task_shuffle_read_bytes"] = max(out["max_task_shuffle_read_bytes"],
                                                 shuffle_read)
        out["max_task_peak_execution_memory"] = max(out["max_task_peak_execution_memory"],
                                                    peak)
    elif '"SparkListenerStageCompleted"' in line:
        info = json.loads(line).get("Stage Info") or {}
        out["stages"] += 1
        out["max_stage_tasks"] = max(out["max_stage_tasks"], info.get("Number of Tasks", 0))
    elif '"SparkListenerJobEnd"' in line:
        out["jobs"] += 1
