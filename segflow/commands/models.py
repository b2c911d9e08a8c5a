"""Model commands: train, list, compare, promote, and the evaluation on public data."""

from __future__ import annotations

from typing import Optional

import typer

from segflow.output import json_option
from segflow.settings import get_settings

models_app = typer.Typer(help="Registered models: list, compare versions, promote by hand, "
                         "evaluate learners on public data.", no_args_is_help=True)


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
    from segflow.training.train import train_models

    settings = get_settings()
    if not (settings.campaigns_dir / f"{campaign}.yaml").exists():
        from segflow.errors import SegflowError

        known = sorted(p.stem for p in settings.campaigns_dir.glob("*.yaml"))
        raise SegflowError(f"no campaign '{campaign}' in {settings.campaigns_dir} (known: "
                           f"{', '.join(known) or 'none'}): models are trained for a campaign")
    when = parse_as_of(as_of) if as_of else None
    results = train_models(settings, campaign, model or None, when)
    for result in results:
        typer.echo(str(result))
    if not results:
        typer.echo(f"no model is configured in {settings.models_config_dir}")


@models_app.command("list")
def list_models(as_json: bool = json_option()) -> None:
    """Every registered model with its champion and latest version."""
    _quiet_mlflow()
    from segflow.output import emit_json, records, table
    from segflow.training import registry, tracking

    client = tracking.configure(get_settings())
    rows = []
    for rm in client.search_registered_models():
        champ = registry.champion_version(client, rm.name)
        latest = max((int(v.version) for v in client.search_model_versions(
            f"name='{rm.name}'")), default=0)
        rows.append((rm.name, int(champ.version) if champ else None, latest))
    if as_json:
        emit_json(records(["model", "champion_version", "latest_version"], rows))
    else:
        table(["model", "champion", "latest"],
              [(n, f"v{c}" if c else "-", f"v{v}") for n, c, v in rows])


@models_app.command("compare")
def compare(name: str = typer.Argument(..., help="Registered model name.")) -> None:
    """Every logged metric of every version side by side (champion marked *), then each
    version's promotion decision and reason."""
    _quiet_mlflow()
    from segflow.training import registry, tracking
    from segflow.training.config import load_model_configs

    settings = get_settings()
    metric = load_model_configs(settings.models_config_dir, [name])[0].promotion["metric"]
    rows = registry.version_rows(tracking.configure(settings), name)
    if not rows:
        typer.echo(f"{name}: no versions yet")
        return
    typer.echo(registry.metrics_table(rows, metric))
    for r in rows:
        mark = "*" if r["champion"] else " "
        typer.echo(f"{mark} v{r['version']:<4d} {r['decision'] or '-'}: {r['reason']}  "
                   f"[data {r['snapshot']}]")


@models_app.command("promote")
def promote(
    name: str = typer.Argument(..., help="Registered model name."),
    version: str = typer.Argument(..., help="Version to make champion."),
    reason: str = typer.Option(..., "--reason", help="Why (kept on the version and run)."),
    by: Optional[str] = typer.Option(  # noqa: UP045
        None, "--by", help="The approver promoting it; required when the model's config "
        "says promotion.approval: manual."),
) -> None:
    """Make a version the champion by hand; the reason, the user and the approver are
    recorded as MLflow tags and in the audit log."""
    _quiet_mlflow()
    from segflow.training import registry, tracking
    from segflow.training.config import load_model_configs
    from segflow.training.train import current_user

    settings = get_settings()
    cfg = load_model_configs(settings.models_config_dir, [name])[0]
    approver = authorise_promotion(settings, cfg, by, reason)
    record_promotion(settings, name, version, approver or current_user(), reason,
                     lambda: registry.promote_by_hand(tracking.configure(settings), name,
                                                      version, reason, current_user(), approver))
    typer.echo(f"{name} v{version} is now champion"
               + (f" (approved by {approver})" if approver else ""))


def authorise_promotion(settings, cfg, by: str | None, reason: str) -> str | None:
    """Who may promote this model. With ``promotion.approval: manual`` only a person named
    in the config's ``promotion.approvers`` who holds the approver role in the owners file
    (governance's rules: the one place they live), with a reason that says something."""
    from segflow.errors import ControlFailed, SegflowError
    from segflow.governance.owners import load_owners, require_reason

    require_reason(reason)
    if not cfg.manual_promotion:
        return by
    approvers = ", ".join(cfg.promotion["approvers"])
    if not by:
        raise SegflowError(f"{cfg.name} needs a named approver: --by one of {approvers}")
    if by not in cfg.promotion["approvers"]:
        raise ControlFailed(f"{by} may not promote {cfg.name}; approvers: {approvers}")
    person = load_owners(settings.owners_path).people.get(by)
    if person is None or not person.has("approver"):
        raise ControlFailed(f"{by} is named in {cfg.name}'s promotion.approvers but does not "
                            f"hold the approver role in {settings.owners_path}")
    return by


def record_promotion(settings, name: str, version: str, actor: str, reason: str,
                     promote) -> None:
    """Promote (``promote()`` moves the MLflow alias and returns its tags) inside the audit
    log's transaction: a promotion that fails leaves no entry, and no promotion is
    committed without its entry."""
    from segflow.governance import audit

    done: dict = {}
    audit.record(settings, actor, "model.promote",
                 {"model": name, "version": str(version), "reason": reason},
                 writes=lambda _con: done.update(promote()))


@models_app.command("evaluate")
def evaluate(
    dataset: str = typer.Option(..., "--dataset", help="Public data set: hillstrom."),
    seeds: int = typer.Option(10, "--seeds", min=1, help="Number of split seeds."),
    first_seed: int = typer.Option(
        0, "--first-seed", min=0,
        help="First split seed (0: the reported seeds; 100: the seeds settings are chosen on)."),
    outcome: str = typer.Option("visit", "--outcome", help="visit or conversion."),
    arm: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--arm", help="Only this arm (womens, mens); default both."),
    learner: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--learner", help="Only this learner or peer (repeatable); default all."),
) -> None:
    """Every uplift learner and the scikit-uplift peers on the peers' protocol (50/50
    unstratified splits): mean and sd over the seeds, and the paired difference against
    the best learner."""
    import time

    from segflow.errors import SegflowError
    from segflow.training import hillstrom

    if dataset != "hillstrom":
        raise SegflowError(f"--dataset {dataset!r}: the only public data set is hillstrom")
    path = hillstrom.data_path(get_settings())
    if not path.exists():
        typer.echo(f"skipped: Hillstrom data not found at {path} (place the MineThatData CSV "
                   "there to run this evaluation)")
        return
    setup = hillstrom.only_learners(hillstrom.load_setup(), learner or [])
    for name in arm or []:
        if name not in setup["arms"]:
            raise SegflowError(f"--arm {name!r}: use one of {', '.join(setup['arms'])}")
    data = hillstrom.read_hillstrom(path)
    for name in arm or list(setup["arms"]):
        started = time.perf_counter()
        chosen = list(range(first_seed, first_seed + seeds))
        per_seed = hillstrom.evaluate(data, setup, name, outcome, chosen)
        title = (f"{setup['arms'][name]['treatment']} vs {setup['control']}, outcome "
                 f"{outcome}, seeds {chosen[0]}..{chosen[-1]} "
                 f"({time.perf_counter() - started:.0f} s)")
        typer.echo(hillstrom.format_summary(hillstrom.summarise(per_seed), title) + "\n")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.add_typer(models_app, name="models")
