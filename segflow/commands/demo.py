"""``segflow demo holi|accounts``: the worked examples, end to end, with a guide at the end."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Run a worked example end to end in the workspace.",
                        no_args_is_help=True)
    group.command("holi")(holi)
    group.command("accounts")(accounts)
    app.add_typer(group, name="demo")


def holi(customers: int = typer.Option(100_000, min=1000, help="Customers in the world."),
         seed: int = typer.Option(7, help="Random seed of the world.")) -> None:
    """Holi festival campaign (B2C): world -> ingest -> features -> models -> two refreshes."""
    _run(lambda demo: demo.holi_plan(customers, seed))


def accounts(accounts: int = typer.Option(5_000, min=100, help="Accounts in the world."),
             seed: int = typer.Option(7, help="Random seed of the world.")) -> None:
    """Quarterly account-tier refresh (B2B): roll-ups, tiers, reconciliation, review."""
    _run(lambda demo: demo.accounts_plan(accounts, seed))


def _run(make_plan) -> None:
    """The demo ``make_plan(segflow.flows.demo)`` makes. The project and its engine are
    checked first: the flows (Prefect, Feast, the generators) take seconds to import, and a
    command run outside a project should say so at once."""
    from segflow.engines import require_duckdb
    from segflow.project import require_project
    from segflow.settings import get_settings

    settings = get_settings()
    require_project(settings.project)  # the demo runs the project's own config
    require_duckdb(settings, "demo")  # before the workspace is made or Prefect loaded
    from segflow.flows import demo

    plan = make_plan(demo)
    settings = settings.ensure()
    typer.echo(f"segflow demo '{plan.name}' in workspace {settings.home}")
    demo.run_demo(settings, plan, typer.echo)
    _guide(settings, plan)
    from segflow.logs import silence_teardown

    silence_teardown()


def _guide(settings, plan) -> None:
    out = plan.outputs
    run = out.get("second_run")
    lines = [
        "",
        "Where to look:",
        f"  refresh report   {out.get('report')}",
        f"  movement         {settings.runs_dir / run / 'movement.html'}",
        f"  drift report     {settings.runs_dir / run / 'drift'}",
        f"  review queue     segflow --home {settings.home} review list --run {run}",
        f"  explain          segflow --home {settings.home} explain --campaign {plan.campaign}"
        " --customer ID",
        f"  audit log        segflow --home {settings.home} audit verify",
    ]
    if out.get("feedback"):
        lines.append(f"  feedback         {out['feedback']}")
    lines += [
        f"  MLflow UI        mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}",
        f"  Prefect UI       PREFECT_HOME={settings.home / 'prefect'} prefect server start",
    ]
    if out.get("waiting_for"):
        lines += ["", f"Run {run} waits for:"] + [f"  - {w}" for w in out["waiting_for"][:8]]
    typer.echo("\n".join(lines))
