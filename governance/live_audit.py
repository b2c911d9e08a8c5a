"""Live changes in the audit log: one signed entry per applied micro-batch.

The applier records each micro-batch that changed a membership in the inbox
(``live_batches``: counts per effect and target, a digest of its change lines) in the same
SQLite transaction that applies it, so nothing applied goes unlisted. This module copies
those batches into the governance audit log (``segflow.governance.audit``), one entry
``live_changes`` per batch, outside the receiver's hot path: the audit log lives in the
workspace DuckDB, which a refresh may hold for minutes, and an event must not wait for it.

Exactly once: the entry's transaction also moves a high-water mark in DuckDB
(``live_audit_mark``), so a crash between the audit commit and the inbox update neither
loses nor doubles an entry; the next pass reads the mark first and finishes the inbox side.
"""

from __future__ import annotations

import logging
import threading

from segflow.errors import EnvironmentFailure
from segflow.settings import Settings

log = logging.getLogger("segflow.live")
ACTOR = "segflow-live"
ACTION = "live_changes"
MARK = "CREATE TABLE IF NOT EXISTS live_audit_mark (id INTEGER PRIMARY KEY, batch BIGINT)"


def _mark(con) -> int:
    con.execute(MARK)
    row = con.execute("SELECT batch FROM live_audit_mark WHERE id = 1").fetchone()
    return row[0] if row else 0


def _entry_of(con, batch: int) -> int:
    """The audit seq that recorded ``batch`` (a batch at or below the mark)."""
    row = con.execute(
        "SELECT seq FROM audit_entries WHERE json_extract_string(line, '$.action') = ? AND "
        "CAST(json_extract(line, '$.payload.batch') AS BIGINT) = ?", [ACTION, batch]
    ).fetchone()
    return row[0] if row else 0


def audit_pending(settings: Settings, inbox) -> int:
    """Record every applied micro-batch not yet in the audit log; returns how many. Raises
    ``WorkspaceBusy`` when the workspace is held (the batches wait for the next pass)."""
    from segflow.db import connect
    from segflow.governance.audit import ensure_schema, record
    from segflow.ingest.events.inbox import mark_audited, unaudited
    from segflow.lock import workspace_lock

    batches = unaudited(inbox)
    if not batches:
        return 0
    with workspace_lock(settings, "audit live changes"), connect(settings) as con:
        ensure_schema(con)
        done = _mark(con)
        finished = [(b["batch"], _entry_of(con, b["batch"])) for b in batches
                    if b["batch"] <= done]
        mark_audited(inbox, finished)  # audited before a crash: only the inbox side left
        written = 0
        for b in (b for b in batches if b["batch"] > done):
            payload = {"batch": b["batch"], "events": b["events"],
                       "changes": sum(b["counts"].values()), "counts": b["counts"],
                       "digest": b["digest"], "inbox_seq": [b["first_seq"], b["last_seq"]],
                       "applied_at": b["applied_at"]}
            entry = record(settings, ACTOR, ACTION, payload, con=con, writes=lambda c, n=b[
                "batch"]: c.execute("INSERT OR REPLACE INTO live_audit_mark VALUES (1, ?)",
                                    [n])).entry
            mark_audited(inbox, [(b["batch"], entry["seq"])])
            written += 1
    return written


class LiveAuditor:
    """A thread that records applied batches in the audit log whenever the applier says
    it applied some (``poke``), and retries every ``retry`` seconds while the workspace
    is busy; the receiver keeps answering meanwhile."""

    def __init__(self, settings: Settings, retry: float = 2.0):
        self.settings, self.retry = settings, retry
        self.wake, self.done = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, name="segflow-live-audit",
                                       daemon=True)

    def start(self) -> LiveAuditor:
        self.thread.start()
        return self

    def poke(self) -> None:
        self.wake.set()

    def stop(self) -> None:
        self.done.set()
        self.wake.set()
        self.thread.join()

    def _run(self) -> None:
        from segflow.ingest.events.inbox import connect_inbox

        con = connect_inbox(self.settings)
        try:
            while True:
                self.wake.wait(self.retry)
                self.wake.clear()
                try:
                    audit_pending(self.settings, con)
                except EnvironmentFailure as err:  # busy workspace: the next pass retries
                    log.info("live changes wait for the audit log: %s", err)
                if self.done.is_set():
                    return
        finally:
            con.close()
