"""``segflow doctor``: check a workspace's consistency and repair what a crash left."""

from __future__ import annotations

import typer

from segflow.output import quiet_for_json


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    dry_run: bool = typer.Option(False, "--dry-run", "-n",
                                 help="Only report; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON.",
                                 callback=quiet_for_json),
) -> None:
    """Check receipts, runs, publications, the audit log and leftover files; repair what an
    interrupted command left (exit 1 when a problem remains that a person must fix)."""
    import json

    from segflow.doctor import examine
    from segflow.settings import get_settings

    settings = get_settings()
    found = examine(settings, repair=not dry_run)
    problems = [f for f in found if not f.ok]
    if as_json:
        typer.echo(json.dumps([f.to_dict() for f in found], indent=2))
    else:
        for f in found:
            if f.problem:
                mark = "repaired" if f.repaired else "PROBLEM"
                typer.echo(f"{mark:<9}{f.area:<13}{f.subject}: {f.problem}"
                           + (f" -> {f.fix}" if f.fix else ""))
        checked = len({(f.area, f.subject) for f in found})
        typer.echo(f"workspace {settings.home}: " + (
            f"{len(problems)} problem(s) need a person" if problems else
            f"consistent ({checked} item(s) checked, "
            f"{sum(f.repaired for f in found)} repaired)"))
    if problems:
        raise typer.Exit(1)
