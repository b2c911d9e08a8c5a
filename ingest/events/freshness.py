"""Segment freshness: how long from a real-world event to the customer's changed
membership. Every applied event keeps its event time (the sender's clock), received time
and applied time; a live change is visible to lookups and exports the moment it is applied,
so applied minus event time is the event-to-membership lag. Reported per segment (the
suppression or ended cohort the event changed) as p50/p95/p99/max, and checked against the
project's limit (``freshness.p95_limit_seconds`` in realtime.yaml): the freshness gate.
"""

from __future__ import annotations

import sqlite3

from segflow.ingest.events.surveys import KIND

EFFECTS = {"suppress": "suppressed", "end": "ended", "add": "added"}
QUANTILES = (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))


def summary(name: str, lags) -> dict:
    import numpy as np

    values = np.asarray(lags, dtype=float)
    row = {"segment": name, "events": int(values.size)}
    for label, q in QUANTILES:
        row[label] = float(np.percentile(values, q)) if values.size else None
    return row


def freshness(con: sqlite3.Connection, since: float | None = None) -> list[dict]:
    """One row per segment changed live (and one for every applied event, ``all events``;
    one for receive-to-apply, ``inbox to applied``): events and lag quantiles in seconds."""
    since = since if since is not None else float("-inf")
    # a survey response (``surveys.KIND``) is answered hours after the campaign and changes
    # no membership: its submission-to-stored time is not a live change's lag
    rows = [summary("all events", [r[0] for r in con.execute(
                "SELECT applied_at - event_ts FROM inbox WHERE applied_at IS NOT NULL "
                "AND applied_at >= ? AND kind <> ?", (since, KIND))]),
            summary("inbox to applied", [r[0] for r in con.execute(
                "SELECT applied_at - received_at FROM inbox WHERE applied_at IS NOT NULL "
                "AND applied_at >= ? AND kind <> ?", (since, KIND))])]
    by_segment: dict[tuple[str, str], list[float]] = {}
    for effect, target, lag in con.execute(
            "SELECT effect, target, applied_at - event_ts FROM live_changes "
            "WHERE applied_at >= ? ORDER BY effect, target", (since,)):
        by_segment.setdefault((target, EFFECTS.get(effect, effect)), []).append(lag)
    # ``target``: the suppression template or cohort, for pages that pick a campaign's
    rows += [summary(f"{target} ({what})", lags) | {"target": target}
             for (target, what), lags in by_segment.items()]
    return rows


def gate(rows: list[dict], limit: float) -> list[str]:
    """Segments whose p95 lag passes the limit, in words (empty: the gate passes)."""
    return [f"{r['segment']}: p95 {r['p95']:.3f}s is over the {limit:g}s limit"
            for r in rows if r["segment"] != "inbox to applied" and r["p95"] is not None
            and r["p95"] > limit]
