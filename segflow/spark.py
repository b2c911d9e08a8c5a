"""Running a stage's SQL on Apache Spark: the session, the workspace's tables as Spark
views, and Parquet written by the executors.

This is the one place that knows Spark (``engine: spark``, docs/scale-out.md). A stage
gives it SQL written in DuckDB's dialect, already translated by ``segflow.dialects``, with
its named parameters, and gets a lazy DataFrame back; it writes results with
``write_parquet``. Nothing here collects rows to the driver: what a stage reads back is a
count or a schema, never a number of rows that grows with the customers.

pyspark is the ``spark`` extra (``pip install 'segflow[spark]'``) and needs a Java runtime
(17 or later); both are imported or looked for only when a project runs on Spark.
"""

from __future__ import annotations

import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segflow import OMP_SPIN
from segflow.errors import EnvironmentFailure, SegflowError
from segflow.logs import quieted
from segflow.staging import put_in_place, remove

if TYPE_CHECKING:
    from segflow.engines import SparkSettings
    from segflow.settings import Settings

# Defaults under the project's own `spark.conf`. One that segflow's results depend on:
# Parquet timestamps as microseconds (DuckDB, Arrow and Feast read them; Spark's default
# INT96 is deprecated); no ANSI surprises hidden: the translated SQL guards its divisions.
# One for people: Spark's console progress bars off, since a segflow command reports its
# own steps, one line each, and the bars interleave with them on the terminal.
# Two for speed: executors' OpenMP threads spin briefly, then sleep (segflow.OMP_SPIN);
# and no constraint propagation in the optimiser, whose cost grows with a plan's predicates
# and aliases, not its rows: a campaign's evaluation is one query holding every template's
# rule and each ranked cohort's per-group tables, and inferring constraints over it took
# most of the driver's planning (docs/scale-out.md measures it). It only adds filters the
# query implies (IsNotNull on join keys, a constant carried across an equi-join), so
# results cannot change; a project whose views join on keys that are often null may want
# them back (`spark.sql.constraintPropagation.enabled: "true"` in its conf).
DEFAULTS = {"spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.constraintPropagation.enabled": "false",
            f"spark.executorEnv.{OMP_SPIN[0]}": OMP_SPIN[1]}

DRIVER_OPTIONS = "spark.driver.extraJavaOptions"
LOG_CONFIG = Path(__file__).with_name("spark_log4j2.properties")

# Spark type (simpleString) -> the DuckDB type name a view declares (featurestore.build)
DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER",
                "double": "DOUBLE", "float": "FLOAT", "boolean": "BOOLEAN",
                "timestamp": "TIMESTAMP WITH TIME ZONE", "timestamp_ntz": "TIMESTAMP",
                "date": "DATE", "smallint": "SMALLINT", "tinyint": "TINYINT"}


