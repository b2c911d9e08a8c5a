"""Where a feature build computes: the same steps on DuckDB (this machine) or Spark.

``segflow.featurestore.build`` holds the stage's logic once (which views, which as-ofs, the
checks of shape and keys, the stamps, the snapshots kept); a runner does each step on its
engine. A relation is a DuckDB temp table name or a Spark DataFrame; what a runner hands
back to the stage is a schema or a count, never rows.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from segflow.errors import SegflowError
from segflow.faults import reach
from segflow.featurestore.engine import (
    canonical_connection,
    canonical_tables,
    register_derived,
    sql_literal,
)
from segflow.settings import Settings

UNIQUE_FLAG = "segflow_unique_snapshots"


def runner_for(settings: Settings):
    """The runner of the project's engine, with the workspace's tables registered."""
    from segflow.engines import SPARK

    return SparkRunner(settings) if settings.engine == SPARK else DuckRunner(settings)


class DuckRunner:
    """A feature build on an in-memory DuckDB connection over the workspace's Parquet."""

    engine = "duckdb"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.con, self.available = canonical_connection(settings)
        self._n = 0

    def relation(self, view, params: dict):
        """The view's rows as of the bound ``params``, as a temp table."""
        self._n += 1
        table = f"snap_{self._n}"
        names = []
        try:
            for name, rows in view.transformation.tables.items():
                self.con.register(name, _arrow_rows(rows))
                names.append(name)
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS "
                             f"{view.transformation.sql}", params)
        except Exception as err:
            raise SegflowError(f"{view.path}: transformation failed: {err}") from None
        finally:
            for name in names:
                self.con.unregister(name)
        return table

    def columns(self, table) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.con.execute(f"DESCRIBE {table}").fetchall()]

    def counts(self, table, key: str) -> tuple[int, int]:
        return self.con.execute(f"SELECT count(*), count(DISTINCT {key}) FROM "
                                f"{table}").fetchall()[0]

    def stamped(self, table, as_of: datetime, created: datetime):
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT *, "
                         "$t::TIMESTAMPTZ AS event_timestamp, $c::TIMESTAMPTZ AS "
                         f"created_timestamp FROM {table}", {"t": as_of, "c": created})
        return table

    def write(self, path: Path, tables: list, as_ofs: list[datetime]) -> None:
        """Replace the given as-of snapshots in ``path`` and keep all others; atomic."""
        parts = [f"SELECT * FROM {t}" for t in tables]
        if path.exists():
            parts.insert(0, f"SELECT * FROM read_parquet({sql_literal(path)}) "
                            "WHERE NOT list_contains($as_ofs, event_timestamp)")
        tmp = path.with_suffix(".parquet.tmp")
        query = " UNION ALL BY NAME ".join(parts)
        params = {"as_ofs": as_ofs} if path.exists() else {}
        self.con.execute(f"COPY ({query}) TO {sql_literal(tmp)} (FORMAT parquet, "
                         f"KV_METADATA {{{UNIQUE_FLAG}: 'true'}})", params)
        reach(self.settings, "features.written", path=tmp)
        os.replace(tmp, path)
        for t in tables:
            self.con.execute(f"DROP TABLE {t}")

    def close(self) -> None:
        self.con.close()


class SparkRunner:
    """A feature build on the project's Spark (``segflow.spark``): each view's SQL
    translated to Spark SQL (``segflow.dialects``), the snapshots written as a folder of
    Parquet files by the executors."""

    engine = "spark"

    def __init__(self, settings: Settings):
        from segflow import spark as sp
        from segflow.dialects import derived_for_spark

        self.settings, self.sp = settings, sp
        self.spark = sp.session_of(settings)
        names = set()
        for name, path, live, key in canonical_tables(settings):
            sp.register_parquet(self.spark, name, path, live, key)
            names.add(name)
        if not names:
            raise SegflowError(f"no canonical tables in {settings.canonical_dir}; "
                               "run `segflow ingest` (or `segflow demo-data`) first")
        repo = settings.feature_repo_dir
        self.macros, views = derived_for_spark(Path(repo) / "config" / "derived.yaml")
        # a macro has no view of its own: it is inlined where a view calls it
        self.available = register_derived(
            lambda name, _: views.get(name) and self.spark.sql(views[name]), repo, names)

    def relation(self, view, params: dict):
        from segflow.dialects import view_to_spark

        text = view_to_spark(view.path, view.transformation.sql, self.macros)
        for name, rows in view.transformation.tables.items():
            self.sp.register_arrow(self.spark, name, _arrow_rows(rows))
        try:
            frame = self.sp.sql(self.spark, text, params)
            frame.schema  # noqa: B018 (analysis: a wrong column or type fails here)
        except Exception as err:
            raise SegflowError(f"{view.path}: transformation failed on Spark: "
                               f"{str(err).splitlines()[0]}") from None
        return frame.persist()  # counted, then written: computed once

    def columns(self, frame) -> list[tuple[str, str]]:
        return self.sp.duckdb_types(frame)

    def counts(self, frame, key: str) -> tuple[int, int]:
        from pyspark.sql import functions as F

        row = frame.agg(F.count(F.lit(1)), F.count_distinct(key)).first()
        return row[0], row[1]

    def stamped(self, frame, as_of: datetime, created: datetime):
        from pyspark.sql import functions as F

        return frame.withColumn("event_timestamp", F.lit(as_of)) \
                    .withColumn("created_timestamp", F.lit(created))

    def write(self, path: Path, frames: list, as_ofs: list[datetime]) -> None:
        """Replace the given as-of snapshots in the folder ``path``, keep all others."""
        from functools import reduce

        from pyspark.sql import functions as F

        if path.exists():
            kept = self.spark.read.parquet(str(path)).where(
                ~F.col("event_timestamp").isin([F.lit(t) for t in as_ofs]))
            frames = [kept, *frames]
        out = reduce(lambda a, b: a.unionByName(b), frames)
        self.sp.write_parquet(out, path)
        for frame in frames:
            frame.unpersist()

    def close(self) -> None:
        for name in self.spark.catalog.listTables():
            if name.isTemporary:
                self.spark.catalog.dropTempView(name.name)


def _arrow_rows(rows: list[dict]):
    """Configuration rows as Arrow; a column null in every row is text."""
    import pyarrow as pa

    table = pa.Table.from_pylist(rows)
    return table.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type)
                                 else f for f in table.schema]))
