"""Survey responses received by webhook, appended to the surveys table's live folder.

The same folder and files as the events' offline append (``offline.py``):
``<workspace>/events/offline/<surveys table>/<YYYY-MM-DD>/batch-<first seq>.parquet``,
written whole and renamed, then a watermark (``counters.survey_seq``) moves. Readers take
the canonical table plus those files, one row per ``response_id`` (the first column),
preferring the canonical table's (``segflow.featurestore.engine.with_live``): a CSV import
of the same answers later never doubles a response. The customer is the inbox's applied
one, the survivor of an identity merge.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

from segflow.ingest.events.surveys import KIND
from segflow.settings import Settings

MARK = "survey_seq"
COLUMNS = ("response_id", "customer_id", "response_ts", "nps", "comment", "question", "answer")


def _table(rows: list[tuple]):
    """Arrow table in survey_responses' shape from (seq, payload, customer, ts) rows."""
    import pyarrow as pa

    found = [json.loads(r[1]) | {"customer_id": r[2]} for r in rows]
    return pa.table({
        "response_id": pa.array([f["response_id"] for f in found], pa.string()),
        "customer_id": pa.array([f["customer_id"] for f in found], pa.string()),
        "response_ts": pa.array([int(round(r[3] * 1_000_000)) for r in rows],
                                pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "nps": pa.array([f["nps"] for f in found], pa.int32()),
        **{c: pa.array([f[c] for f in found], pa.string())
           for c in ("comment", "question", "answer")}})


def flush_surveys(con, settings: Settings, limit: int = 100_000) -> int:
    """Append applied survey responses past the watermark; returns how many (0: none, or
    the project names no surveys table: then they wait in the inbox)."""
    import pyarrow.parquet as pq

    from segflow.durable import write_atomic

    table = settings.table_name("surveys")
    if table is None:
        return 0
    found = con.execute("SELECT value FROM counters WHERE name = ?", (MARK,)).fetchone()
    rows = con.execute("SELECT seq, payload, customer_id, event_ts FROM inbox WHERE seq > ? "
                       "AND kind = ? AND applied_at IS NOT NULL ORDER BY seq LIMIT ?",
                       (found[0] if found else 0, KIND, limit)).fetchall()
    if not rows:
        return 0
    by_day: dict[str, list[tuple]] = {}
    for r in rows:
        by_day.setdefault(datetime.fromtimestamp(r[3], UTC).strftime("%Y-%m-%d"), []).append(r)
    for day, picked in sorted(by_day.items()):
        buffer = io.BytesIO()
        pq.write_table(_table(picked), buffer)
        write_atomic(settings.events_offline_dir / table / day
                     / f"batch-{rows[0][0]:012d}.parquet", buffer.getvalue())
    con.execute("INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                "value = excluded.value", (MARK, rows[-1][0]))
    return len(rows)
