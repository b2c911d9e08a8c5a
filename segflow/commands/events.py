"""`segflow events ...`: real-time events in (Segment webhook, Kafka), live memberships
out, and how fresh they are (docs/realtime.md)."""

from __future__ import annotations

import json
from typing import Optional

import typer

from segflow.output import quiet_for_json

events_app = typer.Typer(help="Real-time events: receive (webhook, Kafka), apply, look up "
                         "live memberships, measure freshness.", no_args_is_help=True)


def _setup():
    from segflow.ingest.events.config import load_realtime
    from segflow.settings import get_settings

    settings = get_settings().ensure()
    return settings, load_realtime(settings)


@events_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by "
                             "default; put a TLS proxy in front for Segment)."),
    port: int = typer.Option(8750, "--port", help="Port to listen on."),
    apply: bool = typer.Option(True, "--apply/--no-apply", help="Apply events as they "
                               "arrive (default), or only store them for `events apply`."),
) -> None:
    """Receive Segment webhooks (POST /v1/segment) and answer live lookups
    (GET /v1/customers/{id}/segments) until stopped with Ctrl-C."""
    import uvicorn

    from segflow.governance.live_additions import LiveAdditions
    from segflow.governance.live_api import create_app
    from segflow.governance.live_audit import LiveAuditor
    from segflow.ingest.events.intake import Intake

    settings, config = _setup()
    config.secret()  # refuse to start unsigned
    auditor = LiveAuditor(settings).start()
    intake = Intake(settings, config, apply=apply, on_applied=auditor.poke,
                    admit=LiveAdditions(settings, config)).start()
    try:
        app = create_app(settings, config, intake)
        typer.echo(f"segflow events: listening on http://{host}:{port} (webhook POST "
                   "/v1/segment, lookups GET /v1/customers/{id}/segments); inbox "
                   f"{settings.events_dir}", err=True)
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                      access_log=False)).run()
    finally:
        intake.stop()
        auditor.stop()


@events_app.command("kafka")
def kafka(
    bootstrap: str = typer.Option(..., "--bootstrap", help="Kafka bootstrap servers, "
                                  "host:port[,host:port]."),
    until_caught_up: bool = typer.Option(False, "--until-caught-up", help="Stop once every "
                                         "partition is read to its end and applied."),
    batch: int = typer.Option(1000, "--batch", min=1, help="Messages per micro-batch."),
) -> None:
    """Consume the topics of realtime.yaml (consumer group, offsets committed after the
    events are applied) into the same inbox and applier as the webhook."""
    from segflow.governance.live_additions import LiveAdditions
    from segflow.governance.live_audit import LiveAuditor
    from segflow.ingest.events.kafka import run_consumer

    settings, config = _setup()
    auditor = LiveAuditor(settings).start()
    try:
        applied = run_consumer(settings, config, bootstrap, batch=batch,
                               until_caught_up=until_caught_up, on_applied=auditor.poke,
                               admit=LiveAdditions(settings, config))
    finally:
        auditor.stop()
    typer.echo(f"applied {applied:,} event(s) from {', '.join(sorted(config.topics.values()))}")


@events_app.command("apply")
def apply_events() -> None:
    """Apply every stored event not applied yet (after `serve --no-apply` or a crash), and
    append the applied events to the offline sources (realtime.yaml offline:)."""
    from segflow.governance.live_additions import LiveAdditions
    from segflow.governance.live_audit import audit_pending
    from segflow.ingest.events.inbox import apply_pending, connect_inbox, identity_map
    from segflow.ingest.events.offline import flush_all

    settings, config = _setup()
    con = connect_inbox(settings)
    identity, total, admit = identity_map(settings), 0, LiveAdditions(settings, config)
    while n := apply_pending(con, settings, config, identity, admit=admit):
        total += n
    written = flush_all(con, settings, config)
    audited = audit_pending(settings, con)
    typer.echo(f"applied {total:,} event(s); {audited:,} batch(es) of live changes "
               "recorded in the audit log"
               + (f"; {written:,} appended to the offline sources" if written else ""))


@events_app.command("prune")
def prune_offline(dry_run: bool = typer.Option(False, "--dry-run", "-n",
                                               help="Only list; remove nothing.")) -> None:
    """Remove the appended offline event files (events/offline/) whose every event the
    canonical table now holds (an extract carried them); a file still needed stays."""
    from segflow.ingest.events.offline import prune
    from segflow.settings import get_settings

    settings = get_settings().ensure()
    found = prune(settings, dry_run=dry_run)
    events = sum(n for _, n in found)
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{verb} {len(found):,} offline event file(s) ({events:,} events) that the "
               "canonical tables now hold" if found else
               "nothing to prune: every offline event file holds events no canonical "
               "table has yet")


@events_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.",
                                 callback=quiet_for_json)) -> None:
    """Events received, applied, duplicated and quarantined, and freshness per segment and
    per published campaign (event time to membership change, p50/p95/p99/max). Exits 1
    when a segment's p95 is over realtime.yaml's limit or a campaign's p95 over its own
    (the freshness gate)."""
    from segflow.governance.freshness import breaches, campaign_freshness
    from segflow.ingest.events.freshness import freshness, gate
    from segflow.ingest.events.inbox import connect_inbox, counts

    settings, config = _setup()
    con = connect_inbox(settings, readonly=True)
    tally, rows = counts(con), freshness(con)
    campaigns = campaign_freshness(settings, config, con)
    failed = gate(rows, config.p95_limit_seconds) + breaches(campaigns)
    if as_json:
        typer.echo(json.dumps({"counts": tally, "freshness": rows, "campaigns": campaigns,
                               "gate": failed}, indent=1))
    else:
        verdict = "FAILED" if failed else "passed"
        typer.echo(f"freshness gate {verdict} (p95 limit {config.p95_limit_seconds:g}s, "
                   "campaigns: their own limit where set)")
        typer.echo(", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in tally.items()))
        _table("segment", rows)
        if campaigns:
            _table("campaign", campaigns, limit=True)
        for line in failed:
            typer.echo(line)
    if failed:
        raise typer.Exit(1)


def _table(what: str, rows: list[dict], limit: bool = False) -> None:
    """Freshness rows as a fixed-width table, seconds with milliseconds."""
    typer.echo(f"{what:40} {'events':>8} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}"
               + (f" {'limit':>8}" if limit else ""))
    for r in rows:
        cells = " ".join(f"{r[q]:8.3f}" if r[q] is not None else f"{'-':>8}"
                         for q in ("p50", "p95", "p99", "max"))
        extra = f" {r['limit']:8g}" if limit else ""
        typer.echo(f"{r['segment']:40} {r['events']:>8,} {cells}{extra}")


@events_app.command("lookup")
def lookup(
    ids: list[str] = typer.Argument(..., help="Customer ids."),
    at: Optional[str] = typer.Option(  # noqa: UP045
        None, "--at", help="Evaluate time windows at this ISO time (default: now)."),
) -> None:
    """Live memberships and streaming features of customers, as JSON (the same answer as
    GET /v1/customers/{id}/segments)."""
    from segflow.governance.live import LiveMemberships, customer_segments
    from segflow.ingest.events.inbox import connect_inbox, identity_map
    from segflow.timeutil import parse_as_of

    settings, config = _setup()
    con = connect_inbox(settings)
    answer = customer_segments(LiveMemberships(settings, config), con, config,
                               identity_map(settings), list(ids), parse_as_of(at).timestamp())
    typer.echo(json.dumps(answer if len(ids) > 1 else answer[0], indent=1))


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
