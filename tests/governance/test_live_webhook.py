"""The real-time receiver end to end: a real `segflow events serve` (uvicorn) on a loopback
port, signed Segment payloads over HTTP, the inbox, the live suppression of the right
customer, the lookup endpoint and the quarantine."""

from __future__ import annotations

import json
import sqlite3

import pyarrow.parquet as pq
import pytest
from govworld import copy_world
from liveworld import (
    KEY,
    env_of,
    free_port,
    lookup,
    post_segment,
    published_rows,
    published_world,
    start_receiver,
    track,
    until,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return published_world(tmp_path_factory.mktemp("live") / "world")


@pytest.fixture
def live(prepared, tmp_path):
    """(settings, port) of a receiver on a copy of the published world."""
    settings = copy_world(prepared, tmp_path / "world")
    port = free_port()
    proc = start_receiver(settings, port)
    yield settings, port
    proc.kill()
    proc.wait()


def _assigned(settings, cohort_not: tuple = ()) -> list[dict]:
    return [r for r in published_rows(settings)
            if r["status"] == "assigned" and r["cohort"] not in cohort_not]


def _inbox(settings):
    return sqlite3.connect(settings.events_dir / "inbox.sqlite")


def test_webhook_applies_suppressions_dedupes_and_quarantines(live):
    settings, port = live
    rows = _assigned(settings)
    quitter, opener = rows[0]["entity_id"], rows[1]["entity_id"]
    unsubscribe = track(quitter, "Unsubscribed")
    opens = [track(opener, "Email Opened"), track(opener, "Email Opened")]
    assert post_segment(port, {"batch": [unsubscribe, *opens]}) == (
        200, {"accepted": 3, "duplicates": 0, "quarantined": 0})
    # Segment retries: the same messageId again changes nothing
    assert post_segment(port, unsubscribe) == (
        200, {"accepted": 0, "duplicates": 1, "quarantined": 0})
    bad_sig = post_segment(port, track(opener, "Unsubscribed"), secret="wrong")
    assert bad_sig[0] == 401 and "bad signature" in bad_sig[1]["error"]
    not_json = post_segment(port, None, raw=b"{not json")
    assert not_json[0] == 400 and "not JSON" in not_json[1]["error"]
    anonymous = {k: v for k, v in track("x", "Email Opened").items() if k != "userId"}
    mixed = post_segment(port, {"batch": [anonymous, track(opener, "page")]})
    assert mixed == (200, {"accepted": 1, "duplicates": 0, "quarantined": 1})

    answer = until(lambda: (a := lookup(port, quitter)[1])["memberships"][0]["status"]
                   == "suppressed" and a, what="live suppression")
    row = answer["memberships"][0]
    assert row["suppressed_by"] == "unsubscribed" and row["campaign"] == "holi_test"
    assert unsubscribe["messageId"] in row["live_reason"]
    other = lookup(port, opener)[1]
    assert other["memberships"][0]["status"] == "assigned"
    # the receiver appends applied events to the offline sources too (off the hot path)
    appended = until(lambda: sorted((settings.events_offline_dir / "engagement_events")
                                    .glob("*/*.parquet")), what="offline append")
    ids = {i for f in appended for i in pq.read_table(f, columns=["event_id"])["event_id"]
           .to_pylist()}
    assert unsubscribe["messageId"] in ids and opens[0]["messageId"] in ids
    assert other["features"]["email_opens_24h"] == 2
    assert other["features"]["last_activity_at"] is not None

    with _inbox(settings) as con:
        reasons = [r[0] for r in con.execute("SELECT reason FROM quarantine ORDER BY seq")]
        stored = con.execute("SELECT count(*), count(applied_at) FROM inbox").fetchone()
        received, dups = (dict(con.execute("SELECT name, value FROM counters"))[k]
                          for k in ("received", "duplicates"))
    assert reasons[0].startswith("bad signature") and "not JSON" in reasons[1]
    assert "no userId" in reasons[2] and len(reasons) == 3
    assert stored == (4, 4)
    assert received == stored[0] + dups + len(reasons) and dups == 1  # rows in = out


def test_channel_scoped_exempt_and_ended(live):
    settings, port = live
    rows = {r["entity_id"]: r for r in _assigned(settings)}
    emailed = next(i for i, r in rows.items() if "email" in r["channels"].split(",")
                   and len(r["channels"].split(",")) > 1 and r["cohort"] != "lapsed_high_value")
    lapsed = next((i for i, r in rows.items() if r["cohort"] == "lapsed_high_value"), None)
    other = next(i for i, r in rows.items() if r["cohort"] != "lapsed_high_value"
                 and i != emailed)
    assert lapsed is not None, "the world has an assigned lapsed_high_value customer"
    from datetime import timedelta

    from govworld import AS_OF_1

    # a purchase before the publication's as-of was in the data the cohort was chosen from
    assert post_segment(port, track(lapsed, "Order Completed",
                                    when=AS_OF_1 - timedelta(days=1)))[0] == 200
    until(lambda: _inbox(settings).execute("SELECT count(*) FROM inbox WHERE applied_at "
                                           "IS NULL").fetchone()[0] == 0,
          what="the earlier purchase applied")
    assert lookup(port, lapsed)[1]["memberships"][0]["status"] == "assigned"
    after = AS_OF_1 + timedelta(days=1)
    batch = [track(emailed, "Complaint Filed"), track(lapsed, "Order Completed", when=after),
             track(other, "Order Completed", when=after)]
    assert post_segment(port, {"batch": batch})[0] == 200
    complained = until(lambda: (a := lookup(port, emailed)[1])["memberships"][0]["live_reason"]
                       and a, what="complaint applied")["memberships"][0]
    assert complained["status"] == "assigned"  # complained is scoped to email only
    assert complained["channels"].split(",") == [
        c for c in rows[emailed]["channels"].split(",") if c != "email"]
    ended = until(lambda: (a := lookup(port, lapsed)[1])["memberships"][0]["status"]
                  == "suppressed" and a, what="win-back ended")["memberships"][0]
    assert ended["suppressed_by"] == "ended:lapsed_high_value"
    assert lookup(port, other)[1]["memberships"][0]["status"] == "assigned"


def test_inactivity_is_evaluated_at_read_time(live):
    """inactive_14d at read time: a customer assigned at the as-of with d days since their
    last activity is suppressed once 14 - d more days have passed, unless an event since
    says they are active."""
    from datetime import timedelta

    import pyarrow.parquet as pq
    from govworld import AS_OF_1

    from segflow.governance.publications import current_publication

    settings, port = live
    run = current_publication(settings, "holi_test")["run_id"]
    days = dict(zip(*pq.read_table(settings.runs_dir / run / "features.parquet", columns=[
        "customer_id", "days_since_last_activity"]).to_pydict().values(), strict=True))
    quiet, active = (r["entity_id"] for r in _assigned(settings)[:2])
    due = {c: AS_OF_1 + timedelta(days=14 - int(days[c])) for c in (quiet, active)}
    before = lookup(port, quiet, at=(due[quiet] - timedelta(hours=1)).timestamp())[1]
    assert before["memberships"][0]["status"] == "assigned"
    after = lookup(port, quiet, at=(due[quiet] + timedelta(hours=1)).timestamp())[1]
    row = after["memberships"][0]
    assert (row["status"], row["suppressed_by"]) == ("suppressed", "inactive_14d")
    assert "14 days without activity" in row["live_reason"]
    opened = due[active] - timedelta(days=2)
    assert post_segment(port, track(active, "Email Opened", when=opened))[0] == 200
    later = (due[active] + timedelta(hours=1)).timestamp()
    kept = until(lambda: (a := lookup(port, active, at=later)[1])["features"]
                 ["last_activity_at"] and a, what="open applied")
    assert kept["memberships"][0]["status"] == "assigned"
    gone = lookup(port, active, at=(opened + timedelta(days=14, hours=1)).timestamp())[1]
    assert gone["memberships"][0]["suppressed_by"] == "inactive_14d"


def test_merged_id_applies_to_its_survivor(live):
    """An event sent with a duplicate's id (merged by ingest) suppresses the surviving
    customer; the receiver reads a merge map written while it runs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    settings, port = live
    survivor = _assigned(settings)[0]["entity_id"]
    pq.write_table(pa.table({"merged_id": ["DUP-1"], "survivor_id": [survivor],
                             "matched_on": ["email"]}),
                   settings.canonical_dir / "customer_merge_map.parquet")
    assert post_segment(port, track("DUP-1", "Unsubscribed"))[0] == 200
    answer = until(lambda: (a := lookup(port, "DUP-1")[1])["memberships"]
                   and a["memberships"][0]["status"] == "suppressed" and a,
                   what="the survivor suppressed")
    assert answer["survivor_id"] == survivor
    assert lookup(port, survivor)[1]["memberships"][0]["suppressed_by"] == "unsubscribed"


def test_batch_lookup_and_api_keys(live):
    from liveworld import http

    settings, port = live
    first, second = (r["entity_id"] for r in _assigned(settings)[:2])
    code, body = lookup(port, first, key="nope")
    assert code == 401 and "X-API-Key" in body["detail"]
    url = f"http://127.0.0.1:{port}/v1/customers/segments"
    headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
    code, body = http("POST", url, json.dumps({"ids": [second, first, "nobody"]}).encode(),
                      headers)
    assert code == 200
    assert [c["customer_id"] for c in body["customers"]] == [second, first, "nobody"]
    assert [len(c["memberships"]) for c in body["customers"]] == [1, 1, 0]
    too_many = http("POST", url, json.dumps({"ids": ["x"] * 1001}).encode(), headers)
    assert too_many[0] == 400 and "at most 1000 ids" in too_many[1]["detail"]
    refused = http("POST", url, b'{"ids": [1]}', {**headers, "X-API-Key": "nope"})
    assert refused[0] == 401


def test_cli_lookup_and_status_report_freshness(live, cli):
    settings, port = live
    customer = _assigned(settings)[0]["entity_id"]
    assert post_segment(port, track(customer, "Unsubscribed"))[0] == 200
    until(lambda: lookup(port, customer)[1]["memberships"][0]["status"] == "suppressed",
          what="suppression")
    env = {k: v for k, v in env_of(settings).items() if k.startswith(("TEST_", "SEGFLOW_"))}
    out = cli(settings.home, "events", "lookup", customer, env=env)
    assert out.code == 0, out.err
    assert json.loads(out.out)["memberships"][0]["suppressed_by"] == "unsubscribed"
    status = cli(settings.home, "events", "status", "--json", env=env)
    report = json.loads(status.out)
    segments = {r["segment"]: r for r in report["freshness"]}
    assert segments["unsubscribed (suppressed)"]["events"] == 1
    assert 0 <= segments["unsubscribed (suppressed)"]["p95"] < 60
    assert report["counts"]["applied"] == 1
    assert status.code == (1 if report["gate"] else 0)
    # the running receiver records the applied batch in the audit log, off its hot path
    until(lambda: _inbox(settings).execute("SELECT count(audit_seq) FROM live_batches")
          .fetchone()[0] == 1, what="the live change in the audit log")
    from segflow.governance.audit import read, verify

    entry = next(e for e in read(settings) if e["action"] == "live_changes")
    assert entry["payload"]["counts"] == {"suppress:unsubscribed": 1}
    assert verify(settings).ok


def test_freshness_gate_fails_on_late_events(live, cli):
    """An event that arrives 2 minutes after it happened is 2 minutes stale: over the 1 s
    limit, so `events status` exits 1 naming the segment."""
    from datetime import UTC, datetime, timedelta

    settings, port = live
    customer = _assigned(settings)[0]["entity_id"]
    late = datetime.now(UTC) - timedelta(minutes=2)
    assert post_segment(port, track(customer, "Unsubscribed", when=late))[0] == 200
    until(lambda: lookup(port, customer)[1]["memberships"][0]["status"] == "suppressed",
          what="suppression")
    env = {k: v for k, v in env_of(settings).items() if k.startswith(("TEST_", "SEGFLOW_"))}
    status = cli(settings.home, "events", "status", env=env)
    assert status.code == 1
    assert "freshness gate FAILED" in status.out
    assert "unsubscribed (suppressed): p95" in status.out and "over the 1s limit" in status.out


def test_receiver_refuses_to_start_without_a_secret(prepared, tmp_path, cli):
    settings = copy_world(prepared, tmp_path / "world")
    out = cli(settings.home, "events", "serve", "--port", "1",
              env={"SEGFLOW_TEMPLATES": str(settings.templates_root)},
              unset=("TEST_SEGMENT_SECRET",))
    assert out.code == 2
    assert out.line.startswith("error: no webhook secret: set TEST_SEGMENT_SECRET")


def test_sigkill_under_load_loses_no_acknowledged_event(prepared, tmp_path):
    """Events posted from several threads while the receiver is SIGKILLed: every event it
    answered 200 for is in the inbox after a restart, and applied."""
    import threading

    settings = copy_world(prepared, tmp_path / "world")
    port = free_port()
    proc = start_receiver(settings, port)
    customers = [r["entity_id"] for r in published_rows(settings)]
    acked, lock = [], threading.Lock()

    def sender(n: int):
        for i in range(10_000):
            message = track(customers[(n + i) % len(customers)], "Email Opened")
            try:
                code, _ = post_segment(port, message)
            except OSError:
                return
            if code == 200:
                with lock:
                    acked.append(message["messageId"])

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    until(lambda: len(acked) >= 200, seconds=60, what="200 acknowledged events")
    proc.kill()
    proc.wait()
    for t in threads:
        t.join()
    restarted = start_receiver(settings, port)
    try:
        with _inbox(settings) as con:
            stored = {r[0] for r in con.execute("SELECT event_id FROM inbox")}
            assert set(acked) <= stored
            until(lambda: con.execute("SELECT count(*) FROM inbox WHERE applied_at IS NULL")
                  .fetchone()[0] == 0, what="leftovers applied after restart")
    finally:
        restarted.kill()
        restarted.wait()
