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
workspace moved or copied whole reads its own files. A registered set with a part file gone
or unreadable is left out of the view and named in ``review_sets_missing``: reading that
run's queue (the gate, the desk, ``segflow review``, status, the report) is refused with one
line (``require_items``), other runs still answer, and ``segflow doctor`` reports it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from segflow.db import has_schema

SETS_DDL = ("CREATE TABLE IF NOT EXISTS review_sets (run_id VARCHAR, folder VARCHAR, "
            "stored_at TIMESTAMPTZ, files VARCHAR[])")
FOLDER = "review_items"  # in the run's folder: one subfolder per governance that wrote one


@dataclass(frozen=True)
class ItemSet:
    """A run's registered items: its folder and the part files governance found in it."""

    run_id: str
    path: Path
    files: tuple[str, ...]


def define_view(con) -> None:
    """(Re)define temporary view ``review_queue`` on this connection, and temporary table
    ``review_sets_missing`` (the runs whose registered files cannot be read, and why:
    ``require_items`` refuses to read their queue). Nothing when the workspace has no
    ``review_rows`` yet (a fresh one, or one made before the table was renamed:
    ``store.ensure_schema`` renames it, and until then the table is the queue). A set that
    cannot be read never stops the connection: ``segflow doctor`` must still open it."""
    import duckdb

    from segflow.failures import one_line

    con.execute("CREATE OR REPLACE TEMP TABLE review_sets_missing (run_id VARCHAR, "
                "problem VARCHAR)")
    if not has_schema(con, "review_rows", "review_id"):
        return
    readable, missing = [], []
    for item_set in registered(con):
        gone = [item_set.path / f for f in item_set.files
                if not (item_set.path / f).is_file()]
        if not item_set.path.is_dir() or gone:
            missing.append((item_set.run_id, f"missing ({gone[0] if gone else item_set.path})"))
        else:
            readable.append(item_set)
    try:
        _create(con, readable)
    except duckdb.Error:  # a damaged part file: find which set, keep the rest
        for item_set in list(readable):
            try:
                con.execute(f"SELECT * FROM {_scan(item_set)} LIMIT 0")
            except duckdb.Error as err:
                readable.remove(item_set)
                missing.append((item_set.run_id, f"unreadable ({one_line(err)})"))
        _create(con, readable)
    if missing:
        con.executemany("INSERT INTO review_sets_missing VALUES (?, ?)", missing)


def _scan(item_set: ItemSet) -> str:
    from segflow.scoring.sqlparts import literal as lit

    files = ", ".join(lit(str(item_set.path / f)) for f in item_set.files)
    return f"read_parquet([{files}], union_by_name = true)"


def _create(con, sets: list[ItemSet]) -> None:
    """The view: the stored rows, then the sets' items that no stored row decided."""
    parts = ["SELECT * FROM review_rows"]
    parts += [f"""SELECT * FROM {_scan(s)} x
        WHERE NOT EXISTS (SELECT 1 FROM review_rows r WHERE r.run_id = x.run_id
                          AND r.entity_id = x.entity_id AND r.rule = x.rule)"""
              for s in sets if s.files]
    con.execute("CREATE OR REPLACE TEMP VIEW review_queue AS "
                + " UNION ALL BY NAME ".join(parts))


def require_items(con, run_id: str | None = None) -> None:
    """Refuse to read the queue of ``run_id`` (of every run when None) whose registered
    items are missing or unreadable: its open items can be neither counted nor decided, and
    the gate must not see fewer than there are."""
    from segflow.errors import SegflowError

    row = con.execute("SELECT run_id, problem FROM review_sets_missing WHERE ?::VARCHAR IS "
                      "NULL OR run_id = ?::VARCHAR ORDER BY 1 LIMIT 1",
                      [run_id, run_id]).fetchone()
    if row is not None:
        raise SegflowError(f"the review items of run {row[0]} are {row[1]}: restore them, "
                           f"or govern the run again (`segflow govern {row[0]}`)")


def registered(con) -> list[ItemSet]:
    """Each run whose open items are a set of Parquet, with its folder and part files."""
    if not has_schema(con, "review_sets", "files"):
        return []
    base = database_folder(con)
    return [ItemSet(run_id, base / folder, tuple(files or ())) for run_id, folder, files in
            con.execute("SELECT run_id, folder, files FROM review_sets ORDER BY run_id")
            .fetchall()]


def database_folder(con) -> Path:
    """The folder of the connection's database file: set folders are stored relative to it."""
    (path,) = con.execute("SELECT path FROM duckdb_databases() "
                          "WHERE database_name = current_database()").fetchone()
    return Path(path).parent


def register(con, run_id: str, folder: Path | None) -> None:
    """The run's open items are the Parquet part files in ``folder`` now (None: in
    ``review_rows``, as a DuckDB run keeps them); replaces the set an earlier governance
    of the run registered. Inside the caller's transaction, with the rest of the
    governance. The folder is stored relative to the database's (as the run's folder lies
    inside it, symbolic links unresolved), so a copied workspace reads its own copy."""
    con.execute(SETS_DDL)
    con.execute("DELETE FROM review_sets WHERE run_id = ?", [run_id])
    if folder is not None:
        path, base = Path(folder), database_folder(con)
        if not path.is_relative_to(base):  # one of them reached through a symbolic link
            path, base = path.resolve(), base.resolve()
        stored = path.relative_to(base) if path.is_relative_to(base) else path
        files = sorted(p.name for p in Path(folder).glob("*.parquet"))
        con.execute("INSERT INTO review_sets VALUES (?, ?, now(), ?)",
                    [run_id, str(stored), files])
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
            kept = any(s.run_id == run_id and s.path.resolve() == Path(folder).resolve()
                       for s in registered(con))
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
