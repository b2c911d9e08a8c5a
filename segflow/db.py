"""The workspace DuckDB database: run store, memberships, review queue, published tables."""

from __future__ import annotations

from contextlib import contextmanager

from segflow.settings import Settings


@contextmanager
def connect(settings: Settings, read_only: bool = False):
    """Open the workspace database; closed on exit so other processes can open it next."""
    import duckdb

    settings.home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.database_path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()
