"""A feature value in a mover's reasons or a review detail reads the same on both engines
(``segflow.governance.reasons.value_sql``): each engine's own CAST AS VARCHAR printed a
TIMESTAMPTZ as ``2027-02-22 14:39:43+00`` and ``2027-02-22 14:39:43``, a double of 1e7 or
more as ``10029449.42`` and ``1.002944942E7``. A tiny Parquet frame read by both engines
through the same SQL, and 400 random doubles of every magnitude up to 1e15 (and halves at
the 4th place); about 15 s with the session's Spark (most of it the session's start when it
is the first Spark test)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segflow.governance.reasons import column_types, value_sql

pytestmark = [pytest.mark.integration]

EXPECTED = [  # (ts, day, amount, share, n, label) as a reader sees them
    ("2027-02-22 14:39:43 UTC", "2027-02-22", "12300000", "0.25", "42", "north"),
    ("2026-12-31 23:59:59 UTC", "2026-12-31", "10029449.42", "0.0001", "-7", "it's"),
    ("2027-01-01 00:00:00 UTC", "2027-01-01", "-3.5", "0", "0", ""),
    (None, None, None, None, None, None),
]


def _frame(path) -> None:
    pq.write_table(pa.table({
        "id": pa.array([1, 2, 3, 4]),
        "ts": pa.array([datetime(2027, 2, 22, 14, 39, 43, 250000, tzinfo=UTC),
                        datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
                        datetime(2027, 1, 1, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
        "day": pa.array([date(2027, 2, 22), date(2026, 12, 31), date(2027, 1, 1), None]),
        "amount": pa.array([1.23e7, 10029449.42, -3.5, None], pa.float64()),
        "share": pa.array([0.25, 0.00012, 1e-07, None], pa.float64()),
        "n": pa.array([42, -7, 0, None], pa.int64()),
        "label": pa.array(["north", "it's", "", None])}), path)


def _texts(con, source: str, columns: list[str]) -> list[tuple]:
    """Every column's text, as governance writes it, in id order."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW frame AS SELECT * FROM {source}")
    types = column_types(con, "frame")
    shown = ", ".join(value_sql(f'f."{c}"', types[c]) for c in columns)
    return con.execute(f"SELECT {shown} FROM frame f ORDER BY f.id").fetchall()


def _both(tmp_path, spark_project, table: pa.Table, columns: list[str]):
    import duckdb

    from segflow.spark import session
    from segflow.sqlengine import SparkConnection

    path = tmp_path / "frame.parquet"
    pq.write_table(table, path) if table is not None else _frame(path)
    source = f"read_parquet('{path}')"
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    spark = SparkConnection(session(spark_project.spark))
    try:
        return _texts(duck, source, columns), _texts(spark, source, columns)
    finally:
        spark.close()


def test_values_read_the_same_and_as_documented_on_both_engines(tmp_path, spark_project):
    columns = ["ts", "day", "amount", "share", "n", "label"]
    on_duckdb, on_spark = _both(tmp_path, spark_project, None, columns)
    assert on_duckdb == EXPECTED
    assert on_spark == EXPECTED


def test_random_doubles_read_the_same_on_both_engines(tmp_path, spark_project):
    """Plain decimal to 4 places on both engines, never an exponent, from 1e-9 to 1e15."""
    rng = np.random.default_rng(20)
    raw = rng.uniform(-1, 1, 400) * 10.0 ** rng.integers(-9, 15, 400)
    values = [round(v, int(d)) for v, d in zip(raw, rng.integers(0, 12, 400), strict=True)]
    values += [0.00005, -0.00015, 1.00005, 2.5e-05, 1234567890.12345]  # halves at 4 places
    table = pa.table({"id": pa.array(range(len(values))), "v": pa.array(values, pa.float64())})
    on_duckdb, on_spark = _both(tmp_path, spark_project, table, ["v"])
    assert on_duckdb == on_spark
    texts = [t for (t,) in on_duckdb]
    assert all("e" not in t.lower() and len(t.partition(".")[2]) <= 4 for t in texts)
    assert [float(t) for t in texts] == pytest.approx(list(values), abs=6e-5)  # half a 4th place
