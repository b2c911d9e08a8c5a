"""``segflow compare`` on Spark: the champions score the features by the executors into a
staged Parquet folder (``score_on_spark``, as preview does) or a run's scored features are
read where the run wrote them; the cohorts are evaluated there (``evaluate_on_spark``) and
the comparison is the same SQL as on DuckDB (``segflow.scoring.compare.compare_on``) run
through ``segflow.sqlengine``. What reaches the driver: the legacy list (the file the user
gave, read as on DuckDB), the counts, and the features and rule matches of the few
disagreements shown. The staged folder is removed, so nothing is written."""

from __future__ import annotations

from pathlib import Path

from segflow.scoring.compare import Legacy, compare_on, rows_sql
from segflow.scoring.resolve import Resolved
from segflow.settings import Settings
from segflow.staging import staged_path

VIEWS = ("frame", "specs", "m", "rules", "listed", "joined")


def compare_on_spark(settings: Settings, resolved: Resolved, legacy: Legacy, limit: int,
                     as_of=None, features: Path | None = None) -> dict:
    """The comparison of the features scored as of ``as_of`` (or of a run's scored
    ``features`` folder, read as written) with the legacy list."""
    import shutil

    from segflow import spark as sp
    from segflow.progress import stage
    from segflow.scoring.runfiles import spark_frame
    from segflow.scoring.score_spark import score_on_spark

    spark = sp.session_of(settings)
    staged = None
    try:
        if features is None:
            staged = staged_path(settings, "compare")
            with stage(f"scored {resolved.campaign.name}"):
                score_on_spark(settings, resolved, as_of, staged)
            features = staged
        with stage("compared cohorts with the list"):
            return _compared(spark, spark_frame(spark, features), resolved, legacy, limit)
    finally:
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)


def _compared(spark, frame, resolved: Resolved, legacy: Legacy, limit: int) -> dict:
    """``compare_on`` over the scored DataFrame ``frame``, its memberships computed once
    and kept by the executors (a local checkpoint, as preview's: a replaced view would drop
    a cached plan)."""
    from segflow.scoring.evaluate_spark import evaluate_on_spark
    from segflow.sqlengine import SparkConnection

    con = SparkConnection(spark)
    try:
        memberships = evaluate_on_spark(spark, frame, resolved, None)  # registers ``frame``
        memberships.localCheckpoint(eager=True).createOrReplaceTempView("m")
        return compare_on(con, resolved, legacy, limit,
                          lambda ids: _details(spark, con, resolved, ids))
    finally:
        for name in VIEWS:
            spark.catalog.dropTempView(name)
        con.close()


def _details(spark, con, resolved: Resolved, ids: list[str]):
    """The shown entities' scored features (Arrow) and, for each, whether it meets each
    cohort's rule, top fraction ranked over the whole frame (``spark_matches_sql``, as
    preview's matches): only these rows come back."""
    from pyspark.sql import functions as F

    from segflow.scoring.evaluate_spark import run_on_spark, spark_matches_sql

    rows = con.execute(rows_sql(resolved, ids)).frame.toArrow()
    params: dict = {}
    matches = run_on_spark(spark, spark_matches_sql(resolved, params), params)
    cohorts = [f"_c{i}" for i in range(len(resolved.cohorts))]
    found = matches.where(F.col("entity_id").isin(ids)).select("entity_id", *cohorts)
    return rows, {r[0]: list(r[1:]) for r in found.collect()}
