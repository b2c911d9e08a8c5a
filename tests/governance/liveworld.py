"""A published world for the real-time tests: the governance test world with the
suppressions events may apply live (unsubscribed everywhere, complained on email only,
win-back ended by a purchase), its realtime.yaml, and a real `segflow events serve`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime

from govworld import (
    AS_OF_1,
    approve_and_publish,
    base_features,
    governed,
    make_world,
    write_canonical,
)

SECRET = "s3cret-segment"
KEY = "k-braze-123"
EXTRA_TEMPLATES = {
    "unsubscribed": """
name: unsubscribed
title: Unsubscribed
description: Asked to stop hearing from us.
owner: asha.rao
kind: suppression
entity: customer
where: unsubscribed
""",
    "complained": """
name: complained
title: Complained
description: Filed a complaint.
owner: asha.rao
kind: suppression
entity: customer
where: complaints_365d >= 1
""",
}
SUPPRESSIONS = """  - {template: unsubscribed, params: {}, channels: []}
  - {template: complained, params: {}, channels: [email]}
"""
REALTIME = """
entity: customer
webhook: {secret_env: TEST_SEGMENT_SECRET}
lookup: {keys_env: TEST_LOOKUP_KEYS}
kafka:
  group: segflow-test
  topics: {engagement: test.engagement, orders: test.orders}
freshness: {p95_limit_seconds: 1.0}
suppressions:
  - {event: Unsubscribed, template: unsubscribed}
  - {event: Complaint Filed, template: complained}
ends:
  - {event: Order Completed, cohorts: [lapsed_high_value]}
features:
  - {name: last_activity_at, agg: latest, events: [Email Opened, page]}
  - {name: email_opens_24h, agg: count, window_hours: 24, events: [Email Opened]}
inactivity:
  - {template: inactive_14d, param: days, days_since: days_since_last_activity,
     live: last_activity_at}
offline:
  engagement_events:
    id: event_id
    customer: customer_id
    time: event_ts
    events:
      Email Opened: {channel: email, event_type: open}
      page: {channel: web, event_type: visit}
      Unsubscribed: {channel: email, event_type: unsubscribe}
"""
ENV = {"TEST_SEGMENT_SECRET": SECRET, "TEST_LOOKUP_KEYS": f"braze:{KEY}"}


LIVE_TEMPLATE = """
name: opened_lately
title: Opened our emails lately
description: Opened at least three emails in 30 days.
owner: ravi.k
kind: cohort
entity: customer
live: true
params:
  min_opens: {type: int, default: 3, description: email opens in 30 days}
where: email_opens_30d >= $min_opens
"""
LIVE_COHORT = """  - {template: opened_lately, name: opened_lately, params: {}, priority: 4,
     split_by: [], channels: [email], expected_size: [0, 100]}
