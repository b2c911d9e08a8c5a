"""Commands that run the flows: server, serve, run, demo."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("server")(server)
    app.command("serve")(serve)
    app.command("run")(run)


def server(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default; "
                             "another address needs PREFECT_SERVER_API_AUTH_STRING)."),
    port: int = typer.Option(4200, help="Port of the API and UI."),
) -> None:
    """Start a Prefect server with its database in the workspace (blocks; Ctrl-C stops).

    Point other processes at it with PREFECT_API_URL=http://HOST:PORT/api. Listening on an
    address other than loopback is refused unless Prefect's basic authentication is set:
    PREFECT_SERVER_API_AUTH_STRING='user:password' here, PREFECT_API_AUTH_STRING (the same
    value) for every client.
    """
    from segflow.flows.server import start_server, ui_api_url
    from segflow.settings import get_settings

    settings = get_settings().ensure()
    url = ui_api_url(host, port)
    code = start_server(settings, host, port, announce=lambda: typer.echo(
        f"Prefect UI on {url[:-len('/api')]} (API: {url})"))
    raise typer.Exit(code)


def serve(
    campaign: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--campaign", "-c", help="Campaign(s) to deploy; default: every campaign file."),
    api_url: Optional[str] = typer.Option(  # noqa: UP045
        None, help="Prefect API URL (default: PREFECT_API_URL)."),
    limit: int = typer.Option(1, help="How many flow runs may execute at once."),
) -> None:
    """Register a deployment per campaign and per scheduled source on its cron and run them.

    Only campaigns the project can run are deployed: their templates check, their models
    have a champion and their source tables are in the workspace. A source with a
    `schedule:` in sources.yaml gets a sync (its incremental load, then the feature views it
    changed) once it has been loaded by its watermark. Each other one is named with the
    reason (exit 1 when nothing can run). Blocks. Needs a real Prefect server: start
    one with `segflow server` or point PREFECT_API_URL (or --api-url) at an existing one.
    """
    import os

    from segflow.errors import SegflowError
    from segflow.flows.prefect_env import configure_prefect
    from segflow.settings import get_settings

    settings = get_settings().ensure()
    url = api_url or settings.prefect_api_url
    if not url:
        raise SegflowError("`segflow serve` needs a Prefect server: run `segflow server` and set "
                           "PREFECT_API_URL=http://127.0.0.1:4200/api (or pass --api-url)")
    from segflow.flows.deploy import serve_all, to_serve

    ready, sources = to_serve(settings, campaign or None, say=typer.echo)
    configure_prefect(settings, url)
    # each flow run is a process of its own: it must work on the workspace and project
    # checked here (--home, --project, --engine), not on the defaults of its environment
    os.environ["SEGFLOW_HOME"] = str(settings.home)
    if settings.project is not None:
        os.environ["SEGFLOW_PROJECT"] = str(settings.project.root)
        os.environ["SEGFLOW_ENGINE"] = settings.engine
    serve_all(settings, ready, sources, limit=limit)


def run(
    campaign: str = typer.Option(..., "--campaign", "-c", help="Campaign file name."),
    as_of: Optional[str] = typer.Option(None, help="As-of time (ISO); default: campaign's."),  # noqa: UP045
    train: bool = typer.Option(False, help="Retrain the campaign's models first."),
    ingest: bool = typer.Option(True, help="Ingest the sources first."),
    publish: bool = typer.Option(True, help="Publish when no control, review or gate blocks."),
) -> None:
    """Run the campaign-refresh flow now (locally, or on the configured Prefect server)."""
    from segflow.engines import require_duckdb
    from segflow.flows.prefect_env import configure_prefect
    from segflow.settings import get_settings

    if ingest:  # before Prefect turns the refusal into a state
        require_duckdb(get_settings(), "ingest", instead="run with --no-ingest to refresh "
                       "from the canonical tables as they are")
    from segflow.scoring.campaigns import campaign_path

    campaign_path(get_settings(), campaign)  # a wrong name is one line, before Prefect starts
    configure_prefect(get_settings().ensure())
    from segflow.flows.campaign import run_refresh

    state, outcome = run_refresh(campaign=campaign, as_of=as_of, ingest=ingest, train=train,
                                 publish=publish)
    for key, value in outcome.items():
        typer.echo(f"{key}: {value}")
    if not state.is_completed():  # Blocked or AwaitingApproval: not published
        typer.echo(f"flow run ended {state.name}: {state.message}")
        raise typer.Exit(1)
    from segflow.logs import silence_teardown

    silence_teardown()
