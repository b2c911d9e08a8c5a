"""Exports made after a live suppression honour it: an unsubscribe received by the
webhook or Kafka leaves the customer out of a later `segflow export` of the run."""

from __future__ import annotations

import csv

from liveworld import ENV, published_rows, published_world
from liveworld import track as segment_track


def _exported(index: dict, settings, run_id: str) -> set[str]:
    ids = set()
    for f in index["files"]:
        path = settings.exports_dir / run_id / f["cohort"] / f["file"]
        with path.open() as handle:
            ids |= {row["customer_id"] for row in csv.DictReader(handle) if "customer_id" in row}
    return ids


def test_export_after_a_live_unsubscribe_leaves_the_customer_out(tmp_path, monkeypatch):
    from segflow.governance.pipeline import export_for
    from segflow.governance.publications import current_publication
    from segflow.ingest.events.config import load_realtime
    from segflow.ingest.events.inbox import apply_pending, connect_inbox, store
    from segflow.ingest.events.segment import message

    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    settings = published_world(tmp_path / "world")
    run_id = current_publication(settings, "holi_test")["run_id"]
    before = export_for(settings, run_id)
    exported = _exported(before, settings, run_id)
    assigned = {r["entity_id"] for r in published_rows(settings) if r["status"] == "assigned"}
    customer = sorted(exported & assigned)[0]

    con = connect_inbox(settings)
    store(con, "webhook", [message(segment_track(customer, "Unsubscribed"))], [])
    assert apply_pending(con, settings, load_realtime(settings), {}) == 1
    con.close()

    after = export_for(settings, run_id)
    assert customer not in _exported(after, settings, run_id)
    assert _exported(after, settings, run_id) == exported - {customer}
    left = sum(f["left_out"].get("global_suppression", 0) for f in after["files"])
    left_before = sum(f["left_out"].get("global_suppression", 0) for f in before["files"])
    assert left > left_before
