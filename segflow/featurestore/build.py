"""Building feature view sources: each view's SQL run as of one or more times, the results
kept as snapshots in ``<home>/features/<view>.parquet``.

A snapshot is every row of the view as of time T, stamped ``event_timestamp = T`` and
``created_timestamp`` = when it was built. Keeping every as-of built so far is what makes
training sets point-in-time correct: a training row at T reads the snapshot of T, never a
later one. Re-building an as-of replaces that snapshot, so a build is idempotent.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from segflow.engines import require_duckdb
from segflow.errors import SegflowError
from segflow.faults import reach
from segflow.featurestore.columns import remember
from segflow.featurestore.engine import canonical_connection, sql_literal
from segflow.featurestore.repo import Repo, View, apply, load_repo
from segflow.lock import holds_workspace
from segflow.progress import stage
from segflow.settings import Settings
from segflow.timeutil import parse_as_of

# Feast type -> the DuckDB type a transformation must return for it
DUCKDB_TYPES = {"String": "VARCHAR", "Int64": "BIGINT", "Int32": "INTEGER",
                "Float64": "DOUBLE", "Float32": "FLOAT", "Bool": "BOOLEAN",
                "UnixTimestamp": "TIMESTAMP WITH TIME ZONE"}
UNIQUE_FLAG = "segflow_unique_snapshots"


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


def _register_tables(con, view: View) -> list[str]:
    import pyarrow as pa

    names = []
    for name, rows in view.transformation.tables.items():
        table = pa.Table.from_pylist(rows)
        table = table.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type)
                                      else f for f in table.schema]))
        con.register(name, table)
        names.append(name)
    return names


def compute_snapshot(con, view: View, as_of: datetime, created: datetime, table: str) -> int:
    """Run the view's SQL as of ``as_of`` into temp table ``table``; check shape and keys."""
    tables = _register_tables(con, view)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {view.transformation.sql}",
                    _bind(view, as_of))
    except Exception as err:
        raise SegflowError(f"{view.path}: transformation failed: {err}") from None
    finally:
        for name in tables:
            con.unregister(name)
    got = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {table}").fetchall()]
    want = declared_columns(view)
    if got != want:
        raise SegflowError(f"{view.path}: the SQL returns {got}; the FeatureView declares {want}")
    rows, keys = con.execute(f"SELECT count(*), count(DISTINCT {view.join_key}) "
                             f"FROM {table}").fetchall()[0]
    if rows != keys:
        raise SegflowError(f"{view.path}: {rows - keys} duplicate {view.join_key} values as of "
                           f"{as_of.isoformat()}; a snapshot has one row per entity")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT *, $t::TIMESTAMPTZ AS "
                f"event_timestamp, $c::TIMESTAMPTZ AS created_timestamp FROM {table}",
                {"t": as_of, "c": created})
    return rows


def write_snapshots(con, path, tables: list[str], as_ofs: list[datetime],
                    settings: Settings | None = None) -> None:
    """Replace the given as-of snapshots in ``path`` and keep all others; atomic rename."""
    parts = [f"SELECT * FROM {t}" for t in tables]
    if path.exists():
        parts.insert(0, f"SELECT * FROM read_parquet({sql_literal(path)}) "
                        "WHERE NOT list_contains($as_ofs, event_timestamp)")
    tmp = path.with_suffix(".parquet.tmp")
    query = " UNION ALL BY NAME ".join(parts)
    params = {"as_ofs": as_ofs} if path.exists() else {}
    con.execute(f"COPY ({query}) TO {sql_literal(tmp)} (FORMAT parquet, "
                f"KV_METADATA {{{UNIQUE_FLAG}: 'true'}})", params)
    reach(settings, "features.written", path=tmp)
    os.replace(tmp, path)


def _as_of_list(as_of) -> list[datetime]:
    values = as_of if isinstance(as_of, list | tuple) else [as_of]
    return sorted({parse_as_of(v) for v in values})


def build_view(con, view: View, as_ofs: list[datetime], settings: Settings) -> dict:
    started = time.perf_counter()
    created = datetime.now(UTC)
    tables, rows = [], 0
    for i, as_of in enumerate(as_ofs):
        tables.append(f"snap_{i}")
        rows += compute_snapshot(con, view, as_of, created, tables[-1])
    settings.features_dir.mkdir(parents=True, exist_ok=True)
    write_snapshots(con, settings.features_dir / f"{view.name}.parquet", tables, as_ofs,
                    settings)
    for t in tables:
        con.execute(f"DROP TABLE {t}")
    return {"rows": rows, "seconds": round(time.perf_counter() - started, 3)}


@holds_workspace("features build")
def build_features(settings: Settings, as_of, views: list[str] | None = None,
                   repo: Repo | None = None) -> dict:
    """Build every view (or ``views``) as of each time in ``as_of``, then apply the repo.

    Returns {view: {"rows", "seconds"} or {"skipped": reason}}. A view whose source tables
    are not in this workspace (account views in a B2C workspace) is skipped, not failed.
    """
    require_duckdb(settings, "features build")
    as_ofs = _as_of_list(as_of)
    # the canonical tables first: a missing, truncated or half-switched one is refused
    # before the repo is loaded (importing Feast takes seconds)
    con, available = canonical_connection(settings)
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
            missing = [s for s in view.transformation.sources if s not in available]
            if missing:
                report[name] = {"skipped": f"no {', '.join(missing)} in this workspace"}
                continue
            with stage(f"built feature view {name}"):
                report[name] = build_view(con, view, as_ofs, settings)
    finally:
        con.close()
    with stage("registered the feature store (Feast apply)"):
        apply(settings, repo)
    remember(settings, repo)
    return report
