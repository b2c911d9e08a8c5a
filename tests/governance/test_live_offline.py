"""Batch and stream agree: events applied live are appended to the offline sources as daily
Parquet, and the batch feature build for the same as-of sees them; a replayed append
doubles nothing."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from liveworld import apply_in_process, published_rows, published_world, track

pytestmark = pytest.mark.integration


def _batch_features(settings, as_of: datetime) -> dict[str, dict]:
    from segflow.featurestore.build import build_features

    report = build_features(settings, as_of, views=["customer_engagement"])
    assert "rows" in report["customer_engagement"]
    table = pq.read_table(settings.features_dir / "customer_engagement.parquet").to_pylist()
    return {r["customer_id"]: r for r in table if r["event_timestamp"] == as_of}


def test_applied_events_reach_the_batch_build_once(tmp_path):
    from segflow.ingest.events.config import load_realtime
    from segflow.ingest.events.inbox import connect_inbox, live_features
    from segflow.ingest.events.offline import flush_all

    settings = published_world(tmp_path / "world")
    config = load_realtime(settings)
    ids = sorted({r["entity_id"] for r in published_rows(settings)})
    opener, visitor, quitter = ids[10], ids[11], ids[12]
    now = datetime.now(UTC).replace(microsecond=0)
    as_of = now + timedelta(seconds=1)
    sent = [track(opener, "Email Opened", now - timedelta(hours=3)),
            track(opener, "Email Opened", now - timedelta(hours=1)),
            {**track(visitor, "x", now - timedelta(hours=2)), "type": "page"},
            track(quitter, "Unsubscribed", now - timedelta(minutes=5))]
    assert apply_in_process(settings, config, sent) == 4

    folder = settings.events_offline_dir / "engagement_events"
    files = sorted(folder.glob("*/*.parquet"))
    days = {datetime.fromisoformat(m["timestamp"].replace("Z", "+00:00")).strftime("%Y-%m-%d")
            for m in sent}
    assert {f.parent.name for f in files} == days
    assert sum(pq.read_metadata(f).num_rows for f in files) == 4

    # replay: the watermark lost (a crash after the files, before it moved) and a stray
    # copy of a file: neither doubles a row
    con = connect_inbox(settings)
    con.execute("DELETE FROM counters WHERE name = 'offline_seq'")
    assert flush_all(con, settings, config) == 4
    assert flush_all(con, settings, config) == 0  # the watermark moved
    con.close()
    assert sorted(folder.glob("*/*.parquet")) == files
    shutil.copy(files[0], files[0].with_name("copy.parquet"))

    batch = _batch_features(settings, as_of)
    con = connect_inbox(settings)
    stream = live_features(con, config, [opener, visitor, quitter], as_of.timestamp())
    con.close()
    for customer in (opener, visitor):
        live, built = stream[customer], batch[customer]
        assert built["email_opens_30d"] == live["email_opens_24h"]
        idle = int((as_of.timestamp() - live["last_activity_at"]) // 86400)
        assert built["days_since_last_activity"] == idle == 0
        assert built["active_14d"] is True
    assert batch[opener]["email_opens_30d"] == 2
    assert batch[visitor]["email_opens_30d"] == 0
    assert batch[quitter]["unsubscribed"] is True
    assert batch[quitter]["days_since_last_activity"] is None  # an unsubscribe is no activity
    untouched = ids[20]
    assert batch[untouched]["email_opens_30d"] == 0 and not batch[untouched]["active_14d"]

    # an extract carries those events into the canonical table: `events prune` removes
    # the files it holds every event of, keeps the one with an event it lacks (one after
    # the as-of, so the build at the as-of is the one above), and the build reads the same
    _carry(settings, files)  # the stray copy holds the same events: carried too
    later = track(opener, "Email Opened", as_of + timedelta(hours=1))
    assert apply_in_process(settings, config, [later]) == 1
    needed = set(folder.glob("*/*.parquet")) - set(files) - {files[0].with_name("copy.parquet")}
    copied = pq.read_metadata(files[0]).num_rows
    done = _cli_prune(settings)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"removed {len(files) + 1} offline event file(s) "
                                  f"({4 + copied} events) that the canonical tables now hold")
    assert set(folder.glob("*/*.parquet")) == needed and len(needed) == 1
    assert _values(_batch_features(settings, as_of)) == _values(batch)


def _values(batch: dict[str, dict]) -> dict[str, dict]:
    """The features, without the build's own time (``created_timestamp``)."""
    return {c: {k: v for k, v in row.items() if k != "created_timestamp"}
            for c, row in batch.items()}


def _carry(settings, files) -> None:
    """The canonical engagement table as an extract that carried ``files``' events."""
    import duckdb

    path = settings.canonical_dir / "engagement_events.parquet"
    schema = pq.read_schema(path)
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM read_parquet($c) UNION ALL BY NAME "
                "SELECT * FROM read_parquet($f, union_by_name=true)",
                {"c": str(path), "f": [str(f) for f in files]})
    table = con.sql("SELECT * FROM t").to_arrow_table()
    pq.write_table(table.select(schema.names).cast(schema), path)


def _cli_prune(settings):
    import subprocess
    import sys

    from liveworld import env_of

    return subprocess.run([sys.executable, "-m", "segflow.cli", "--home", str(settings.home),
                           "events", "prune"], env=env_of(settings), capture_output=True,
                          text=True, timeout=120)
