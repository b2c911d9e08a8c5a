"""Live changes are in the tamper-evident audit log: every applied micro-batch that
changed a membership is covered by one signed entry per recording pass (counts, and a
digest of the batches' change digests), recorded exactly once, and `segflow audit verify`
still passes."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from govworld import copy_world
from liveworld import ENV, published_rows, published_world, track


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ENV.items():
            mp.setenv(key, value)
        return published_world(tmp_path_factory.mktemp("liveaudit") / "world")


@pytest.fixture
def world(prepared, tmp_path, monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    return copy_world(prepared, tmp_path / "world")


def _stored(settings, *messages, con=None):
    from segflow.ingest.events.inbox import connect_inbox, store
    from segflow.ingest.events.segment import message

    con = con or connect_inbox(settings)
    store(con, "webhook", [message(m) for m in messages], [])
    return con


def _live_entries(settings) -> list[dict]:
    from segflow.governance.audit import read

    return [e for e in read(settings) if e["action"] == "live_changes"]


def test_applied_batches_are_in_one_audit_entry_recorded_once(world):
    from segflow.governance.audit import verify
    from segflow.governance.live_audit import audit_pending
    from segflow.ingest.events.config import load_realtime
    from segflow.ingest.events.inbox import apply_pending, counts

    config = load_realtime(world)
    first, second, third = (r["entity_id"] for r in published_rows(world)[:3])
    con = _stored(world, track(first, "Unsubscribed"), track(second, "Complaint Filed"),
                  track(third, "Email Opened"))
    assert apply_pending(con, world, config, {}) == 3
    _stored(world, track(third, "Email Opened"), con=con)  # no membership change: no entry
    assert apply_pending(con, world, config, {}) == 1
    _stored(world, track(third, "Unsubscribed"), con=con)
    assert apply_pending(con, world, config, {}) == 1
    assert counts(con)["unaudited_batches"] == 2

    assert audit_pending(world, con) == 2
    [entry] = _live_entries(world)
    payload = entry["payload"]
    assert payload["changes"] == 3 and payload["events"] == 4  # the opens-only batch: none
    assert payload["counts"] == {"suppress:complained": 1, "suppress:unsubscribed": 2}
    assert entry["actor"] == "segflow-live"
    details = [r[0] for r in con.execute("SELECT detail FROM live_batches ORDER BY batch")]
    digests = [hashlib.sha256(d.encode()).hexdigest() for d in details]
    assert payload["digest"] == hashlib.sha256("\n".join(digests).encode()).hexdigest()
    assert first in details[0] and second in details[0] and third not in details[0]
    assert third in details[1]
    assert counts(con)["unaudited_batches"] == 0
    assert audit_pending(world, con) == 0 and len(_live_entries(world)) == 1
    _stored(world, track(second, "Unsubscribed"), con=con)
    apply_pending(con, world, config, {})
    assert audit_pending(world, con) == 1
    assert [e["payload"]["batches"] for e in _live_entries(world)] == [[1, 2], [3, 3]]
    verdict = verify(world)
    assert verdict.ok, verdict.problems


def test_a_crash_after_the_audit_commit_neither_loses_nor_doubles(world):
    """The inbox forgot that a batch was audited (a crash between the two commits): the
    next pass finds it under the audit log's mark and writes no second entry."""
    from segflow.governance.live_audit import audit_pending
    from segflow.ingest.events.config import load_realtime
    from segflow.ingest.events.inbox import apply_pending

    customer = published_rows(world)[0]["entity_id"]
    con = _stored(world, track(customer, "Unsubscribed"))
    apply_pending(con, world, load_realtime(world), {})
    assert audit_pending(world, con) == 1
    seq = con.execute("SELECT audit_seq FROM live_batches").fetchone()[0]
    con.execute("UPDATE live_batches SET audit_seq = NULL")
    assert audit_pending(world, con) == 0
    assert con.execute("SELECT audit_seq FROM live_batches").fetchone()[0] == seq
    assert len(_live_entries(world)) == 1


def test_events_apply_records_the_batch_and_audit_verify_passes(world, cli):
    customer = published_rows(world)[0]["entity_id"]
    _stored(world, track(customer, "Unsubscribed")).close()
    env = {**ENV, "SEGFLOW_TEMPLATES": str(world.templates_root)}
    out = cli(world.home, "events", "apply", env=env)
    assert out.code == 0, out.err
    assert "applied 1 event(s); 1 batch(es) of live changes recorded" in out.out
    checked = cli(world.home, "audit", "verify", env=env)
    assert checked.code == 0, checked.out + checked.err
    with sqlite3.connect(world.events_dir / "inbox.sqlite") as con:
        assert con.execute("SELECT count(audit_seq) FROM live_batches").fetchone()[0] == 1
    status = cli(world.home, "events", "status", "--json", env=env)
    assert json.loads(status.out)["counts"]["unaudited_batches"] == 0


def test_doctor_records_batches_a_killed_applier_left(world, cli):
    """A receiver killed before its recorder's pass leaves applied batches outside the
    audit log: doctor reports them and records them."""
    from segflow.ingest.events.config import load_realtime
    from segflow.ingest.events.inbox import apply_pending

    customer = published_rows(world)[0]["entity_id"]
    con = _stored(world, track(customer, "Unsubscribed"))
    apply_pending(con, world, load_realtime(world), {})
    con.close()
    env = {**ENV, "SEGFLOW_TEMPLATES": str(world.templates_root)}
    dry = cli(world.home, "doctor", "--dry-run", "--json", env=env)
    found = [f for f in json.loads(dry.out) if f["subject"] == "live changes"]
    assert dry.code == 1 and not found[0]["ok"] and "1 applied batch" in found[0]["problem"]
    fixed = cli(world.home, "doctor", env=env)
    assert fixed.code == 0, fixed.out + fixed.err
    assert [e["payload"]["changes"] for e in _live_entries(world)] == [1]
    assert cli(world.home, "audit", "verify", env=env).code == 0
