"""Incremental ingest against a full one, in the same run, on the same files.

The Holi world (messy, as ``segflow demo-data holi`` writes it) is laid out as a folder of
export files per growing table: customers, orders and engagement events each a
``part_*`` glob with ``cursor: {files: name}``. Then:

1. full ingest (``--full``) of the first exports;
2. a new export per table with 1% new rows and 1% changed rows (customers renamed and moved,
   orders re-priced; events only grow);
3. the incremental ingest that reads only those, timed;
4. a full rebuild of every export into a second, fresh workspace (its phone cache empty),
   timed, and the canonical tables of both compared (row count and an order-free hash of
   every row);
5. the ingest floor: DuckDB reading every source file of the same exports once into
   Parquet, with no checks (the least any ingest must do), timed in the same run;
6. a full rebuild in the first workspace (``--full``, its phone cache warm: what a nightly
   full rebuild costs after the first).

Every step runs in its own process, so each has its own peak memory (``VmHWM``, read by
the step itself: ``benchmarks.timing.own_peak_mb``) and its own CPU seconds
(``time.process_time`` around the step, DuckDB's threads included: on a busy shared
machine they move less than wall seconds).
``--no-warm`` leaves out step 6; ``--profile FILE`` runs the incremental step under
cProfile (stats written to FILE) and prints each of its stages' seconds.

    python -m benchmarks.incremental --scale 1m [--no-warm] [--profile incr.prof]
        [--out benchmarks/results/incremental.md]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from benchmarks.timing import Stopwatch, own_peak_mb
from benchmarks.world import SEED, customers_of, link_sources, workspace

GROWING = {"customers": "parquet", "orders": "csv", "engagement_events": "parquet"}
SHARE = 100   # one row in SHARE is changed and as many are new: 1% each


def _layout(src: Path, paths: dict[str, Path]) -> Path:
    """Each growing table's file moved to ``<table>/part_000.<ext>``; sources.yaml naming
    the globs with a files cursor."""
    import yaml

    doc = yaml.safe_load((src / "sources.yaml").read_text())
    for table, ext in GROWING.items():
        folder = src / table
        folder.mkdir()
        shutil.move(paths[table], folder / f"part_000.{ext}")
        doc["sources"][table] = {**doc["sources"][table], "path": f"{table}/part_*.{ext}",
                                 "cursor": {"files": "name"}}
    (src / "sources.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return src / "sources.yaml"


def _changes(src: Path) -> dict[str, int]:
    """The second export of each growing table: 1% changed, 1% new rows; rows written."""
    con = duckdb.connect()
    written = {}
    first = {t: str(src / t / f"part_000.{ext}") for t, ext in GROWING.items()}
    customers = f"read_parquet('{first['customers']}')"
    con.execute(f"""COPY (
        SELECT * REPLACE (name || ' (moved)' AS name, 'Pune' AS city)
        FROM {customers} WHERE hash(customer_id) % {SHARE} = 0
        UNION ALL
        SELECT * REPLACE (customer_id || '-new' AS customer_id,
                          'new.' || customer_id || '@example.com' AS email, NULL AS phone)
        FROM {customers} WHERE hash(customer_id) % {SHARE} = 1
    ) TO '{src}/customers/part_001.parquet' (FORMAT parquet)""")
    orders = f"read_csv('{first['orders']}', all_varchar=true, header=true, ignore_errors=true)"
    con.execute(f"""COPY (
        SELECT * REPLACE (coalesce(CAST(round(TRY_CAST(amount AS DOUBLE) * 1.1, 2) AS VARCHAR),
                                   amount) AS amount)
        FROM {orders} WHERE hash(order_id) % {SHARE} = 0
        UNION ALL
        SELECT * REPLACE (order_id || '-new' AS order_id)
        FROM {orders} WHERE hash(order_id) % {SHARE} = 1
    ) TO '{src}/orders/part_001.csv' (FORMAT csv, HEADER true)""")
    events = f"read_parquet('{first['engagement_events']}')"
    con.execute(f"""COPY (
        SELECT * REPLACE (event_id || '-new' AS event_id)
        FROM {events} WHERE hash(event_id) % {SHARE} < 2
    ) TO '{src}/engagement_events/part_001.parquet' (FORMAT parquet)""")
    for table, ext in GROWING.items():
        reader = "read_parquet" if ext == "parquet" else "read_csv"
        written[table] = con.execute(f"SELECT count(*) FROM {reader}("
                                     f"'{src}/{table}/part_001.{ext}')").fetchall()[0][0]
    return written


def _fingerprints(canonical: Path) -> dict[str, tuple]:
    """(rows, order-free sum of row hashes) of every canonical table as its readers see it:
    the base and its delta files merged (``segflow.canonical``; code before the delta
    layout has only the base)."""
    try:
        from segflow.canonical import source
    except ImportError:   # main's code, before the delta layout
        def source(path):
            return f"read_parquet('{path}')"
    con = duckdb.connect()
    return {p.stem: tuple(con.execute(f"SELECT count(*), sum(hash(t)::HUGEINT) FROM "
                                      f"(SELECT * FROM {source(p)}) t").fetchall()[0])
            for p in sorted(canonical.glob("*.parquet"))}


def _ingest_step(home: str, sources: str, full: bool, profile: str | None = None) -> dict:
    """One ingest; with ``profile``, under cProfile, its stats written there (the time of
    each pipeline function, DuckDB's work counted in the function that asked for it) and
    each stage's seconds printed to stderr (per table: ``checked and loaded <table>``)."""
    import cProfile

    from segflow import progress
    from segflow.ingest.pipeline import run_ingest

    settings = workspace(Path(home))
    profiler = cProfile.Profile() if profile else None
    progress.enable(profiler is not None)
    cpu = time.process_time()
    with Stopwatch() as sw:
        if profiler is not None:
            profiler.enable()
        report = run_ingest(settings, Path(sources), full=full)
        if profiler is not None:
            profiler.disable()
    cpu = time.process_time() - cpu
    if profiler is not None:
        profiler.dump_stats(profile)
    return {"seconds": sw.seconds, "cpu": cpu, "report": report.to_dict()}


def _floor_step(sources: str, out: str) -> dict:
    """Every source file read once by DuckDB into Parquet, no checks, no typing."""
    from segflow.ingest.sources import read_sources

    target = Path(out)
    specs = read_sources(Path(sources), workspace(target / "ws").contracts_dir).specs
    target.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    cpu = time.process_time()
    with Stopwatch() as sw:
        for spec in specs:
            files = ", ".join(f"'{f}'" for f in spec.files)
            reader = (f"read_parquet([{files}], union_by_name=true)" if spec.kind == "parquet"
                      else f"read_csv([{files}], union_by_name=true, ignore_errors=true)")
            con.execute(f"COPY (SELECT * FROM {reader}) TO '{target / spec.table}.parquet' "
                        "(FORMAT parquet)")
    return {"seconds": sw.seconds, "cpu": time.process_time() - cpu}


STEPS = {"ingest": _ingest_step, "floor": _floor_step}


def _child(step: str, *args) -> dict:
    """Run one step in a fresh process; its result, with its own peak memory (MB)."""
    from benchmarks.run import _wait

    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        result = Path(out.name)
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.incremental", "--step",
                             json.dumps([step, str(result), *args])])
    code, usage, starved = _wait(proc)
    if code != 0:
        raise SystemExit(f"step {step} failed (exit {code}{', memory short' if starved else ''})")
    data = {**json.loads(result.read_text()), "load": os.getloadavg()[0]}
    result.unlink()
    # printed as it ends: a later step that fails (a 10M rebuild out of disk) loses nothing
    shown = {k: v for k, v in data.items() if k != "report"}
    print(f"step {step} {' '.join(map(str, args[:3]))}: {json.dumps(shown)}", flush=True)
    return data   # peak_mb: the step's own (VmHWM)


