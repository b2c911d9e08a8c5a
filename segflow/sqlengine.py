"""One SQL text, two engines: a stage's DuckDB SQL run on the project's engine.

Governance (movement and its reasons, controls, review items, the seal's counts, the
report's figures, exports) is written as DuckDB SQL over a connection:
temporary tables and views, queries whose small results come back (counts, verdicts), and
``COPY ... TO`` for the files it writes. ``connection(settings)`` gives that connection for
the project's engine: DuckDB's own on ``engine: duckdb``, and on ``engine: spark`` a
``SparkConnection``, which takes the same statements, translates each with
``segflow.dialects`` (refusing, by construct, what has no Spark equivalent) and runs it on
the project's Spark session. So the stage's SQL is written once and the engines cannot
drift apart: there is no second copy to keep in step.

What the Spark side does with each kind of statement:

- a query: a lazy DataFrame; ``fetchall``/``fetchone``/``df`` collect it, so stages use
  them only for results that do not grow with the customers (counts per cohort, a
  control's figures, a campaign's lift per group);
- ``CREATE [OR REPLACE] TEMP TABLE t AS query``: the query named ``t`` and cached: the
  executors compute it once, when it is first read, and keep the rows; ``TEMP VIEW``: the
  query named ``t``, computed where it is read;
- ``INSERT INTO t query``: ``t`` replaced by ``t`` and the new rows, computed at once (a
  local checkpoint, on the executors);
- ``COPY t|(query) TO 'path' (FORMAT parquet)``: a folder of Parquet files written by the
  executors; ``COPY ... TO 'file.csv' (HEADER)``: one CSV file (a channel export is one file
  a channel uploads), written by one executor task, never through the driver;
- ``INSERT INTO t (a, b) query``: by position into the named columns, the others NULL;
- ``DESCRIBE t`` or ``DESCRIBE query``: its columns (from the plan, no job);
  ``SET TimeZone = 'UTC'``: nothing (the session is UTC).
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from segflow.errors import SegflowError

if TYPE_CHECKING:
    from segflow.settings import Settings


@contextmanager
def connection(settings: Settings):
    """The connection a stage runs its SQL on: the workspace's DuckDB, or Spark."""
    from segflow.engines import SPARK

    if settings.engine == SPARK:
        from segflow import spark as sp

        con = SparkConnection(sp.session_of(settings))
        try:
            yield con
        finally:
            con.close()
        return
    from segflow.db import connect

    with connect(settings) as con:
        yield con


@contextmanager
def scratch_connection(settings: Settings):
    """A connection for a stage that reads files and needs nothing of the workspace's
    database: a DuckDB of its own in memory on ``engine: duckdb`` (the workspace's stays
    free for the caller), the project's Spark (``connection``) on ``engine: spark``."""
    from segflow.engines import SPARK

    if settings.engine == SPARK:
        with connection(settings) as con:
            yield con
        return
    import duckdb

    con = duckdb.connect()
    try:
        yield con
    finally:
        con.close()


def file_sha256(con, path: Path) -> str:
    """A run file's (or Parquet folder's) SHA-256 as ``segflow.runstore.file_sha256``
    defines it, computed where ``con`` computes: by the executors on Spark (each part file
    hashed where it lies, only the digests reach the driver), here on DuckDB."""
    if isinstance(con, SparkConnection):
        return con.file_sha256(path)
    from segflow.runstore import file_sha256 as local

    return local(path)


def run_file_sha256(settings: Settings, path: Path) -> str:
    """``file_sha256`` on the project's engine, for a caller that holds no connection of
    that engine (the gate re-checking a seal)."""
    with connection(settings) if settings.engine == "spark" else _nothing() as con:
        return file_sha256(con, path)


@contextmanager
def _nothing():
    yield None


def is_spark(con) -> bool:
    """Whether ``con`` runs its SQL on Spark (a ``SparkConnection``)."""
    return isinstance(con, SparkConnection)