def java_missing() -> str | None:
    """Why Spark cannot start here (no Java runtime found), or None when one is."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return None
    if shutil.which("java"):
        return None
    return ("engine: spark needs a Java runtime (17 or later) and none was found: install "
            "one (Debian/Ubuntu: apt-get install default-jre-headless) or set JAVA_HOME")


def session_conf(spark: SparkSettings, warehouse: Path | None = None) -> dict[str, str]:
    """The settings a session starts with: segflow's defaults, the workspace's warehouse
    folder, then the project's own ``spark.conf`` over both. The warehouse is set because
    Spark's default (``./spark-warehouse``) drops a folder into whatever directory the user
    ran the command from; a project's conf may still point it elsewhere. A command run
    without ``--verbose`` starts its own JVM quiet (``quiet_conf``)."""
    where = {"spark.sql.warehouse.dir": str(warehouse)} if warehouse is not None else {}
    conf = {**DEFAULTS, **where, **spark.conf_dict}
    return quiet_conf(conf) if spark.master and quieted() else conf


def quiet_conf(conf: dict[str, str]) -> dict[str, str]:
    """``conf`` with Spark's chatter kept off the terminal: the JVM logs errors only
    (``spark_log4j2.properties``; Spark's default profile prints dozens of WARN lines a
    refresh, between segflow's progress lines), and the Python workers show no library
    warnings, as segflow's own process does not. A project's own logging configuration in
    ``spark.driver.extraJavaOptions`` or its workers' PYTHONWARNINGS are kept as they are."""
    options = conf.get(DRIVER_OPTIONS, "")
    out = dict(conf)
    if "log4j" not in options:
        out[DRIVER_OPTIONS] = f"{options} -Dlog4j2.configurationFile=file:{LOG_CONFIG}".strip()
    out.setdefault("spark.executorEnv.PYTHONWARNINGS", "ignore")
    return out


def session(spark: SparkSettings, warehouse: Path | None = None):
    """The SparkSession for a project's ``spark:`` setting (created once per process;
    Spark keeps one active session, so a second project's setting reuses it with its SQL
    settings applied; the warehouse folder, a static setting, stays the first one's)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EnvironmentFailure("engine: spark needs pyspark, the `spark` extra: pip install "
                                 "'segflow[spark]'") from None
    conf = session_conf(spark, warehouse)
    # Python UDFs (scoring's spark_udf) run in workers started with this interpreter, which
    # has segflow's libraries; a cluster sets its own (PYSPARK_PYTHON, spark.pyspark.python)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if spark.connect_url:
        builder = SparkSession.builder.remote(spark.connect_url)
    else:
        missing = java_missing()
        if missing:
            raise EnvironmentFailure(missing)
        builder = SparkSession.builder.master(spark.master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.appName("segflow").getOrCreate()


def session_of(settings: Settings):
    """The session of the workspace's project (``engine: spark`` and its ``spark:``)."""
    if settings.spark is None:
        raise SegflowError(f"{settings.project.file}: engine: spark needs a `spark:` section")
    return session(settings.spark, settings.home / "spark-warehouse")


def sql(spark, text: str, params: dict[str, Any] | None = None):
    """A lazy DataFrame of Spark SQL with named parameters (``:name``; lists become arrays,
    timezone-aware times timestamps)."""
    args = {k: _literal(v) for k, v in (params or {}).items()}
    return spark.sql(text, args=args) if args else spark.sql(text)


def _literal(value):
    from pyspark.sql import functions as F

    if isinstance(value, list | tuple):
        return F.array(*[F.lit(v) for v in value])
    if isinstance(value, datetime):
        return F.lit(value)
    return value


def register_arrow(spark, name: str, table) -> None:
    """A small Arrow table (configuration, never customers) as a temporary view."""
    spark.createDataFrame(table.to_pandas()).createOrReplaceTempView(name)


def register_parquet(spark, name: str, path: Path, live: list[Path] | None = None,
                     key: str | None = None) -> None:
    """``path`` (a Parquet file or a folder of them; a canonical table's base with its
    deltas) as temporary view ``name``; with
    ``live`` event files, their rows whose ``key`` the table does not hold yet are appended
    (one per key), as ``segflow.featurestore.engine`` does for DuckDB; where ``path`` does
    not exist yet, the live rows alone (one per key)."""
    from segflow.canonical import deltas

    if not Path(path).exists():   # before the table's first load: its live rows alone
        events = spark.read.option("mergeSchema", "true").parquet(*map(str, live or []))
        events.dropDuplicates([key]).createOrReplaceTempView(name)
        return
    frame = spark.read.parquet(str(path))
    # a canonical table's incremental loads since its base (segflow.canonical), merged in
    # order: each load's keys replace or remove the earlier rows, then its rows are added
    for _, rows, keys in deltas(Path(path)):
        decided = spark.read.parquet(str(keys))
        frame = frame.join(decided, on=decided.columns, how="left_anti") \
            .unionByName(spark.read.parquet(str(rows)))
    if live:
        events = spark.read.option("mergeSchema", "true").parquet(*map(str, live))
        fresh = events.join(frame.select(key), on=key, how="left_anti").dropDuplicates([key])
        frame = frame.unionByName(fresh, allowMissingColumns=True)
    frame.createOrReplaceTempView(name)


def duckdb_types(frame) -> list[tuple[str, str]]:
    """(column, DuckDB type name) of a DataFrame, to compare with what a view declares."""
    return [(f.name, DUCKDB_TYPES.get(f.dataType.simpleString(),
                                      f.dataType.simpleString().upper()))
            for f in frame.schema.fields]


def write_parquet(frame, path: Path) -> None:
    """Write ``frame`` as a folder of Parquet files at ``path`` (one file per partition,
    written by the executors), replacing what was there: the new folder is written beside
    it and renamed into place, so a failed write leaves the old one whole."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    remove(tmp)
    frame.write.mode("overwrite").parquet(str(tmp))
    put_in_place(tmp, path)


def fingerprint(frame) -> str:
    """A hash of a DataFrame's content, whatever its row order or partitioning: the sum of
    each row's 64-bit hash (as a 38-digit decimal: no overflow below 10^19 rows) and the
    row count, computed by the executors. What a run records of a Parquet folder, whose
    part files' names and order change from one write to the next."""
    from pyspark.sql import functions as F

    row = frame.agg(F.sum(F.xxhash64(*[F.col(f"`{c}`") for c in frame.columns])
                          .cast("decimal(38,0)")), F.count(F.lit(1))).first()
    return f"xxhash64-sum:{row[0] or 0}:{row[1]}"


def write_partitioned(frame, path: Path, column: str) -> None:
    """Write ``frame`` as a folder of Parquet files at ``path`` partitioned Hive-style by
    ``column`` (``<column>=<value>/part-*.parquet``, NULL in ``__HIVE_DEFAULT_PARTITION__``),
    by the executors, replacing what was there as ``write_parquet`` does. With no rows Spark
    writes no partition and so no schema: one empty part file holding every column is
    written instead, so a reader still finds the columns (``segflow.scoring.runfiles``)."""
    path = Path(path)
    staged = path.with_name(path.name + ".partitioned")
    remove(staged)
    frame.write.mode("overwrite").partitionBy(column).parquet(str(staged))
    if not any(staged.glob("*/*.parquet")):
        frame.limit(0).coalesce(1).write.mode("append").parquet(str(staged))
    put_in_place(staged, path)
