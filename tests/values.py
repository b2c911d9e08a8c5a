"""Comparing values computed by two engines: floats within a tolerance (the order of
additions differs between DuckDB and Spark), NaN equal to NaN, everything else exactly."""

from __future__ import annotations

import math


def same(a, b, abs_tol: float = 1e-9) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=abs_tol) or (math.isnan(a) and
                                                                    math.isnan(b))
    return a == b


def run_rows(path, order: str) -> tuple[list[str], list[str], list[tuple]]:
    """(columns, DuckDB types, rows in ``order``) of a run output, read through the one
    reader of run outputs (a file, a folder, a folder partitioned by cohort)."""
    import duckdb

    from segflow.scoring.runfiles import parquet_sql

    rel = duckdb.sql(f"SELECT * FROM {parquet_sql(path)} ORDER BY {order}")
    return rel.columns, [str(t) for t in rel.types], rel.fetchall()


def view_rows(path, key: str, as_ofs) -> list[dict]:
    """A feature view's snapshot rows at ``as_ofs`` (a file or the folder Spark writes),
    without the build's own time, ordered by snapshot and ``key``."""
    import duckdb

    files = f"{path}/*.parquet" if path.is_dir() else str(path)
    return duckdb.sql(f"SELECT * EXCLUDE (created_timestamp) FROM read_parquet('{files}') "
                      "WHERE list_contains($t, event_timestamp) "
                      f"ORDER BY event_timestamp, {key}",
                      params={"t": list(as_ofs)}).to_arrow_table().to_pylist()


def mismatches(want: list[dict], got: list[dict]) -> list:
    """The row pairs whose values differ (``same``); the lists are of equal length."""
    return [(w, g) for w, g in zip(want, got, strict=True)
            if not all(same(w[c], g[c]) for c in w)]


def cell_diffs(columns: list[str], want: list[tuple], got: list[tuple],
               abs_tol: float = 1e-9) -> list[tuple]:
    """(column, want, got) of every cell that differs (``same``) between two row lists of
    equal length and shape."""
    return [(columns[i], a, b) for x, y in zip(want, got, strict=True)
            for i, (a, b) in enumerate(zip(x, y, strict=True)) if not same(a, b, abs_tol)]
