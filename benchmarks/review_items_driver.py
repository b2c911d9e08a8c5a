"""What a Spark run's review items cost the driver: ``python -m benchmarks.review_items_driver
[--items N] [--save]``.

A 10M-customer Spark run found 1,953,516 review items (docs/scale-out.md). The executors
write them as Parquet; this compares the two ways the review queue can take them, on the
same items, each in a fresh workspace and in a process of its own (so each peak is its own):

- **copied**: read into the workspace's DuckDB (``review_rows``), as a Spark run's items
  were until the queue read them in place: the driver's database grows with the items, and
  the desk's keys are filled on its first view of the run;
- **in place**: registered as the run's set (``segflow.governance.review_sets``): the
  database keeps the folder's name, the items stay where the executors wrote them.

For each: the seconds and the process's peak memory to store them (``store_exceptions``
in one transaction, as govern does, under the 1 GB cap a Spark project's workspace gets),
the database file's size after, the desk's pages as served (open the database, fetch, close;
the first page sorted by size of move, a cohort filter, the deep page by keyset), and one
decision (``decision_writes``: on the in-place queue it copies its item first). The items
are generated as in ``benchmarks.review_desk`` (rules over 40 cohorts in 8 priority levels,
customers spread over 10M ids), written once as the executors would.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.review_desk import CUSTOMERS, RUN, STEP, Timing, context

RESULTS = Path(__file__).parent / "results" / "review_items_driver" / "latest.json"
SECTION = Path(__file__).parent / "results" / "sections" / "41-review-items-driver.md"
LAYOUTS = ("copied", "in place")
PAGES = (("first page, sorted by size of move", {"sort": "move"}),
         ("cohort_07, open", {"cohort": "cohort_07", "status": "open"}),
         ("rule boundary, sorted by customer", {"rule": "boundary", "sort": "customer"}))


def write_items(folder: Path, n: int) -> None:
    """``n`` items of one run as the executors write them (the queue's columns and the
    desk's keys), in part files of about 250,000 rows."""
    import duckdb

    from segflow.governance.review import QUEUE_COLS

    folder.mkdir(parents=True)
    parts = max(1, n // 250_000)
    for part in range(parts):
        lo, hi = part * n // parts, (part + 1) * n // parts
        duckdb.sql(f"""COPY (SELECT {QUEUE_COLS}, split_part(cohort_before, '__', 1)
              AS base_before, split_part(proposed_cohort, '__', 1) AS base_proposed,
              CASE WHEN cohort_before IS NULL THEN 1 ELSE (i % 5)::INTEGER END AS move
            FROM (SELECT 'R' || substr(sha1('{RUN}|' || i), 1, 16) AS review_id,
              '{RUN}' AS run_id, 'bench' AS campaign,
              'C' || lpad(((i * {STEP}) % {CUSTOMERS})::VARCHAR, 8, '0') AS entity_id,
              CASE i % 4 WHEN 0 THEN 'boundary:cohort_' || lpad((i % 40)::VARCHAR, 2, '0')
                || '.c1' WHEN 1 THEN 'big_mover' WHEN 2 THEN 'revenue_mover'
                ELSE 'anomaly' END AS rule, 'value near the threshold' AS detail,
              CASE WHEN i % 5 = 0 THEN NULL ELSE 'cohort_' || lpad(((i * 7) % 40)::VARCHAR, 2,
                '0') END AS cohort_before,
              'cohort_' || lpad((i % 40)::VARCHAR, 2, '0') || CASE WHEN i % 3 = 0
                THEN '__north|hindi' ELSE '' END AS proposed_cohort,
              'template_' || lpad((i % 12)::VARCHAR, 2, '0') AS template, 'open' AS status, i
              FROM range({lo}, {hi}) t(i)))
            TO '{folder / f"part-{part:05d}.parquet"}' (FORMAT parquet)""")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def store(settings, items: Path, layout: str) -> dict:
    """Store the run's items one way, in one transaction; seconds and peak memory."""
    from segflow.db import connect
    from segflow.governance.desk.queue import fill_keys
    from segflow.governance.review import store_exceptions
    from segflow.governance.store import ensure_schema

    before = peak_mb()
    start = time.perf_counter()
    with connect(settings) as con:
        ensure_schema(con)
        con.execute("BEGIN")
        if layout == "copied":
            con.execute("CREATE TEMP VIEW new_items AS SELECT * FROM read_parquet("
                        f"'{items}/*.parquet')")
        stored = store_exceptions(con, RUN, None if layout == "copied" else items)
        con.execute("COMMIT")
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    with connect(settings) as con:  # the desk's first view of the run
        fill_keys(con, context(settings))
    return {"open": stored, "store_s": round(seconds, 2),
            "keys_s": round(time.perf_counter() - start, 2),
            "store_peak_mb": round(peak_mb(), 0), "start_mb": round(before, 0),
            "database_mb": round(settings.database_path.stat().st_size / 2**20, 1)}


def pages(settings, repeats: int) -> list[dict]:
    """Each page as the desk serves it: open the database, fetch the page, close."""
    from segflow.db import connect
    from segflow.governance.desk.queue import Filters, page

    ctx, out = context(settings), []
    for name, args in PAGES:
        t = Timing(name)
        for _ in range(repeats):
            def fetch(a=args):
                with connect(settings) as con:
                    return page(con, ctx, Filters(**a), None).total
            t.matches = t.time(fetch)
        out.append(t.row())
    return out


def decide(settings) -> float:
    """Milliseconds to confirm one item, its audit-free writes alone (``decision_writes``)."""
    from segflow.db import connect
    from segflow.governance.review import _planned, decision_writes, get_items

    with connect(settings) as con:
        (item_id,) = con.execute("SELECT review_id FROM review_queue WHERE status = 'open' "
                                 "ORDER BY review_id LIMIT 1").fetchone()
        start = time.perf_counter()
        item = get_items(con, RUN, [item_id])[0]
        con.execute("BEGIN")
        decision_writes([_planned(item, "asha.rao", "benchmark", None, None)])(con)
        con.execute("COMMIT")
        ms = (time.perf_counter() - start) * 1000
        status = con.execute("SELECT status FROM review_queue WHERE review_id = ?",
                             [item_id]).fetchone()[0]
    assert status == "confirmed"
    return round(ms, 1)


def one_layout(items: Path, home: Path, layout: str, repeats: int) -> dict:
    """The child process's work: a fresh workspace capped as a Spark project's is."""
    from segflow.settings import Settings

    class SparkWorkspace(Settings):
        """A workspace whose project runs on Spark: its database gets the Spark cap."""
        engine = "spark"

    settings = SparkWorkspace(home=home, templates_root=home.parent / "templates").ensure()
    out = {"layout": layout, **store(settings, items, layout)}
    out["pages"] = pages(settings, repeats)
    out["decision_ms"] = decide(settings)
    out["peak_mb"] = round(peak_mb(), 0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_953_516)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--save", action="store_true", help=f"write {RESULTS}")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        items, home, layout = args.child
        print(json.dumps(one_layout(Path(items), Path(home), layout, args.repeats)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_items(Path(tmp) / "items", args.items)
        record = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                  "items": args.items, "write_s": round(time.perf_counter() - start, 1),
                  "load_average_before": [round(x, 1) for x in os.getloadavg()],
                  "repeats": args.repeats, "layouts": []}
        for layout in LAYOUTS:
            home = Path(tmp) / layout.replace(" ", "_") / "ws"
            done = subprocess.run([sys.executable, "-m", "benchmarks.review_items_driver",
                                   "--repeats", str(args.repeats), "--child",
                                   str(Path(tmp) / "items"), str(home), layout],
                                  capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{layout}: {done.stderr.strip()}")
            record["layouts"].append(json.loads(done.stdout.strip().splitlines()[-1]))
        record["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    from benchmarks.report import save_record

    save_record(record, RESULTS, SECTION, section(record) if args.save else None)


HEADING = "## A Spark run's review items: copied into the driver, or read in place"


def section(record: dict) -> str:
    """The RESULTS.md section: the verdict (database size and store time, in place against
    copied), then a row per layout."""
    copied, placed = record["layouts"]
    slowest = max(p["p95_ms"] for p in placed["pages"])
    worst_copied = max(p["p95_ms"] for p in copied["pages"])
    lines = [HEADING, "",
             f"**Read in place, {record['items']:,} review items (a 10M-customer Spark run's) "
             f"leave the driver's database at {placed['database_mb']:,.1f} MB instead of "
             f"{copied['database_mb']:,.1f} MB, and are stored in {placed['store_s']:,.2f} s "
             f"instead of {copied['store_s'] + copied['keys_s']:,.2f} s (keys included)**; the "
             f"desk's slowest page is {slowest:,.0f} ms at p95 (copied: {worst_copied:,.0f} ms).",
             "",
             "Written by `python -m benchmarks.review_items_driver --save` (method in its "
             f"docstring). {record['date']}, {record['repeats']} requests per page; load "
             f"average {record['load_average_before'][0]:.1f} at the start and "
             f"{record['load_average_after'][0]:.1f} at the end, on 2 cores.", "",
             "| layout | store (s) | desk keys (s) | peak memory (MB) | database (MB) | "
             + " | ".join(f"{name} p50 / p95 (ms)" for name, _ in PAGES)
             + " | one decision (ms) |",
             "|---|---:|---:|---:|---:|" + "---:|" * len(PAGES) + "---:|"]
    for r in record["layouts"]:
        lines.append(f"| {r['layout']} | {r['store_s']:,.2f} | {r['keys_s']:,.2f} | "
                     f"{r['store_peak_mb']:,.0f} | {r['database_mb']:,.1f} | "
                     + " | ".join(f"{p['p50_ms']:,.0f} / {p['p95_ms']:,.0f}"
                                  for p in r["pages"])
                     + f" | {r['decision_ms']:,.0f} |")
    matched = ", ".join(f"{p['matches']:,}" for p in placed["pages"])
    lines += ["", "Peak memory is the process's, over the store (the workspace's DuckDB is "
              "capped at 1 GB on a Spark project, `segflow.db.SPARK_WORKSPACE_MB`); the pages "
              f"matched {matched} items."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
