"""The "REST sync" section of RESULTS.md, from ``benchmarks/results/rest/*.json`` (written
by ``python -m benchmarks.rest_sync --save``): each run's full sync through a 429 and a
500 beside the plain-HTTP floor of the same pages, the incremental run after edits, and
the issue's acceptance (every record once, then only the changed ones)."""

from __future__ import annotations

from pathlib import Path


def verdict(records: list[dict]) -> str:
    last = records[-1]
    full, inc = last["full"], last["incremental"]
    whole = full["distinct"] == full["rows"] == last["records"] and not full["missing"]
    if whole and inc["exactly_the_changed"]:
        return (f"Target met: {last['records']:,} records synced through a 429 and a 500 "
                f"with none lost and none doubled in {full['seconds']:.1f} s "
                f"({full['seconds'] / last['floor']['seconds']:.1f}x the plain-HTTP floor); "
                f"the next run fetched exactly the {inc['fetched']:,} changed records in "
                f"{inc['seconds']:.2f} s.")
    return (f"Target **missed**: {full['missing']:,} records missing, {full['doubled']:,} "
            f"doubled; the next run fetched {inc['fetched']:,} records for "
            f"{last['changed']:,} changed.")


def rows(records: list[dict]) -> list[str]:
    out = ["| run | records | pages | requests (re-tried) | full sync (s) | floor: plain "
           "GETs + JSON (s) | ratio | missing / doubled | changed | next run fetched | "
           "next run (s) | ingest incl. sync (s) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for rec in records:
        full, floor, inc, ingest = rec["full"], rec["floor"], rec["incremental"], rec["ingest"]
        out.append(
            f"| {rec['date']} (load {rec['load_average_before']:.1f}) | {rec['records']:,} | "
            f"{full['pages']} | {full['requests']} ({full['retried']}) | "
            f"{full['seconds']:.2f} | {floor['seconds']:.2f} | "
            f"{full['seconds'] / floor['seconds']:.1f}x | {full['missing']} / "
            f"{full['doubled']} | {rec['changed']:,} | {inc['fetched']:,} | "
            f"{inc['seconds']:.2f} | {ingest['seconds']:.2f} |")
    return out


def section(folder: Path) -> list[str]:
    """Markdown lines of the section ([] when no REST run was saved)."""
    from benchmarks.report import saved_records

    records = saved_records(folder)
    if not records:
        return []
    return ["## REST sync: a Salesforce-style API", "",
            "Written by `python -m benchmarks.rest_sync --save` (method in its docstring and "
            "docs/sources.md): the tests' Salesforce stand-in in its own process on loopback "
            "(OAuth2 client credentials, SOQL on queryAll, 2,000 records a page followed by "
            "`nextRecordsUrl`), a 429 with `Retry-After: 0` and a 500 injected into the full "
            "sync; the floor is plain httpx GETs of the same pages with JSON decoding and "
            "nothing else, in the same run. The ratio is our full sync over the floor (> 1: "
            "the connector's own cost: Arrow conversion, one row per id, the cursor, the "
            "re-tries' waits).", "", verdict(records), "", *rows(records), ""]
