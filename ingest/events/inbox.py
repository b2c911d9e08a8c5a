"""The real-time inbox: one SQLite file in WAL mode (``<home>/events/inbox.sqlite``).

Why SQLite and not the workspace DuckDB: a receiver must answer in milliseconds while a
refresh holds DuckDB's single-writer lock for minutes; SQLite in WAL mode lets the receiver
commit while readers (lookups, status) read, and ``synchronous=FULL`` makes a commit
survive a crash of the process or the machine, so a 200 answered after it is a promise kept.

Tables: ``inbox`` (one row per event id: received, then applied), ``quarantine`` (what could
not be applied, with the reason), ``live_changes`` (a suppression or an ended cohort per
customer, with the latest event that caused it and its times), ``counters`` (messages
received and duplicates; ``offline_seq``, the last event appended to the offline sources),
``live_batches`` (one row per applied micro-batch that changed a membership: its counts per
effect and target, and a SHA-256 digest of its changes, waiting to be recorded in the
governance audit log), ``live_refusals`` (a live addition refused because the campaign's
approved bound was reached: customer, target, why). Applying is idempotent by event id: a
row is applied once, a change is keyed by (customer, effect, target), so a redelivered
event changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from segflow.faults import reach
from segflow.settings import Settings

DDL = """
CREATE TABLE IF NOT EXISTS inbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL UNIQUE, source TEXT NOT NULL, kind TEXT NOT NULL, event TEXT NOT NULL,
  user_id TEXT NOT NULL, event_ts REAL NOT NULL, received_at REAL NOT NULL, payload TEXT,
  customer_id TEXT, applied_at REAL);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox(seq) WHERE applied_at IS NULL;
CREATE INDEX IF NOT EXISTS inbox_customer ON inbox(customer_id, event, event_ts);
CREATE TABLE IF NOT EXISTS quarantine (seq INTEGER PRIMARY KEY AUTOINCREMENT,
  source TEXT NOT NULL, received_at REAL NOT NULL, reason TEXT NOT NULL, raw TEXT,
  ref TEXT UNIQUE);
CREATE TABLE IF NOT EXISTS live_changes (customer_id TEXT NOT NULL, effect TEXT NOT NULL,
  target TEXT NOT NULL, event_id TEXT NOT NULL, event TEXT NOT NULL, event_ts REAL NOT NULL,
  received_at REAL NOT NULL, applied_at REAL NOT NULL,
  PRIMARY KEY (customer_id, effect, target));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS live_batches (batch INTEGER PRIMARY KEY AUTOINCREMENT,
  applied_at REAL NOT NULL, events INTEGER NOT NULL, first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL, counts TEXT NOT NULL, digest TEXT NOT NULL,
  detail TEXT NOT NULL, audit_seq INTEGER);
CREATE INDEX IF NOT EXISTS live_batches_unaudited ON live_batches(batch)
  WHERE audit_seq IS NULL;
CREATE TABLE IF NOT EXISTS live_refusals (customer_id TEXT NOT NULL, target TEXT NOT NULL,
  reason TEXT NOT NULL, event_id TEXT NOT NULL, event_ts REAL NOT NULL,
  applied_at REAL NOT NULL, PRIMARY KEY (customer_id, target));
"""


def inbox_path(settings: Settings) -> Path:
    return settings.events_dir / "inbox.sqlite"


def connect_inbox(settings: Settings, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit ``BEGIN IMMEDIATE``);
    usable from the one thread that owns it."""
    path = inbox_path(settings)
    if readonly and not path.exists():
        from segflow.errors import SegflowError

        raise SegflowError(f"no event inbox at {path}: no event has been received yet "
                           "(start `segflow events serve` or `segflow events kafka`)")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        _prepare(con)
    except BaseException:
        con.close()
        raise
    con.execute("PRAGMA synchronous=FULL")
    return con


_PREPARING = threading.Lock()


def _prepare(con: sqlite3.Connection, seconds: float = 30.0) -> None:
    """WAL mode and the tables, one connection at a time. On a new file the receiver's
    threads (writer, offline flusher, auditor) open the inbox at once; switching the
    journal mode and creating tables upgrade a read lock to a write lock, and SQLite
    answers two such upgrades with an immediate "database is locked" (no busy wait: it
    would deadlock), which killed the writer thread and left requests hanging. Threads take
    turns on a lock; another process's turn is waited for by retrying until ``seconds``."""
    deadline = time.monotonic() + seconds
    with _PREPARING:
        while True:
            try:
                con.execute("PRAGMA journal_mode=WAL")
                # a no-op once the tables exist; adds those a newer version needs
                con.executescript(DDL)
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                if con.in_transaction:
                    con.execute("ROLLBACK")
                time.sleep(0.05)  # another process is creating the same file


