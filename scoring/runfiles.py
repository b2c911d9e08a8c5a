"""Reading a run's Parquet outputs, whatever wrote them: the one reader of
``memberships.parquet`` and ``features.parquet`` for DuckDB, Arrow and Spark.

A run written on DuckDB keeps each as one file. A run written on Spark keeps each as a
folder of part files written by the executors, and its memberships are partitioned by
cohort, Hive-style (``memberships.parquet/cohort=<name>/part-*.parquet``), so a cluster's
readers (a channel's job, a BI tool, Spark itself) read one cohort without listing the
others. Rows with no cohort (``unassigned`` rows, and ``suppressed`` rows of customers no
cohort matched) are in Hive's folder for a missing value,
``cohort=__HIVE_DEFAULT_PARTITION__/``, which Spark and DuckDB both read back as NULL. A
partition folder's name escapes what a path cannot hold (``/`` as ``%2F``); both engines
decode it.

The partition column is not stored in the part files (it is the folder's name), so a
reader that listed the files naively would get the column last, typed by a guess (a cohort
named ``2027`` read as a number). These readers give back exactly what the DuckDB run's
file holds: the same columns in the same order (the partition column at its place in
``MEMBERSHIP_COLUMNS``), the cohort as text, the same rows.
"""

from __future__ import annotations

from pathlib import Path

from segflow.scoring.evaluate import MEMBERSHIP_COLUMNS

PARTITION = "cohort"  # what a Spark run's memberships are partitioned by


def partition_columns(path: Path) -> list[str]:
    """The Hive partition columns of a folder (``name=value`` sub-folders, one level per
    column), outermost first; none for a file or a flat folder of part files."""
    out: list[str] = []
    folder = Path(path)
    while folder.is_dir():
        sub = next((p for p in sorted(folder.iterdir()) if p.is_dir() and "=" in p.name
                    and not p.name.startswith(("_", "."))), None)
        if sub is None:
            break
        out.append(sub.name.split("=", 1)[0])
        folder = sub
    return out


def data_files(path: Path) -> list[Path]:
    """The Parquet data files of a run output (a file, or every part file of a folder,
    in name order; Spark's markers, ``_SUCCESS`` and ``.crc`` files, left out)."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*.parquet") if p.is_file() and not any(
        part.startswith(("_", ".")) for part in p.relative_to(path).parts))


def columns(path: Path) -> list[str]:
    """The output's columns in the order its writer gave them (the partition column at
    its place in ``MEMBERSHIP_COLUMNS``), from one footer: no rows are read."""
    import pyarrow.parquet as pq

    parts = partition_columns(path)
    files = data_files(path)
    if not files:
        from segflow.errors import SegflowError

        raise SegflowError(f"{path} holds no Parquet data files")
    names = [n for n in pq.read_schema(files[0]).names if n not in parts]
    for part in parts:
        names.insert(_place(names, part), part)
    return names


def _place(names: list[str], column: str) -> int:
    """Where ``column`` goes among ``names``: before the first column that follows it in
    ``MEMBERSHIP_COLUMNS``; last when it is not one of them."""
    if column not in MEMBERSHIP_COLUMNS:
        return len(names)
    after = MEMBERSHIP_COLUMNS[MEMBERSHIP_COLUMNS.index(column) + 1:]
    return next((i for i, n in enumerate(names) if n in after), len(names))


def _q(text: str) -> str:
    return str(text).replace("'", "''")


def parquet_sql(path: Path) -> str:
    """A DuckDB relation (for ``FROM``) over a run's Parquet output: ``read_parquet`` of
    the file, of a flat folder's part files, or of a partitioned folder with Hive
    partitioning, the partition columns typed as text and every column in its order."""
    path = Path(path)
    if not path.is_dir():
        return f"read_parquet('{_q(path)}')"
    parts = partition_columns(path)
    if not parts:
        return f"read_parquet('{_q(path)}/*.parquet')"
    glob = "/".join([_q(path), *["*"] * len(parts), "*.parquet"])
    types = ", ".join(f"'{_q(p)}': 'VARCHAR'" for p in parts)
    select = ", ".join(f'"{c}"' for c in columns(path))
    return (f"(SELECT {select} FROM read_parquet('{glob}', hive_partitioning = true, "
            f"hive_types = {{{types}}}))")


def read_arrow(path: Path, where: str | None = None):
    """A run's Parquet output as an Arrow table (``where``: a DuckDB filter); for readers
    that hold the rows anyway (compare's frames, explain's one entity). A file is read as
    written (``ParquetFile``: the dataset reader would import pandas)."""
    import duckdb

    if where is None and not Path(path).is_dir():
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).read()

    con = duckdb.connect()
    try:
        sql = f"SELECT * FROM {parquet_sql(path)}" + (f" WHERE {where}" if where else "")
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def spark_frame(spark, path: Path):
    """A run's Parquet output as a lazy Spark DataFrame: the partition columns typed as
    text (not inferred from the folder names) and every column in its order."""
    path = Path(path)
    parts = partition_columns(path)
    reader = spark.read
    if parts:
        from pyspark.sql.types import StringType, StructField, StructType

        inferred = spark.read.parquet(str(path)).schema
        reader = reader.schema(StructType([
            StructField(f.name, StringType(), True) if f.name in parts else f
            for f in inferred.fields]))
    frame = reader.parquet(str(path))
    return frame.select(*[f"`{c}`" for c in columns(path)]) if parts else frame
