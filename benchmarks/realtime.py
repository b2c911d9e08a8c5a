"""Real-time events: sustained events/s through the Segment webhook into live suppressions,
and the event-to-membership lag, with Feast's own push (``feast serve`` POST /push into its
SQLite online store) on the same events in the same run::

    python -m benchmarks.realtime --customers 100000 --rates 1000,5000 --seconds 20

A real ``segflow events serve`` (uvicorn, one process) on a loopback port, fed by an
open-loop load generator in another process: one signed Segment message per request (as
Segment's webhook destination sends them), at a fixed rate, over 32 keep-alive
connections, each event stamped with its scheduled time (so a generator or server that
falls behind shows as lag, not as a lower offered rate); 10% are unsubscribes (a live
suppression), the rest email opens. Measured:
the rate acknowledged (HTTP 200, i.e. committed to the inbox), the request latency, and for
every event its lag from event time to applied (the instant its change is visible to a
lookup), p50/p95/p99/max; a probe checks through the lookup endpoint that a sample of
unsubscribed customers read as suppressed. The workspace holds a synthetic publication of
``--customers`` customers (one cohort, the suppression listed by the campaign), written the
way publish leaves it (current.json, the version's Parquet, the run's frozen campaign): the
live path reads nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

SECRET, KEY = "bench-secret", "bench-key"
CAMPAIGN = "bench_live"
TEMPLATE = """name: unsubscribed
title: Unsubscribed
description: Asked to stop hearing from us.
owner: bench
kind: suppression
entity: customer
where: unsubscribed
"""
COHORT = """name: everyone
title: Everyone
description: Every customer.
owner: bench
kind: cohort
entity: customer
where: true
"""
CAMPAIGN_YAML = f"""name: {CAMPAIGN}
title: Benchmark
owner: bench
entity: customer
salt: s
cohorts:
  - {{template: everyone, priority: 1, channels: [email, push]}}
suppressions:
  - {{template: unsubscribed}}
"""
REALTIME = """entity: customer
webhook: {secret_env: BENCH_SECRET}
lookup: {keys_env: BENCH_KEYS}
suppressions:
  - {event: Unsubscribed, template: unsubscribed}
features:
  - {name: email_opens_24h, agg: count, window_hours: 24, events: [Email Opened]}
"""
OFFLINE = """offline:  # what realtime.py --offline appends (flow style, as one table)
  engagement_events: {id: event_id, customer: customer_id, time: event_ts, events: {
    Email Opened: {channel: email, event_type: open},
    Unsubscribed: {channel: email, event_type: unsubscribe}}}
