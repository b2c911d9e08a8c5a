"""Governance commands: runs, govern, review, approve, publish, export, audit.

Heavy imports (duckdb, pandas, governance.*) stay inside the command bodies.
"""

from __future__ import annotations

import json
from typing import Optional

import typer

from segflow.output import json_option
from segflow.settings import get_settings

runs_app = typer.Typer(help="Runs in the run store: list, show, re-run.", no_args_is_help=True)
review_app = typer.Typer(help="Exception review queue: list, show, confirm, override.",
                         no_args_is_help=True)
audit_app = typer.Typer(help="The signed, anchored audit log: show, verify.",
                        no_args_is_help=True)


def _echo_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def control_word(passed: bool, severity: str) -> str:
    """PASS, FAIL or OFF (a control the campaign switched off; its message says why)."""
    return "OFF" if severity == "off" else ("PASS" if passed else "FAIL")


def echo_verdict(v) -> None:
    """The gate's verdict: the headline, then each reason with the command that resolves
    it (shared by govern, approve, publish, export and refresh)."""
    typer.echo(f"verdict: {v.state.upper()}: {v.headline()}")
    for r in v.reasons:
        typer.echo(f"  - {r.message}\n      -> {r.command}")


JSON = json_option()


@runs_app.command("list")
def runs_list(campaign: Optional[str] = typer.Option(None, "--campaign", "-c",  # noqa: UP045
                                                     help="Only this campaign."),
              as_json: bool = JSON) -> None:
    """List runs, oldest first: id, campaign, as-of, status and what governance decided
    (approved, published as which version, the current one)."""
    from segflow.governance.status import decisions
    from segflow.output import emit_json, records, table
    from segflow.runstore import list_runs

    settings = get_settings()
    runs = list_runs(settings, campaign)
    decided = decisions(settings, [r.run_id for r in runs])
    if as_json:
        emit_json(records(["run_id", "campaign", "as_of", "status", "decision"],
                          [(r.run_id, r.campaign, r.as_of, r.status, decided.get(r.run_id))
                           for r in runs]))
    else:
        table(["run", "campaign", "as of", "status", "decision"],
              [(r.run_id, r.campaign, r.as_of[:16].replace("T", " "), r.status,
                decided.get(r.run_id, "")) for r in runs])


@runs_app.command("show")
def runs_show(run_id: str, as_json: bool = JSON) -> None:
    """The run's verdict first, then its controls, approvals, publications and files;
    ``--json`` for everything (inputs, hashes, model versions)."""
    from segflow.governance.status import run_status
    from segflow.output import emit_json, table

    record = run_status(get_settings(), run_id)
    if as_json:
        emit_json(record)
        return
    v = record["verdict"]
    typer.echo(f"{record['run_id']}: campaign {record['campaign']}, as of {record['as_of']}, "
               f"status {record['status']}")
    if v:
        typer.echo(f"verdict: {v['state'].upper()}" + ("" if v["reasons"] else
                                                       f": {v['headline']}"))
        for r in v["reasons"]:
            cut = r["message"][:200] + ("..." if len(r["message"]) > 200 else "")
            typer.echo(f"  - {cut}\n      -> {r['command']}")
    if record["controls"]:
        table(["control", "result", "what it found"],
              [(c["name"], "passed" if c["passed"] else f"FAILED ({c['severity']})",
                c["message"][:160]) for c in record["controls"]])
    for a in record["approvals"]:
        typer.echo(f"approved by {a['by']} at {a['at']}: {a['reason']}")
    for p in record["publications"]:
        typer.echo(f"published as version {p['version']} by {p['by']} at {p['at']}"
                   + (" (current)" if p["current"] else ""))
    typer.echo(f"open review items: {record['open_exceptions']:,}")
    if "report.html" in record["files"]:
        typer.echo(f"report: {get_settings().runs_dir / run_id / 'report.html'}")