suppressions:"""


def live_additions(settings, features) -> None:
    """An ``edit`` of ``published_world``: the campaign takes live additions (at most 1,
    and half the approved list) into cohort opened_lately, whose ``live: true`` template
    reads email_opens_30d, a live column (Email Opened events add to it)."""
    (settings.templates_dir / "opened_lately.yaml").write_text(LIVE_TEMPLATE)
    path = settings.campaigns_dir / "holi_test.yaml"
    text = path.read_text().replace("suppressions:", LIVE_COHORT, 1)
    path.write_text(text + "live_additions: {max_customers: 1, max_share: 0.5}\n")
    settings.realtime_path.write_text(REALTIME.replace(
        "events: [Email Opened]}", "events: [Email Opened],\n     column: email_opens_30d}"))
    features["email_opens_30d"] = 1


def published_world(root, edit=None):
    """Settings of a world whose campaign holi_test is published (version 1);
    ``edit(settings, features)`` changes files and features before the run is made."""
    settings = make_world(root)
    for name, text in EXTRA_TEMPLATES.items():
        (settings.templates_dir / f"{name}.yaml").write_text(text)
    campaign = settings.campaigns_dir / "holi_test.yaml"
    text = campaign.read_text()
    campaign.write_text(text.replace("review:", SUPPRESSIONS + "review:", 1))
    (root / "realtime.yaml").write_text(REALTIME)
    features = base_features()
    features["unsubscribed"] = False
    features["complaints_365d"] = 0
    if edit is not None:
        edit(settings, features)
    write_canonical(settings, list(features.customer_id))
    run = governed(settings, features, AS_OF_1)
    approve_and_publish(settings, run)
    return settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_of(settings) -> dict:
    return {**os.environ, **ENV, "SEGFLOW_TEMPLATES": str(settings.templates_root),
            "SEGFLOW_LOCK_WAIT": "0"}


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None
         ) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def start_receiver(settings, port: int, *extra) -> subprocess.Popen:
    """`segflow events serve` on 127.0.0.1:port, returned once /healthz answers."""
    # its output goes to a file: an unread pipe fills (64 KiB) and blocks the receiver mid-request
    log_path = settings.home / f"receiver-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "segflow.cli", "--home",
                                 str(settings.home), "events", "serve", "--port", str(port),
                                 *extra], env=env_of(settings), stdout=log,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"receiver exited {proc.returncode}: "
                                 f"{log_path.read_text(errors='replace')[-4000:]}")
        try:
            if http("GET", f"http://127.0.0.1:{port}/healthz")[0] == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.05)  # polling a starting server, not timing a result
    proc.kill()
    raise AssertionError("receiver did not answer /healthz within 60 s")


def track(user: str, event: str, when: datetime | None = None, message_id: str | None = None,
          **props) -> dict:
    """A Segment track message."""
    when = when or datetime.now(UTC)
    return {"type": "track", "event": event, "userId": user,
            "messageId": message_id or f"m-{uuid.uuid4()}", "properties": props,
            "timestamp": when.isoformat().replace("+00:00", "Z")}


def post_segment(port: int, payload, secret: str = SECRET, raw: bytes | None = None):
    from segflow.ingest.events.segment import sign

    body = raw if raw is not None else json.dumps(payload).encode()
    return http("POST", f"http://127.0.0.1:{port}/v1/segment", body,
                {"Content-Type": "application/json", "X-Signature": sign(body, secret.encode())})


def lookup(port: int, customer: str, key: str = KEY, at: float | None = None):
    query = f"?at={at}" if at is not None else ""
    return http("GET", f"http://127.0.0.1:{port}/v1/customers/{customer}/segments{query}",
                headers={"X-API-Key": key})


def until(check, seconds: float = 30.0, what: str = "condition"):
    """Poll ``check`` until it returns something truthy, or fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.02)  # polling interval; the deadline decides, not the sleep
    raise AssertionError(f"{what} not reached within {seconds} s")


def apply_in_process(settings, config, messages: list[dict]) -> int:
    """Store Segment ``messages`` in the inbox, apply what is pending and append it to the
    offline sources, as the receiver's writer thread does (no server: for tests of what
    applying does)."""
    from segflow.governance.live_additions import LiveAdditions
    from segflow.ingest.events.inbox import apply_pending, connect_inbox, identity_map, store
    from segflow.ingest.events.offline import flush_all
    from segflow.ingest.events.segment import messages as parse

    con = connect_inbox(settings)
    events, rejected = parse(json.dumps({"batch": messages}).encode())
    assert rejected == []
    con.execute("BEGIN IMMEDIATE")
    store(con, "test", events, [])
    con.execute("COMMIT")
    applied = apply_pending(con, settings, config, identity_map(settings),
                            admit=LiveAdditions(settings, config))
    flush_all(con, settings, config)
    con.close()
    return applied


def published_rows(settings) -> list[dict]:
    from segflow.governance.publications import read_current_parquet

    return read_current_parquet(settings, "holi_test").to_pylist()
