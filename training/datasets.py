"""Point-in-time training sets.

A supervised model learns from a past campaign: the entity frame is (customer, campaign
start) from the campaign outcomes table the model's ``label.table`` names; features come
from the feature store's point-in-time retrieval at that start, so nothing the customer did
after the start can leak in; labels (converted, arm) come from the campaign outcomes. Truth
columns of a synthetic world are attached for evaluation only, never among the features.

The rows are computed on the project's engine (``connection``): DuckDB, or Spark with
``engine: spark``, where the outcomes, the join and the cap (``split.max_rows``, ``capped``)
run as the same SQL text and only the result reaches the driver, as Arrow, for the fit.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pyarrow as pa

from segflow import canonical
from segflow.engines import SPARK
from segflow.errors import SegflowError
from segflow.settings import Settings
from segflow.training.config import ModelConfig

TS = "event_timestamp"


def model_features(settings: Settings, cfg: ModelConfig) -> list[str]:
    """The config's feature list, or its feature service's features, in order."""
    if cfg.features:
        return list(cfg.features)
    from segflow.featurestore.repo import load_repo
    from segflow.featurestore.retrieval import resolve

    groups = resolve(load_repo(settings), cfg.entity, service=cfg.feature_service)
    return [f for _, feats in groups for f in feats]


@contextmanager
def connection(settings: Settings):
    """Where a training frame's rows are computed: an in-memory DuckDB, or the project's
    Spark (``engine: spark``; ``segflow.sqlengine.SparkConnection`` takes the same SQL)."""
    if settings.engine == SPARK:
        from segflow import spark as sp
        from segflow.sqlengine import SparkConnection

        con = SparkConnection(sp.session_of(settings))
    else:
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
    try:
        yield con
    finally:
        con.close()


def fetch(con, sql: str, params: dict | None = None) -> pa.Table:
    """The rows of ``sql`` on the driver, as Arrow (on Spark, sent by the executors as
    Arrow batches): what a fit needs, so the caller bounds it (``split.max_rows``)."""
    from segflow.sqlengine import is_spark

    if is_spark(con):
        return con.execute(sql, params).frame.toArrow()
    return con.sql(sql, params=params or None).to_arrow_table()


def _canonical_view(con, settings: Settings, table: str) -> None:
    """Canonical (or truth) ``table`` as temporary view ``t``, read through the one reader
    of canonical tables (``segflow.canonical``: its incremental loads included)."""
    for folder in (settings.canonical_dir, settings.truth_dir):
        path = folder / f"{table}.parquet"
        if path.exists():
            con.execute(f"CREATE OR REPLACE TEMP VIEW t AS {canonical.sql(path)}")
            return
    raise SegflowError(f"no {table} table in {settings.canonical_dir}; run `segflow ingest`")


def _read_canonical(settings: Settings, table: str, sql: str, params: dict) -> pd.DataFrame:
    """``sql`` over canonical ``table`` (view ``t``), computed on the project's engine."""
    with connection(settings) as con:
        _canonical_view(con, settings, table)
        return fetch(con, sql, params).to_pandas()


def _entities_sql(cfg: ModelConfig) -> str:
    """customer_id, event_timestamp (= campaign start), label (0/1), treatment (0/1) of
    the label campaign's outcomes (view ``t``), in customer order."""
    return (f'SELECT customer_id, campaign_start AS {TS}, '
            f'CAST("{cfg.label["outcome"]}" AS INTEGER) AS label, '
            "CAST(arm = 'treatment' AS INTEGER) AS treatment FROM t "
            "WHERE campaign_id = $campaign ORDER BY customer_id")


def _no_outcomes(cfg: ModelConfig) -> SegflowError:
    return SegflowError(f"{cfg.path}: campaign '{cfg.label['campaign']}' has no outcomes in "
                        f"{cfg.label['table']}")