def _reused(world: Path, src: Path) -> dict[str, Path]:
    """The growing tables' files of a world written before, linked into ``src``
    (``benchmarks.world.link_sources``; ``_layout`` renames the links and ``_changes`` adds
    files, so the original's data stays untouched)."""
    import yaml

    link_sources(world, src)
    doc = yaml.safe_load((src / "sources.yaml").read_text())
    return {table: src / doc["sources"][table]["path"] for table in GROWING}


def run(customers: int, root: Path, profile: Path | None = None, warm: bool = True,
        world: Path | None = None) -> dict:
    from segflow.ingest.synthetic.writer import write_holi_sources

    src = root / "sources"
    with Stopwatch() as gen:
        if world is None:
            paths = write_holi_sources(src, root / "truth", customers, SEED)[1]
        else:
            paths = _reused(world, src)
    path = _layout(src, paths)
    inc, full = root / "incremental", root / "full"
    steps = {"full_first": _child("ingest", str(inc), str(path), True)}
    new = _changes(src)
    steps["incremental"] = _child("ingest", str(inc), str(path), False,
                                  str(profile) if profile else None)
    a = _fingerprints(workspace(inc).canonical_dir)
    if not warm:   # not read again: its disk goes to the rebuild (17 GB at 10M)
        shutil.rmtree(inc)
    steps["full_rebuild"] = _child("ingest", str(full), str(path), True)
    b = _fingerprints(workspace(full).canonical_dir)
    shutil.rmtree(full)
    steps["floor"] = _child("floor", str(path), str(root / "floor"))
    shutil.rmtree(root / "floor")
    if warm:
        steps["full_warm"] = _child("ingest", str(inc), str(path), True)
    return {"customers": customers, "generate": None if world else gen.seconds,
            "world": str(world) if world else None, "steps": steps, "changes": new,
            "equal": a == b, "tables": a,
            "differs": sorted(t for t in set(a) | set(b) if a.get(t) != b.get(t))}


