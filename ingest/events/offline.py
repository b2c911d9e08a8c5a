"""Applied events appended to the offline sources, so batch and stream agree.

Applied events, per canonical table named in realtime.yaml's ``offline:``, are written as
one Parquet file per event day: ``<workspace>/events/offline/<table>/<YYYY-MM-DD>/
batch-<first seq>.parquet``. The feature build reads that folder with the canonical table
(``segflow.featurestore.engine``), so the next batch build sees the events a refresh's
sources have not extracted yet.

Off the hot path: applying an event (the live suppression, within a second) does not wait
for Parquet. A watermark in the inbox (``counters.offline_seq``: the last seq appended)
says what is written; ``flush_offline`` appends the applied events past it: every few
seconds from the receiver's own flusher thread (never in the writer that acknowledges and
applies), and at the end of ``events apply`` and of each Kafka batch. (Writing a file per
micro-batch in the writer took the receiver from ~990 to ~740 events/s and its p95
event-to-suppression from 0.28 s to 3.5 s at 1,000/s on 2 cores; flushing in the writer
every 5 s still stalled it ~2 s: measured.)

Atomic and idempotent: a file is written whole to a temporary name, synced and renamed,
and only then does the watermark move. A flush after a crash in between starts at the same
first seq, so it replaces its own files (with the same rows or more); and the reader keeps
one row per event id (the id column comes first in every file), preferring the canonical
table's, so a replay or an extract that later carries the event never doubles a row.

Kept until a canonical load carries them: ``prune`` (``segflow events prune``, and
``segflow doctor``) removes a file once the canonical table holds every event in it.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from segflow.settings import Settings


def _table(spec, rows: list[tuple]):
    """The Arrow table of ``rows`` (seq, event_id, name, customer, event_ts) for ``spec``:
    id, customer, time first, then every constant column its events set."""
    import pyarrow as pa

    columns = sorted({c for cols in spec.events.values() for c in cols})
    data = {spec.id: pa.array([r[1] for r in rows], pa.string()),
            spec.customer: pa.array([r[3] for r in rows], pa.string()),
            spec.time: pa.array([int(round(r[4] * 1_000_000)) for r in rows],
                                pa.int64()).cast(pa.timestamp("us", tz="UTC"))}
    for c in columns:
        data[c] = pa.array([spec.events[r[2]].get(c) for r in rows])
    return pa.table(data)


def _append(settings: Settings, config, rows: list[tuple]) -> int:
    """Write the applied ``rows`` (seq, event_id, event name, customer id, event time in
    epoch s) that realtime.yaml's ``offline:`` maps to a table; returns the rows written."""
    import pyarrow.parquet as pq

    from segflow.durable import write_atomic

    if not rows or not config.offline:
        return 0
    first = min(r[0] for r in rows)
    written = 0
    for spec in config.offline:
        by_day: dict[str, list[tuple]] = {}
        for r in rows:
            if r[2] in spec.events:
                day = datetime.fromtimestamp(r[4], UTC).strftime("%Y-%m-%d")
                by_day.setdefault(day, []).append(r)
        for day, picked in sorted(by_day.items()):
            buffer = io.BytesIO()
            pq.write_table(_table(spec, picked), buffer)
            path = settings.events_offline_dir / spec.table / day / f"batch-{first:012d}.parquet"
            write_atomic(path, buffer.getvalue())
            written += len(picked)
    return written


MARK = "offline_seq"


def flush_offline(con, settings: Settings, config, limit: int = 100_000) -> int:
    """Append the applied events past the watermark (up to ``limit``) to the offline
    sources, then move the watermark; returns how many events were looked at (0: none
    waiting, or no ``offline:`` in realtime.yaml)."""
    if not config.offline:
        return 0
    found = con.execute("SELECT value FROM counters WHERE name = ?", (MARK,)).fetchone()
    mark = found[0] if found else 0
    rows = con.execute("SELECT seq, event_id, event, customer_id, event_ts FROM inbox "
                       "WHERE seq > ? AND applied_at IS NOT NULL ORDER BY seq LIMIT ?",
                       (mark, limit)).fetchall()
    if not rows:
        return 0
    _append(settings, config, rows)
    con.execute("INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                "value = excluded.value", (MARK, rows[-1][0]))
    return len(rows)


def flush_all(con, settings: Settings, config) -> int:
    """Flush until nothing applied is left unwritten: events, then survey responses
    (``survey_offline``) when realtime.yaml maps a survey tool."""
    from segflow.ingest.events.survey_offline import flush_surveys

    total = 0
    while n := flush_offline(con, settings, config):
        total += n
    while config.surveys and (n := flush_surveys(con, settings)):
        total += n
    return total


def carried(settings: Settings) -> list[tuple[Path, int]]:
    """(file, events) of every appended offline file whose events the canonical table it
    was appended for already holds, every one of them, by id: the feature build reads the
    canonical row for those ids and ignores the file's (``segflow.featurestore.engine``),
    so removing it changes no build. A file with one event the table lacks is still needed;
    so is every file of a table with no canonical file yet. No configuration needed: the
    folder names the table, and the id is each file's first column, as the reader takes it."""
    import duckdb
    import pyarrow.parquet as pq

    from segflow.canonical import source

    out: list[tuple[Path, int]] = []
    root = settings.events_offline_dir
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        canonical = settings.canonical_dir / f"{folder.name}.parquet"
        files = sorted(folder.glob("*/*.parquet"))
        if not files or not canonical.exists():
            continue
        key = pq.read_schema(files[0]).names[0]
        if key not in pq.read_schema(canonical).names:
            continue  # the table has no such id: nothing it holds can stand for a file
        db = duckdb.connect()
        try:
            q = '"' + key.replace('"', '""') + '"'
            rows = db.execute(
                f"SELECT f.filename, count(*), count(*) FILTER (WHERE c.id IS NULL) FROM "
                f"read_parquet($files, filename=true) f LEFT JOIN (SELECT DISTINCT "
                f"CAST({q} AS VARCHAR) AS id FROM {source(canonical)}) c ON "
                f"CAST(f.{q} AS VARCHAR) = c.id GROUP BY f.filename",
                {"files": [str(f) for f in files]}).fetchall()
        finally:
            db.close()
        out += [(Path(name), events) for name, events, missing in sorted(rows) if not missing]
    return out


def prune(settings: Settings, dry_run: bool = False) -> list[tuple[Path, int]]:
    """Remove the offline files ``carried`` names (and day folders left empty); returns
    them. Under the workspace lock, so a feature build never reads a folder mid-prune."""
    from segflow.lock import workspace_lock

    with workspace_lock(settings, "prune offline events"):
        found = carried(settings)
        if not dry_run:
            for path, _ in found:
                path.unlink(missing_ok=True)
                if path.parent.is_dir() and not any(path.parent.iterdir()):
                    path.parent.rmdir()
    return found
