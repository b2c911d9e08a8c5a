"""Deployments: one per campaign file the project can run, on the campaign's own cron
schedule and time zone. A campaign whose templates do not check, whose models have no
champion or whose source tables are not in the workspace would fail on every tick: it is
listed with the reason and not deployed."""

from __future__ import annotations

from segflow.settings import Settings


def why_not_runnable(settings: Settings, name: str, champions=None) -> str | None:
    """Why the project cannot refresh ``name`` now, in a user's words (None: it can).
    ``champions(model) -> bool`` says whether a model has a champion (default: the
    workspace's MLflow registry)."""
    from segflow.errors import SegflowError
    from segflow.scoring.columns import model_of_column
    from segflow.scoring.resolve import resolve_campaign
    from segflow.scoring.score import needed_columns

    try:
        resolved = resolve_campaign(settings, name, None)
    except SegflowError as err:
        problems = getattr(err, "problems", None)
        first = str(problems[0]) if problems else str(err).strip().splitlines()[-1].strip()
        return f"its templates do not check ({first}): run `segflow templates check`"
    needed = needed_columns(resolved)
    owners = model_of_column(settings)
    models = sorted({owners[c] for c in needed if c in owners})
    missing = _missing_tables(settings, resolved.campaign.entity,
                              {c for c in needed if c not in owners})
    if missing:
        return (f"no {', '.join(missing)} in the workspace's canonical tables: run "
                "`segflow ingest`")
    has_champion = champions or _registry_champions(settings)
    unchampioned = [m for m in models if not has_champion(m)]
    if unchampioned:
        return (f"model(s) {', '.join(unchampioned)} have no champion: train and promote "
                "them (`segflow train`)")
    return None


def _registry_champions(settings: Settings):
    """Whether a model has a champion in the workspace's registry (a workspace without a
    registry has none; it is not created just to be asked)."""
    if not settings.mlflow_db_path.exists():
        return lambda model: False
    from segflow.training import registry, tracking

    client = tracking.configure(settings)
    return lambda model: registry.champion_version(client, model) is not None


def _missing_tables(settings: Settings, entity: str, columns: set[str]) -> list[str]:
    """Source tables of the feature views that provide ``columns`` which are neither in the
    canonical tables nor built into a view file already."""
    from pathlib import Path

    from segflow.featurestore.freshness import available_sources
    from segflow.featurestore.repo import load_repo

    available = available_sources(settings)
    missing: set[str] = set()
    for view in load_repo(settings).views_of(entity):
        if not columns & set(view.features) or Path(
                view.feature_view.batch_source.path).exists():
            continue
        missing |= {t for t in view.transformation.sources if t not in available}
    return sorted(_underlying(settings, missing) - available)


def _underlying(settings: Settings, names: set[str]) -> set[str]:
    """Relations derived in the feature repo (``config/derived.yaml``) replaced by the
    tables they require, so the message names what ingest must load."""
    from segflow.yamlio import load_yaml

    path = settings.feature_repo_dir / "config" / "derived.yaml"
    derived = (load_yaml(path) or {}) if path.exists() else {}
    out, seen, todo = set(), set(), set(names)
    while todo:
        name = todo.pop()
        seen.add(name)
        spec = derived.get(name)
        if isinstance(spec, dict) and spec.get("requires"):
            todo |= set(spec["requires"]) - seen
        else:
            out.add(name)
    return out


def runnable_campaigns(settings: Settings, campaigns: list[str] | None = None
                       ) -> tuple[list[str], dict[str, str]]:
    """The campaigns (given, else every campaign file) split into those the project can
    run and, for the others, why not."""
    from functools import lru_cache

    from segflow.errors import SegflowError

    known = sorted(p.stem for p in settings.campaigns_dir.glob("*.yaml"))
    unknown = sorted(set(campaigns or []) - set(known))
    if unknown:
        raise SegflowError(f"no campaign file {', '.join(unknown)} in {settings.campaigns_dir}"
                           f" (known: {', '.join(known) or 'none'})")
    ready, skipped = [], {}
    champions = lru_cache(maxsize=None)(_registry_champions(settings))
    for name in campaigns or known:
        why = why_not_runnable(settings, name, champions)
        if why is None:
            ready.append(name)
        else:
            skipped[name] = why
    return ready, skipped


def campaign_deployments(settings: Settings, campaigns: list[str] | None = None) -> list:
    """A RunnerDeployment of ``campaign-refresh`` for each campaign file named (callers
    pass the runnable ones: ``runnable_campaigns``)."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from segflow.flows.campaign import campaign_refresh
    from segflow.scoring.resolve import resolve_campaign

    deployments = []
    names = campaigns or sorted(p.stem for p in settings.campaigns_dir.glob("*.yaml"))
    for name in names:
        schedule = resolve_campaign(settings, name, None).campaign.schedule
        cron = schedule.get("cron")
        schedules = [Cron(cron, timezone=schedule.get("timezone") or "UTC")] if cron else None
        deployments.append(campaign_refresh.to_deployment(
            name=name,
            schedules=schedules,
            parameters={"campaign": name},
            description=f"Scheduled refresh of campaign {name}",
            tags=["segflow", name],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ))
    return deployments


def campaigns_to_serve(settings: Settings, campaigns: list[str] | None = None,
                       say=print) -> list[str]:
    """The campaigns ``serve`` deploys; each other one is named with the reason. None
    runnable is a failed check (exit 1), not an idle server. Checked before Prefect is
    even imported."""
    from segflow.errors import ControlFailed

    ready, skipped = runnable_campaigns(settings, campaigns)
    for name, why in skipped.items():
        say(f"skipped {name}: {why}")
    if not ready:
        raise ControlFailed("no campaign can run here, so nothing was deployed"
                            + ("" if skipped else " (no campaign files)"))
    say(f"deploying {', '.join(ready)}")
    return ready


def serve_campaigns(settings: Settings, campaigns: list[str], limit: int = 1) -> None:
    """Register the campaigns' deployments on the configured server and execute their runs
    (blocks)."""
    from prefect import serve

    serve(*campaign_deployments(settings, campaigns), limit=limit,
          print_starting_message=True)
