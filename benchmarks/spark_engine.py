"""``python -m benchmarks.spark_engine --scale 1m [--home DIR] [--base DIR]``: the stages that
run on Spark today, on DuckDB and on Spark ``local[2]`` in the same run, on one world.

One Holi world is generated, ingested, given last week's features, trained (on DuckDB, once)
and given last week's published run (``benchmarks.run``'s set-up stages, each in its own
process). The workspace is then forked in two (Parquet files hard-linked, databases
copied) and the same project runs on each with only ``engine:`` switched: ``features
build`` as of 2027-03-01, the refresh step of holi_2027 (point-in-time retrieval, scoring
with the champions, segment evaluation), ``govern`` of that run against last week's, and
``export`` of last week's published run. The stages alternate between the engines (DuckDB's
features, Spark's features, DuckDB's refresh, ...) so both see the shared machine's load
alike.

Each stage is a process of its own (``stage NAME --engine E``): the Spark session (the
JVM's start) is made before the clock starts and reported apart, as the heavy imports are.
Per stage the parent records the timed seconds, the wall and CPU seconds and the peak
memory of the whole process tree (``benchmarks.proctree``: the JVM and its Python workers
included), the load average, and on Spark what Spark measured (``benchmarks.spark_events``:
tasks, input, shuffle, spill). Then ``benchmarks.engine_checks`` compares every output of
the two engines (rows and an order-free hash). Raw figures go to
``benchmarks/results/spark/<scale>.json``, the table to ``results/sections/80-spark-engine.md``
and so RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.world import AS_OF, CAMPAIGN, customers_of, link_sources, workspace

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "spark"
SECTION = HERE / "results" / "sections" / "80-spark-engine.md"
STAGES = ("features", "refresh", "govern", "export")
ENGINES = ("duckdb", "spark")
SETUP = ("generate", "ingest", "history", "train", "baseline")
# what a fork of the set-up workspace leaves out: the sources (read by ingest only), the
# generator's truth, the peers' files and the set-up's logs
NOT_FORKED = ("sources", "truth", "peers", "spark-events")


# --- the child: one stage on one engine -------------------------------------------------

# the functions each stage's phases are timed by: (module, function, label); a renamed
# function fails the benchmark's tests, not a run an hour in
PHASES = {
    "features": [("segflow.featurestore.build", "apply", "feast apply")],
    "refresh": [("segflow.scoring.score", "champions", "load champion models"),
                ("segflow.scoring.refresh", "score_to_file", "retrieval + scoring"),
                ("segflow.scoring.score_spark", "score_on_spark", "retrieval + scoring"),
                ("segflow.scoring.refresh", "_memberships_on_duckdb", "segment evaluation"),
                ("segflow.scoring.refresh", "_memberships_on_spark", "segment evaluation")],
    "govern": [("segflow.governance.pipeline", "movement_for", "movement with reasons"),
               ("segflow.governance.pipeline", "run_controls", "controls"),
               ("segflow.governance.review", "find_exceptions", "review queue"),
               ("segflow.governance.report", "write_report", "report")],
}


def phase_targets(stage: str) -> list[tuple[object, str, str]]:
    """``PHASES[stage]`` with each module imported (``benchmarks.timing.phases_of``)."""
    import importlib

    return [(importlib.import_module(m), f, label) for m, f, label in PHASES[stage]]


def engine_settings(home: Path, engine: str, driver_memory: str, events: Path | None):
    """The benchmark workspace with the project's engine set to ``engine``: on Spark,
    ``local[2]`` with the driver's memory set (in local mode the executors run in the
    driver's JVM, so this is the executor memory too) and the event log on."""
    from segflow.engines import SPARK, SparkSettings

    settings = workspace(home)
    if engine == "duckdb":
        return settings
    conf = {"spark.sql.session.timeZone": "UTC", "spark.driver.memory": driver_memory,
            "spark.ui.enabled": "false"}
    if events is not None:
        events.mkdir(parents=True, exist_ok=True)
        conf.update({"spark.eventLog.enabled": "true", "spark.eventLog.dir": events.as_uri(),
                     "spark.eventLog.compress": "false"})
    spark = SparkSettings(master="local[2]", conf=tuple(sorted(conf.items())))
    return replace(settings, project=replace(settings.project, engine=SPARK, spark=spark))


def _current(settings) -> str:
    from benchmarks.stages import _runs
    return _runs(settings)["current"]