def ensure_features(settings: Settings, as_ofs: list[datetime], entity: str) -> list[str]:
    """Build the entity's views as of each time that has no snapshot yet; returns the views
    built. Training never reads a snapshot taken later than its entity rows. The snapshot
    times are read on the project's engine (a file or the folder a Spark build writes)."""
    from segflow.featurestore.engine import sql_literal
    from segflow.featurestore.repo import load_repo

    repo = load_repo(settings)
    stale = []
    with connection(settings) as con:
        for view in repo.views_of(entity):
            path = settings.features_dir / f"{view.name}.parquet"
            have = set()
            if path.exists():
                have = {pd.Timestamp(t) for t in fetch(
                    con, f"SELECT DISTINCT {TS} FROM read_parquet({sql_literal(path)})"
                )[TS].to_pylist()}
            if any(pd.Timestamp(t) not in have for t in as_ofs):
                stale.append(view.name)
    if stale:
        from segflow.featurestore.build import build_features

        build_features(settings, list(as_ofs), views=stale, repo=repo)
    return stale


def with_truth(settings: Settings, frame: pd.DataFrame, campaign: str) -> pd.DataFrame:
    """Attach true_p0/true_tau of a synthetic world (for evaluation) when they exist."""
    path = settings.truth_dir / f"{campaign}_truth.parquet"
    if not path.exists():
        return frame
    truth = pd.read_parquet(path, columns=["customer_id", "true_p0", "true_tau"])
    return frame.merge(truth, on="customer_id", how="left")


@dataclass(frozen=True)
class Prepared:
    """A model's training rows on the driver, and how they were prepared: the engine that
    computed them and, under ``split.max_rows``, the rows there were before the cap."""

    frame: pd.DataFrame
    engine: str
    max_rows: int | None = None
    available: int | None = None

    def tags(self) -> dict[str, str]:
        """What the MLflow run records of the preparation."""
        out = {"data_engine": self.engine}
        if self.max_rows is not None:
            out.update(sample_max_rows=str(self.max_rows), sample_rows=str(len(self.frame)),
                       sample_rows_available=str(self.available))
        return out


def campaign_training_frame(settings: Settings, cfg: ModelConfig,
                            features: list[str]) -> Prepared:
    """Entity rows of the label campaign with point-in-time features, labels and truth.
    The outcomes, the cap and the join run on the project's engine; only the (capped)
    result comes to the driver."""
    from segflow.featurestore.retrieval import get_features

    with connection(settings) as con:
        _canonical_view(con, settings, cfg.label["table"])
        con.execute(f"CREATE OR REPLACE TEMP TABLE label_rows AS {_entities_sql(cfg)}",
                    {"campaign": cfg.label["campaign"]})
        stamps = fetch(con, f"SELECT DISTINCT {TS} FROM label_rows ORDER BY 1")[TS]
        if not len(stamps):
            raise _no_outcomes(cfg)
        ensure_features(settings, stamps.to_pylist(), cfg.entity)
        rows, available = capped(con, "label_rows", cfg.join_key, cfg.split)
        ordered = f"SELECT * FROM {rows} ORDER BY {cfg.join_key}"
        # on Spark the entity rows stay there (the join numbers them in this order)
        entities = con.execute(ordered).frame if settings.engine == SPARK else \
            fetch(con, ordered)
        table = get_features(settings, cfg.entity, entity_df=entities, features=features)
    frame = with_truth(settings, table.to_pandas(), cfg.label["campaign"])
    return _prepared(settings, cfg, frame, available)


def _prepared(settings: Settings, cfg: ModelConfig, frame: pd.DataFrame,
              available: int | None) -> Prepared:
    return Prepared(frame, settings.engine, cfg.split.get("max_rows"), available)


