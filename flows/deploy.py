"""Deployments: one per campaign file the project can run, on the campaign's own cron
schedule and time zone, and one per source with a ``schedule`` in sources.yaml (the
``source-sync`` flow: that source's incremental load, then the feature views it made
stale). A campaign whose templates do not check, whose models have no champion or whose
source tables are not in the workspace would fail on every tick, as would a source never
loaded by its watermark: each is listed with the reason and not deployed."""

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
    """Relations derived in the feature repo replaced by the tables they require, so the
    message names what ingest must load."""
    from segflow.featurestore.engine import underlying_tables

    return underlying_tables(settings.feature_repo_dir, names)


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
    ingest = scheduled_ingest(settings)
    for name in names:
        schedule = resolve_campaign(settings, name, None).campaign.schedule
        cron = schedule.get("cron")
        schedules = [Cron(cron, timezone=schedule.get("timezone") or "UTC")] if cron else None
        deployments.append(campaign_refresh.to_deployment(
            name=name,
            schedules=schedules,
            parameters={"campaign": name, "ingest": ingest},
            description=f"Scheduled refresh of campaign {name}",
            tags=["segflow", name],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ))
    return deployments


def scheduled_ingest(settings: Settings) -> bool:
    """Whether a scheduled refresh ingests the sources first: yes, unless the project's
    engine cannot run ingest (``engine: spark``), where each refresh starts from the
    canonical tables as they are, loaded by whatever loads them there; ``serve`` says so."""
    from segflow.engines import not_built

    return not_built(settings, "ingest") is None


def runnable_sources(settings: Settings) -> tuple[list, dict[str, str]]:
    """The sources with a ``schedule`` (the workspace's sources.yaml, as ``segflow
    ingest`` reads it) split into those a scheduled load can run (SourceSpecs) and, for
    the others, why not: a scheduled load reads from the source's watermark, so the
    source must have been loaded by it (`segflow ingest`) first. No sources.yaml: none."""
    from segflow.engines import not_built
    from segflow.ingest.incremental import usable_marks
    from segflow.ingest.pipeline import default_sources
    from segflow.ingest.sources import read_sources

    path = default_sources(settings)
    if not path.is_file():
        return [], {}
    sources = read_sources(path, settings.contracts_dir, settings.source_timezone)
    ready, skipped = [], {}
    unbuilt = not_built(settings, "ingest")
    for spec in (s for s in sources.specs if s.schedule):
        if unbuilt:
            skipped[spec.table] = unbuilt
            continue
        marks, why = usable_marks(sources, settings, spec.table)
        if marks is None:
            skipped[spec.table] = (f"it cannot be loaded from a watermark yet ({why}): run "
                                   "`segflow ingest` once first")
        else:
            ready.append(spec)
    return ready, skipped


def source_deployments(specs: list) -> list:
    """A RunnerDeployment of ``source-sync`` for each scheduled source, on its cron."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from segflow.flows.sync import source_sync

    return [source_sync.to_deployment(
        name=f"sync-{spec.table}",
        schedules=[Cron(spec.schedule, timezone=spec.schedule_timezone)],
        parameters={"table": spec.table},
        description=f"Incremental load of {spec.table} ({spec.kind}, {spec.file}:"
                    f"{spec.line}), then the feature views it changed",
        tags=["segflow", "source", spec.table],
        entrypoint_type=EntrypointType.MODULE_PATH,
    ) for spec in specs]


def to_serve(settings: Settings, campaigns: list[str] | None = None,
             say=print) -> tuple[list[str], list]:
    """The campaigns and the scheduled sources ``serve`` deploys; each other one is named
    with the reason. Nothing runnable is a failed check (exit 1), not an idle server.
    Checked before Prefect is even imported."""
    from segflow.errors import ControlFailed

    ready, skipped = runnable_campaigns(settings, campaigns)
    sources, unsourced = runnable_sources(settings)
    for name, why in skipped.items():
        say(f"skipped {name}: {why}")
    for table, why in unsourced.items():
        say(f"skipped source {table}: {why}")
    if not ready and not sources:
        raise ControlFailed("no campaign and no scheduled source can run here, so nothing "
                            "was deployed" + ("" if skipped else " (no campaign files)"))
    if ready:
        say(f"deploying {', '.join(ready)}")
        if not scheduled_ingest(settings):
            say(f"their refreshes start from the canonical tables as they are: ingest does "
                f"not run on engine: {settings.engine} yet")
    if sources:
        say("deploying source syncs: " + ", ".join(f"{s.table} ({s.schedule} "
                                                   f"{s.schedule_timezone})" for s in sources))
    return ready, sources


def serve_all(settings: Settings, campaigns: list[str], sources: list,
              limit: int = 1) -> None:
    """Register the campaigns' and the sources' deployments on the configured server and
    execute their runs (blocks)."""
    from prefect import serve

    serve(*(campaign_deployments(settings, campaigns) if campaigns else []),
          *source_deployments(sources), limit=limit, print_starting_message=True)
