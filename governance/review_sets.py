"""Review items that stay where a Spark run's executors wrote them.

A run's review items grow with its customers (10M customers gave about 2M items). On a
Spark project they stay in the run's folder as the Parquet the executors wrote
(``runs/<id>/review_items/<set>/``); the workspace's DuckDB, on the driver, keeps only
which folder holds each run's items (table ``review_sets``) and the items people decided
(table ``review_rows``, where a DuckDB project keeps all its items).

``review_queue``, the one name every reader of the queue queries (desk, CLI, gate,
report, owners, status), is a temporary view defined on each connection to the workspace
(``define_view``, which ``segflow.db.connect`` runs: the package registers it): the stored
rows, then each set's Parquet items that no stored row decided (an item is its run, entity
and rule, as in ``review.store_exceptions``). A decision first copies its items into
``review_rows`` (``materialise``), so a set's Parquet is only ever read after the
governance that wrote it.

Paths are stored relative to the database's folder (a run's folder is inside it), so a
workspace moved or copied whole reads its own files. A registered folder that has gone
makes every query of that run's open items fail with a line that says so, instead of
showing fewer items; the other runs' queues still answer, and ``segflow doctor`` reports it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from segflow.db import has_schema

SETS_DDL = ("CREATE TABLE IF NOT EXISTS review_sets (run_id VARCHAR, folder VARCHAR, "
            "stored_at TIMESTAMPTZ)")
FOLDER = "review_items"  # in the run's folder: one subfolder per governance that wrote one


def define_view(con) -> None:
    """(Re)define temporary view ``review_queue`` on this connection; nothing when the
    workspace has no ``review_rows`` yet (a fresh one, or one made before the table was
    renamed: ``store.ensure_schema`` renames it, and until then the table is the queue)."""
    if not has_schema(con, "review_rows", "review_id"):
        return
    parts = ["SELECT * FROM review_rows"]
    files = []
    for run_id, path in registered(con):
        if not path.is_dir():
            parts.append(_missing(run_id, path))
            continue
        files += [str(p) for p in sorted(path.glob("*.parquet"))]
    if files:
        from segflow.scoring.sqlparts import literal as lit

        listed = ", ".join(lit(f) for f in files)
        parts.append(f"""SELECT * FROM read_parquet([{listed}], union_by_name = true) x
            WHERE NOT EXISTS (SELECT 1 FROM review_rows r WHERE r.run_id = x.run_id
                              AND r.entity_id = x.entity_id AND r.rule = x.rule)""")
    con.execute("CREATE OR REPLACE TEMP VIEW review_queue AS "
                + " UNION ALL BY NAME ".join(parts))


def registered(con) -> list[tuple[str, Path]]:
    """Each run whose open items are a set of Parquet, and that set's folder."""
    if not has_schema(con, "review_sets", "folder"):
        return []
    base = database_folder(con)
    return [(run_id, base / folder) for run_id, folder in con.execute(
        "SELECT run_id, folder FROM review_sets ORDER BY run_id").fetchall()]


def _missing(run_id: str, path: Path) -> str:
    """A row that fails when a query reads it: the run's open items are in a folder that
    has gone. Its run and status are set so a query of that run's open items reads it."""
    from segflow.scoring.sqlparts import literal as lit

    message = (f"the review items of run {run_id} are missing ({path}): restore the folder "
               f"or govern the run again (`segflow govern {run_id}`)")
    return (f"SELECT {lit(run_id)} AS run_id, 'open' AS status, "
            f"error({lit(message)})::VARCHAR AS review_id")


def database_folder(con) -> Path:
    """The folder of the connection's database file: set folders are stored relative to it."""
    (path,) = con.execute("SELECT path FROM duckdb_databases() "
                          "WHERE database_name = current_database()").fetchone()
    return Path(path).resolve().parent


def register(con, run_id: str, folder: Path | None) -> None:
    """The run's open items are the Parquet in ``folder`` (None: in ``review_rows``, as a
    DuckDB run keeps them); replaces the set an earlier governance of the run registered.
    Inside the caller's transaction, with the rest of the governance."""
    con.execute(SETS_DDL)
    con.execute("DELETE FROM review_sets WHERE run_id = ?", [run_id])
    if folder is not None:
        path, base = Path(folder).resolve(), database_folder(con)
        stored = path.relative_to(base) if path.is_relative_to(base) else path
        con.execute("INSERT INTO review_sets VALUES (?, ?, now())", [run_id, str(stored)])
    define_view(con)


def materialise(con, runs: list[str], ids: list[str]) -> None:
    """Copy the items (``runs[i]``, ``ids[i]``) that are still only in a set's Parquet into
    ``review_rows``, before a decision updates them there."""
    con.execute("""INSERT INTO review_rows BY NAME SELECT q.* FROM review_queue q
        JOIN (SELECT unnest($runs::VARCHAR[]) AS run_id, unnest($ids::VARCHAR[]) AS id) d
          ON q.run_id = d.run_id AND q.review_id = d.id
        WHERE NOT EXISTS (SELECT 1 FROM review_rows r WHERE r.run_id = q.run_id
                          AND r.review_id = q.review_id)""", {"runs": runs, "ids": ids})


def new_folder(run_folder: Path) -> Path:
    """A folder for the items of one governance of a run, named for when it began: a
    governance that fails leaves the registered set as it was."""
    from datetime import UTC, datetime

    return run_folder / FOLDER / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def discard(settings, run_id: str, folder: Path) -> None:
    """After a governance failed: remove the items it wrote, unless the database registered
    them (it failed after its commit, writing the seal's file). When the database cannot
    be asked, the folder stays: the run's next governance removes it."""
    from segflow.db import connect

    try:
        with connect(settings) as con:
            kept = any(run == run_id and path.resolve() == Path(folder).resolve()
                       for run, path in registered(con))
    except Exception:  # noqa: BLE001 - the original failure is what the caller raises
        return
    if not kept:
        shutil.rmtree(folder, ignore_errors=True)


def remove_others(run_folder: Path, keep: Path | None) -> None:
    """After a commit, remove the run's item folders but ``keep``: the sets it replaced,
    or every set when the run was governed again on DuckDB (``keep`` None)."""
    root = run_folder / FOLDER
    if not root.is_dir():
        return
    for path in root.iterdir():
        if keep is None or path.resolve() != Path(keep).resolve():
            shutil.rmtree(path, ignore_errors=True)
