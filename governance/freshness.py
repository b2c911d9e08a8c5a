"""Freshness per campaign: how long from a real-world event to the campaign's changed list.

An applied event concerns a campaign when it can change that campaign's published list:
it applies a suppression the campaign lists, ends one of its cohorts, feeds the live
activity of an inactivity rule the campaign lists, or feeds a live column while the
campaign takes live additions (realtime.yaml says which event does
what; the campaign's rules are those it was published with). Its lag is applied minus
event time (``segflow.ingest.events.freshness``), summarised as p50/p95/p99/max per
campaign and checked against the campaign's own limit (``freshness: {p95_limit_seconds}``
in its YAML, today's file, so a limit changed is in force without a republication), else
realtime.yaml's ``freshness.p95_limit_seconds``.
"""

from __future__ import annotations

import json
import sqlite3

from segflow.settings import Settings


def _events_of(spec, config) -> list[str]:
    """The event names that can change the published list of campaign ``spec``."""
    templates = {s.template for s in spec.suppressions}
    cohorts = {c.name for c in spec.cohorts}
    names = {e for e, targets in config.suppressions.items() if templates & set(targets)}
    names |= {e for e, targets in config.ends.items() if cohorts & set(targets)}
    live = {rule.live for rule in config.inactivity if rule.template in templates}
    names |= {e for f in config.features if f.name in live for e in f.events}
    if spec.live_additions is not None:  # events that may add customers live
        names |= {e for f in config.live_columns().values() for e in f.events}
    return sorted(names)


def campaign_segments(settings: Settings, campaign: str) -> set[str]:
    """The live segments of a published campaign: the suppressions it lists, its cohorts
    and their live additions to the current version, as it was published
    (``segflow.ingest.events.freshness`` rows' ``target``)."""
    from segflow.governance.live import _campaign, target_of

    meta = json.loads((settings.publish_dir / campaign / "current.json").read_text())
    spec = _campaign(settings, campaign, meta["run_id"])
    return ({s.template for s in spec.suppressions} | {c.name for c in spec.cohorts}
            | {target_of(campaign, meta["version"], c.name) for c in spec.cohorts})


def campaign_limit(settings: Settings, campaign: str, config) -> tuple[float, str]:
    """(p95 limit in seconds, where it is set): the campaign's file, else realtime.yaml;
    a campaign file with a problem is an error (fail closed)."""
    from segflow.scoring.campaigns import load_campaign
    from segflow.scoring.schema import Problems

    path = settings.campaigns_dir / f"{campaign}.yaml"
    problems = Problems()
    spec = load_campaign(path, problems) if path.exists() else None
    if problems:  # a limit that cannot be read must not silently become another one
        from segflow.errors import SegflowError

        raise SegflowError(f"cannot read the freshness limit of campaign {campaign}: "
                           f"{list(problems)[0]}")
    if spec is not None and spec.freshness_limit is not None:
        return spec.freshness_limit, path.name
    return config.p95_limit_seconds, config.path.name


def campaign_freshness(settings: Settings, config, con: sqlite3.Connection,
                       campaigns: list[str] | None = None) -> list[dict]:
    """One row per published campaign (or those named): events that concern it, lag
    quantiles in seconds, and its limit."""
    from segflow.governance.live import _campaign
    from segflow.ingest.events.freshness import summary

    rows = []
    for pointer in sorted(settings.publish_dir.glob("*/current.json")):
        campaign = pointer.parent.name
        if campaigns is not None and campaign not in campaigns:
            continue
        spec = _campaign(settings, campaign, json.loads(pointer.read_text())["run_id"])
        names = _events_of(spec, config)
        marks = ",".join("?" * len(names))
        lags = [r[0] for r in con.execute(
            f"SELECT applied_at - event_ts FROM inbox WHERE applied_at IS NOT NULL "
            f"AND event IN ({marks})", names)] if names else []
        limit, where = campaign_limit(settings, campaign, config)
        rows.append({**summary(campaign, lags), "campaign": campaign,
                     "limit": limit, "limit_from": where})
    return rows


def breaches(rows: list[dict]) -> list[str]:
    """One line per campaign whose p95 lag passes its limit (empty: the gate passes)."""
    return [f"campaign {r['campaign']}: p95 freshness {r['p95']:.3f}s is over its "
            f"{r['limit']:g}s limit ({r['limit_from']})"
            for r in rows if r["p95"] is not None and r["p95"] > r["limit"]]


def report_freshness(settings: Settings, campaign: str) -> dict | None:
    """The campaign's freshness for the refresh report; None where no event was ever
    received (no inbox) or the campaign is not published."""
    from segflow.ingest.events.config import load_realtime
    from segflow.ingest.events.inbox import connect_inbox, inbox_path

    if not inbox_path(settings).exists():
        return None
    con = connect_inbox(settings, readonly=True)
    try:
        rows = campaign_freshness(settings, load_realtime(settings), con, [campaign])
    finally:
        con.close()
    return rows[0] if rows else None


def verdict(row: dict | None) -> tuple[bool | None, str, str]:
    """(passed, headline, detail) a reader sees first about a campaign's freshness row
    from ``report_freshness``: within or over its limit, or why there is nothing to judge
    (``passed`` None: nothing measured). One wording for the refresh report and the
    monitoring pages."""
    if row is None:
        return None, "No real-time events received in this workspace", (
            "segflow events serve starts the receiver (docs/realtime.md).")
    if row.get("error"):
        return False, "Could not be measured", row["error"]
    if not row["events"]:
        return None, "No live event has concerned this campaign's published list yet", ""
    over = row["p95"] > row["limit"]
    return not over, "Over the limit" if over else "Within the limit", (
        f"95% of the {row['events']:,} live events that concern the published list changed "
        f"it within {row['p95']:.2f} s of happening; the limit is {row['limit']:g} s "
        f"(set in {row['limit_from']}).")