def stage_features(settings) -> dict:
    import segflow.featurestore.build as build
    from benchmarks.timing import Stopwatch, phases_of

    phases: dict[str, float] = {}
    with Stopwatch() as sw, phases_of(phase_targets("features"), phases):
        report = build.build_features(settings, AS_OF)
    phases.update({k: v["seconds"] for k, v in report.items() if "seconds" in v})
    return {"seconds": sw.seconds, "phases": phases,
            "info": {k: v.get("rows", v.get("skipped")) for k, v in report.items()}}


def stage_refresh(settings) -> dict:
    import segflow.scoring.refresh as refresh
    from benchmarks.stages import _save_run
    from benchmarks.timing import Stopwatch, phases_of

    phases: dict[str, float] = {}
    with Stopwatch() as sw, phases_of(phase_targets("refresh"), phases):
        record = refresh.refresh_campaign(settings, CAMPAIGN, AS_OF)
    _save_run(settings, "current", record.run_id)
    return {"seconds": sw.seconds, "phases": phases,
            "info": {"run_id": record.run_id, "rows": record.inputs["data_snapshot"]["rows"]}}


def stage_govern(settings) -> dict:
    import segflow.governance.pipeline as pipeline
    from benchmarks.timing import Stopwatch, phases_of

    phases: dict[str, float] = {}
    with Stopwatch() as sw, phases_of(phase_targets("govern"), phases):
        result = pipeline.govern_run(settings, _current(settings))
    return {"seconds": sw.seconds, "phases": phases, "info": {
        "movement": {k: int(v) for k, v in result.movement.counts.items()},
        "movers_file": result.movement.files["parquet"],
        "controls": [r.to_dict() for r in result.controls]}}


def stage_export(settings) -> dict:
    from benchmarks.stages import _runs
    from benchmarks.timing import Stopwatch
    from segflow.governance.pipeline import export_for

    with Stopwatch() as sw:
        index = export_for(settings, _runs(settings)["previous"])
    files = sorted([f["cohort"], f["channel"], f["rows"], f["sha256"]] for f in index["files"])
    return {"seconds": sw.seconds, "info": {"engine": index.get("engine"), "files": files,
                                            "rows": sum(f[2] for f in files)}}


CHILD = {"features": stage_features, "refresh": stage_refresh, "govern": stage_govern,
         "export": stage_export}


def child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.spark_engine stage")
    parser.add_argument("name", choices=STAGES)
    parser.add_argument("--engine", choices=ENGINES, required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--driver-memory", required=True)
    parser.add_argument("--events", type=Path)
    args = parser.parse_args(argv)
    from benchmarks.proctree import tree_cpu_seconds
    from benchmarks.stage import HEAVY, warm_imports
    from benchmarks.timing import Stopwatch

    # kept out of the stage's figure; evidently (the drift gate) is not used here
    imports = warm_imports([m for m in HEAVY if m != "evidently"])
    settings = engine_settings(args.home, args.engine, args.driver_memory, args.events)
    extra = {}
    if args.engine == "spark":
        from segflow import spark as sp

        with Stopwatch() as sw:
            session = sp.session_of(settings)
        session.sparkContext.setLogLevel("ERROR")
        runtime = session.sparkContext._jvm.java.lang.Runtime.getRuntime()
        extra = {"session_seconds": round(sw.seconds, 2),
                 "jvm_max_heap_mb": round(runtime.maxMemory() / 2**20),
                 "spark_version": session.version,
                 "spark_conf": dict(settings.spark.conf)}
    before = tree_cpu_seconds()
    result = CHILD[args.name](settings)
    result.update(extra, imports_seconds=round(imports, 2),
                  stage_cpu_seconds=round(tree_cpu_seconds() - before, 2))
    args.out.write_text(json.dumps(result, default=str, indent=1))


# --- the parent: set-up, fork, the stages on both engines, the checks --------------------

def set_up(base: Path, customers: int, models_from: Path | None,
           world: Path | None = None) -> dict:
    """benchmarks.run's set-up stages in ``base`` (each its own process), once; with
    ``world``, its sources linked in place of the generate stage (``link_sources``)."""
    from benchmarks.run import run_one

    done = {}
    for name in SETUP:
        if name == "generate" and world is not None:
            link_sources(world, workspace(base).sources_dir)
            done[name] = {"world": str(Path(world).resolve())}
            continue
        if name == "train" and models_from is not None:
            from benchmarks.models_from import copy_models

            done[name] = {"models_from": copy_models(models_from, base)}
            continue
        result = run_one(name, base, customers)
        done[name] = result
        print(f"set-up {name:<10} {result.get('seconds', float('nan')):8.1f} s "
              f"{result['peak_rss_mb']:7.0f} MB {result.get('error', '')}", flush=True)
        if "error" in result:
            raise SystemExit(f"set-up stage {name} failed: {result['error']}")
    return done


def fork(base: Path, dest: Path) -> None:
    """A copy of the set-up workspace: Parquet files hard-linked (never rewritten in place:
    every stage writes a new file and renames it), everything else copied (DuckDB and
    SQLite files are changed in place)."""

    def link_or_copy(src, dst):
        if src.endswith(".parquet") or "/mlartifacts/" in src:
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)

    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(base, dest, copy_function=link_or_copy, symlinks=True,
                    ignore=lambda d, names: [n for n in names if Path(d) == base and
                                             (n in NOT_FORKED or n.startswith("stage_"))])


