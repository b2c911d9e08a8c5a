"""Point-in-time feature retrieval on Spark, for a refresh: every entity's features as of
one time, as a lazy Spark DataFrame over the feature snapshots' Parquet.

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


def features_frame(settings: Settings, entity: str, as_of: datetime,
                   repo: Repo | None = None):
    """Every entity's features as of ``as_of`` on the project's Spark (a lazy DataFrame,
    not sorted: the writer partitions it)."""
    from segflow import spark as sp
    from segflow.dialects import to_spark
    from segflow.featurestore.retrieval import resolve

    repo = repo or load_repo(settings)
    key = repo.join_key(entity)
    groups = resolve(repo, entity)
    if not groups:
        raise SegflowError(f"no {entity} feature views built; run `segflow features build`")
    spark = sp.session_of(settings)
    for i, (view, _) in enumerate(groups):
        sp.register_parquet(spark, f"__pit_{i}", view.feature_view.batch_source.path)
    sql, params = point_in_time_sql(groups, key)
    return sp.sql(spark, to_spark(sql), {**params, "as_of": as_of})
