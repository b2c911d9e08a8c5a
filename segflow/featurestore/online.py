"""The online store: the latest feature values, one row per entity, for fast lookups.

Feast's ``materialize`` writes rows one protobuf at a time into SQLite (~3,500 rows/s); a
campaign refresh of 10M customers would take most of an hour. Here the point-in-time frame
at ``as_of`` (the same rows Feast would materialise for the same window) is bulk-written from
Arrow into a DuckDB file, one table per entity, in seconds. The file is written aside and
renamed into place, so a reader never sees a half-loaded store. On ``engine: spark`` the
frame is computed by Spark and reaches the file through Parquet the executors write
(``write_entity``); the store and its lookups are the same.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pyarrow as pa

from segflow.engines import SPARK
from segflow.errors import SegflowError
from segflow.featurestore.repo import load_repo
from segflow.featurestore.retrieval import TS, features_reader, resolve
from segflow.lock import holds_workspace
from segflow.settings import Settings
from segflow.timeutil import parse_as_of


def online_path(settings: Settings):
    return settings.feast_dir / "online.duckdb"


@holds_workspace("features online-load")
def load_online(settings: Settings, as_of=None) -> dict:
    """Write every entity's features as of ``as_of`` (default: latest built) to the store."""
    import duckdb

    # no snapshot file at all is known without importing Feast to load the repo
    built = settings.features_dir.is_dir() and any(settings.features_dir.glob("*.parquet"))
    repo = load_repo(settings) if built else None
    if repo is None or not any(resolve(repo, entity) for entity in repo.entities):
        raise SegflowError("no feature snapshots built yet, so nothing to load (the online "
                           "store is left as it was); run `segflow features build` first")
    path = online_path(settings)
    tmp = path.with_suffix(".duckdb.tmp")
    tmp.unlink(missing_ok=True)
    report = {}
    from segflow.db import memory_limit

    con = duckdb.connect(str(tmp), config={"memory_limit": memory_limit(0.3)})
    try:
        con.execute("SET TimeZone = 'UTC'")  # as_of comes back as a UTC datetime
        con.execute("CREATE TABLE online_meta (entity VARCHAR, as_of TIMESTAMPTZ, "
                    "loaded_at TIMESTAMPTZ, row_count BIGINT)")
        for entity in repo.entities:
            if not resolve(repo, entity):
                continue
            started = time.perf_counter()
            write_entity(con, settings, entity, as_of, repo)
            con.execute(f"ALTER TABLE {entity} ADD PRIMARY KEY ({repo.join_key(entity)})")
            rows, loaded_as_of = con.execute(f"SELECT count(*), min({TS}) FROM {entity}"
                                             ).fetchone()
            con.execute("INSERT INTO online_meta VALUES (?, ?, ?, ?)",
                        [entity, loaded_as_of, datetime.now(UTC), rows])
            report[entity] = {"rows": rows, "as_of": loaded_as_of,
                              "seconds": round(time.perf_counter() - started, 3)}
    finally:
        con.close()
    os.replace(tmp, path)
    return report


def write_entity(con, settings: Settings, entity: str, as_of, repo) -> None:
    """Table ``entity`` of the store being written (``con``): every entity's features as of
    ``as_of``, in key order, computed on the project's engine. DuckDB streams the
    point-in-time join into it batch by batch; Spark's executors write the join's rows as
    a staged folder of Parquet files (``segflow.staging``) that DuckDB reads in, so on
    either engine nothing that grows with the customers passes through Python."""
    if settings.engine != SPARK:
        with features_reader(settings, entity, as_of=as_of, repo=repo) as reader:
            con.register("frame", reader)
            con.execute(f"CREATE TABLE {entity} AS SELECT * FROM frame")
            con.unregister("frame")
        return
    import shutil

    from segflow import spark as sp
    from segflow.featurestore.retrieval_spark import features_frame
    from segflow.staging import staged_path

    staged = staged_path(settings, "online")
    try:
        when = None if as_of is None else parse_as_of(as_of)  # None: the latest built
        sp.write_parquet(features_frame(settings, entity, when, repo), staged)
        con.execute(f"CREATE TABLE {entity} AS SELECT * FROM read_parquet(?) "
                    f"ORDER BY {repo.join_key(entity)}", [str(staged / "*.parquet")])
    finally:
        shutil.rmtree(staged, ignore_errors=True)


_READERS: dict[str, tuple[int, object]] = {}


def _reader(path):
    """A read-only connection kept open per store file and reopened when the file is
    replaced (``load_online`` swaps in a new file): opening DuckDB costs ~30 ms, more than
    the lookup itself, so a long-lived process (an API, a notebook) should not pay it per
    call."""
    import duckdb

    stamp = path.stat().st_mtime_ns
    cached = _READERS.get(str(path))
    if cached and cached[0] == stamp:
        return cached[1]
    if cached:
        cached[1].close()
    con = duckdb.connect(str(path), read_only=True)
    _READERS[str(path)] = (stamp, con)
    return con


def lookup(settings: Settings, entity: str, ids, features=None) -> pa.Table:
    """Features of ``ids`` (one or many) in the order given; unknown ids get null features."""
    path = online_path(settings)
    if not path.exists():
        raise SegflowError(f"no online store at {path}; run `segflow features online-load`")
    ids = [ids] if isinstance(ids, str) else list(ids)
    con = _reader(path).cursor()
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables")
                  .fetchall()}
        if entity not in tables:
            raise SegflowError(f"the online store holds no '{entity}' features; "
                               f"it holds {sorted(tables - {'online_meta'})}")
        columns = [r[0] for r in con.execute(f"DESCRIBE {entity}").fetchall()]
        key = columns[0]
        wanted = columns[2:] if features is None else list(features)
        unknown = set(wanted) - set(columns[2:])
        if unknown:
            raise SegflowError(f"unknown online {entity} feature(s) {sorted(unknown)}")
        con.register("ids", pa.table({key: pa.array(ids, pa.string()),
                                      "__pos": pa.array(range(len(ids)), pa.int64())}))
        select = ", ".join([f"i.{key}", *(f"t.{c}" for c in wanted)])
        return con.sql(f"SELECT {select} FROM ids i LEFT JOIN {entity} t USING ({key}) "
                       "ORDER BY i.__pos").to_arrow_table()
    finally:
        con.close()