@runs_app.command("rerun")
def runs_rerun(run_id: str, reuse_features: bool = typer.Option(
        False, help="Re-evaluate on the run's own features.parquet, not a retrieval."),
) -> None:
    """Re-run with the recorded inputs and check the memberships are identical."""
    from segflow.governance.status import rerun

    same, new_id, detail = rerun(get_settings(), run_id, reuse_features)
    typer.echo(f"re-ran {run_id} as {new_id}: " + ("memberships identical" if same else
                                                  f"memberships DIFFER: {detail}"))
    if not same:
        raise typer.Exit(1)


def govern(run_id: str) -> None:
    """Run controls, movement, exception review and the report for a run."""
    from segflow.governance.gate import verdict
    from segflow.governance.pipeline import govern_run

    settings = get_settings()
    result = govern_run(settings, run_id)
    for c in result.controls:
        typer.echo(f"{control_word(c.passed, c.severity)} {c.name}: {c.message}")
    typer.echo(f"movement: {result.movement.counts}")
    for line in result.movement.summary:
        typer.echo(f"  {line}")
    if settings.engine != "duckdb":  # the same steps, run on Spark (governance.pipeline)
        typer.echo(f"computed on engine: {settings.engine}")
    typer.echo(f"open exceptions: {result.exceptions}; report: {result.report}")
    echo_verdict(verdict(settings, run_id))


@review_app.command("list")
def review_list(
    run: Optional[str] = typer.Option(None, "--run", "-r", help="Only this run."),  # noqa: UP045
    status: Optional[str] = typer.Option(None, "--status", "-s",  # noqa: UP045
                                         help="open, confirmed or overridden."),
    rule: Optional[str] = typer.Option(  # noqa: UP045
        None, "--rule", help="Only items of this rule, or of a family of rules "
        "(boundary, boundary:engaged, note)."),
    cohort: Optional[str] = typer.Option(None, "--cohort",  # noqa: UP045
                                         help="Only items of this cohort (before or proposed)."),
    owner: Optional[str] = typer.Option(  # noqa: UP045
        None, "--owner", help="Only items this person of the owners file may decide (their "
        "templates, cohorts, accounts and note topics)."),
    limit: int = typer.Option(20, "--limit", "-n", min=0,
                              help="Items listed under the summary (--json: all unless set)."),
    as_json: bool = JSON,
) -> None:
    """A summary by rule and cohort, then the first items; --rule/--cohort/--owner narrow
    it."""
    import sys

    from segflow.governance.desk.queue import Filters, listing
    from segflow.governance.review_cli import LIST_COLUMNS
    from segflow.output import emit_json, records, table

    given = any(a in ("--limit", "-n") or a.startswith("--limit=") for a in sys.argv)
    shown = listing(get_settings(), run, Filters(rule=rule, cohort=cohort, owner=owner,
                                                 status=status),
                    None if as_json and not given else limit)
    rows = shown.rows
    if not shown.total and (rule or cohort):
        _no_match_note(run, rule, cohort, Filters(owner=owner, status=status))
    if as_json:
        emit_json(records(list(LIST_COLUMNS), rows))
        return
    table(["rule", "cohort", "status", "items"], shown.groups,
          title=f"{shown.total:,} review item(s) by rule and cohort", numeric=("items",),
          total=shown.group_count, more="narrow with --rule or --cohort")
    if limit and rows:
        one_run = len({r[1] for r in rows}) == 1  # then the run column says nothing
        table(["item", *([] if one_run else ["run"]), "customer", "rule", "before",
               "proposed", "status"],
              [(r[0], *([] if one_run else [r[1]]), *r[2:]) for r in rows],
              title="Items" + (f" of {rows[0][1]}" if one_run else ""), total=shown.total,
              more="--limit N for more, --json for all")


