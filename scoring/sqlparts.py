"""SQL fragments shared by evaluation, clause evaluation and preview.

Everything a user wrote reaches DuckDB as a checked predicate with placeholders; values go
in a params dict bound by DuckDB. Column names in generated SQL come from validated
templates and campaign files and are always quoted.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from sqlglot import exp

from segflow.scoring.predicate import compile_sql, params_used

# 15 hex digits of md5 -> an integer below 16**15 -> uniform in [0, 1). md5 is specified by
# RFC 1321, so the value (and a customer's arm) is the same in every DuckDB version, in
# Python's hashlib and in Spark: unlike DuckDB's hash(), which may change between releases.
HASH_SCALE = float(16**15)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: object) -> str:
    """``text`` as a SQL string literal, the same in DuckDB and Spark SQL."""
    return "'" + str(text).replace("'", "''") + "'"


def unit_hash_sql(key_sql: str, salt_param: str = "salt") -> str:
    """SQL for the stable uniform [0, 1) draw of an entity id under a campaign salt."""
    return (f"(('0x' || substr(md5(CAST({key_sql} AS VARCHAR) || ':' || ${salt_param}), 1, 15))"
            f"::BIGINT / {HASH_SCALE!r})")


def unit_hash(entity_id: str, salt: str) -> float:
    """Python twin of ``unit_hash_sql`` for one id (explain says which band a draw fell in)."""
    import hashlib

    digest = hashlib.md5(f"{entity_id}:{salt}".encode()).hexdigest()
    return int(digest[:15], 16) / HASH_SCALE


def bind_predicate(tree: exp.Expression, values: dict[str, Any], prefix: str,
                   out: dict[str, Any]) -> str:
    """Compiled predicate SQL; adds the values of the params it uses to ``out``."""
    for name in params_used(tree):
        out[f"{prefix}{name}"] = values[name]
    return f"coalesce(({compile_sql(tree, prefix)}), false)"


def split_sql(columns: tuple[str, ...]) -> str:
    """The split value of a row: the split columns' values joined by '|' (NULL -> 'none')."""
    if not columns:
        return "CAST(NULL AS VARCHAR)"
    parts = ", ".join(f"coalesce(CAST({quote(c)} AS VARCHAR), 'none')" for c in columns)
    return f"concat_ws('|', {parts})"


@contextmanager
def duck():
    """An in-memory DuckDB connection in UTC (date params compare with UTC timestamps).

    Memory is capped below DuckDB's default 80% of RAM: the caller already holds the scored
    frame, and at 10M customers the two together passed 24 GB."""
    import duckdb

    from segflow.db import memory_limit

    con = duckdb.connect(config={"memory_limit": memory_limit(0.25)})
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def to_arrow(table_or_relation):
    """Arrow table from an Arrow table, a DuckDB relation or a pandas frame."""
    import pyarrow as pa

    if isinstance(table_or_relation, pa.Table):
        return table_or_relation
    if hasattr(table_or_relation, "to_arrow_table"):
        return table_or_relation.to_arrow_table()
    if hasattr(table_or_relation, "arrow"):
        return table_or_relation.arrow()
    return pa.Table.from_pandas(table_or_relation, preserve_index=False)