"""


def write_world(root: Path, customers: int, offline: bool = False) -> Path:
    """Templates, campaign, realtime.yaml and a published version 1; returns the home."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    templates = root / "segment_templates"
    (templates / "campaigns").mkdir(parents=True)
    (templates / "unsubscribed.yaml").write_text(TEMPLATE)
    (templates / "everyone.yaml").write_text(COHORT)
    (templates / "campaigns" / f"{CAMPAIGN}.yaml").write_text(CAMPAIGN_YAML)
    (root / "realtime.yaml").write_text(REALTIME + (OFFLINE if offline else ""))
    home = root / "ws"
    run_id = "bench-run"
    frozen = home / "runs" / run_id / "frozen" / "segment_templates" / "campaigns"
    frozen.mkdir(parents=True)
    (frozen / f"{CAMPAIGN}.yaml").write_text(CAMPAIGN_YAML)
    ids = [f"C{i:08d}" for i in range(customers)]
    n = len(ids)
    table = pa.table({
        "run_id": [run_id] * n, "campaign": [CAMPAIGN] * n, "entity_id": ids,
        "cohort": ["everyone"] * n, "template": ["everyone"] * n,
        "split_value": pa.nulls(n, pa.string()), "status": ["assigned"] * n,
        "arm": ["treatment"] * n, "suppressed_by": pa.nulls(n, pa.string()),
        "priority": pa.array([1] * n, pa.int32()), "rank": pa.nulls(n, pa.int32()),
        "score": pa.nulls(n, pa.float64()), "channels": ["email,push"] * n,
        "override_id": pa.nulls(n, pa.string())})
    folder = home / "published" / CAMPAIGN
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "v00001.parquet")
    (folder / "current.json").write_text(json.dumps(
        {"version": 1, "run_id": run_id, "file": "v00001.parquet"}))
    return home


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(port: int, path: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read()
            return
        except OSError:
            time.sleep(0.1)  # polling a starting server
    raise SystemExit(f"server on {port} did not answer {path}")


# --- the load generator (its own process) ---------------------------------------------
async def _client(port: int, queue: asyncio.Queue, results: list, body_of,
                  clock: tuple[float, float, float]) -> None:
    """One keep-alive connection (reopened when the server closes it: gunicorn does).
    Records (status, request seconds, seconds from the event's scheduled time to its
    answer); stops at the drain deadline, leaving the rest unsent."""
    start, rate, stop_at, wall0 = clock
    reader = writer = None
    while (item := await queue.get()) is not None:
        if time.perf_counter() > stop_at:
            break
        path, body, headers = body_of(item, wall0 + item / rate)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = time.perf_counter()
        try:
            writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}"
                         f"\r\n{head}\r\n".encode() + body)
            status = int((await reader.readline()).split()[1])
            length, close = 0, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"connection" and value.strip().lower() == b"close":
                    close = True
            await reader.readexactly(length)
        except (OSError, IndexError, asyncio.IncompleteReadError):
            status, close = 0, True  # the server dropped the connection: a failed request
        done = time.perf_counter()
        results.append((status, done - sent, done - (start + item / rate)))
        if close:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _drive(port: int, rate: int, seconds: float, body_of, connections: int = 32):
    """Offer ``rate`` requests/s for ``seconds`` (open loop: a slow server builds a queue,
    which is the lag its events see); whatever is still queued 2x ``seconds`` after the
    start is not sent."""
    queue: asyncio.Queue = asyncio.Queue()
    results: list = []
    start = time.perf_counter()
    clock = (start, rate, start + 2 * seconds, time.time())
    clients = [asyncio.create_task(_client(port, queue, results, body_of, clock))
               for _ in range(connections)]
    total = int(rate * seconds)
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # open-loop pacing of the offered rate
        queue.put_nowait(i)
    for _ in clients:
        queue.put_nowait(None)
    await asyncio.gather(*clients)
    return results, time.perf_counter() - start, total


def _segment_load(port, rate, seconds, customers, out, connections, batch=1):
    """``rate`` events/s; with ``batch`` > 1, Segment's batch form: rate / batch requests
    of ``batch`` messages each."""
    from segflow.ingest.events.segment import sign

    unsubscribed = []

    def message(i, scheduled):
        user = f"C{(i * 7919) % customers:08d}"
        name = "Unsubscribed" if i % 10 == 0 else "Email Opened"
        if name == "Unsubscribed":
            unsubscribed.append(user)
        return {"type": "track", "event": name, "userId": user,
                "messageId": f"b-{uuid.uuid4()}", "properties": {},
                "timestamp": datetime.fromtimestamp(scheduled, UTC).isoformat()}

    def body_of(i, scheduled):
        if batch == 1:
            body = json.dumps(message(i, scheduled)).encode()
        else:
            body = json.dumps({"batch": [message(i * batch + k, scheduled)
                                         for k in range(batch)]}).encode()
        return "/v1/segment", body, {"Content-Type": "application/json",
                                     "X-Signature": sign(body, SECRET.encode())}

    results, elapsed, offered = asyncio.run(_drive(port, rate / batch, seconds, body_of,
                                                   connections))
    results = [r for r in results for _ in range(batch)]  # per event
    offered *= batch
    out.put({"results": results, "elapsed": elapsed, "offered": offered,
             "unsubscribed": unsubscribed[-50:]})  # the last ones: the latest to apply


def _feast_load(port, rate, seconds, customers, out, connections):
    def body_of(i, scheduled):
        user = f"C{(i * 7919) % customers:08d}"
        body = json.dumps({"push_source_name": "live_push", "to": "online", "df": {
            "customer_id": [user], "unsubscribed": [i % 10 == 0],
            "event_timestamp": [datetime.fromtimestamp(scheduled, UTC).isoformat()]}}).encode()
        return "/push", body, {"Content-Type": "application/json"}

    results, elapsed, offered = asyncio.run(_drive(port, rate, seconds, body_of, connections))
    out.put({"results": results, "elapsed": elapsed, "offered": offered, "unsubscribed": []})


