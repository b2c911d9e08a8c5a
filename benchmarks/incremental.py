"""Incremental ingest against a full one, in the same run, on the same files.

The Holi world (messy, as ``segflow demo-data holi`` writes it) is laid out as a folder of
export files per growing table: customers, orders and engagement events each a
``part_*`` glob with ``cursor: {files: name}``. Then:

1. full ingest (``--full``) of the first exports;
2. a new export per table with 1% new rows and 1% changed rows (customers renamed and moved,
   orders re-priced; events only grow);
3. the incremental ingest that reads only those, timed;
4. a full rebuild of every export into a second workspace, timed, and the canonical tables
   of both compared (row count and an order-free hash of every row).

    python -m benchmarks.incremental --scale 1m [--out benchmarks/results/incremental.md]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from benchmarks.timing import Stopwatch
from benchmarks.world import SEED, customers_of, workspace

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
    """(rows, order-free sum of row hashes) of every canonical table."""
    con = duckdb.connect()
    return {p.stem: tuple(con.execute(f"SELECT count(*), sum(hash(t)::HUGEINT) FROM "
                                      f"read_parquet('{p}') t").fetchall()[0])
            for p in sorted(canonical.glob("*.parquet"))}


def run(customers: int, root: Path) -> dict:
    from segflow.ingest.pipeline import run_ingest
    from segflow.ingest.synthetic.writer import write_holi_sources

    src = root / "sources"
    with Stopwatch() as gen:
        path, paths = write_holi_sources(src, root / "truth", customers, SEED)
    path = _layout(src, paths)
    inc, full = workspace(root / "incremental"), workspace(root / "full")
    with Stopwatch() as first:
        run_ingest(inc, path, full=True)
    new = _changes(src)
    with Stopwatch() as step:
        report = run_ingest(inc, path)
    with Stopwatch() as rebuild:
        run_ingest(full, path, full=True)
    a, b = _fingerprints(inc.canonical_dir), _fingerprints(full.canonical_dir)
    return {"customers": customers, "generate": gen.seconds, "full_first": first.seconds,
            "incremental": step.seconds, "full_rebuild": rebuild.seconds, "changes": new,
            "report": report, "equal": a == b, "tables": a, "differs": sorted(
                t for t in set(a) | set(b) if a.get(t) != b.get(t))}


def markdown(r: dict) -> str:
    report = r["report"]
    rows = "\n".join(
        f"| {t} | {tr.load} | {tr.rows_in:,} | {tr.upserted:,} | {tr.deleted:,} | "
        f"{tr.quarantined_total:,} | {tr.written:,} |" for t, tr in report.tables.items())
    ratio = r["incremental"] / r["full_rebuild"]
    verdict = "equal" if r["equal"] else f"DIFFERENT: {', '.join(r['differs'])}"
    return textwrap.dedent(f"""\
        ## Incremental ingest, {r['customers']:,} customers

        {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores; load at start
        {r['load']:.2f}; `python -m benchmarks.incremental`. An incremental load of 1% changed
        and 1% new rows took **{ratio:.1%} of a full ingest** of the same sources in the same
        run ({r['incremental']:.1f} s against {r['full_rebuild']:.1f} s); its canonical tables
        and the full rebuild's are **{verdict}** (row counts and an order-free hash of every
        row of every table).

        | step | seconds |
        |---|---:|
        | world generation (input) | {r['generate']:.1f} |
        | full ingest of the first exports | {r['full_first']:.1f} |
        | incremental ingest of the second exports | {r['incremental']:.1f} |
        | full rebuild of both exports (same run) | {r['full_rebuild']:.1f} |

        The second exports: {', '.join(f'{t} {n:,} rows' for t, n in r['changes'].items())}.

        | table | load | read | upserted | deleted | quarantined | rows now |
        |---|---|---:|---:|---:|---:|---:|
        """) + rows + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="100k")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="segflow-incremental-"))
    load = os.getloadavg()[0]
    start = time.perf_counter()
    try:
        result = run(customers_of(args.scale), root)
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
