"""Point-in-time feature retrieval on Spark: every entity's features as of one time (a
refresh, an unsupervised model's training rows), or the features of given entity rows each
at its own time (a supervised model's training rows), as lazy Spark DataFrames over the
feature snapshots' Parquet.

The same semantics as ``segflow.featurestore.retrieval`` (Feast's): the entities are those
of each view's latest snapshot at or before ``as_of``; each view gives the row of the
entity's latest snapshot at or before ``as_of`` (ties on time to the latest
``created_timestamp``), or nulls when that row is older than the view's ttl or there is
none. A refresh stamps every entity with the one as-of time, so the ASOF join of the DuckDB
retrieval reduces to "latest row per key at or before ``as_of``": one window per view
instead of an interval join over every snapshot.

The query is written once, in DuckDB's dialect, and translated for Spark by
``segflow.dialects`` (``QUALIFY`` becomes a sub-query, the ttl's ``to_microseconds`` an
interval); ``segflow.spark`` runs it. Nothing is collected: the caller writes the frame.

Entity rows each at their own time (``retrieved_frame`` with an entity frame) take the
DuckDB retrieval's own join, ``segflow.featurestore.retrieval.join_sql``: the same SQL
text, its ASOF joins written by ``segflow.dialects`` as interval joins, run through
``segflow.sqlengine.SparkConnection``; only the staging of the entity rows (``e``) is
Spark's (``stage_entities``).
"""

from __future__ import annotations

from datetime import datetime

from segflow.errors import SegflowError
from segflow.featurestore.repo import Repo, load_repo
from segflow.settings import Settings

TS = "event_timestamp"


def point_in_time_sql(groups, key: str) -> tuple[str, dict]:
    """DuckDB SQL of the retrieval over temporary views ``__pit_<i>`` (one per view of
    ``groups``, as ``retrieval.resolve`` gives them), and the ttl parameters it binds
    (``$as_of`` is the caller's). Columns: key, event_timestamp, then each view's features
    in request order."""
    params: dict = {}
    latest, selects, joins, keys = [], [], [], []
    for i, (view, feats) in enumerate(groups):
        cols = ", ".join(f'"{c}"' for c in feats)
        latest.append(
            f"s{i} AS (SELECT {key}, {TS}, {cols} FROM __pit_{i} WHERE {TS} <= $as_of "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {TS} DESC, "
            "created_timestamp DESC) = 1)")
        keys.append(f"SELECT {key} FROM __pit_{i} WHERE {TS} = (SELECT max({TS}) FROM "
                    f"__pit_{i} WHERE {TS} <= $as_of)")
        ttl = view.feature_view.ttl
        fresh = ""
        if ttl:
            params[f"ttl_{i}"] = int(ttl.total_seconds() * 1e6)
            fresh = f" AND s{i}.{TS} >= $as_of - to_microseconds($ttl_{i})"
        joins.append(f"LEFT JOIN s{i} ON s{i}.{key} = e.{key}{fresh}")
        selects += [f's{i}."{c}"' for c in feats]
    names = [s.split(".", 1)[1] for s in selects]
    if len(set(names)) != len(names):
        raise SegflowError("the same feature name is requested from two views")
    sql = (f"WITH e AS ({' UNION '.join(keys)}), {', '.join(latest)} "
           f"SELECT e.{key}, CAST($as_of AS TIMESTAMPTZ) AS {TS}"
           f"{', ' if selects else ''}{', '.join(selects)} FROM e {' '.join(joins)}")
    return sql, params


def features_frame(settings: Settings, entity: str, as_of: datetime | None,
                   repo: Repo | None = None, features=None, service=None):
    """Every entity's features as of ``as_of`` (None: the latest snapshot built) on the
    project's Spark (a lazy DataFrame, not sorted: the writer partitions it); ``features``
    or ``service`` choose them as ``retrieval.resolve`` does (default: every feature)."""
    from segflow import spark as sp
    from segflow.dialects import to_spark
    from segflow.featurestore.retrieval import resolve

    repo = repo or load_repo(settings)
    key = repo.join_key(entity)
    groups = resolve(repo, entity, features, service)
    if not groups:
        raise SegflowError(f"no {entity} feature views built; run `segflow features build`")
    spark = sp.session_of(settings)
    for i, (view, _) in enumerate(groups):
        sp.register_parquet(spark, f"__pit_{i}", view.feature_view.batch_source.path)
    if as_of is None:
        as_of = _latest_built(spark, len(groups))
    sql, params = point_in_time_sql(groups, key)
    return sp.sql(spark, to_spark(sql), {**params, "as_of": as_of})


def _latest_built(spark, views: int) -> datetime:
    """The latest snapshot time of the views registered as ``__pit_<i>`` (as DuckDB's
    retrieval defaults to it), one value read back."""
    union = " UNION ALL ".join(f"SELECT max({TS}) AS t FROM __pit_{i}" for i in range(views))
    (value,) = spark.sql(f"SELECT max(t) AS t FROM ({union})").toArrow()["t"].to_pylist()
    if value is None:
        raise SegflowError("no feature snapshots built yet")
    return value


def retrieved_frame(settings: Settings, entity: str, as_of=None, entity_df=None,
                    features=None, service=None, repo: Repo | None = None):
    """``retrieval.get_features`` on Spark, as a lazy DataFrame in the order DuckDB's gives:
    with ``entity_df`` (a Spark DataFrame, or an Arrow table or pandas frame the caller
    holds) each entity row's features at its own time, in the rows' order (the DuckDB
    join, ``join_sql``); without, every entity of the latest snapshot at ``as_of``, by key
    (``features_frame``)."""
    from segflow import spark as sp
    from segflow.featurestore.retrieval import join_sql, resolve
    from segflow.sqlengine import SparkConnection
    from segflow.timeutil import parse_as_of

    repo = repo or load_repo(settings)
    key = repo.join_key(entity)
    if entity_df is None:
        when = parse_as_of(as_of) if as_of is not None else None
        return features_frame(settings, entity, when, repo, features, service).orderBy(key)
    groups = resolve(repo, entity, features, service)
    if not groups:
        raise SegflowError(f"no {entity} feature views built; run `segflow features build`")
    con = SparkConnection(sp.session_of(settings))
    sql, params = join_sql(con, entity_df, groups, key)
    return con.execute(sql, params).frame


def stage_entities(con, entities, key: str) -> tuple[list[str], tuple]:
    """The entity rows as Spark's temporary view ``e``, numbered ``__row`` in their order,
    for ``join_sql``; returns their columns and the (min, max) of their times (one row
    read back). A DataFrame is numbered by the executors (``monotonically_increasing_id``,
    increasing in the frame's order: give it an ORDER BY); a table the caller holds is
    numbered here and sent as it is."""
    import pyarrow as pa
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    from segflow.featurestore.retrieval import _entity_table

    if isinstance(entities, DataFrame):
        missing = {key, TS} - set(entities.columns)
        if missing:
            raise SegflowError(f"entity_df lacks column(s) {sorted(missing)}")
        frame = entities.withColumn(TS, F.col(TS).cast("timestamp")) \
            .withColumn("__row", F.monotonically_increasing_id())
    else:
        table = _entity_table(entities, key)
        frame = con.spark.createDataFrame(table.append_column(
            "__row", pa.array(range(table.num_rows), pa.int64())))
    frame.createOrReplaceTempView("e")
    bounds = frame.agg(F.min(TS).alias("lo"), F.max(TS).alias("hi")).toArrow().to_pylist()[0]
    return [c for c in frame.columns if c != "__row"], (bounds["lo"], bounds["hi"])