def run_stage(name: str, engine: str, home: Path, driver_memory: str) -> dict:
    from benchmarks.proctree import run_tree
    from benchmarks.spark_events import summary

    out, log = home / f"stage_{name}.json", home / f"stage_{name}.log"
    events = home / "spark-events" / name
    shutil.rmtree(events, ignore_errors=True)
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.spark_engine", "stage", name, "--engine", engine,
           "--home", str(home), "--out", str(out), "--driver-memory", driver_memory,
           "--events", str(events)]
    usage = run_tree(cmd, log, HERE.parent)
    result = usage.to_dict()
    if usage.code == 0 and out.exists():
        result.update(json.loads(out.read_text()))
        if engine == "spark":
            result["spark_metrics"] = summary(events)
    elif usage.starved:
        result["error"] = "stopped: the shared machine ran short of memory"
    else:
        tail = log.read_text(errors="replace").strip().splitlines()[-8:]
        result["error"] = f"exit {usage.code}: " + " | ".join(tail)
    return result


def stage_on_both(name: str, homes: dict, args) -> list[tuple[str, dict]]:
    """One stage on each engine: one after the other, or both at once (``--side-by-side``;
    each in its own workspace, so they share only the machine)."""
    if not args.side_by_side:
        return [(e, run_stage(name, e, homes[e], args.driver_memory)) for e in ENGINES]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(ENGINES)) as pool:
        futures = {e: pool.submit(run_stage, name, e, homes[e], args.driver_memory)
                   for e in ENGINES}
        return [(e, f.result()) for e, f in futures.items()]


def check(duck: Path, spark: Path, stages: dict) -> dict:
    """Every output of the two engines compared (``benchmarks.engine_checks``)."""
    import duckdb

    from benchmarks.engine_checks import compare

    con = duckdb.connect()
    con.execute("SET threads = 2")
    out: dict = {}
    feats, refresh = stages.get("features", {}), stages.get("refresh", {})
    if feats and all("error" not in feats[e] for e in ENGINES):
        out["features"] = {p.stem: compare(con, p, spark / "features" / p.name)
                           for p in sorted((duck / "features").glob("*.parquet"))}
    if refresh and all("error" not in refresh[e] for e in ENGINES):
        runs = [h / "runs" / refresh[e]["info"]["run_id"]
                for h, e in ((duck, "duckdb"), (spark, "spark"))]
        out["refresh"] = {f: compare(con, runs[0] / f, runs[1] / f)
                          for f in ("features.parquet", "memberships.parquet")}
    gov = stages.get("govern", {})
    if gov and all("error" not in gov[e] for e in ENGINES):
        a, b = gov["duckdb"]["info"], gov["spark"]["info"]
        out["govern"] = {"movement counts": {"equal": a["movement"] == b["movement"]},
                         "controls": {"equal": a["controls"] == b["controls"],
                                      "count": len(a["controls"])},
                         "movers": compare(con, Path(a["movers_file"]),
                                           Path(b["movers_file"]))}
    exp = stages.get("export", {})
    if exp and all("error" not in exp[e] for e in ENGINES):
        a, b = exp["duckdb"]["info"], exp["spark"]["info"]
        out["export"] = {"files": {"equal": a["files"] == b["files"], "count": len(a["files"]),
                                   "rows": a["rows"]}}
    return out


def folder_mb(path: Path) -> float:
    path = Path(path)
    if not path.exists():
        return 0.0
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 2**20, 1)