def _bump(con: sqlite3.Connection, name: str, n: int) -> None:
    if n:
        con.execute("INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                    "value = value + excluded.value", (name, n))


def store(con: sqlite3.Connection, source: str, events: Iterable, rejected: Iterable,
          received_at: float | None = None) -> tuple[int, int]:
    """Add events (``segment.Event``) and rejected messages (``segment.Rejected``) inside
    the caller's transaction; returns (accepted, duplicates). An event id already in the
    inbox is a duplicate (Segment retries for hours, Kafka redelivers): not stored twice; so
    is a rejected message whose ``ref`` is quarantined already. Received = accepted +
    quarantined + duplicates, always."""
    now = time.time() if received_at is None else received_at
    events, rejected = list(events), list(rejected)
    before = con.total_changes
    con.executemany(
        "INSERT OR IGNORE INTO inbox (event_id, source, kind, event, user_id, event_ts, "
        "received_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(e.event_id, source, e.kind, e.name, e.user_id, e.event_ts, now, e.payload)
         for e in events])
    accepted = con.total_changes - before
    con.executemany("INSERT OR IGNORE INTO quarantine (source, received_at, reason, raw, ref) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(source, now, r.reason, r.raw, r.ref) for r in rejected])
    kept = con.total_changes - before - accepted  # a redelivered bad message is kept once
    duplicates = len(events) - accepted + len(rejected) - kept
    _bump(con, "received", len(events) + len(rejected))
    _bump(con, "duplicates", duplicates)
    return accepted, duplicates


def apply_pending(con: sqlite3.Connection, settings: Settings, config, identity: dict,
                  limit: int = 2000, admit=None) -> int:
    """Apply up to ``limit`` stored events, oldest first, in one transaction: each is
    mapped to its surviving customer through the identity merge map, and the live changes
    its name causes (``config.effects``) are recorded, one per customer, effect and target,
    keeping the latest event (an ended cohort counts only for events after a publication's
    as-of). Re-applying an event changes nothing. Returns how many were applied (the
    offline sources get them later, in bigger files: ``offline.flush_offline``).

    ``admit(con, applied, now)`` (governance's live additions, passed in by the command
    that runs the applier: ingest does not know campaigns) returns (additions, refusals)
    for the applied rows ``(seq, event_id, event, customer, event_ts, received_at)``, in
    this transaction: an addition is a change ``(customer, 'add', target, event id, event,
    event time, received, now)``, audited with the others; a refusal ``(customer, target,
    reason, event id, event time, now)``."""
    con.execute("BEGIN IMMEDIATE")
    try:
        rows = con.execute("SELECT seq, event_id, event, user_id, event_ts, received_at "
                           "FROM inbox WHERE applied_at IS NULL ORDER BY seq LIMIT ?",
                           (limit,)).fetchall()
        now = time.time()
        con.executemany("UPDATE inbox SET customer_id = ?, applied_at = ? WHERE seq = ?",
                        [(identity.get(user, user), now, seq)
                         for seq, _, _, user, _, _ in rows])
        changes = [(identity.get(user, user), effect, target, event_id, name, ts, got, now)
                   for _, event_id, name, user, ts, got in rows
                   for effect, target in config.effects(name)]
        if admit is not None and rows:
            added, refused = admit(con, [(seq, eid, name, identity.get(user, user), ts, got)
                                         for seq, eid, name, user, ts, got in rows], now)
            changes += added
            con.executemany("INSERT OR REPLACE INTO live_refusals VALUES (?, ?, ?, ?, ?, ?)",
                            refused)
        con.executemany(
            "INSERT INTO live_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE "
            "SET event_id = excluded.event_id, event = excluded.event, event_ts = "
            "excluded.event_ts, received_at = excluded.received_at, applied_at = "
            "excluded.applied_at WHERE excluded.event_ts > live_changes.event_ts", changes)
        if changes:
            _log_batch(con, rows, changes, now)
        reach(settings, "events.applying")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(rows)


def _log_batch(con: sqlite3.Connection, rows: list, changes: list, now: float) -> None:
    """Record the micro-batch's changes for the audit log, in the applying transaction:
    counts per effect and target, and the digest of its sorted change lines
    (customer, effect, target, event id), which ``detail`` holds so anyone can recompute
    it. One row per batch, not per event, keeps 1,000 events a second cheap to audit."""
    lines = sorted("\t".join(map(str, c[:4])) for c in changes)
    detail = "\n".join(lines)
    tally: dict[str, int] = {}
    for _, effect, target, *_ in changes:
        tally[f"{effect}:{target}"] = tally.get(f"{effect}:{target}", 0) + 1
    con.execute("INSERT INTO live_batches (applied_at, events, first_seq, last_seq, counts, "
                "digest, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (now, len(rows), rows[0][0], rows[-1][0], json.dumps(tally, sort_keys=True),
                 hashlib.sha256(detail.encode()).hexdigest(), detail))


