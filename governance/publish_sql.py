"""Publication into any SQLAlchemy database (PostgreSQL, SQLite, ...), in one transaction.

Same tables as the DuckDB path: ``published_memberships`` (versioned rows), ``publications``
(one record per version), ``publication_pointer`` (campaign -> current version) and the
``current_memberships`` view. Rows, record and pointer move in one transaction, the pointer
last, so readers of the view see the old version or the new one. On PostgreSQL through
psycopg 3 the rows are streamed with ``COPY ... FROM STDIN`` as CSV rendered by Arrow
(columnar, no per-row Python); other dialects get executemany batches. The rows are read
from the published version (a file, or a Spark run's folder partitioned by cohort) by
DuckDB in batches, so memory stays constant and nothing passes through a Spark driver.
``publications`` has (campaign, version) as its key, so two concurrent publishers cannot
both claim a version: the later one fails.

This database is written (and committed) before the workspace DuckDB, which stays the
authority: after a crash between the two commits, recovery (``segflow.governance.journal``) removes
the version DuckDB does not have and points this database back at DuckDB's version.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from segflow.governance.publications import COLUMNS

BATCH = 50_000
VIEW = ("CREATE VIEW current_memberships AS SELECT m.* FROM published_memberships m "
        "JOIN publication_pointer p ON p.campaign = m.campaign AND p.version = m.version")
INTS = ("priority", "rank")


def _tables(metadata):
    from sqlalchemy import BigInteger, Column, DateTime, Float, Integer, String, Table

    types = {"priority": Integer, "rank": Integer, "score": Float(53)}
    members = Table("published_memberships", metadata, Column("version", Integer, index=True),
                    *[Column(c, types.get(c, String)) for c in COLUMNS])
    records = Table("publications", metadata, Column("campaign", String, primary_key=True),
                    Column("version", Integer, primary_key=True), Column("run_id", String),
                    Column("published_at", DateTime(timezone=True)),
                    Column("published_by", String), Column("rows", BigInteger))
    pointer = Table("publication_pointer", metadata,
                    Column("campaign", String, primary_key=True), Column("version", Integer))
    return members, records, pointer


def _engine(url: str):
    """An engine on ``url`` with the publication tables and view created."""
    from sqlalchemy import MetaData, create_engine, inspect, text

    engine = create_engine(url)
    metadata = MetaData()
    tables = _tables(metadata)
    metadata.create_all(engine)
    if "current_memberships" not in inspect(engine).get_view_names():
        with engine.begin() as conn:
            conn.execute(text(VIEW))
    return engine, tables


def publish_sqlalchemy(url: str, campaign: str, run_id: str, source: Path, actor: str,
                       hook=None, version: int | None = None) -> int:
    """Insert the run as ``version`` (default: the next one), record it and move the
    pointer, in one transaction; returns the version."""
    from sqlalchemy import func, select

    engine, (members, records, pointer) = _engine(url)
    try:
        with engine.begin() as conn:
            if version is None:
                version = (conn.execute(select(func.max(records.c.version)).where(
                    records.c.campaign == campaign)).scalar() or 0) + 1
            insert = _copy_rows if conn.dialect.driver == "psycopg" else _insert_rows
            rows = insert(conn, members, source, version)
            conn.execute(records.insert(), [{
                "campaign": campaign, "version": version, "run_id": run_id, "rows": rows,
                "published_at": datetime.now(UTC), "published_by": actor}])
            if hook:
                hook("publish.external_before_switch")
            conn.execute(pointer.delete().where(pointer.c.campaign == campaign))
            conn.execute(pointer.insert(), [{"campaign": campaign, "version": version}])
        return version
    finally:
        engine.dispose()


def external_state(url: str, campaign: str) -> tuple[int | None, list[int]]:
    """(current version, every version) of the campaign in the external database."""
    from sqlalchemy import select

    engine, (_, records, pointer) = _engine(url)
    try:
        with engine.connect() as conn:
            current = conn.execute(select(pointer.c.version).where(
                pointer.c.campaign == campaign)).scalar()
            versions = sorted(conn.execute(select(records.c.version).where(
                records.c.campaign == campaign)).scalars())
        return current, versions
    finally:
        engine.dispose()


def align_external(url: str, campaign: str, keep: set[int], current: int | None) -> list[str]:
    """Make the external database agree with DuckDB: drop the versions DuckDB does not have
    and point at DuckDB's current version, in one transaction. Returns what it changed."""
    from sqlalchemy import delete

    have, versions = external_state(url, campaign)
    if have == current and set(versions) <= keep:
        return []  # already in line (the usual case after a publication)
    engine, (members, records, pointer) = _engine(url)
    changed = []
    try:
        with engine.begin() as conn:
            for version in versions:
                if version not in keep:
                    conn.execute(delete(members).where(members.c.campaign == campaign,
                                                       members.c.version == version))
                    conn.execute(delete(records).where(records.c.campaign == campaign,
                                                       records.c.version == version))
                    changed.append(f"removed version {version}")
            conn.execute(pointer.delete().where(pointer.c.campaign == campaign))
            if current is not None:
                conn.execute(pointer.insert(), [{"campaign": campaign, "version": current}])
        return changed
    finally:
        engine.dispose()


def _batches(source: Path, version: int):
    """Record batches of exactly ``version`` + COLUMNS, typed like the table, missing -> null."""
    import duckdb
    import pyarrow as pa

    from segflow.governance.publications import version_sql

    types = {c: pa.int32() for c in INTS} | {"score": pa.float64()}
    con = duckdb.connect()
    try:
        reader = con.sql(f"SELECT * FROM {version_sql(source)}").to_arrow_reader(BATCH)
        for batch in reader:
            yield _typed(batch, version, types)
    finally:
        con.close()


def _typed(batch, version: int, types: dict):
    """One batch as ``version`` + COLUMNS, each typed like the table."""
    import pyarrow as pa

    n, present = batch.num_rows, batch.schema.names
    arrays = [pa.array([version] * n, pa.int32())]
    for c in COLUMNS:
        kind = types.get(c, pa.string())
        arrays.append(batch.column(c).cast(kind) if c in present else pa.nulls(n, kind))
    return pa.RecordBatch.from_arrays(arrays, ["version", *COLUMNS])


def _insert_rows(conn, members, source: Path, version: int) -> int:
    rows = 0
    for batch in _batches(source, version):
        conn.execute(members.insert(), batch.to_pylist())
        rows += batch.num_rows
    return rows


def _copy_rows(conn, members, source: Path, version: int) -> int:
    """COPY through the transaction's own psycopg connection: Arrow writes CSV in which a
    null is an unquoted empty field and every string is quoted, which is exactly how
    PostgreSQL's CSV format tells NULL from ''."""
    import pyarrow.csv as csv

    names = ", ".join(f'"{c}"' for c in ["version", *COLUMNS])
    options = csv.WriteOptions(include_header=False)
    rows = 0
    with conn.connection.driver_connection.cursor() as cur, cur.copy(
            f"COPY {members.name} ({names}) FROM STDIN (FORMAT csv)") as copy:
        for batch in _batches(source, version):
            buf = io.BytesIO()
            csv.write_csv(batch, buf, options)
            copy.write(buf.getvalue())
            rows += batch.num_rows
    return rows