def _no_match_note(run, rule, cohort, others) -> None:
    """Nothing matched --rule/--cohort: say which rules and cohorts do have items (with the
    nearest), on stderr, so a misspelt name does not read as an empty queue."""
    from segflow.governance.desk.queue import listing
    from segflow.suggest import nearest

    shown = listing(get_settings(), run, others, 0)
    more = ", ..." if shown.group_count > len(shown.groups) else ""   # the largest groups
    for flag, value, known in (("--rule", rule, {g[0] for g in shown.groups}),
                               ("--cohort", cohort, {g[1] for g in shown.groups if g[1]})):
        if value is not None:
            typer.secho(f"note: no item matches {flag} {value!r}{nearest(value, known)}; "
                        f"{flag[2:]}s with items: {', '.join(sorted(known)) or 'none'}{more}",
                        fg=typer.colors.YELLOW, err=True)


@review_app.command("show")
def review_show(item_id: str) -> None:
    """The data, the triggering rule and the proposed segment of one item."""
    from segflow.governance.review_cli import show_item

    _echo_json(show_item(get_settings(), item_id))


@review_app.command("confirm")
def review_confirm(item_id: str, by: str = typer.Option(..., help="Reviewer (an owner)."),
                   reason: str = typer.Option(..., help="Why (required).")) -> None:
    """Confirm the proposed segment of an item."""
    from segflow.governance.review_cli import decide_item

    _echo_json(decide_item(get_settings(), item_id, by, reason))


@review_app.command("override")
def review_override(item_id: str, by: str = typer.Option(..., help="Reviewer (an owner)."),
                    to: str = typer.Option(..., help="Cohort to put the entity in, or "
                                           "'unassigned'."),
                    reason: str = typer.Option(..., help="Why (required)."),
                    expires: Optional[str] = typer.Option(None, help="ISO date the override "  # noqa: UP045
                                                          "stops applying.")) -> None:
    """Override the proposed segment; applied on later refreshes until it expires."""
    from segflow.governance.review_cli import decide_item
    from segflow.timeutil import parse_as_of

    _echo_json(decide_item(get_settings(), item_id, by, reason, to,
                           parse_as_of(expires) if expires else None))


def approve(run_id: str,
            by: str = typer.Option(..., help="Approver: an approver of the campaign in "
                                   "owners.yaml who wrote no override or decision in the run."),
            reason: str = typer.Option(..., help="Why, in a few words (required).")) -> None:
    """Approve the run's governed content (its seal) for publication."""
    from segflow.governance.gate import verdict
    from segflow.governance.publish import approve as do

    settings = get_settings()
    entry = do(settings, run_id, by, reason)
    typer.echo(f"approved {run_id} by {entry['by']} (seal {entry['seal_hash'][:16]}...)")
    echo_verdict(verdict(settings, run_id))


def publish(run_id: str,
            by: Optional[str] = typer.Option(  # noqa: UP045
                None, help="Approver who publishes (owners.yaml); without it only a run that "
                "needs no approval is published, by the system actor 'segflow'."),
            accept_open: Optional[int] = typer.Option(  # noqa: UP045
                None, "--accept-open", help="Publish with this many review items still open "
                "(must equal the open count)."),
            reason: Optional[str] = typer.Option(  # noqa: UP045
                None, help="Why the open items may go out as proposed (with --accept-open).")
            ) -> None:
    """Publish a governed run atomically, if the gate allows (exit 1 with every reason
    when it does not); a run already published is a no-op."""
    from segflow.governance.publish import publish_run

    entry = publish_run(get_settings(), run_id, by, accept_open, reason)
    if entry.get("already"):
        typer.echo(entry["message"])
        return
    typer.echo(f"published {entry['campaign']} version {entry['version']}: run {run_id}, "
               f"{entry['rows']:,} rows, seal {entry['seal_hash'][:16]}..., by {entry['by']}")
    if entry.get("note"):
        typer.echo(f"note: {entry['note']}")


