"""Point-in-time feature retrieval, with Feast's semantics, in DuckDB (here) or on Spark.

For each entity row (key, event_timestamp) and each view: the latest view row with the same
key and ``event_timestamp <=`` the row's, if that row is within the view's ttl (``view ts +
ttl >= entity ts``); ties on event_timestamp go to the latest created_timestamp; nulls when
none. That is Feast's ``get_historical_features``; here it is one ASOF LEFT JOIN per view over the
Parquet sources, chained over the entity rows, so 10M entity rows never pass through Python.
When every entity row has the same time (the whole population, as scoring asks) each view
is joined by key to its latest snapshot instead (``_latest_rows_sql``): the same rows
without the ASOF join's sorts.

With ``engine: spark`` the same join (``join_sql``, one SQL text) runs on the project's
Spark: ``segflow.dialects`` writes each ASOF join as an interval join, and
``segflow.featurestore.retrieval_spark`` stages the entity rows there. ``get_features``
then brings the result to the driver as Arrow (the caller asked for a table).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pyarrow as pa

from segflow.engines import SPARK, require_duckdb
from segflow.errors import SegflowError
from segflow.featurestore.build import UNIQUE_FLAG
from segflow.featurestore.engine import connect, sql_literal
from segflow.featurestore.repo import Repo, View, load_repo
from segflow.settings import Settings
from segflow.timeutil import parse_as_of

TS = "event_timestamp"


def resolve(repo: Repo, entity: str, features=None, service=None) -> list[tuple[View, list]]:
    """Requested features grouped by view, in request order.

    ``features`` takes "view:feature" or bare names (unique within an entity); ``service`` a
    feature service name; neither means every feature of every built view of the entity.
    """
    views = {v.name: v for v in repo.views_of(entity)}
    if service is not None:
        if service not in repo.services:
            raise SegflowError(f"unknown feature service '{service}'; "
                               f"known: {sorted(repo.services)}")
        refs = [f"{p.name}:{f.name}" for p in repo.services[service].feature_view_projections
                for f in p.features]
    elif features is not None:
        refs = list(features)
    else:
        return [(v, v.features) for v in views.values() if v.feature_view.batch_source
                and _exists(v)]
    owner = {f: v for v in views.values() for f in v.features}
    grouped: dict[str, list] = {}
    for ref in refs:
        name, _, feature = ref.rpartition(":")
        view = views.get(name) if name else owner.get(feature)
        if view is None or feature not in view.features:
            raise SegflowError(f"unknown {entity} feature '{ref}'")
        grouped.setdefault(view.name, []).append(feature)
    return [(views[name], feats) for name, feats in grouped.items()]


def _exists(view: View) -> bool:
    from pathlib import Path

    return Path(view.feature_view.batch_source.path).exists()


def _source_sql(view: View, bounds: bool) -> str:
    """The view's rows, restricted to the entity time range; deduplicated on (key, ts) unless
    the file was written by the builder, which guarantees one row per (key, ts)."""
    from pathlib import Path

    import pyarrow.parquet as pq

    path = view.feature_view.batch_source.path
    if not _exists(view):
        raise SegflowError(f"feature view '{view.name}' has not been built ({path} missing); "
                           "run `segflow features build`")
    # a Spark build writes a folder, whose footers carry no flag: deduplicated
    meta = (pq.read_metadata(path).metadata or {}) if Path(path).is_file() else {}
    sql = f"SELECT * FROM read_parquet({sql_literal(path)})"
    if bounds:
        sql += f" WHERE {TS} <= $max_ts"
        if view.feature_view.ttl:
            sql += f" AND {TS} >= $min_ts - to_microseconds($ttl_{view.name})"
    if meta.get(UNIQUE_FLAG.encode()) != b"true":
        sql += (f" QUALIFY row_number() OVER (PARTITION BY {view.join_key}, {TS} "
                "ORDER BY created_timestamp DESC) = 1")
    return sql


def _entity_table(entity_df, key: str) -> pa.Table:
    import pyarrow.compute as pc

    table = entity_df if isinstance(entity_df, pa.Table) else pa.Table.from_pandas(
        entity_df, preserve_index=False)
    missing = {key, TS} - set(table.column_names)
    if missing:
        raise SegflowError(f"entity_df lacks column(s) {sorted(missing)}")
    ts = table[TS]
    if not pa.types.is_timestamp(ts.type):
        raise SegflowError(f"entity_df.{TS} must be a timestamp, got {ts.type}")
    if ts.type.tz is None:
        ts = pc.assume_timezone(ts, "UTC")
    ts = ts.cast(pa.timestamp("us", tz="UTC"))
    return table.set_column(table.schema.get_field_index(TS), TS, ts)


def _latest_entities(con, groups, key: str, as_of: datetime | None):
    """Entities of each view's latest snapshot at as_of (default: the latest built), in key
    order, as a DuckDB relation: the rows stay in DuckDB (at 10M customers a round trip
    through Arrow cost seconds and a copy of every key)."""
    paths = [sql_literal(v.feature_view.batch_source.path) for v, _ in groups]
    union = " UNION ALL ".join(f"SELECT {key}, {TS} FROM read_parquet({p})" for p in paths)
    if as_of is None:
        as_of = con.execute(f"SELECT max({TS}) FROM ({union})").fetchall()[0][0]
        if as_of is None:
            raise SegflowError("no feature snapshots built yet")
    per_view = " UNION ".join(
        f"SELECT {key} FROM read_parquet({p}) WHERE {TS} = (SELECT max({TS}) FROM "
        f"read_parquet({p}) WHERE {TS} <= $as_of)" for p in paths)
    return con.sql(f"SELECT {key}, $as_of::TIMESTAMPTZ AS {TS} FROM ({per_view}) "
                   f"ORDER BY {key}", params={"as_of": as_of})


def get_features(settings: Settings, entity: str, as_of=None, entity_df=None, features=None,
                 service=None, repo: Repo | None = None) -> pa.Table:
    """Point-in-time features: one row per entity row, columns key, event_timestamp, any
    other entity_df columns, then the features. entity_df None: every entity of the latest
    snapshot at ``as_of`` (default: the latest built), stamped ``as_of``. On ``engine:
    spark`` the join runs on Spark and its rows come back as Arrow."""
    if settings.engine == SPARK:
        from segflow.featurestore.retrieval_spark import retrieved_frame

        return retrieved_frame(settings, entity, as_of, entity_df, features, service,
                               repo).toArrow()
    with _joined(settings, entity, as_of, entity_df, features, service, repo) as relation:
        return relation.to_arrow_table()


@contextmanager
def features_reader(settings: Settings, entity: str, as_of=None, batch_rows: int = 500_000,
                    repo: Repo | None = None) -> Iterator[pa.RecordBatchReader]:
    """Every entity's features as of ``as_of`` as a stream of batches in key order, for
    callers that write them on (scoring, the online store): at 10M customers the whole frame
    held in Python on top of DuckDB's join memory passed the machine's 24 GB."""
    with _joined(settings, entity, as_of, None, None, None, repo, by_key=True) as relation:
        yield relation.to_arrow_reader(batch_rows)


@contextmanager
def _joined(settings: Settings, entity: str, as_of, entity_df, features, service,
            repo: Repo | None, by_key: bool = False):
    """The point-in-time join as a DuckDB relation, its connection open while in use
    (``get_features`` on Spark does not come here; ``features_reader``'s callers, DuckDB's
    scoring and online load, refuse Spark before they read)."""
    require_duckdb(settings, "point-in-time feature retrieval in batches")
    repo = repo or load_repo(settings)
    key = repo.join_key(entity)
    groups = resolve(repo, entity, features, service)
    if not groups:
        raise SegflowError(f"no {entity} feature views built; run `segflow features build`")
    con = connect(settings)
    try:
        if entity_df is None:
            entities = _latest_entities(con, groups, key,
                                        parse_as_of(as_of) if as_of is not None else None)
        else:
            entities = _entity_table(entity_df, key)
        sql, params = join_sql(con, entities, groups, key, order=key if by_key else "__row")
        yield con.sql(sql, params=params)
    finally:
        con.close()


def join_sql(con, entities, groups, key: str, order: str = "__row"):
    """The point-in-time join's SQL over temp table ``e`` (the entity rows, numbered
    ``__row`` in their order) and its parameters: one ASOF LEFT JOIN per view, chained in
    one pass over ``e``, which segflow.dialects turns into interval joins for Spark. A view
    row past its ttl is matched and then blanked (CASE), which gives the same rows as
    dropping it before the join and saves re-joining each view's result to ``e`` by row
    number (five hash joins of every entity row at 10M customers).

    ``con`` is a DuckDB connection (``entities`` an Arrow table or a DuckDB relation) or a
    ``segflow.sqlengine.SparkConnection`` (``entities`` a Spark DataFrame or an Arrow
    table): only the staging of ``e`` differs, the SQL is the same text for both, except
    where every entity row has one time: DuckDB then joins each view's latest snapshot by
    key (``_latest_rows_sql``), Spark keeps the interval joins."""
    from segflow.sqlengine import is_spark

    given, bounds = _stage_entities(con, entities, key)
    params = dict(zip(("min_ts", "max_ts"), bounds, strict=True))
    one_time = bounds[0] is not None and bounds[0] == bounds[1] and not is_spark(con)
    selects, joins = [], []
    for i, (view, feats) in enumerate(groups):
        fresh = None
        if view.feature_view.ttl:
            params[f"ttl_{view.name}"] = int(view.feature_view.ttl.total_seconds() * 1e6)
            fresh = f"v{i}.{TS} >= e.{TS} - to_microseconds($ttl_{view.name})"
        source = _source_sql(view, params["min_ts"] is not None)
        if one_time:
            joins.append(f"LEFT JOIN ({_latest_rows_sql(con, view, source, params)}) v{i} "
                         f"ON e.{key} = v{i}.{key}")
        else:
            joins.append(f"ASOF LEFT JOIN ({source}) v{i} ON e.{key} = v{i}.{key} "
                         f"AND e.{TS} >= v{i}.{TS}")
        selects += [(c, f"CASE WHEN {fresh} THEN v{i}.{c} END AS {c}" if fresh
                     else f"v{i}.{c}") for c in feats]
    names = [name for name, _ in selects]
    if len(set(names)) != len(names):
        raise SegflowError("the same feature name is requested from two views")
    cols = ", ".join([f'e."{c}"' for c in given] + [s for _, s in selects])
    sql = f"SELECT {cols} FROM e {' '.join(joins)} ORDER BY e.{order}"
    return sql, _used(params, sql)


def _used(params: dict, sql: str) -> dict:
    """The parameters ``sql`` refers to (DuckDB refuses one it does not use)."""
    return {k: v for k, v in params.items() if f"${k}" in sql}


def _latest_rows_sql(con, view: View, source: str, params: dict) -> str:
    """When every entity row has the same time T (a whole-population retrieval: scoring,
    the online load), what the ASOF join would match is each key's latest view row at or
    before T: the rows of the view's latest snapshot at T, plus, for entity keys missing
    from that snapshot, their latest row in an earlier one. A hash join on the key then
    replaces the ASOF join, which sorts every row of the view and of ``e`` (81% of the
    retrieval's CPU at 1M). The snapshot's time is put in the SQL as a literal so that
    DuckDB skips the row groups of other snapshots; the earlier snapshots are read only
    when some entity key is missing from the latest (a query on the keys alone)."""
    key = view.join_key
    bound = _used(params, source)
    latest = con.execute(f"SELECT max({TS}) FROM ({source})", bound).fetchall()[0][0]
    if latest is None:
        return f"SELECT * FROM ({source}) WHERE false"
    latest = f"{sql_literal(latest)}::TIMESTAMPTZ"
    snapshot = f"SELECT * FROM ({source}) WHERE {TS} = {latest}"
    missing = f"SELECT {key} FROM e EXCEPT SELECT {key} FROM ({snapshot})"
    if not con.execute(f"SELECT count(*) FROM ({missing})", bound).fetchall()[0][0]:
        return snapshot
    earlier = (f"SELECT * FROM ({source}) WHERE {TS} < {latest} "
               f"AND {key} IN ({missing}) QUALIFY row_number() OVER (PARTITION BY {key} "
               f"ORDER BY {TS} DESC, created_timestamp DESC) = 1")
    return f"{snapshot} UNION ALL ({earlier})"


def _stage_entities(con, entities, key: str) -> tuple[list[str], tuple]:
    """Temp table ``e``: the entity rows numbered ``__row``; returns their columns (without
    ``__row``) and the (min, max) of their times."""
    from segflow.sqlengine import is_spark

    if is_spark(con):
        from segflow.featurestore.retrieval_spark import stage_entities

        return stage_entities(con, entities, key)
    con.register("entity_input", entities)
    con.execute("CREATE TEMP TABLE e AS SELECT *, row_number() OVER () AS __row "
                "FROM entity_input")
    con.unregister("entity_input")
    bounds = con.execute(f"SELECT min({TS}), max({TS}) FROM e").fetchall()[0]
    return [c for c in con.table("e").columns if c != "__row"], bounds