def has_table(con, name: str) -> bool:
    """Whether temporary table or view ``name`` exists on ``con`` (either engine)."""
    if isinstance(con, SparkConnection):
        return con.spark.catalog.tableExists(name)
    return bool(con.execute("SELECT (SELECT count(*) FROM duckdb_tables() WHERE table_name = "
                            "$n) + (SELECT count(*) FROM duckdb_views() WHERE view_name = $n)",
                            {"n": name}).fetchall()[0][0])


class Result:
    """The rows of a Spark query, DuckDB's cursor methods (collected on demand), or rows
    the driver already holds (a table's columns)."""

    def __init__(self, frame, rows: list[tuple] | None = None):
        self.frame = frame
        self.rows = rows

    def fetchall(self) -> list[tuple]:
        if self.frame is None:
            return list(self.rows or [])
        return [tuple(r) for r in self.frame.collect()]

    def fetchone(self) -> tuple | None:
        rows = (self.rows or [])[:1] if self.frame is None else self.frame.take(1)
        return tuple(rows[0]) if rows else None

    def df(self):
        """The rows as a pandas frame (a query's small result: per group, never per
        customer), typed as DuckDB's ``df()`` types them: Spark's Arrow columns as pandas
        would convert them."""
        return self.frame.toArrow().to_pandas()


