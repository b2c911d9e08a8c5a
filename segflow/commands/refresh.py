"""``segflow refresh``: the governed refresh of one campaign, as a person runs it.

Score and segment (with reviewers' overrides), then controls, movement, review queue and
report, then the drift gate. Publication stays a separate, deliberate step
(``segflow publish RUN``) unless ``--publish`` is given and nothing blocks it.
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
    drift: bool = typer.Option(True, help="Run the drift gate after governance."),
    publish: bool = typer.Option(False, help="Publish when no control, review or gate blocks."),
) -> None:
    """Score, segment and govern a campaign into a new run; print what to look at next."""
    from governance.refresh import governed_refresh
    from segflow.settings import get_settings

    settings = get_settings()
    record, result = governed_refresh(settings, campaign, as_of, _overrides(set_))
    _print_run(record, result)
    gate_ok = True
    if drift:
        from monitoring.gate import check

        _, verdict = check(settings, campaign, record.run_id)
        gate_ok = verdict["passed"]
        typer.echo(f"drift gate: {'passed' if gate_ok else 'BREACHED'}")
        for reason in verdict["reasons"]:
            typer.echo(f"  - {reason}")
    if publish:
        from governance.publish import publish_run

        entry = publish_run(settings, record.run_id)
        typer.echo(f"published {campaign} version {entry['version']}")
    elif result.blocked or not gate_ok:
        typer.echo("publication is blocked until the above is resolved")
    elif result.needs_approval:
        typer.echo(f"next: segflow approve {record.run_id} --by NAME --reason TEXT, "
                   f"then segflow publish {record.run_id}")
    else:
        typer.echo(f"next: segflow publish {record.run_id}")


def _print_run(record, result) -> None:
    import duckdb

    from segflow.runstore import run_dir
    from segflow.settings import get_settings

    folder = run_dir(get_settings(), record.run_id)
    counts = duckdb.sql(f"SELECT status, count(*) FROM read_parquet('{folder}/memberships.parquet')"
                        " GROUP BY 1 ORDER BY 1").fetchall()
    typer.echo(f"run {record.run_id} (as of {record.as_of})")
    typer.echo("  memberships: " + ", ".join(f"{s} {n:,d}" for s, n in counts))
    failed = [c for c in result.controls if not c.passed]
    typer.echo(f"  controls: {len(result.controls) - len(failed)}/{len(result.controls)} "
               "passed")
    for control in failed:
        typer.echo(f"    FAILED {control.name}: {control.message}")
    if result.movement is not None and result.previous_run_id:
        moved = ", ".join(f"{k} {v:,d}" for k, v in result.movement.counts.items())
        typer.echo(f"  movement vs {result.previous_run_id}: {moved}")
    typer.echo(f"  exceptions for review: {result.exceptions:,d} (segflow review list --run "
               f"{record.run_id})")
    typer.echo(f"  report: {result.report}")
