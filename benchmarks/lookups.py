"""Online lookup latency: a customer's features (``segflow.featurestore.online.lookup``) and
current memberships (the published ``current_memberships`` view), one id and 100 ids at a
time, each call as a caller makes it (open, query, close), p50/p99 over many calls."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.world import CAMPAIGN, ENTITY

SINGLE_CALLS = 300
BATCH_CALLS = 100
BATCH = 100


def _percentiles(samples: list[float]) -> dict:
    ms = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "calls": len(samples)}


def latency(call, ids: list, features: int | None = None) -> dict:
    """p50/p99 of ``call([id])`` and ``call(100 ids)``, ids drawn evenly (warm-up first)."""
    rng = np.random.default_rng(0)
    call(ids[:1])
    out = {}
    for label, size, calls in (("single", 1, SINGLE_CALLS), ("batch_100", BATCH, BATCH_CALLS)):
        times = []
        for _ in range(calls):
            batch = [ids[i] for i in rng.integers(0, len(ids), size)]
            start = time.perf_counter()
            call(batch)
            times.append(time.perf_counter() - start)
        out[label] = _percentiles(times)
    if features is not None:
        out["features"] = features
    return out


def features_latency(settings, ids: list) -> dict:
    from segflow.featurestore.online import lookup

    width = lookup(settings, ENTITY, ids[:1]).num_columns - 1
    return latency(lambda batch: lookup(settings, ENTITY, batch), ids, width)


def memberships_latency(settings, ids: list) -> dict:
    import pyarrow as pa

    from segflow.db import connect

    def call(batch):
        with connect(settings, read_only=True) as con:
            con.register("ids", pa.table({"entity_id": batch}))
            return con.execute("SELECT m.* FROM current_memberships m SEMI JOIN ids "
                               "USING (entity_id) WHERE m.campaign = ?",
                               [CAMPAIGN]).to_arrow_table()

    return latency(call, ids)


def held_connection_latency(settings, ids: list) -> dict:
    """The same two lookups on connections opened once (what a long-lived server would do):
    separates the per-call connect and catalogue cost from the query itself."""
    import duckdb

    from segflow.featurestore.online import online_path

    store = duckdb.connect(str(online_path(settings)), read_only=True)
    db = duckdb.connect(str(settings.database_path), read_only=True)
    try:
        features = latency(lambda batch: store.execute(
            f"SELECT * FROM {ENTITY} WHERE {ENTITY}_id IN (SELECT unnest($ids))",
            {"ids": batch}).fetchall(), ids)
        members = latency(lambda batch: db.execute(
            "SELECT * FROM current_memberships WHERE campaign = $c AND entity_id IN "
            "(SELECT unnest($ids))", {"c": CAMPAIGN, "ids": batch}).fetchall(), ids)
    finally:
        store.close()
        db.close()
    return {"features": features, "memberships": members}
