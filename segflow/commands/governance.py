"""Governance commands: runs, govern, review, approve, publish, export, audit.

Heavy imports (duckdb, pandas, governance.*) stay inside the command bodies.
"""

from __future__ import annotations

import json
from typing import Optional

import typer

from segflow.settings import get_settings

runs_app = typer.Typer(help="Runs in the run store: list, show, re-run.", no_args_is_help=True)
review_app = typer.Typer(help="Exception review queue: list, show, confirm, override.",
                         no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log: show, verify.",
                        no_args_is_help=True)


def _echo_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@runs_app.command("list")
def runs_list(campaign: Optional[str] = typer.Option(None, help="Only this campaign.")) -> None:  # noqa: UP045
    """List runs, oldest first: id, campaign, as-of, status."""
    from segflow.runstore import list_runs

    for r in list_runs(get_settings(), campaign):
        typer.echo(f"{r.run_id}\t{r.campaign}\t{r.as_of}\t{r.status}")


@runs_app.command("show")
def runs_show(run_id: str) -> None:
    """Inputs, hashes, model versions, as-of, status, controls and publication of a run."""
    from governance.status import run_status

    _echo_json(run_status(get_settings(), run_id))


@runs_app.command("rerun")
def runs_rerun(run_id: str, reuse_features: bool = typer.Option(
        False, help="Re-evaluate on the run's own features.parquet, not a retrieval."),
) -> None:
    """Re-run with the recorded inputs and check the memberships are identical."""
    from governance.status import rerun

    same, new_id, detail = rerun(get_settings(), run_id, reuse_features)
    typer.echo(f"re-ran {run_id} as {new_id}: " + ("memberships identical" if same else
                                                  f"memberships DIFFER: {detail}"))
    if not same:
        raise typer.Exit(1)


def govern(run_id: str) -> None:
    """Run controls, movement, exception review and the report for a run."""
    from governance.pipeline import govern_run

    result = govern_run(get_settings(), run_id)
    for c in result.controls:
        typer.echo(f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.message}")
    typer.echo(f"movement: {result.movement.counts}")
    for line in result.movement.summary:
        typer.echo(f"  {line}")
    typer.echo(f"open exceptions: {result.exceptions}; report: {result.report}")


@review_app.command("list")
def review_list(run: Optional[str] = typer.Option(None, "--run", help="Only this run."),  # noqa: UP045
                status: Optional[str] = typer.Option(None, help="open, confirmed or overridden.")) -> None:  # noqa: UP045,E501
    """List review items."""
    from governance.review_cli import LIST_COLUMNS, list_items

    rows = list_items(get_settings(), run, status)
    typer.echo("\t".join(LIST_COLUMNS))
    for row in rows:
        typer.echo("\t".join("" if v is None else str(v) for v in row))
    typer.echo(f"{len(rows):,d} item(s)", err=True)


@review_app.command("show")
def review_show(item_id: str) -> None:
    """The data, the triggering rule and the proposed segment of one item."""
    from governance.review_cli import show_item

    _echo_json(show_item(get_settings(), item_id))


@review_app.command("confirm")
def review_confirm(item_id: str, by: str = typer.Option(..., help="Reviewer (an owner)."),
                   reason: str = typer.Option(..., help="Why (required).")) -> None:
    """Confirm the proposed segment of an item."""
    from governance.review_cli import decide_item

    _echo_json(decide_item(get_settings(), item_id, by, reason))


@review_app.command("override")
def review_override(item_id: str, by: str = typer.Option(..., help="Reviewer (an owner)."),
                    to: str = typer.Option(..., help="Cohort to put the entity in, or "
                                           "'unassigned'."),
                    reason: str = typer.Option(..., help="Why (required)."),
                    expires: Optional[str] = typer.Option(None, help="ISO date the override "  # noqa: UP045
                                                          "stops applying.")) -> None:
    """Override the proposed segment; applied on later refreshes until it expires."""
    from governance.review_cli import decide_item
    from segflow.timeutil import parse_as_of

    _echo_json(decide_item(get_settings(), item_id, by, reason, to,
                           parse_as_of(expires) if expires else None))


def approve(run_id: str, by: str = typer.Option(..., help="Approver (campaign owner)."),
            reason: str = typer.Option(..., help="Why (required).")) -> None:
    """Approve a run for publication."""
    from governance.publish import approve as do

    _echo_json(do(get_settings(), run_id, by, reason))


def publish(run_id: str, by: Optional[str] = typer.Option(None, help="Who publishes.")) -> None:  # noqa: UP045
    """Publish a governed run atomically (refused on failed controls or missing approval)."""
    from governance.publish import publish_run

    _echo_json(publish_run(get_settings(), run_id, by))


def export(run_id: str) -> None:
    """Write channel exports (email, sms, push, ads) with manifests for a run."""
    from governance.pipeline import export_for

    index = export_for(get_settings(), run_id)
    for f in index["files"]:
        typer.echo(f"{f['cohort']}\t{f['channel']}\t{f['rows']}\t{f['sha256'][:16]}")


@audit_app.command("show")
def audit_show(run: Optional[str] = typer.Option(None, "--run", help="Only this run.")) -> None:  # noqa: UP045
    """Print audit entries (sequence, time, actor, action, run)."""
    from governance import audit

    for e in audit.read(get_settings(), run):
        typer.echo(f"{e['seq']}\t{e['ts']}\t{e['actor']}\t{e['action']}\t{e.get('run_id') or ''}"
                   f"\t{json.dumps(e['payload'], default=str)[:200]}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the hash chain; names every edited, inserted or deleted entry."""
    from governance import audit

    verdict = audit.verify(get_settings())
    if verdict.ok:
        typer.echo(f"audit log intact: {verdict.entries} entries")
        return
    for p in verdict.problems:
        typer.echo(p)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
    app.add_typer(review_app, name="review")
    app.add_typer(audit_app, name="audit")
    app.command("govern")(govern)
    app.command("approve")(approve)
    app.command("publish")(publish)
    app.command("export")(export)