STEP_NAMES = {
    "full_first": "full ingest of the first exports (fresh workspace)",
    "incremental": "**incremental ingest of the second exports**",
    "full_rebuild": "**full rebuild of both exports, fresh workspace (phone cache empty)**",
    "floor": "**ingest floor: DuckDB reads every source file once into Parquet, no checks**",
    "full_warm": "full rebuild of both exports, first workspace (`--full`, phone cache warm)",
}


def _generation(r: dict) -> str:
    """The world generation's seconds, or where a reused world came from."""
    return f"{r['generate']:.1f}" if r.get("generate") is not None else \
        f"reused ({r['world']}, written earlier)"


def markdown(r: dict) -> str:
    steps = r["steps"]
    report = steps["incremental"]["report"]
    rows = "\n".join(
        f"| {t} | {tr['load']} | {tr['rows_in']:,} | {tr['upserted']:,} | {tr['deleted']:,} | "
        f"{tr['quarantined_total']:,} | {tr['written']:,} |"
        for t, tr in report["tables"].items())
    inc, full = steps["incremental"]["seconds"], steps["full_rebuild"]["seconds"]
    floor = steps["floor"]["seconds"]
    cpu_share = steps["incremental"]["cpu"] / steps["full_rebuild"]["cpu"]
    verdict = "equal" if r["equal"] else f"DIFFERENT: {', '.join(r['differs'])}"
    table = "\n".join(f"| {STEP_NAMES[k]} | {v['seconds']:.1f} | {v['cpu']:.1f} | "
                      f"{v['peak_mb']:,.0f} | {v['load']:.1f} |" for k, v in steps.items())
    return textwrap.dedent(f"""\
        ## Incremental ingest, {r['customers']:,} customers

        {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores; load at start
        {r['load']:.2f}; `python -m benchmarks.incremental`. An incremental load of 1% changed
        and 1% new rows took **{inc / full:.1%} of a full ingest** of the same sources in the
        same run ({inc:.1f} s against {full:.1f} s; by the processes' CPU seconds, which a
        busy machine disturbs less, {cpu_share:.1%}); the full ingest took **{full / floor:.1f}x
        the ingest floor** ({floor:.1f} s); the incremental load's canonical tables and the full
        rebuild's are **{verdict}** (row counts and an order-free hash of every row of every
        table).

        | step | seconds | CPU seconds | peak RSS (MB) | load after |
        |---|---:|---:|---:|---:|
        | world generation (input) | {_generation(r)} | | | |
        """) + table + "\n" + textwrap.dedent(f"""\

        The second exports: {', '.join(f'{t} {n:,} rows' for t, n in r['changes'].items())}.

        | table | load | read | upserted | deleted | quarantined | rows now |
        |---|---|---:|---:|---:|---:|---:|
        """) + rows + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="100k")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--profile", type=Path,
                        help="cProfile the incremental step; its stats written here")
    parser.add_argument("--no-warm", action="store_true",
                        help="leave out the last step (a --full rebuild, phone cache warm)")
    parser.add_argument("--world", type=Path,
                        help="reuse a world written before (its sources/ folder, linked) "
                             "instead of generating one; --scale must be its size")
    parser.add_argument("--step", help=argparse.SUPPRESS)   # one timed step, in a child
    args = parser.parse_args(argv)
    if args.step:
        step, out, *rest = json.loads(args.step)
        Path(out).write_text(json.dumps({**STEPS[step](*rest), "peak_mb": own_peak_mb()}))
        return
    root = args.keep or Path(tempfile.mkdtemp(prefix="segflow-incremental-"))
    load = os.getloadavg()[0]
    start = time.perf_counter()
    try:
        result = run(customers_of(args.scale), root, args.profile, not args.no_warm,
                     args.world)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    result["load"] = load
    text = markdown(result)
    print(text)
    print(f"(whole benchmark {time.perf_counter() - start:.0f} s)")
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
