"""Building feature view sources: each view's SQL run as of one or more times, the results
kept as snapshots in ``<home>/features/<view>.parquet``.

A snapshot is every row of the view as of time T, stamped ``event_timestamp = T`` and
``created_timestamp`` = when it was built. Keeping every as-of built so far is what makes
training sets point-in-time correct: a training row at T reads the snapshot of T, never a
later one. Re-building an as-of replaces that snapshot, so a build is idempotent.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from segflow.errors import SegflowError
from segflow.featurestore.columns import remember
from segflow.featurestore.repo import Repo, View, apply, load_repo
from segflow.featurestore.runners import UNIQUE_FLAG, runner_for
from segflow.lock import holds_workspace
from segflow.progress import stage
from segflow.settings import Settings
from segflow.timeutil import parse_as_of

# Feast type -> the DuckDB type a transformation must return for it
DUCKDB_TYPES = {"String": "VARCHAR", "Int64": "BIGINT", "Int32": "INTEGER",
                "Float64": "DOUBLE", "Float32": "FLOAT", "Bool": "BOOLEAN",
                "UnixTimestamp": "TIMESTAMP WITH TIME ZONE"}
__all__ = ["UNIQUE_FLAG", "build_features", "compute_snapshot", "declared_columns"]


def declared_columns(view: View) -> list[tuple[str, str]]:
    """(column, DuckDB type) the view's SQL must return, join key first."""
    fields = {f.name: f for f in view.feature_view.schema}
    key = fields.get(view.join_key)
    key_type = DUCKDB_TYPES.get(str(key.dtype), str(key.dtype)) if key else "VARCHAR"
    return [(view.join_key, key_type)] + [
        (f.name, DUCKDB_TYPES.get(str(f.dtype), str(f.dtype))) for f in view.feature_view.features]


def _bind(view: View, as_of: datetime) -> dict:
    params = {"as_of": as_of, **view.transformation.params}
    return {k: v for k, v in params.items() if k in view.transformation.parameter_names()}


def compute_snapshot(runner, view: View, as_of: datetime, created: datetime):
    """The view's rows as of ``as_of`` on the runner's engine, stamped; checks shape and
    keys. Returns (relation, rows)."""
    relation = runner.relation(view, _bind(view, as_of))
    got = runner.columns(relation)
    want = declared_columns(view)
    if got != want:
        raise SegflowError(f"{view.path}: the SQL returns {got}; the FeatureView declares {want}")
    rows, keys = runner.counts(relation, view.join_key)
    if rows != keys:
        raise SegflowError(f"{view.path}: {rows - keys} duplicate {view.join_key} values as of "
                           f"{as_of.isoformat()}; a snapshot has one row per entity")
    return runner.stamped(relation, as_of, created), rows


def _as_of_list(as_of) -> list[datetime]:
    values = as_of if isinstance(as_of, list | tuple) else [as_of]
    return sorted({parse_as_of(v) for v in values})


def build_view(runner, view: View, as_ofs: list[datetime], settings: Settings) -> dict:
    started = time.perf_counter()
    created = datetime.now(UTC)
    relations, rows = [], 0
    for as_of in as_ofs:
        relation, n = compute_snapshot(runner, view, as_of, created)
        relations.append(relation)
        rows += n
    settings.features_dir.mkdir(parents=True, exist_ok=True)
    runner.write(settings.features_dir / f"{view.name}.parquet", relations, as_ofs)
    return {"rows": rows, "seconds": round(time.perf_counter() - started, 3)}


@holds_workspace("features build")
def build_features(settings: Settings, as_of, views: list[str] | None = None,
                   repo: Repo | None = None) -> dict:
    """Build every view (or ``views``) as of each time in ``as_of``, then apply the repo.

    Returns {view: {"rows", "seconds"} or {"skipped": reason}}. A view whose source tables
    are not in this workspace (account views in a B2C workspace) is skipped, not failed.
    """
    as_ofs = _as_of_list(as_of)
    # the project's engine (DuckDB here, or Spark) with the canonical tables first: a
    # missing, truncated or half-switched one is refused before the repo is loaded
    # (importing Feast takes seconds)
    runner = runner_for(settings)
    report = {}
    try:
        repo = repo or load_repo(settings)
        unknown = set(views or []) - set(repo.views)
        if unknown:
            raise SegflowError(f"unknown feature views {sorted(unknown)}; known: "
                               f"{sorted(repo.views)}")
        for name, view in repo.views.items():
            if views and name not in views:
                continue
            missing = [s for s in view.transformation.sources if s not in runner.available]
            if missing:
                report[name] = {"skipped": f"no {', '.join(missing)} in this workspace"}
                continue
            with stage(f"built feature view {name}"):
                report[name] = build_view(runner, view, as_ofs, settings)
    finally:
        runner.close()
    with stage("registered the feature store (Feast apply)"):
        apply(settings, repo)
    remember(settings, repo)
    return report
