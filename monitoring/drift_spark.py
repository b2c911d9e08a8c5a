"""The drift check of a Spark run: each side reduced by the executors to a bounded,
deterministic sample, then checked exactly as on DuckDB.

The drift views (Evidently's per-column tests, cohort composition, bias) are computed on
this machine. On ``engine: spark`` a side can be hundreds of millions of customers, so
before anything reaches this machine the executors keep at most ``drift.sample_size``
customers of each side: those with the smallest ``xxhash64(entity id, drift.seed)`` (ties
by id), the same customers on both sides wherever they are in both, the same sample on
every check. Their features, and their membership rows, are written under the run's
``drift/sample/`` folder; ``segflow.monitoring.drift`` reads those files as it reads a
DuckDB run's. What grows with the customers never passes through the driver: the executors
sort and cut (a per-partition top-N, then one merge on an executor) and write the files;
the driver reads back one count per side.

So on Spark every drift view, composition and bias included, is computed on the sample,
and the result says so (``sample.engine``, ``sample.customers``: the cap, and each side's
rows of how many). When the cap covers every customer the sample is the whole side and the
verdict is DuckDB's (tested).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from segflow.errors import SegflowError
from segflow.monitoring.reference import Side
from segflow.settings import Settings

ID_COLUMNS = ("entity_id", "customer_id", "account_id")


def sampled_sides(settings: Settings, current: Side, reference: Side, size: int, seed: int,
                  folder: Path) -> tuple[Side, Side]:
    """Both sides as their samples under ``folder`` (``current/``, ``reference/``)."""
    from segflow import spark as sp

    spark = sp.session_of(settings)
    return (sample_side(spark, current, size, seed, folder / "current"),
            sample_side(spark, reference, size, seed, folder / "reference"))


def sample_order(frame, key: str, seed: int) -> list:
    """The order a sample is taken in: a 64-bit hash of the id with the seed, then the id
    (the same id draws the same place on every run and both sides)."""
    from pyspark.sql import functions as F

    ident = F.col(f"`{key}`").cast("string")
    return [F.xxhash64(ident, F.lit(int(seed))), ident]


def sample_side(spark, side: Side, size: int, seed: int, folder: Path) -> Side:
    """``side`` reduced by the executors to at most ``size`` customers, written under
    ``folder`` (features, and their memberships when the side has them); the returned
    side points at the sample and records the side's full row count."""
    from pyspark.sql import functions as F

    from segflow import spark as sp
    from segflow.scoring.runfiles import spark_frame

    features = spark_frame(spark, side.features)
    key = next((c for c in ID_COLUMNS if c in features.columns), None)
    if key is None:
        raise SegflowError(f"{side.features}: no entity id column (one of {ID_COLUMNS})")
    rows = features.count()
    picked = features.orderBy(*sample_order(features, key, seed)).limit(int(size))
    out = folder / "features.parquet"
    sp.write_parquet(picked.coalesce(1), out)
    memberships = None
    if side.memberships is not None:
        ids = spark.read.parquet(str(out)).select(F.col(f"`{key}`").cast("string")
                                                  .alias("entity_id"))
        members = spark_frame(spark, side.memberships).join(ids, "entity_id", "left_semi")
        memberships = folder / "memberships.parquet"
        sp.write_parquet(members.coalesce(1), memberships)
    return replace(side, features=out, memberships=memberships, rows=rows)