def _load(target, port, rate, seconds, customers, connections=32, *extra) -> dict:
    out = multiprocessing.get_context("spawn").Queue()
    proc = multiprocessing.get_context("spawn").Process(
        target=target, args=(port, rate, seconds, customers, out, connections, *extra))
    proc.start()
    result = out.get()
    proc.join()
    return result


def _quantiles(values) -> dict:
    import numpy as np

    v = np.asarray(values, dtype=float)
    if not v.size:
        return {}
    return {q: round(float(np.percentile(v, p)), 4)
            for q, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))}


def run_ours(root: Path, customers: int, rate: int, seconds: float, batch: int = 1,
             offline: bool = False) -> dict:
    home = write_world(root, customers, offline)
    env = {**os.environ, "BENCH_SECRET": SECRET, "BENCH_KEYS": f"bench:{KEY}",
           "SEGFLOW_TEMPLATES": str(root / "segment_templates")}
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "segflow.cli", "--home", str(home),
                               "events", "serve", "--port", str(port)], env=env,
                              stderr=subprocess.DEVNULL)
    try:
        _wait_http(port, "/healthz", server)
        started = time.time()
        load = _load(_segment_load, port, rate, seconds, customers, 32, batch)
        acked = [lat for status, lat, _ in load["results"] if status == 200]
        # the lookup, as a sending tool asks it, reads the unsubscribes as suppressed
        import urllib.request

        probe_ids = list(dict.fromkeys(load["unsubscribed"]))
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/customers/segments", method="POST",
            data=json.dumps({"ids": probe_ids}).encode(),
            headers={"X-API-Key": KEY, "Content-Type": "application/json"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
            suppressed = sum(c["memberships"][0]["status"] == "suppressed"
                             for c in answer["customers"])
            if suppressed == len(probe_ids):
                break
            time.sleep(0.05)  # polling until the last events are applied
        con = sqlite3.connect(home / "events" / "inbox.sqlite")
        lags = [r[0] for r in con.execute(
            "SELECT applied_at - event_ts FROM inbox WHERE applied_at IS NOT NULL")]
        sup_lags = [r[0] for r in con.execute(
            "SELECT applied_at - event_ts FROM live_changes")]
        stored = con.execute("SELECT count(*) FROM inbox").fetchone()[0]
        applied_by = con.execute("SELECT max(applied_at) FROM inbox").fetchone()[0]
        # the recorder puts every applied batch in the audit log, off the hot path
        deadline = time.monotonic() + 60
        while con.execute("SELECT count(*) FROM live_batches WHERE audit_seq IS NULL"
                          ).fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.1)  # polling until the recorder has caught up
        batches, unaudited, entries = con.execute(
            "SELECT count(*), count(*) - count(audit_seq), count(DISTINCT audit_seq) "
            "FROM live_batches").fetchone()
        audit_lag = con.execute("SELECT max(applied_at) - ? FROM live_batches",
                                (started,)).fetchone()[0]
        return {"offered_per_s": rate, "messages_per_request": batch, "seconds": seconds,
                "offered": load["offered"], "sent": len(load["results"]), "acked": len(acked),
                "acked_per_s": round(len(acked) / load["elapsed"]),
                "applied_per_s": round(stored / max(applied_by - started, 1e-9)),
                "ack_latency_s": _quantiles(acked),
                "event_to_applied_s": _quantiles(lags),
                "event_to_suppressed_s": _quantiles(sup_lags),
                "lookup_probe": f"{suppressed}/{len(probe_ids)} unsubscribed read suppressed",
                "audit": {"change_batches": batches, "entries": entries,
                          "unaudited_after_60s": unaudited,
                          "entries_per_s": round(entries / max(audit_lag or 0, 1e-9), 2)}}
    finally:
        server.kill()
        server.wait()