def export(run_id: str, as_json: bool = JSON) -> None:
    """Write channel exports (email, sms, push, ads) with manifests for a run, if the gate
    allows (the same checks as publication, or a published run with intact memberships)."""
    from segflow.governance.pipeline import export_for
    from segflow.output import emit_json, table

    index = export_for(get_settings(), run_id)
    if as_json:
        emit_json(index)
        return
    table(["cohort", "channel", "rows", "left out (why)", "sha256"],
          [(f["cohort"], f["channel"], f["rows"], ", ".join(
              f"{n:,} {why.replace('_', ' ')}" for why, n in f["left_out"].items()) or "-",
            f["sha256"][:16]) for f in index["files"]], numeric=("rows",))
    typer.echo(f"{len(index['files'])} file(s), {sum(f['rows'] for f in index['files']):,} "
               f"rows in {get_settings().exports_dir / run_id}")
    if index.get("events_table") is None:
        typer.echo("note: no unsubscribes or complaints applied: the project names no "
                   "engagement events table (tables.events in segflow.yaml)")


@audit_app.command("show")
def audit_show(run: Optional[str] = typer.Option(None, "--run", "-r",  # noqa: UP045
                                                 help="Only this run."),
               limit: int = typer.Option(50, "--limit", "-n", min=1,
                                         help="The latest N entries (table only)."),
               as_json: bool = JSON) -> None:
    """Audit entries, oldest first: sequence, time, actor, action, run, what."""
    from segflow.governance import audit
    from segflow.output import emit_json, table

    entries = list(audit.read(get_settings(), run))
    if as_json:
        emit_json(entries)
        return
    shown = entries[-limit:]
    table(["seq", "time", "actor", "action", "run", "what"],
          [(e["seq"], str(e["ts"])[:19].replace("T", " "), e["actor"], e["action"],
            e.get("run_id") or "", json.dumps(e["payload"], default=str)[:80])
           for e in shown], numeric=("seq",), total=len(entries),
          more="--limit N for more, --json for every entry")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check signatures, the chain, the database copy and the publication manifests; names
    the entry of every problem (exit 1)."""
    from segflow.errors import SegflowError
    from segflow.governance import audit

    settings = get_settings()
    if not settings.home.exists():   # a mistyped --home would otherwise verify as intact
        raise SegflowError(f"no workspace at {settings.home}: nothing to verify; check --home, "
                           "SEGFLOW_HOME or the project's workspace setting")
    verdict = audit.verify(settings)
    if verdict.ok:
        typer.echo(f"audit log intact: {verdict.entries} entries, signed, head seq "
                   f"{verdict.head.seq} matches the database")
        return
    typer.secho(f"audit log FAILED verification ({len(verdict.problems)} problem(s)):",
                fg=typer.colors.RED)
    for p in verdict.problems:
        typer.echo(f"  - {p}")
    raise typer.Exit(1)


def home(as_json: bool = JSON) -> None:
    """Write the workspace home page (every campaign: latest run, state, size, freshness,
    last measured lift) and the template catalogue; print their paths.

    Both pages are rendered again whenever a run's state changes; this command renders
    them now (after a failed run, a new campaign file or a template edit)."""
    from segflow.db import connect
    from segflow.governance.catalogue import write_catalogue
    from segflow.governance.home import overview, write_home
    from segflow.output import emit_json

    settings = get_settings().ensure()
    catalogue = write_catalogue(settings)
    with connect(settings) as con:
        page = write_home(settings, con)
        rows = overview(settings, con) if as_json else []
    if as_json:
        emit_json({"home": str(page), "catalogue": str(catalogue), "campaigns": rows})
        return
    typer.echo(f"home: {page}")
    typer.echo(f"catalogue: {catalogue}")


def register(app: typer.Typer) -> None:
    app.command("home")(home)
    app.add_typer(runs_app, name="runs")
    app.add_typer(review_app, name="review")
    app.add_typer(audit_app, name="audit")
    app.command("govern")(govern)
    app.command("approve")(approve)
    app.command("publish")(publish)
    app.command("export")(export)
