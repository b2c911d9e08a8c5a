"""``segflow feedback`` on Spark: the tables it reads registered as the executors read them.

Feedback's SQL (``segflow.monitoring.feedback``, ``experiments``) is the same on both
engines and runs through ``segflow.sqlengine``; only how each table becomes a view differs.
On Spark a canonical table is its base, its incremental loads and the live rows the
real-time receiver appended (``segflow.spark.register_parquet``, the reading DuckDB's
``segflow.canonical.source`` and ``with_live`` do), and a Spark run's memberships are its
folder partitioned by cohort (``spark_frame``)."""

from __future__ import annotations

from pathlib import Path

from segflow.settings import Settings


def register_tables(spark, settings: Settings, outcomes: Path, customers: Path,
                    surveys: Path | None, memberships: Path | None,
                    bau_list: Path | None) -> None:
    """Views ``outcomes_all``, ``customers`` (empty where ingest loaded none), ``surveys``
    (where given; with its live rows, as on DuckDB), ``members`` and ``bau`` (the uploaded
    list, CSV with a header or Parquet; where given) on the project's Spark session."""
    from segflow import spark as sp
    from segflow.featurestore.engine import live_rows
    from segflow.scoring.runfiles import spark_frame

    sp.register_parquet(spark, "outcomes_all", outcomes)
    if customers.exists():
        sp.register_parquet(spark, "customers", customers)
    else:
        spark.sql("SELECT CAST(NULL AS STRING) AS customer_id WHERE false") \
            .createOrReplaceTempView("customers")
    if surveys is not None:
        sp.register_parquet(spark, "surveys", surveys, *live_rows(settings, surveys))
    if memberships is not None:
        spark_frame(spark, Path(memberships)).createOrReplaceTempView("members")
    if bau_list is not None:
        frame = spark.read.parquet(str(bau_list)) if bau_list.suffix == ".parquet" else \
            spark.read.option("header", "true").csv(str(bau_list))
        frame.createOrReplaceTempView("bau")