def sizes(home: Path, stages: dict, engine: str) -> dict:
    """What the stages read and wrote, in MB: the sizing arithmetic scales from these."""
    out = {"canonical": folder_mb(home / "canonical"), "features": folder_mb(home / "features")}
    run = stages.get("refresh", {}).get(engine, {}).get("info", {}).get("run_id")
    if run:
        for name in ("features.parquet", "memberships.parquet", "movers.parquet",
                     "movement.parquet"):
            if (home / "runs" / run / name).exists():
                out[f"run {name}"] = folder_mb(home / "runs" / run / name)
    return out


def machine() -> dict:
    from benchmarks.run import machine as base_machine

    info = base_machine()
    free = shutil.disk_usage("/")
    info["disk_free_gb_at_start"] = round(free.free / 2**30, 1)
    return info


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["stage"]:
        return child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="100k", help="10k, 100k, 1m, 10m or a number")
    parser.add_argument("--home", type=Path, help="the world's folder (default: a temp one, "
                        "deleted at the end)")
    parser.add_argument("--base", type=Path, help="a set-up workspace already made at this "
                        "scale (generate, ingest, history, train, baseline): reused")
    parser.add_argument("--models-from", type=Path, metavar="DIR",
                        help="copy the champions from this workspace instead of training")
    parser.add_argument("--world", type=Path, metavar="DIR",
                        help="link the sources of a world written before (DIR/sources) "
                             "instead of generating one")
    parser.add_argument("--driver-memory", default="10g",
                        help="Spark's driver memory (local mode: the executors' too)")
    parser.add_argument("--stages", nargs="*", choices=STAGES, default=list(STAGES))
    parser.add_argument("--keep", action="store_true", help="keep the world afterwards")
    parser.add_argument("--side-by-side", action="store_true",
                        help="run each stage on both engines at the same time (a loaded "
                             "shared machine: both see the same load, half the wall time)")
    parser.add_argument("--recheck", action="store_true",
                        help="compare the outputs of the run kept in --home again and "
                             "re-save its figures (no stage is run)")
    args = parser.parse_args(argv)
    customers = customers_of(args.scale)
    if args.recheck:
        return recheck(args.scale, args.home)
    import tempfile

    home = args.home or Path(tempfile.mkdtemp(prefix=f"segflow-sparkbench-{args.scale}-"))
    home.mkdir(parents=True, exist_ok=True)
    record = {"scale": args.scale, "customers": customers, "machine": machine(),
              "driver_memory": args.driver_memory, "stages": {}}
    try:
        base = args.base or home / "base"
        if args.base is None:
            base.mkdir(exist_ok=True)
            record["set_up"] = set_up(base, customers, args.models_from, args.world)
            (base / "setup.json").write_text(json.dumps(record["set_up"], default=str))
        elif (base / "setup.json").exists():  # the set-up's own figures, when it kept them
            record["set_up"] = json.loads((base / "setup.json").read_text())
        homes = {e: home / e for e in ENGINES}
        for path in homes.values():
            fork(base, path)
        record["engines_side_by_side"] = args.side_by_side
        for name in args.stages:
            record["stages"][name] = {}
            for engine, result in stage_on_both(name, homes, args):
                record["stages"][name][engine] = result
                print(f"{name:<9} {engine:<7} {result.get('seconds', float('nan')):8.1f} s "
                      f"wall {result['wall_seconds']:7.1f} s cpu {result['cpu_seconds']:7.1f} s "
                      f"peak {result['peak_tree_pss_mb']:6.0f} MB (PSS) load "
                      f"{result['load_mean']:5.1f} {result.get('error', '')}", flush=True)
            save(record)
        record["checks"] = check(homes["duckdb"], homes["spark"], record["stages"])
        record["sizes_mb"] = {e: sizes(homes[e], record["stages"], e) for e in ENGINES}
        record["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        save(record)
        print(json.dumps(record["checks"], indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


def recheck(scale: str, home: Path) -> None:
    """The checks and sizes of a kept run, computed again (after a change to the checks)."""
    record = json.loads((RESULTS / f"{scale}.json").read_text())
    homes = {e: Path(home) / e for e in ENGINES}
    record["checks"] = check(homes["duckdb"], homes["spark"], record["stages"])
    record["sizes_mb"] = {e: sizes(homes[e], record["stages"], e) for e in ENGINES}
    save(record)
    print(json.dumps(record["checks"], indent=1))


def save(record: dict) -> None:
    from benchmarks.report import rerender
    from benchmarks.spark_report import section

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{record['scale']}.json").write_text(json.dumps(record, indent=1, default=str))
    SECTION.write_text(section(RESULTS))
    rerender()


if __name__ == "__main__":
    main()
