"""Connectors: expose one configured source as a DuckDB view of its raw columns.

Files are scanned by DuckDB directly (CSV as text, so that one bad value is a bad row rather
than a failed read); SQL databases are read through SQLAlchemy, so any database with a
SQLAlchemy dialect works (SQLite in tests, PostgreSQL in production); DuckDB files are read
through a read-only connection. Those two are materialised as Arrow tables in memory, so
they suit tables of up to a few million rows; big sources belong in Parquet or CSV files.
"""

from __future__ import annotations

import pyarrow as pa

from ingest.sources import SourceSpec
from segflow.errors import SegflowError


def _quote(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def source_label(spec: SourceSpec) -> str:
    """What ``_source`` says in quarantine: kind and location, never a password."""
    if spec.kind == "sql":
        from sqlalchemy.engine import make_url

        where = make_url(spec.url).render_as_string(hide_password=True)
        return f"sql:{where}#{spec.source_table or 'query'}"
    suffix = f"#{spec.source_table or 'query'}" if spec.kind == "duckdb" else ""
    return f"{spec.kind}:{spec.path}{suffix}"


def _column_to_arrow(values) -> pa.Array:
    """One column from a DB-API result; mixed Python types (SQLite allows them) become text."""
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _read_sql(spec: SourceSpec) -> pa.Table:
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(spec.url)
    try:
        if spec.source_table:
            query = sa.select(sa.text("*")).select_from(sa.table(spec.source_table))
        else:
            query = sa.text(spec.query)
        with engine.connect() as conn:
            frame = pd.read_sql(query, conn, coerce_float=False)
    except sa.exc.SQLAlchemyError as err:
        raise SegflowError(f"{spec.label}: cannot read: {err.__class__.__name__}: "
                           f"{str(err).splitlines()[0]}") from None
    finally:
        engine.dispose()
    return pa.table({c: _column_to_arrow(frame[c].tolist()) for c in frame.columns})


def _read_duckdb(spec: SourceSpec) -> pa.Table:
    import duckdb

    try:
        with duckdb.connect(str(spec.path), read_only=True) as src:
            sql = spec.query or f'SELECT * FROM "{spec.source_table}"'
            return src.sql(sql).to_arrow_table()
    except duckdb.Error as err:
        raise SegflowError(f"{spec.label}: cannot read: {str(err).splitlines()[0]}") from None


def open_source(con, spec: SourceSpec) -> str:
    """Create a temporary view ``src_<table>`` over the source's raw columns; return its name."""
    import duckdb

    view = f"src_{spec.table}"
    try:
        if spec.kind == "csv":
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM read_csv("
                        f"{_quote(spec.path)}, header=true, all_varchar=true)")
        elif spec.kind == "parquet":
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS "
                        f"SELECT * FROM read_parquet({_quote(spec.path)})")
        else:
            table = _read_sql(spec) if spec.kind == "sql" else _read_duckdb(spec)
            con.register(f"{view}_arrow", table)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {view}_arrow")
    except duckdb.Error as err:
        raise SegflowError(f"{spec.label}: cannot read: {str(err).splitlines()[0]}") from None
    return view
