"""The workspace DuckDB database: run store, memberships, review queue, published tables."""

from __future__ import annotations

from contextlib import contextmanager

from segflow.settings import Settings

# On a Spark project the executors compute over the customers and the workspace's DuckDB, in
# the driver, holds the review queue, seals, approvals and the audit log: capped so the
# driver stays the same size whatever the number of customers (past it DuckDB spills beside
# the database file). Storing 10M customers' 1,953,516 review items took the driver from
# 385 MB to 1,483 MB under the 40% share a DuckDB project's workspace gets (9.6 GB here).
SPARK_WORKSPACE_MB = 1024


# What a stage adds to every connection of the workspace database (governance: the view
# its review queue is read through), registered by the stage's package when it is imported
# (``on_open``): the core runs them and knows none of them.
_ON_OPEN: list = []


def on_open(prepare) -> None:
    """Run ``prepare(con)`` on every workspace connection ``connect`` opens from now on."""
    if prepare not in _ON_OPEN:
        _ON_OPEN.append(prepare)


@contextmanager
def connect(settings: Settings, read_only: bool = False):
    """Open the workspace database; closed on exit so other processes can open it next.
    Memory is capped like every other connection (governance joins two 10M-row runs); past
    the cap DuckDB spills beside the database file."""
    settings.home.mkdir(parents=True, exist_ok=True)
    con = _open(settings, read_only)
    try:
        for prepare in _ON_OPEN:
            prepare(con)
        yield con
    finally:
        con.close()


def _open(settings: Settings, read_only: bool):
    """Open the database, waiting while another process has it open (DuckDB allows one
    writing process); past the workspace lock's wait, a ``WorkspaceBusy`` that names the
    holder instead of DuckDB's "Could not set lock on file"."""
    import time

    import duckdb

    from segflow.lock import busy_message, read_holder, wait_seconds

    deadline = time.monotonic() + wait_seconds()
    while True:
        try:
            return duckdb.connect(str(settings.database_path), read_only=read_only,
                                  config={"memory_limit": workspace_memory(settings)})
        except duckdb.IOException as err:
            if "lock" not in str(err).lower():
                raise
            if time.monotonic() >= deadline:
                from segflow.errors import WorkspaceBusy

                raise WorkspaceBusy(busy_message(settings, read_holder(settings))) from None
            time.sleep(0.2)


def has_schema(con, table: str, column: str) -> bool:
    """Whether ``table`` exists with ``column``: callers create their tables only when not,
    because a read must not write (on a full disk even a no-op DDL statement fails). Asked
    of information_schema: duckdb_columns() also lists every system column and took 100 to
    200 ms a call on a loaded machine, four calls per review-desk page."""
    return con.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = ? "
                       "AND column_name = ?", [table, column]).fetchall()[0][0] > 0


def workspace_memory(settings: Settings) -> str:
    """The workspace database's memory limit: 40% of the machine where DuckDB is the engine
    (governance joins two 10M-row runs on it), at most ``SPARK_WORKSPACE_MB`` on Spark."""
    return memory_limit(0.4, SPARK_WORKSPACE_MB if settings.engine == "spark" else None)


def memory_limit(share: float = 0.5, cap_mb: int | None = None) -> str:
    """How much memory DuckDB may use before spilling to disk, as a DuckDB size string.

    DuckDB's own default is 80% of RAM, and what the caller then holds in Python (an Arrow
    result, a pandas frame) comes on top: at 10M customers that pushed retrieval past 24 GB.
    A share of RAM (and an optional hard cap) keeps room for the caller; the rest spills.
    """
    import os

    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    mb = int(total * share / 2**20)
    return f"{min(mb, cap_mb) if cap_mb else mb}MB"


SPILL_FOLDER = ".duckdb-spill"   # in the workspace; doctor reports files left in it


def spill_dir(settings: Settings) -> str:
    """Where in-memory DuckDB connections spill: inside the workspace, never the cwd."""
    path = settings.home / SPILL_FOLDER
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
