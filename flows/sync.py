"""The source-sync flow: one source loaded on its own schedule, then only the feature views
its changes made stale rebuilt.

A source with a ``schedule`` in sources.yaml (the CRM hourly, billing daily) gets a
deployment of this flow from ``segflow serve`` (``segflow.flows.deploy``). Each run loads
that one source from its watermark (``run_ingest(only=...)``: every other table stays as
the last load left it), works out which canonical tables the load changed (rows added,
altered or removed; a load with nothing new changes nothing) and rebuilds only the views
that read them, directly or through a relation derived in the feature repo. Where the
source cannot be loaded alone (no watermark yet, a stale one), ingest loads every source in
full, and every view reading a changed table is rebuilt.

``sync_source`` is the plain function (``call`` runs each step: directly, or as a Prefect
task with its retries and the failure alert in the flow).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from segflow.flows.sequence import Call, direct
from segflow.settings import Settings, get_settings


def ingest_one(settings: Settings, table: str, sources_yaml: str | None = None) -> dict:
    """Load ``table``'s source from its watermark; what changed, small enough for a task."""
    from segflow.ingest.pipeline import changed_tables, run_ingest

    report = run_ingest(settings, Path(sources_yaml) if sources_yaml else None, only=table)
    return {"load": report.tables[table].load, "full_because": report.full_because,
            "as_of": report.as_of, "changed": sorted(changed_tables(report)),
            "rows_changed": {t: r.changed for t, r in report.tables.items() if r.changed}}


def stale_views(settings: Settings, changed: list[str]) -> list[str]:
    """The feature views reading any of the ``changed`` tables."""
    if not changed:
        return []
    from segflow.featurestore.repo import load_repo

    return load_repo(settings).views_reading(set(changed), settings.feature_repo_dir)


def rebuild_views(settings: Settings, views: list[str], as_of: str) -> dict:
    """Rebuild ``views`` as of the load's as-of; the online store, where the workspace has
    one, is reloaded so lookups see the new values."""
    from segflow.featurestore.build import build_features
    from segflow.featurestore.online import load_online, online_path

    built = build_features(settings, as_of, views=views)
    if online_path(settings).exists():
        load_online(settings, as_of)
    return {name: ("skipped: " + r["skipped"]) if "skipped" in r else r["rows"]
            for name, r in built.items()}


def sync_source(settings: Settings, table: str, sources_yaml: str | None = None,
                call: Call = direct) -> dict:
    """Load one source, then rebuild the views its changes made stale, under the
    workspace lock; returns what was loaded, what changed and what was rebuilt."""
    from segflow.lock import workspace_lock

    with workspace_lock(settings, f"sync {table}"):
        loaded = call("ingest", ingest_one, settings, table, sources_yaml)
        views = stale_views(settings, loaded["changed"])
        rebuilt = call("features", rebuild_views, settings, views, loaded["as_of"]) \
            if views else {}
    return {"table": table, **loaded, "rebuilt": rebuilt}


def run_name() -> str:
    from prefect.runtime import flow_run

    return f"sync {flow_run.parameters['table']}"


@flow(name="source-sync", log_prints=True, flow_run_name=run_name)
def source_sync(table: str) -> dict:
    """Load one source from its watermark and rebuild the feature views it made stale."""
    from segflow.flows.campaign import _as_tasks

    return sync_source(get_settings(), table, call=_as_tasks(f"source {table}"))