class SparkConnection:
    """DuckDB's connection methods that a stage uses, on a Spark session (module
    docstring). ``engine`` says which engine ran, for receipts."""

    engine = "spark"

    def __init__(self, session):
        self.spark = session
        self._cached: dict[str, object] = {}

    def execute(self, sql: str, params=None) -> Result:
        import sqlglot
        from sqlglot import exp

        from segflow import dialects

        try:
            (tree,) = [t for t in sqlglot.parse(sql, read=dialects.READ) if t is not None]
        except (sqlglot.errors.ParseError, ValueError) as err:
            raise SegflowError(f"Spark engine: cannot read this statement ({err})") from None
        if isinstance(tree, exp.Set) or (isinstance(tree, exp.Command)
                                          and tree.name.upper() == "SET"):
            return self._set(sql)
        if isinstance(tree, exp.Describe):
            frame = self._query(tree.this, sql, params) if isinstance(
                tree.this, exp.Query) else self.spark.table(tree.this.name)
            return Result(None, [(f.name, f.dataType.simpleString())
                                 for f in frame.schema.fields])
        if isinstance(tree, exp.Create) and (tree.args.get("kind") or "").upper() in (
                "TABLE", "VIEW") and isinstance(tree.expression, exp.Query):
            frame = self._query(tree.expression, sql, params)
            self._name(tree.this.name, frame, tree.args["kind"].upper() == "TABLE")
            return Result(None)
        if isinstance(tree, exp.Insert) and isinstance(tree.expression, exp.Query):
            from pyspark.sql import functions as F

            named = isinstance(tree.this, exp.Schema)  # INSERT INTO t (a, b) SELECT ...
            name = tree.this.this.name if named else tree.this.name
            old = self.spark.table(name)
            new = self._query(tree.expression, sql, params)
            given = [c.name for c in tree.this.expressions] if named else old.columns
            new = new.toDF(*given)  # by position, as DuckDB; the columns not given are NULL
            new = new.select(*[new[c].cast(f.dataType) if c in given else
                               F.lit(None).cast(f.dataType).alias(c)
                               for c, f in zip(old.columns, old.schema.fields, strict=True)])
            # computed now: the new rows are added to what ``name`` holds at this moment
            self._name(name, old.union(new).localCheckpoint(), False)
            return Result(None)
        if isinstance(tree, exp.Copy):
            return self._copy(tree, sql, params)
        if isinstance(tree, exp.Drop) and (tree.args.get("kind") or "").upper() in (
                "TABLE", "VIEW") and tree.args.get("exists"):
            for table in tree.args.get("tables") or []:  # this session's tables are views
                name = table.name
                old = self._cached.pop(name, None)
                self.spark.catalog.dropTempView(name)
                if old is not None:
                    old.unpersist()
            return Result(None)
        if isinstance(tree, exp.Query):
            return Result(self._query(tree, sql, params))
        raise SegflowError(f"Spark engine: `{tree.key.upper()}` statements do not run on "
                           "Spark (segflow.sqlengine runs queries, temporary tables and "
                           "views, INSERT, COPY, DESCRIBE and DROP ... IF EXISTS)")

    def file_sha256(self, path: Path) -> str:
        """The SHA-256 of a file, or of a folder of part files as
        ``segflow.runstore.folder_sha256`` combines them, from digests the executors
        compute (Spark's ``binaryFile`` source: one row per file, so a part file must stay
        under 2 GB; Spark's hidden ``_SUCCESS`` and ``.crc`` files are not read)."""
        from urllib.parse import unquote, urlparse

        from pyspark.sql import functions as F

        from segflow.runstore import folder_sha256

        path = Path(path).resolve()
        rows = (self.spark.read.format("binaryFile").option("recursiveFileLookup", "true")
                .load(str(path)).select("path", F.sha2("content", 256)).collect())
        if not path.is_dir():
            (row,) = rows
            return row[1]
        named = [(Path(unquote(urlparse(p).path)).relative_to(path).as_posix(), sha)
                 for p, sha in rows]
        return folder_sha256((n, sha) for n, sha in named
                             if not any(x.startswith(("_", ".")) for x in n.split("/")))

    def register(self, name: str, table) -> None:
        """A small Arrow table or pandas frame (configuration, never customers) as view."""
        import pyarrow as pa

        frame = table if isinstance(table, pa.Table) else pa.Table.from_pandas(
            table, preserve_index=False)
        if frame.num_rows:
            self.spark.createDataFrame(frame.to_pandas()).createOrReplaceTempView(name)
        else:  # Spark cannot infer the types of an empty frame: give them
            self.spark.createDataFrame([], _ddl(frame.schema)).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def close(self) -> None:
        """Release the temporary tables' cached rows (the session itself lives as long as
        the process, segflow.spark)."""
        for frame in self._cached.values():
            frame.unpersist()
        self._cached.clear()

    # --- helpers ------------------------------------------------------------------------
    def _set(self, sql: str) -> Result:
        if "timezone" in sql.lower() and "'utc'" not in sql.lower():
            raise SegflowError("Spark engine: the session time zone is always UTC")
        return Result(None)

    def _query(self, tree, sql: str, params):
        from segflow import dialects
        from segflow import spark as sp

        text = tree.sql(dialects.READ, normalize_functions="lower")  # errors: DuckDB case
        try:
            spark_sql = dialects.to_spark(text)
        except dialects.Untranslatable as err:
            raise SegflowError(f"Spark engine: this SQL has no Spark translation: {err} "
                               f"(in: {' '.join(sql.split())[:200]})") from None
        if isinstance(params, list | tuple):
            return self.spark.sql(spark_sql, args=[sp._literal(v) for v in params])
        return sp.sql(self.spark, spark_sql, params)

    def _name(self, name: str, frame, materialise: bool) -> None:
        """Name ``frame``; a temporary table is kept by the executors once first read (a
        cache, so reading it again costs no recomputation), released when replaced."""
        old = self._cached.pop(name, None)
        if materialise:
            frame = frame.cache()
            self._cached[name] = frame
        frame.createOrReplaceTempView(name)
        if old is not None:
            old.unpersist()

    def _copy(self, tree, sql: str, params) -> Result:
        from sqlglot import exp

        source = tree.this
        if isinstance(source, exp.Table):
            frame = self.spark.table(source.name)
        else:
            frame = self._query(source.this if isinstance(source, exp.Subquery) else source,
                                sql, params)
        target = Path(tree.args["files"][0].name)
        options = {p.this.name.upper(): p.args.get("expression") for p in
                   tree.args.get("params") or []}
        fmt = options.get("FORMAT")
        if fmt is not None and fmt.name.lower() == "parquet":
            from segflow.spark import write_parquet

            write_parquet(frame, target)
        else:
            delim = options.get("DELIMITER")
            write_csv(frame, target, "HEADER" in options,
                      delim.name if delim is not None else ",")
        return Result(None)


