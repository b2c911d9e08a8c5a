"""Exports and lookups after live events: an unsubscribe received by the webhook or Kafka
leaves the customer out of a later `segflow export` of the run; an event that makes an
unassigned customer satisfy a `live: true` template's rule adds them to that cohort of the
published campaign within its approved bound (`live_additions`), and past it the addition
is refused, counted and explained; suppressed, holdout and assigned customers are never
added; each addition is audited with the live suppressions and reaches lookups and exports.

Both tests work on their own copy of one published world (governing it takes seconds)."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest
from govworld import AS_OF_1, copy_world
from liveworld import ENV, apply_in_process, live_additions, published_rows, published_world
from liveworld import track as segment_track


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        for key, value in ENV.items():
            patch.setenv(key, value)
        return published_world(tmp_path_factory.mktemp("live") / "world", live_additions)


def _exported(index: dict, settings, run_id: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in index["files"]:
        path = settings.exports_dir / run_id / f["cohort"] / f["file"]
        with path.open() as handle:
            out.setdefault(f["cohort"], set()).update(
                row["customer_id"] for row in csv.DictReader(handle) if "customer_id" in row)
    return out


def _everyone(index: dict, settings, run_id: str) -> set[str]:
    return set().union(*_exported(index, settings, run_id).values())


def test_export_after_a_live_unsubscribe_leaves_the_customer_out(world, tmp_path,
                                                                 monkeypatch):
    from segflow.governance.pipeline import export_for
    from segflow.governance.publications import current_publication
    from segflow.ingest.events.config import load_realtime
    from segflow.ingest.events.inbox import apply_pending, connect_inbox, store
    from segflow.ingest.events.segment import message

    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    settings = copy_world(world, tmp_path / "w")
    run_id = current_publication(settings, "holi_test")["run_id"]
    before = export_for(settings, run_id)
    exported = _everyone(before, settings, run_id)
    assigned = {r["entity_id"] for r in published_rows(settings) if r["status"] == "assigned"}
    customer = sorted(exported & assigned)[0]

    con = connect_inbox(settings)
    store(con, "webhook", [message(segment_track(customer, "Unsubscribed"))], [])
    assert apply_pending(con, settings, load_realtime(settings), {}) == 1
    con.close()

    after = export_for(settings, run_id)
    assert customer not in _everyone(after, settings, run_id)
    assert _everyone(after, settings, run_id) == exported - {customer}
    left = sum(f["left_out"].get("global_suppression", 0) for f in after["files"])
    left_before = sum(f["left_out"].get("global_suppression", 0) for f in before["files"])
    assert left > left_before


def test_events_add_within_the_approved_bound_and_refuse_past_it(world, tmp_path,
                                                                 monkeypatch):
    from segflow.governance.live import LiveMemberships, customer_segments
    from segflow.governance.live_audit import audit_pending
    from segflow.governance.pipeline import export_for
    from segflow.governance.publications import current_publication
    from segflow.ingest.events.config import load_realtime
    from segflow.ingest.events.inbox import connect_inbox, counts

    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    settings = copy_world(world, tmp_path / "w")
    config = load_realtime(settings)
    run_id = current_publication(settings, "holi_test")["run_id"]
    rows = published_rows(settings)
    free = sorted(r["entity_id"] for r in rows if r["status"] == "unassigned")
    held = sorted(r["entity_id"] for r in rows if r["status"] in ("suppressed", "holdout"))
    member = sorted(r["entity_id"] for r in rows if r["status"] == "assigned")[0]
    first, second, shy = free[:3]
    after = AS_OF_1 + timedelta(days=1)  # events the published run did not see
    opens = [segment_track(c, "Email Opened", after + timedelta(minutes=m))
             for c in (first, second, held[0], member) for m in range(2)]
    opens.append(segment_track(shy, "Email Opened", after))  # 2 opens: one short of the rule
    opens.append(segment_track(first, "Email Opened", AS_OF_1 - timedelta(days=1)))  # seen
    assert apply_in_process(settings, config, opens) == len(opens)

    con = connect_inbox(settings)
    tally = counts(con)
    assert (tally["live_additions"], tally["live_additions_refused"]) == (1, 1)
    answer = {a["customer_id"]: a for a in customer_segments(
        LiveMemberships(settings, config), con, config, {},
        [first, second, shy, held[0], member], after.timestamp() + 3600)}
    added = answer[first]["memberships"]
    assert [(m["cohort"], m["status"], m["channels"]) for m in added] == \
        [("opened_lately", "assigned", "email")]
    assert added[0]["live_reason"].startswith("added live: Email Opened at 2027-02-02T00:01")
    assert answer[first]["refused_additions"] == []
    refused = answer[second]["refused_additions"]
    assert [(r["campaign"], r["cohort"]) for r in refused] == [("holi_test", "opened_lately")]
    assert "has reached its approved bound of 1 live additions" in refused[0]["reason"]
    assert answer[second]["memberships"][0]["status"] == "unassigned"
    for untouched in (shy, held[0], member):
        assert all(m["cohort"] != "opened_lately" for m in answer[untouched]["memberships"])
        assert answer[untouched]["refused_additions"] == []

    assert audit_pending(settings, con) == 1  # the addition is in the audit log
    audited = con.execute("SELECT counts FROM live_batches").fetchone()[0]
    con.close()
    assert audited == '{"add:holi_test:1:opened_lately": 1}'

    exported = _exported(export_for(settings, run_id), settings, run_id)
    assert exported.get("opened_lately") == {first}


def test_the_next_publication_supersedes_a_live_addition():
    """An addition belongs to the version it was made to: once the campaign's next
    governed version is published, the customer's row is that version's own."""
    from segflow.governance.live import _Publication, added, target_of

    row = {"campaign": "holi_test", "version": 2, "cohort": None, "status": "unassigned",
           "arm": None, "channels": "", "suppressed_by": None, "live_reason": None}
    change = {"effect": "add", "target": target_of("holi_test", 1, "opened_lately"),
              "event": "Email Opened", "event_ts": 0.0, "event_id": "e1"}
    v1 = _Publication(1, 1, "r1", "t1", {}, channels={"opened_lately": "email"})
    v2 = _Publication(2, 2, "r2", "t2", {}, channels={"opened_lately": "email"})
    assert added({**row, "version": 1}, [change], v1)["status"] == "assigned"
    assert added(row, [change], v2) == row
