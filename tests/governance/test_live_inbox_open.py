"""The receiver's threads (writer, offline flusher, auditor) open a new inbox at once.
SQLite answered two of them with an immediate "database is locked" about one start in
twenty; the writer thread died and every webhook request hung (CI, stop 24)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from segflow.ingest.events.inbox import connect_inbox


def _open_together(events_dir, threads: int = 4) -> list[str]:
    settings = SimpleNamespace(events_dir=events_dir)
    errors: list[str] = []
    start = threading.Barrier(threads)

    def one():
        start.wait()
        try:
            connect_inbox(settings).close()
        except Exception as err:  # noqa: BLE001 - collected for the assertion
            errors.append(repr(err))

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return errors


def test_threads_opening_a_new_inbox_together_all_get_it(tmp_path):
    errors = [e for i in range(150) for e in _open_together(tmp_path / f"inbox{i}")]
    assert errors == []


def test_the_inbox_it_opens_is_in_wal_mode_with_its_tables(tmp_path):
    con = connect_inbox(SimpleNamespace(events_dir=tmp_path))
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"inbox", "quarantine", "live_changes", "counters", "live_batches"} <= tables