def write_csv(frame, path: Path, header: bool, delimiter: str = ",") -> None:
    """``frame`` as one CSV file at ``path`` in DuckDB's CSV form (quotes doubled, empty
    text quoted, NULL empty): its rows gathered by one executor task (in the frame's
    order), written beside the target and renamed into place."""
    path = Path(path)
    tmp = path.with_name(path.name + ".spark")
    if tmp.exists():
        shutil.rmtree(tmp)
    _csv_writer(frame.coalesce(1).write, header, delimiter).csv(str(tmp))
    _place_csv(tmp, path, delimiter.join(frame.columns) + "\n" if header else "")
    shutil.rmtree(tmp)


def write_csv_per_value(frame, column: str, paths: dict, header: bool,
                        delimiter: str = ",") -> None:
    """One CSV file per value of ``column`` (``paths``: value -> file), each ``write_csv``'s
    file of that value's rows without ``column``, sorted by every other column ascending,
    NULLs last (DuckDB's ``ORDER BY ALL``), all written by ONE Spark job: each value's rows
    gathered in one task (so one file each), sorted there, and the files renamed into
    place. A value with no rows gets the header alone, as DuckDB writes it. Writing a file
    per value with its own query costs a job (and a read of the inputs) per file, which at
    a few hundred cohort files dominates an export."""
    from urllib.parse import unquote

    from pyspark.sql import functions as F

    if not paths:
        return
    first = Path(next(iter(paths.values())))
    tmp = first.parent.parent / f".{column}-{first.name}.spark"
    if tmp.exists():
        shutil.rmtree(tmp)
    others = [c for c in frame.columns if c != column]
    order = [F.col(f"`{column}`")] + [F.col(f"`{c}`").asc_nulls_last() for c in others]
    ordered = frame.repartition(F.col(f"`{column}`")).sortWithinPartitions(*order)
    _csv_writer(ordered.write.partitionBy(column), header, delimiter).csv(str(tmp))
    written = {unquote(p.name.split("=", 1)[1]): p for p in tmp.glob(f"{column}=*")}
    head = delimiter.join(others) + "\n" if header else ""
    for value, path in paths.items():
        folder = written.get(str(value))
        if folder is None:  # no rows: the header alone
            Path(path).write_text(head)
        else:
            _place_csv(folder, Path(path), head)
    shutil.rmtree(tmp)


def _csv_writer(writer, header: bool, delimiter: str):
    """Spark's CSV writer in DuckDB's CSV form (quotes doubled, empty text quoted, NULL
    empty, spaces kept)."""
    return (writer.mode("overwrite").option("header", str(header).lower())
            .option("sep", delimiter).option("quote", '"').option("escape", '"')
            .option("nullValue", "").option("emptyValue", '""')
            .option("ignoreLeadingWhiteSpace", "false")
            .option("ignoreTrailingWhiteSpace", "false"))


def _place_csv(folder: Path, path: Path, empty: str) -> None:
    """The one part file Spark wrote in ``folder`` moved to ``path``; ``empty`` (the
    header, or nothing) where it wrote none or an empty one (zero rows)."""
    parts = sorted(folder.glob("part-*"))
    if len(parts) > 1:
        raise SegflowError(f"Spark wrote {len(parts)} files for {path.name}, one expected")
    if not parts or parts[0].stat().st_size == 0:  # zero rows: DuckDB writes the header
        path.write_text(empty)
    else:
        os.replace(parts[0], path)


def _ddl(schema) -> str:
    """A Spark DDL schema for an Arrow schema of text, numbers and booleans."""
    import pyarrow as pa

    def kind(t):
        if pa.types.is_boolean(t):
            return "boolean"
        if pa.types.is_integer(t):
            return "bigint"
        if pa.types.is_floating(t):
            return "double"
        return "string"

    return ", ".join(f"`{f.name}` {kind(f.type)}" for f in schema)