def unaudited(con: sqlite3.Connection) -> list[dict]:
    """The applied micro-batches not yet in the audit log, oldest first."""
    cur = con.execute("SELECT batch, applied_at, events, first_seq, last_seq, counts, digest "
                      "FROM live_batches WHERE audit_seq IS NULL ORDER BY batch")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) | {"counts": json.loads(r[5])}
            for r in cur.fetchall()]


def mark_audited(con: sqlite3.Connection, marks: list[tuple[int, int]]) -> None:
    """[(batch, audit entry seq), ...]: those batches are in the audit log; one
    transaction (one fsync), so marking hundreds of batches does not hold up the writer."""
    if not marks:
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        con.executemany("UPDATE live_batches SET audit_seq = ? WHERE batch = ?",
                        [(seq, batch) for batch, seq in marks])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def pending(con: sqlite3.Connection) -> int:
    return con.execute("SELECT count(*) FROM inbox WHERE applied_at IS NULL").fetchone()[0]


def counts(con: sqlite3.Connection) -> dict[str, int]:
    """Messages received, accepted (stored), duplicates, quarantined, applied, pending."""
    counter = dict(con.execute("SELECT name, value FROM counters").fetchall())
    accepted, applied = con.execute("SELECT count(*), count(applied_at) FROM inbox").fetchone()
    quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    batches, audited = con.execute("SELECT count(*), count(audit_seq) FROM live_batches"
                                   ).fetchone()
    added = con.execute("SELECT count(*) FROM live_changes WHERE effect = 'add'").fetchone()[0]
    refused = con.execute("SELECT count(*) FROM live_refusals").fetchone()[0]
    return {"received": counter.get("received", 0), "accepted": accepted,
            "duplicates": counter.get("duplicates", 0), "quarantined": quarantined,
            "applied": applied, "pending": accepted - applied,
            "change_batches": batches, "unaudited_batches": batches - audited,
            "live_additions": added, "live_additions_refused": refused}


_IDENTITY: dict[str, tuple[int, dict]] = {}


def identity_map(settings: Settings) -> dict[str, str]:
    """{merged customer id: surviving id} from ingest's ``customer_merge_map`` (empty when
    ingest found no duplicates or has not run: every id is its own survivor). Kept per
    process and re-read when ingest replaces the file, so a long-running receiver follows
    new merges without a restart."""
    path = settings.canonical_dir / "customer_merge_map.parquet"
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        return {}
    cached = _IDENTITY.get(str(path))
    if cached and cached[0] == stamp:
        return cached[1]
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["merged_id", "survivor_id"])
    mapping = dict(zip(table["merged_id"].to_pylist(), table["survivor_id"].to_pylist(),
                       strict=True))
    _IDENTITY[str(path)] = (stamp, mapping)
    return mapping


def live_features(con: sqlite3.Connection, config, ids: list[str], at: float
                  ) -> dict[str, dict]:
    """{customer: {feature: value}} of the streaming features at time ``at`` (epoch s),
    from applied events: a count over its window ending at ``at``, or the latest time."""
    out: dict[str, dict] = {i: {} for i in ids}
    if not ids or not config.features:
        return out
    marks = ",".join("?" * len(ids))
    for f in config.features:
        names = ",".join("?" * len(f.events))
        if f.agg == "count":
            sql = (f"SELECT customer_id, count(*) FROM inbox WHERE customer_id IN ({marks}) "
                   f"AND event IN ({names}) AND event_ts > ? AND event_ts <= ? "
                   "GROUP BY customer_id")
            params = [*ids, *f.events, at - f.window_hours * 3600, at]
        else:
            sql = (f"SELECT customer_id, max(event_ts) FROM inbox WHERE customer_id IN "
                   f"({marks}) AND event IN ({names}) AND event_ts <= ? GROUP BY customer_id")
            params = [*ids, *f.events, at]
        found = dict(con.execute(sql, params).fetchall())
        for i in ids:
            out[i][f.name] = found.get(i, 0 if f.agg == "count" else None)
    return out


def refusals_of(con: sqlite3.Connection, ids: list[str]) -> dict[str, list[dict]]:
    """{customer: [refused live addition, ...]} for ``ids``."""
    out: dict[str, list[dict]] = {i: [] for i in ids}
    if ids:
        for customer, target, reason in con.execute(
                "SELECT customer_id, target, reason FROM live_refusals WHERE customer_id IN "
                f"({','.join('?' * len(ids))})", ids):
            out[customer].append({"target": target, "reason": reason})
    return out


def changes_of(con: sqlite3.Connection, ids: list[str]) -> dict[str, list[dict]]:
    """{customer: [live change, ...]} for ``ids``."""
    out: dict[str, list[dict]] = {i: [] for i in ids}
    if not ids:
        return out
    cur = con.execute("SELECT customer_id, effect, target, event_id, event, event_ts, "
                      "applied_at FROM live_changes WHERE customer_id IN "
                      f"({','.join('?' * len(ids))})", ids)
    names = [d[0] for d in cur.description]
    for row in cur.fetchall():
        out[row[0]].append(dict(zip(names, row, strict=True)))
    return out
