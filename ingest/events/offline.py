"""Applied events appended to the offline sources, so batch and stream agree.

The applier writes each micro-batch's events, per canonical table named in realtime.yaml's
``offline:``, as one Parquet file per event day:
``<workspace>/events/offline/<table>/<YYYY-MM-DD>/batch-<first seq>.parquet``. The feature
build reads that folder with the canonical table (``segflow.featurestore.engine``), so the
next batch build sees the events a refresh's sources have not extracted yet.

Atomic and idempotent: a file is written whole to a temporary name, synced and renamed
before the inbox transaction that marks its events applied commits. A batch replayed after
a crash in between starts at the same first seq, so it replaces its own file; and the
reader keeps one row per event id (the id column comes first in every file), preferring
the canonical table's, so a replay or an extract that later carries the event never
doubles a row.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

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


def append_offline(settings: Settings, config, rows: list[tuple]) -> int:
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
