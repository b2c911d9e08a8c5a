"""``segflow refresh``: the governed refresh of one campaign, as a person runs it.

The one refresh sequence (``segflow.flows.sequence``, the same as the Prefect flow's): score and
segment (with reviewers' overrides), govern (controls, movement, review queue, seal,
report), the drift gate, then publication only with ``--publish`` and only when the gate
allows it. It prints the gate's verdict: what the run waits for and the command for each.
"""

from __future__ import annotations

import typer

from segflow.commands.templates import SET_HELP, _overrides


def register(app: typer.Typer) -> None:
    app.command("refresh")(refresh)


def refresh(
    campaign: str = typer.Option(..., "--campaign", "-c", help="Campaign name."),
    as_of: str = typer.Option(None, "--as-of", help="Feature time (default: campaign as_of)."),
    set_: list[str] = typer.Option(None, "--set", help=SET_HELP),
    drift: bool = typer.Option(True, help="Run the drift gate after governance (a run "
                               "never drift-checked cannot be published)."),
    publish: bool = typer.Option(False, help="Publish when the gate allows it (exit 1 when "
                                 "it does not)."),
) -> None:
    """Score, segment and govern a campaign into a new run; print the gate's verdict."""
    from segflow.commands.governance import echo_verdict
    from segflow.flows.sequence import refresh_sequence
    from segflow.settings import get_settings

    settings = get_settings()
    outcome = refresh_sequence(settings, campaign, as_of, _overrides(set_), drift=drift,
                               publish=publish)
    if outcome.repeat:
        typer.echo(f"same inputs and data as run {outcome.run_id}: that run stands")
    else:
        _print_run(settings, outcome)
    if outcome.drift is not None:
        typer.echo(f"drift gate: {'passed' if outcome.drift['passed'] else 'BREACHED'}")
        for reason in outcome.drift["reasons"]:
            typer.echo(f"  - {reason}")
    if outcome.published:
        typer.echo(f"published {campaign} version {outcome.published['version']}")
    echo_verdict(outcome.verdict)
    if outcome.unpublished and outcome.verdict.state == "ready":
        typer.echo(f"not published: {outcome.unpublished}")
    if publish and not outcome.published and outcome.verdict.state != "published":
        raise typer.Exit(1)


def _print_run(settings, outcome) -> None:
    import duckdb

    from segflow.runstore import load_run, run_dir

    record, result = load_run(settings, outcome.run_id), outcome.governed
    folder = run_dir(settings, record.run_id)
    from segflow.scoring.runfiles import parquet_sql

    source = parquet_sql(folder / "memberships.parquet")
    counts = duckdb.sql(f"SELECT status, count(*) FROM {source} GROUP BY 1 ORDER BY 1").fetchall()
    typer.echo(f"run {record.run_id} (as of {record.as_of})")
    typer.echo("  memberships: " + ", ".join(f"{s} {n:,d}" for s, n in counts))
    failed = [c for c in result.controls if not c.passed]
    typer.echo(f"  controls: {len(result.controls) - len(failed)}/{len(result.controls)} "
               "passed")
    for control in failed:
        typer.echo(f"    FAILED {control.name}: {control.message}")
    for control in result.controls:
        if control.severity == "off":
            typer.echo(f"    OFF {control.name}: {control.message}")
    if result.movement is not None and result.previous_run_id:
        moved = ", ".join(f"{k} {v:,d}" for k, v in result.movement.counts.items())
        typer.echo(f"  movement vs {result.previous_run_id}: {moved}")
    typer.echo(f"  exceptions for review: {result.exceptions:,d} (segflow review list --run "
               f"{record.run_id})")
    typer.echo(f"  report: {result.report}")
