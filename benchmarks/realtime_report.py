"""The "Real time" section of RESULTS.md, from ``benchmarks/results/realtime/*.json``
(written by ``python -m benchmarks.realtime --save``): each run's offered rate, what the
webhook acknowledged and how stale its events were when applied, Feast's push beside it,
and the issue's target (1,000 events/s sustained, p95 event-to-membership under 1 s)."""

from __future__ import annotations

from pathlib import Path

TARGET_RATE, TARGET_P95 = 1000, 1.0


def _ms(q: dict, key: str) -> str:
    return f"{q[key] * 1000:,.0f}" if q else "-"


def _s(q: dict, key: str) -> str:
    return f"{q[key]:,.2f}" if q else "-"


def rows(records: list[dict]) -> list[str]:
    out = ["| run | offered ev/s | msgs/request | acked ev/s | request p50 / p95 (ms) | "
           "event to suppressed p50 / p95 / p99 (s) | Feast push acked ev/s | Feast event to "
           "readable p50 / p95 (s) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for rec in records:
        for run in rec["runs"]:
            ours, feast = run["segflow"], run.get("feast_push")
            sup = ours["event_to_suppressed_s"]
            out.append(
                f"| {rec['date']} (load {rec['load_average_before']:.1f}) | "
                f"{ours['offered_per_s']:,} | {ours.get('messages_per_request', 1)} | "
                f"{ours['acked_per_s']:,} | {_ms(ours['ack_latency_s'], 'p50')} / "
                f"{_ms(ours['ack_latency_s'], 'p95')} | {_s(sup, 'p50')} / {_s(sup, 'p95')} / "
                f"{_s(sup, 'p99')} | {feast['acked_per_s'] if feast else '-'} | "
                + (f"{_s(feast['event_to_readable_s'], 'p50')} / "
                   f"{_s(feast['event_to_readable_s'], 'p95')} |" if feast else "- |"))
    return out


def verdict(records: list[dict]) -> str:
    runs = [r["segflow"] for rec in records for r in rec["runs"]
            if r["segflow"].get("messages_per_request", 1) == 1]
    met = [r for r in runs if r["offered_per_s"] >= TARGET_RATE
           and r["acked_per_s"] >= 0.95 * r["offered_per_s"]
           and r["event_to_suppressed_s"] and r["event_to_suppressed_s"]["p95"] < TARGET_P95]
    if met:
        return (f"Target met: {met[0]['acked_per_s']:,} single-message events/s sustained with "
                f"p95 event-to-suppression {met[0]['event_to_suppressed_s']['p95']:.2f} s.")
    best = max(runs, key=lambda r: r["acked_per_s"]) if runs else None
    return ("Target (1,000 single-message events/s sustained, p95 event-to-membership < 1 s) "
            "**missed** on this shared machine"
            + (f": at most {best['acked_per_s']:,} events/s acknowledged" if best else "")
            + "; see the load at the start of each run and the notes in docs/realtime.md.")


def section(folder: Path) -> list[str]:
    """Markdown lines of the section ([] when no real-time run was saved)."""
    from benchmarks.report import saved_records

    records = saved_records(folder)
    if not records:
        return []
    return ["## Real time: webhook events into live suppressions", "",
            "Written by `python -m benchmarks.realtime --save` (method in its docstring and "
            "docs/realtime.md): a real `segflow events serve` on loopback, an open-loop load "
            "generator in another process on the same 2 cores, events stamped with their "
            "scheduled time (a server that falls behind shows as lag), 100k customers "
            "published; Feast's `feast serve` push endpoint (SQLite online store) on the same "
            "offered load in the same run.", "", verdict(records), "", *rows(records), ""]
