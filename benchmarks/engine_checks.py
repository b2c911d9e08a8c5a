"""Do the two engines' outputs agree? Counts and an order-free hash of each output, read by
DuckDB from either form (DuckDB's single Parquet file, Spark's folder of part files), so a
figure of the Spark benchmark compares like with like.

The hash is the sum of each row's DuckDB ``hash`` over the columns both outputs share,
sorted by name, each normalised so that the engines' legitimate differences of form do not
count: times as microseconds since the epoch (either time zone type), numbers of any
floating or decimal type rounded to 6 places (the tests hold floats to 1e-9; sums of
doubles may differ in the last digits), everything else as text (an INTEGER and a BIGINT
of the same value agree). Columns that name a run (``run_id``, ...) and a feature
snapshot's ``created_timestamp`` (when the build ran) are left out: each engine wrote its
own run, at its own time.
"""

from __future__ import annotations

from pathlib import Path

FLOATS = ("DOUBLE", "FLOAT", "REAL", "DECIMAL")
WHEN_WRITTEN = ("created_timestamp",)


def source(path: Path) -> str:
    """DuckDB's read of a Parquet file or of a folder of part files, partitioned or not
    (a Spark run's memberships are partitioned by cohort): segflow's own reader of run
    outputs."""
    from segflow.scoring.runfiles import parquet_sql

    return parquet_sql(Path(path))


def columns(con, path: Path) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {source(path)}")
            .fetchall()}


def _normalised(name: str, kind: str) -> str:
    col = f'"{name}"'
    if kind.startswith("TIMESTAMP"):
        return f"epoch_us({col})"
    if kind.startswith(FLOATS):
        return f"round({col}::DOUBLE, 6)"
    return f"{col}::VARCHAR"


def fingerprint(con, path: Path, names: list[str], kinds: dict[str, str]) -> tuple[int, str]:
    """(rows, order-free hash) of ``path`` over ``names``."""
    exprs = ", ".join(_normalised(n, kinds[n]) for n in names)
    rows, total = con.execute(f"SELECT count(*), sum(hash({exprs}))::HUGEINT "
                              f"FROM {source(path)}").fetchone()
    return rows, str(total)


def compare(con, duck: Path, spark: Path) -> dict:
    """Rows and hash of both outputs over their shared columns; ``equal`` when both agree."""
    if not Path(duck).exists() or not Path(spark).exists():
        missing = [str(p) for p in (duck, spark) if not Path(p).exists()]
        return {"equal": False, "error": f"missing: {missing}"}
    a, b = columns(con, duck), columns(con, spark)
    shared = sorted(n for n in set(a) & set(b)
                    if "run_id" not in n and n not in WHEN_WRITTEN)
    rows_a, hash_a = fingerprint(con, duck, shared, a)
    rows_b, hash_b = fingerprint(con, spark, shared, b)
    out = {"equal": rows_a == rows_b and hash_a == hash_b, "rows": [rows_a, rows_b],
           "columns_compared": len(shared)}
    only = sorted(set(a) ^ set(b))
    if only:
        out["columns_in_one_only"] = only
    if hash_a != hash_b:
        out["hashes"] = [hash_a, hash_b]
        out["differing_columns"] = [n for n in shared if fingerprint(con, duck, [n], a)
                                    != fingerprint(con, spark, [n], b)]
    return out
