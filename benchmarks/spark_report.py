"""The RESULTS.md section of ``benchmarks.spark_engine``: per scale, each stage on DuckDB and
on Spark ``local[2]`` in the same run (seconds, CPU, peak memory of the process tree, the
load), whether the outputs agreed, and what Spark measured of itself (tasks, bytes read,
shuffle, spill)."""

from __future__ import annotations

import json
from pathlib import Path

TITLE = "## Spark beside DuckDB (issue 20): the stages that run on Spark, same world, same run"
INTRO = """Written by `python -m benchmarks.spark_engine --scale SCALE`. One world per scale, set up
once on DuckDB (generated, ingested, last week's features, champions trained on DuckDB, last
week's run governed and published), then forked; the same project runs each stage on DuckDB
and on Spark `local[2]` with only `engine:` switched, the two engines alternating stage by
stage (or, with `--side-by-side`, running each stage at the same time). Each stage is a
process of its own: "s" is the stage's timed work (imports and the Spark session's start
excluded: the session is reported apart); "CPU s" is the CPU time of the process tree (the
Python process, Spark's JVM and its Python workers) during the stage's work, imports and
session start excluded (Python workers that exited before the end are not counted: a lower
bound); "peak MB" is the whole process's life's highest PSS sum over the tree (sampled every
0.25 s; the RSS sum, which counts shared pages once per process, and the CPU including
imports are in the JSON). "load" is the 1-minute load average on the 2 shared cores during
the stage (mean, from samples every 5 s): the machine is shared, so the ratio in the same
run is the figure that counts. `govern` is the whole step on both engines (movement with its
reasons, controls, the review queue, the seal, the report); in the results measured on
2026-12-02, before governance ran whole on Spark, Spark's `govern` was movers and controls
only and DuckDB's the whole step, with its movement + controls phases given beside it."""

LABELS = {"features": "features build (5 views, as of 2027-03-01, + Feast apply)",
          "refresh": "refresh step: retrieval, scoring (2 champions), 47 cohorts",
          "govern": "govern: movement with reasons, controls, review, seal, report",
          "export": "export: channel files of last week's published run"}


def section(folder: Path) -> str:
    records = [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]
    records.sort(key=lambda r: r["customers"])
    lines = [TITLE, "", INTRO, ""]
    for record in records:
        lines += _scale(record)
    return "\n".join(lines) + "\n"