FEAST_REPO = {
    "feature_store.yaml": """project: bench_live
registry: data/registry.db
provider: local
online_store: {type: sqlite, path: data/online.db}
offline_store: {type: file}
entity_key_serialization_version: 3
""",
    "live.py": """from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, PushSource
from feast.types import Bool
customer = Entity(name="customer", join_keys=["customer_id"])
batch = FileSource(name="live_batch", path="data/live.parquet",
                   timestamp_field="event_timestamp")
push = PushSource(name="live_push", batch_source=batch)
live = FeatureView(name="live_suppression", entities=[customer], ttl=timedelta(days=1),
                   schema=[Field(name="unsubscribed", dtype=Bool)], source=push, online=True)
""",
}


def run_feast(root: Path, customers: int, rate: int, seconds: float) -> dict:
    """The same offered load into ``feast serve``'s push endpoint (online store only);
    lag = the time a pushed row becomes readable, measured on the last rows pushed."""
    import pandas as pd

    repo = root / "feast_repo"
    (repo / "data").mkdir(parents=True)
    for name, text in FEAST_REPO.items():
        (repo / name).write_text(text)
    pd.DataFrame({"customer_id": ["C0"], "unsubscribed": [False],
                  "event_timestamp": [pd.Timestamp.now(tz="UTC")]}).to_parquet(
        repo / "data" / "live.parquet")
    feast = str(Path(sys.executable).with_name("feast"))
    subprocess.run([feast, "apply"], cwd=repo, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen([feast, "serve", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1"], cwd=repo, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_http(port, "/health", server)
        # one connection: concurrent pushes crash Feast's SQLite online store write
        # ("SystemError: error return without exception set" in sqlite.online_write_batch,
        # the worker dies); serial pushes are the most it takes
        load = _load(_feast_load, port, rate, seconds, customers, connections=1)
        acked = [lat for status, lat, _ in load["results"] if status == 200]
        lags = [lag for status, _, lag in load["results"] if status == 200]
        return {"offered_per_s": rate, "seconds": seconds, "offered": load["offered"],
                "sent": len(load["results"]), "acked": len(acked),
                "acked_per_s": round(len(acked) / load["elapsed"]),
                "ack_latency_s": _quantiles(acked), "event_to_readable_s": _quantiles(lags),
                "failed": len(load["results"]) - len(acked), "connections": 1,
                "note": "a push is written to the online store before its 200: "
                        "event-to-readable is scheduled time to answer"}
    finally:
        import signal

        os.killpg(server.pid, signal.SIGKILL)  # gunicorn's worker too
        server.wait()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rates", default="1000,5000")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--no-feast", action="store_true")
    parser.add_argument("--batch", type=int, default=1,
                        help="messages per webhook request (Segment's batch form)")
    parser.add_argument("--offline", action="store_true", help="also append the applied "
                        "events to the offline sources as daily Parquet (realtime.yaml offline:)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument("--save", action="store_true", help="keep the figures in "
                        "benchmarks/results/realtime/ and re-render RESULTS.md")
    args = parser.parse_args(argv)
    figures = {"customers": args.customers, "cpus": os.cpu_count(),
               "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
               "load_average_before": os.getloadavg()[0], "runs": []}
    print(json.dumps({k: v for k, v in figures.items() if k != "runs"}), flush=True)
    for rate in (int(r) for r in args.rates.split(",")):
        with tempfile.TemporaryDirectory(prefix="segflow-rt-") as tmp:
            ours = run_ours(Path(tmp), args.customers, rate, args.seconds, args.batch,
                            args.offline)
        print(json.dumps({"segflow webhook": ours}), flush=True)
        row = {"rate": rate, "segflow": ours, "offline": args.offline}
        if not args.no_feast:
            with tempfile.TemporaryDirectory(prefix="segflow-rt-feast-") as tmp:
                row["feast_push"] = run_feast(Path(tmp), args.customers, rate, args.seconds)
            print(json.dumps({"feast push": row["feast_push"]}), flush=True)
        figures["runs"].append(row)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))
    if args.save:
        save(figures)


def save(figures: dict) -> None:
    """Keep one run's figures and re-render RESULTS.md with them."""
    from benchmarks.report import save_run

    save_run(figures, "realtime")


if __name__ == "__main__":
    main()
