"""Live changes in the audit log: one signed entry per recording pass, covering every
micro-batch applied since the previous one.

The applier records each micro-batch that changed a membership in the inbox
(``live_batches``: counts per effect and target, a digest of its change lines) in the same
SQLite transaction that applies it, so nothing applied goes unlisted. This module copies
those batches into the governance audit log (``segflow.governance.audit``) outside the
receiver's hot path: the audit log lives in the workspace DuckDB, which a refresh may hold
for minutes, and an event must not wait for it. A pass costs about 0.1 s (opening
the DuckDB file, a commit, an fsync), while the receiver applies dozens of micro-batches a
second under load, so one entry ``live_changes`` covers all batches pending at the pass
(their range, summed counts, and the digest of their digests in order), and after a pass
the next waits 5 s: the log grows by at most one entry per 5 s whatever the event rate,
and at 1,000 events/s the receiver's event-to-suppression p95 showed no cost from it
(benchmarks/RESULTS.md; a pass every second had doubled to quadrupled it).

Exactly once: the entry's transaction also moves a high-water mark in DuckDB
(``live_audit_mark``), so a crash between the audit commit and the inbox update neither
loses nor doubles an entry; the next pass reads the mark first and finishes the inbox side.
"""

from __future__ import annotations

import hashlib
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
        "SELECT min(seq) FROM audit_entries WHERE json_extract_string(line, '$.action') = ? "
        "AND CAST(json_extract(line, '$.payload.batches[1]') AS BIGINT) >= ?", [ACTION, batch]
    ).fetchone()
    return row[0] or 0


def summary(batches: list[dict]) -> dict:
    """The audit payload of applied batches (oldest first): their range, events, changes
    summed per effect and target, and the SHA-256 of their digests joined by newlines
    (each batch's digest is recomputable from ``live_batches.detail``)."""
    counts: dict[str, int] = {}
    for b in batches:
        for k, v in b["counts"].items():
            counts[k] = counts.get(k, 0) + v
    joined = "\n".join(b["digest"] for b in batches)
    return {"batches": [batches[0]["batch"], batches[-1]["batch"]],
            "events": sum(b["events"] for b in batches), "changes": sum(counts.values()),
            "counts": dict(sorted(counts.items())),
            "digest": hashlib.sha256(joined.encode()).hexdigest(),
            "inbox_seq": [batches[0]["first_seq"], batches[-1]["last_seq"]]}


def audit_pending(settings: Settings, inbox) -> int:
    """Record every applied micro-batch not yet in the audit log, in one entry; returns
    how many batches it covered. Raises ``WorkspaceBusy`` when the workspace is held (the
    batches wait for the next pass)."""
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
        # audited before a crash: only the inbox side is left to finish
        mark_audited(inbox, [(b["batch"], _entry_of(con, b["batch"])) for b in batches
                             if b["batch"] <= done])
        new = [b for b in batches if b["batch"] > done]
        if not new:
            return 0
        last = new[-1]["batch"]
        entry = record(settings, ACTOR, ACTION, summary(new), con=con, writes=lambda c: c.execute(
            "INSERT OR REPLACE INTO live_audit_mark VALUES (1, ?)", [last])).entry
        mark_audited(inbox, [(b["batch"], entry["seq"]) for b in new])
    return len(new)


class LiveAuditor:
    """A thread that records applied batches in the audit log once the applier says it
    applied some (``poke``), at most once every ``every`` seconds, and retries every
    ``retry`` seconds while the workspace is busy; the receiver keeps answering meanwhile.
    ``stop`` makes a last pass."""

    def __init__(self, settings: Settings, retry: float = 2.0, every: float = 5.0):
        self.settings, self.retry, self.every = settings, retry, every
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
            while not self.done.is_set():
                self.wake.wait(self.retry)
                self.wake.clear()
                self._pass(con)
                self.done.wait(self.every)  # at most one entry per `every` seconds under load
            self._pass(con)  # what the applier finished before it stopped
        finally:
            con.close()

    def _pass(self, con) -> None:
        try:
            audit_pending(self.settings, con)
        except EnvironmentFailure as err:  # busy workspace: the next pass retries
            log.info("live changes wait for the audit log: %s", err)
        except Exception as err:  # noqa: BLE001 - kept for the next pass, shown in status
            log.warning("live changes not recorded in the audit log yet: %s", err)