def _n(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _scale(record: dict) -> list[str]:
    m = record["machine"]
    spark = [r.get("spark") or {} for r in record["stages"].values()]
    first = next((s for s in spark if "session_seconds" in s), {})
    lines = [f"### {record['customers']:,} customers", "",
             f"{m['date']}; {m['cores']} cores, {m['memory_gb']} GB; load at start "
             f"{m['load_at_start']}; disk free {m.get('disk_free_gb_at_start')} GB; Spark "
             f"{first.get('spark_version', '-')}, `local[2]`, spark.driver.memory "
             f"{record['driver_memory']} (the JVM's max heap: {_n(first.get('jvm_max_heap_mb'))}"
             f" MB); the session's start, per process: "
             + ", ".join(f"{_n(s.get('session_seconds'))} s" for s in spark if s) + ".", ""]
    generate = (record.get("set_up") or {}).get("generate") or {}
    if "world" in generate:
        lines += [f"Sources not generated in this run: linked from `{generate['world']}`, "
                  "written earlier by the same generator and seed.", ""]
    train = (record.get("set_up") or {}).get("train") or {}
    if "models_from" in train:
        lines += [f"Champions not trained at this scale: copied from "
                  f"`{train['models_from']['source']}` ({train.get('note', 'trained there')}).",
                  ""]
    lines += [f"**Note:** {n}" for n in record.get("notes", [])] + \
        ([""] if record.get("notes") else [])
    if record.get("engines_side_by_side"):
        lines += ["Each stage ran on both engines at the same time (`--side-by-side`, each in "
                  "its own copy of the workspace): both saw the same load, and each other.",
                  ""]
    if record.get("finished") is None:
        lines += ["**Incomplete: not every stage ran; the outputs of those that did are compared "
                  "below.**" if record.get("checks") else "**Incomplete: the run stopped (or is "
                  "still running) before its checks.**", ""]
    lines += ["| stage | DuckDB s | CPU s | peak MB | load | Spark s | CPU s | peak MB | load "
              "| Spark / DuckDB | outputs |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    checks = record.get("checks", {})
    for name, by in record["stages"].items():
        d, s = by.get("duckdb", {}), by.get("spark", {})
        ratio = (f"{s['seconds'] / d['seconds']:.1f}x"
                 if d.get("seconds") and s.get("seconds") else "-")
        lines.append(f"| {LABELS.get(name, name)} | {_cell(d)} | {_cell(s)} | {ratio} | "
                     f"{_verdict(checks.get(name))} |")
    lines += [""] + _phases(record) + _spark_metrics(record) + _sizes(record) + _errors(record)
    return lines


def _cell(r: dict) -> str:
    if not r:
        return "- | - | - | -"
    if "error" in r:
        return f"failed | {_n(r.get('cpu_seconds'))} | {_n(r.get('peak_tree_pss_mb'))} | " \
               f"{_n(r.get('load_mean'))}"
    cpu = r.get("stage_cpu_seconds", r["cpu_seconds"])
    return (f"{_n(r['seconds'])} | {_n(cpu)} | {_n(r['peak_tree_pss_mb'])} | "
            f"{_n(r['load_mean'])}")


def _verdict(check: dict | None) -> str:
    if not check:
        return "not compared"
    parts, bad = [], []
    for what, c in check.items():
        (parts if c.get("equal") else bad).append(what)
    rows = [c["rows"][0] if isinstance(c["rows"], list) else c["rows"]
            for c in check.values() if "rows" in c]
    outputs = f"{len(parts)} output{'s' if len(parts) != 1 else ''}"
    detail = f" ({outputs}, up to {max(rows):,} rows)" if rows else f" ({outputs})"
    if bad:
        return "**differ**: " + ", ".join(bad)
    return "equal" + detail


def _phases(record: dict) -> list[str]:
    lines = ["Where the time goes (seconds):", ""]
    for name, by in record["stages"].items():
        for engine in ("duckdb", "spark"):
            phases = by.get(engine, {}).get("phases")
            if phases:
                text = ", ".join(f"{k} {v:.1f}" for k, v in phases.items())
                lines.append(f"- {name}, {engine}: {text}")
    return lines + [""]


MB = 2**20


def _spark_metrics(record: dict) -> list[str]:
    rows = [(n, by["spark"]["spark_metrics"]) for n, by in record["stages"].items()
            if by.get("spark", {}).get("spark_metrics")]
    if not rows:
        return []
    lines = ["What Spark measured (its event log): tasks, bytes read from files, shuffle "
             "written, spill, the largest task's input and peak execution memory.", "",
             "| stage | jobs | tasks | input MB | shuffle write MB | shuffle read MB | "
             "spill (memory / disk) MB | largest task input MB | largest task peak exec MB "
             "| task time s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in rows:
        lines.append(
            f"| {name} | {m['jobs']} | {m['tasks']:,} | {m['input_bytes'] / MB:,.0f} | "
            f"{m['shuffle_write_bytes'] / MB:,.0f} | {m['shuffle_read_bytes'] / MB:,.0f} | "
            f"{m['memory_spill_bytes'] / MB:,.0f} / {m['disk_spill_bytes'] / MB:,.0f} | "
            f"{m['max_task_input_bytes'] / MB:,.1f} | "
            f"{m['max_task_peak_execution_memory'] / MB:,.0f} | {m['executor_run_seconds']:,.0f} |")
    return lines + [""]


def _sizes(record: dict) -> list[str]:
    sizes = record.get("sizes_mb")
    if not sizes:
        return []
    keys = sorted({k for v in sizes.values() for k in v})
    return ["On disk after the run (MB): " + "; ".join(
        f"{k}: " + " / ".join(_n(sizes[e].get(k)) for e in ("duckdb", "spark"))
        for k in keys) + " (DuckDB / Spark).", ""]


def _errors(record: dict) -> list[str]:
    errors = [f"- {n}, {e}: {r['error']}" for n, by in record["stages"].items()
              for e, r in by.items() if "error" in r]
    return (["Failures:", "", *errors, ""]) if errors else []
