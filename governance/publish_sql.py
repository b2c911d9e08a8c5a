"""Publication into any SQLAlchemy database (PostgreSQL, SQLite, ...), in one transaction.

Same tables as the DuckDB path: ``published_memberships`` (versioned rows),
``publication_pointer`` (campaign -> current version) and the ``current_memberships`` view.
Rows go in as executemany batches; the pointer moves last, inside the same transaction.
"""

from __future__ import annotations

from pathlib import Path

from governance.publish import COLUMNS

BATCH = 50_000
VIEW = ("CREATE VIEW current_memberships AS SELECT m.* FROM published_memberships m "
        "JOIN publication_pointer p ON p.campaign = m.campaign AND p.version = m.version")


def _tables(metadata):
    from sqlalchemy import Column, Float, Integer, String, Table

    types = {"priority": Integer, "rank": Integer, "score": Float}
    members = Table("published_memberships", metadata, Column("version", Integer, index=True),
                    *[Column(c, types.get(c, String)) for c in COLUMNS])
    pointer = Table("publication_pointer", metadata,
                    Column("campaign", String, primary_key=True), Column("version", Integer))
    return members, pointer


def publish_sqlalchemy(url: str, campaign: str, run_id: str, source: Path, actor: str,
                       hook=None) -> int:
    """Insert the run as a new version and move the pointer; returns the version."""
    import pyarrow.parquet as pq
    from sqlalchemy import MetaData, create_engine, func, inspect, select, text

    engine = create_engine(url)
    try:
        metadata = MetaData()
        members, pointer = _tables(metadata)
        metadata.create_all(engine)
        if "current_memberships" not in inspect(engine).get_view_names():
            with engine.begin() as conn:
                conn.execute(text(VIEW))
        table = pq.read_table(source)
        with engine.begin() as conn:
            version = (conn.execute(select(func.max(members.c.version)).where(
                members.c.campaign == campaign)).scalar() or 0) + 1
            for batch in table.to_batches(BATCH):
                rows = batch.to_pylist()
                conn.execute(members.insert(), [
                    {"version": version, **{c: r.get(c) for c in COLUMNS}} for r in rows])
            if hook:
                hook("before_switch")
            conn.execute(pointer.delete().where(pointer.c.campaign == campaign))
            conn.execute(pointer.insert(), [{"campaign": campaign, "version": version}])
        return version
    finally:
        engine.dispose()
