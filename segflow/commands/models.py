"""Model commands: train, list, compare, promote; and the Hillstrom uplift evaluation."""

from __future__ import annotations

from typing import Optional

import typer

from segflow.settings import get_settings

models_app = typer.Typer(help="Registered models: list, compare challenger with champion, "
                         "promote by hand.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Reproducible model evaluations on public data.",
                           no_args_is_help=True)


def _quiet_mlflow() -> None:
    import logging
    import warnings

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def train(
    campaign: str = typer.Option(..., "--campaign", help="Campaign being planned, e.g. "
                                 "holi_2027 (recorded on every run)."),
    model: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--model", help="Train only this model (repeatable); default: all."),
    as_of: Optional[str] = typer.Option(  # noqa: UP045
        None, "--as-of", help="Feature time for unsupervised models (default: latest "
        "built snapshot)."),
) -> None:
    """Train models, register versions and promote those that beat the champion."""
    _quiet_mlflow()
    from segflow.timeutil import parse_as_of
    from training.train import train_models

    when = parse_as_of(as_of) if as_of else None
    for result in train_models(get_settings(), campaign, model or None, when):
        typer.echo(str(result))


@models_app.command("list")
def list_models() -> None:
    """Every registered model with its champion and latest version."""
    _quiet_mlflow()
    from training import registry, tracking

    client = tracking.configure(get_settings())
    for rm in client.search_registered_models():
        champ = registry.champion_version(client, rm.name)
        latest = max((int(v.version) for v in client.search_model_versions(
            f"name='{rm.name}'")), default=0)
        typer.echo(f"{rm.name:24s} champion: {('v' + str(champ.version)) if champ else '-':6s} "
                   f"latest: v{latest}")


@models_app.command("compare")
def compare(name: str = typer.Argument(..., help="Registered model name.")) -> None:
    """Versions of a model with the promotion metric, decision and reason."""
    _quiet_mlflow()
    from training import registry, tracking
    from training.config import load_model_configs

    settings = get_settings()
    metric = load_model_configs(settings.models_config_dir, [name])[0].promotion["metric"]
    rows = registry.version_rows(tracking.configure(settings), name)
    if not rows:
        typer.echo(f"{name}: no versions yet")
    for r in rows:
        mark = "*" if r["champion"] else " "
        value = r["metrics"].get(metric, float("nan"))
        typer.echo(f"{mark} v{r['version']:<4d} {metric}={value:.4f}  {r['decision'] or '-'}: "
                   f"{r['reason']}  [data {r['snapshot']}]")


@models_app.command("promote")
def promote(
    name: str = typer.Argument(..., help="Registered model name."),
    version: str = typer.Argument(..., help="Version to make champion."),
    reason: str = typer.Option(..., "--reason", help="Why (kept on the version and run)."),
) -> None:
    """Make a version the champion by hand; the reason and the user are recorded."""
    _quiet_mlflow()
    from training import registry, tracking
    from training.train import current_user

    registry.promote_by_hand(tracking.configure(get_settings()), name, version, reason,
                             current_user())
    typer.echo(f"{name} v{version} is now champion")


@evaluate_app.command("uplift-hillstrom")
def uplift_hillstrom(
    seeds: str = typer.Option("0,1,2,3,4", "--seeds", help="Comma-separated split seeds."),
) -> None:
    """Uplift@30% of our learners on Hillstrom (Womens E-Mail vs No E-Mail, visit)."""
    from segflow.errors import SegflowError
    from training.hillstrom import DATA_PATH, evaluate_hillstrom

    if not DATA_PATH.exists():
        typer.echo(f"skipped: Hillstrom data not found at {DATA_PATH}")
        return
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError as err:
        raise SegflowError(f"--seeds must be integers separated by commas: {seeds!r}") from err
    table = evaluate_hillstrom(seed_list)
    typer.echo(table.round(4).to_string(index=False))


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.add_typer(models_app, name="models")
    app.add_typer(evaluate_app, name="evaluate")