def capped(con, relation: str, key: str, split: dict) -> tuple[str, int | None]:
    """``relation`` bounded by ``split.max_rows`` (the name of what to read, and the rows
    there were; the relation itself and None without a cap): the rows whose key has the
    smallest md5 under ``split.seed`` (ties by key), in key order. md5 is RFC 1321's on
    every engine, so DuckDB and Spark keep the same rows; a key's place does not move when
    others are added, so a bigger cap keeps every row of a smaller one."""
    limit = split.get("max_rows")
    if limit is None:
        return relation, None
    available = con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {relation}_capped AS SELECT * FROM ("
                f"SELECT * FROM {relation} ORDER BY md5(CAST({key} AS VARCHAR) || ':' || "
                f"$sample_seed), {key} LIMIT {int(limit)}) ORDER BY {key}",
                {"sample_seed": str(split["seed"])})
    return f"{relation}_capped", int(available)


def snapshot_frame(settings: Settings, cfg: ModelConfig, features: list[str],
                   as_of: datetime) -> Prepared:
    """Every entity's features as of ``as_of`` (unsupervised models), on the project's
    engine, capped there (``split.max_rows``) before they come to the driver."""
    from segflow.featurestore.retrieval import get_features

    ensure_features(settings, [as_of], cfg.entity)
    with connection(settings) as con:
        table = None
        if settings.engine == SPARK:
            from segflow.featurestore.retrieval_spark import retrieved_frame

            retrieved_frame(settings, cfg.entity, as_of, features=features) \
                .createOrReplaceTempView("snapshot_rows")
        else:
            table = get_features(settings, cfg.entity, as_of=as_of, features=features)
            con.register("snapshot_rows", table)
        rows, available = capped(con, "snapshot_rows", cfg.join_key, cfg.split)
        if table is None or available is not None:  # DuckDB's whole table is not copied
            table = fetch(con, f"SELECT * FROM {rows} ORDER BY {cfg.join_key}")
    frame = table.to_pandas()
    return _prepared(settings, cfg, with_planted(settings, cfg, frame), available)


def with_planted(settings: Settings, cfg: ModelConfig, frame: pd.DataFrame) -> pd.DataFrame:
    """Attach ``true_anomaly`` (what a synthetic world planted, null elsewhere) from the
    config's ``label.truth`` table, for evaluation only, when that table exists."""
    table = cfg.label.get("truth")
    path = settings.truth_dir / f"{table}.parquet" if table else None
    if path is None or not path.exists():
        return frame
    truth = pd.read_parquet(path).rename(columns={"anomaly": "true_anomaly"})
    return frame.merge(truth[[cfg.join_key, "true_anomaly"]], on=cfg.join_key, how="left")


def notes_frame(settings: Settings, cfg: ModelConfig) -> Prepared:
    """Every account note (at most ``split.max_rows``, capped on the project's engine):
    note_id, account_id, note_ts, text, ``label`` (the topic a reviewer confirmed, null
    where none did) and, on a synthetic world, ``true_topic`` (the generator's, for
    evaluation only)."""
    with connection(settings) as con:
        _canonical_view(con, settings, cfg.notes_table)
        con.execute("CREATE OR REPLACE TEMP TABLE note_rows AS "
                    "SELECT note_id, account_id, note_ts, text FROM t")
        rows, available = capped(con, "note_rows", "note_id", cfg.split)
        notes = fetch(con, f"SELECT * FROM {rows}").to_pandas()
    label = cfg.label
    for table, column in ((label["table"], "label"), (label.get("truth"), "true_topic")):
        found = table and any((d / f"{table}.parquet").exists()
                              for d in (settings.canonical_dir, settings.truth_dir))
        if found:
            labels = _read_canonical(settings, table,
                                     f'SELECT note_id, "{label["outcome"]}" AS {column} '
                                     "FROM t", {})
            notes = notes.merge(labels.drop_duplicates("note_id", keep="last"),
                                on="note_id", how="left")
        else:
            notes[column] = pd.Series(pd.NA, index=notes.index, dtype="string")
    return _prepared(settings, cfg, notes.sort_values("note_id").reset_index(drop=True),
                     available)
