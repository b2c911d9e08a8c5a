"""``segflow preview`` on Spark: the champions score the features by the executors into a
staged Parquet folder (``score_on_spark``, as a refresh does), the cohorts are evaluated
there (``evaluate_on_spark``) and the preview's counts are the same SQL as on DuckDB
(``segflow.scoring.preview.preview_on``) run through ``segflow.sqlengine``. Only counts
reach the driver; the staged folder is removed, so nothing is written."""

from __future__ import annotations

from typing import Any

from segflow.scoring.preview import Preview, preview_on
from segflow.scoring.resolve import Resolved
from segflow.settings import Settings
from segflow.staging import staged_path


def preview_frame_on_spark(spark, frame, resolved: Resolved,
                           baseline: Resolved | None = None) -> Preview:
    """The preview of the scored Spark DataFrame ``frame``: memberships and rule matches
    computed once and kept by the executors (a local checkpoint) while the counts are read.

    Not ``persist()``: each evaluation and the matches' query register their inputs again
    (``frame``, ``specs``, the staged CTEs), and Spark, replacing a temporary view, drops
    every cached plan that reads the old one. The memberships were then computed again for
    each count (16 Spark jobs each time on the tests' 300-customer world; 50 for the three
    counts of one status table). A checkpoint reads no view, so nothing drops it; Spark's
    cleaner frees its blocks once the frame is released, as it does the staged CTEs'."""
    from segflow.scoring.evaluate_spark import (
        evaluate_on_spark,
        run_on_spark,
        spark_matches_sql,
    )
    from segflow.sqlengine import SparkConnection

    def view(name: str, df) -> None:
        df.localCheckpoint(eager=True).createOrReplaceTempView(name)

    con = SparkConnection(spark)
    try:
        if baseline is not None:
            view("m_before", evaluate_on_spark(spark, frame, baseline, None))
        view("m", evaluate_on_spark(spark, frame, resolved, None))  # registers ``frame`` too
        params: dict[str, Any] = {}
        view("matches", run_on_spark(spark, spark_matches_sql(resolved, params), params))
        return preview_on(con, resolved, baseline is not None)
    finally:
        for name in ("m", "m_before", "matches", "s"):
            spark.catalog.dropTempView(name)
        con.close()


def preview_on_spark(settings: Settings, resolved: Resolved, as_of,
                     baseline: Resolved | None = None) -> Preview:
    """Score (into a staged folder of the workspace's runs, removed after) and preview."""
    import shutil

    from segflow import spark as sp
    from segflow.progress import stage
    from segflow.scoring.score_spark import score_on_spark

    staged = staged_path(settings, "preview")
    try:
        with stage(f"scored {resolved.campaign.name}"):
            score_on_spark(settings, resolved, as_of, staged)
        spark = sp.session_of(settings)
        with stage("evaluated cohorts, funnels and overlaps"):
            return preview_frame_on_spark(spark, spark.read.parquet(str(staged)), resolved,
                                          baseline)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
