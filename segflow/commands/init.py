"""``segflow init DIR --starter NAME``: start a project folder from a starter."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def init(
    folder: Path = typer.Argument(Path("."), help="Project folder to write (created if "
                                  "absent; default: the working directory)."),
    starter: str = typer.Option("blank", "--starter", "-s",
                                help="blank (a minimal retail project to adapt), holi (the "
                                "Holi festival campaign) or accounts (B2B account tiers)."),
    force: bool = typer.Option(False, "--force",
                               help="Replace files the starter writes that already exist."),
) -> None:
    """Write a new segflow project (segflow.yaml, contracts, feature repo, templates, models,
    owners) into FOLDER from a starter. Files already there are never replaced without
    --force."""
    from segflow.starters import init_project

    written = init_project(folder, starter, force)
    typer.echo(f"created project '{written.project}' in {written.root} from the {starter} "
               f"starter ({len(written.files)} files); next: cd {written.root} && "
               + (f"segflow demo {starter}" if starter in {"holi", "accounts"} else
                  "edit segflow.yaml and sources.yaml (docs/own-data.md)"))
