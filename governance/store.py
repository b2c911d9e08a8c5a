"""Governance tables in the workspace DuckDB and the run files they are computed from.

One schema, created idempotently by ``ensure_schema``; every writer calls it first so a
fresh workspace needs no migration step.
"""

from __future__ import annotations

from pathlib import Path

from segflow.errors import SegflowError
from segflow.runstore import load_run, run_dir
from segflow.settings import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS control_results (
  run_id VARCHAR, name VARCHAR, passed BOOLEAN, severity VARCHAR, figures JSON,
  message VARCHAR, checked_at TIMESTAMPTZ);
-- no PRIMARY KEY: DuckDB holds a key's index in memory whole (2 GB for a 10M-customer
-- run's 2M items; past the memory limit the commit fails); review.store_exceptions keeps
-- the ids unique instead. Readers query view review_queue (governance.review_sets): these
-- rows and the items a Spark run left in its folder.
CREATE TABLE IF NOT EXISTS review_rows (
  review_id VARCHAR, run_id VARCHAR, campaign VARCHAR, entity_id VARCHAR,
  rule VARCHAR, detail VARCHAR, cohort_before VARCHAR, proposed_cohort VARCHAR,
  template VARCHAR, status VARCHAR, decided_by VARCHAR, decided_at TIMESTAMPTZ,
  reason VARCHAR, override_to VARCHAR);
CREATE TABLE IF NOT EXISTS overrides (
  override_id VARCHAR PRIMARY KEY, campaign VARCHAR, entity_id VARCHAR, to_cohort VARCHAR,
  reason VARCHAR, decided_by VARCHAR, created_at TIMESTAMPTZ, expires TIMESTAMPTZ,
  review_id VARCHAR, run_id VARCHAR);
CREATE TABLE IF NOT EXISTS approvals (
  run_id VARCHAR, approved_by VARCHAR, reason VARCHAR, approved_at TIMESTAMPTZ);
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS seal_hash VARCHAR;
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS os_user VARCHAR;
-- the desk's filter and sort keys, filled per run by desk.queue.fill_keys
ALTER TABLE review_rows ADD COLUMN IF NOT EXISTS move INTEGER;
ALTER TABLE review_rows ADD COLUMN IF NOT EXISTS base_before VARCHAR;
ALTER TABLE review_rows ADD COLUMN IF NOT EXISTS base_proposed VARCHAR;
CREATE TABLE IF NOT EXISTS run_seals (
  run_id VARCHAR, seal_hash VARCHAR, memberships_sha256 VARCHAR, features_sha256 VARCHAR,
  rows BIGINT, by_status JSON, sealed_at TIMESTAMPTZ, current BOOLEAN);
"""


def ensure_schema(con) -> None:
    """Create the governance tables unless they are there already (a read must not write:
    on a full disk even a no-op DDL statement fails to commit)."""
    from segflow.db import has_schema
    from segflow.governance.review_sets import SETS_DDL, define_view

    _rename_review_queue(con)
    if not (has_schema(con, "run_seals", "current") and has_schema(con, "approvals", "os_user")
            and has_schema(con, "review_rows", "base_proposed")
            and has_schema(con, "review_sets", "folder")):
        con.execute(SCHEMA + SETS_DDL)
    define_view(con)
    from segflow.governance.audit import ensure_schema as audit_schema

    audit_schema(con)


def _rename_review_queue(con) -> None:
    """A workspace made before view ``review_queue`` has its items in a table of that
    name: unkeyed if need be, then renamed ``review_rows`` (once per workspace)."""
    table = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = "
                        "'review_queue' AND table_type = 'BASE TABLE'").fetchone()[0]
    if not table:
        return
    _unkey_review_queue(con)
    con.execute("ALTER TABLE review_queue RENAME TO review_rows")


def _unkey_review_queue(con) -> None:
    """Rebuild a review queue made before its key was dropped (see SCHEMA) without it, its
    rows and columns as they were; DuckDB cannot drop a key in place. Once per workspace,
    in one transaction (the caller's, if it holds one): a failure between the drop and the
    rename must not leave the workspace without its queue."""
    import duckdb

    keyed = con.execute("SELECT count(*) FROM information_schema.table_constraints WHERE "
                        "table_name = 'review_queue' AND constraint_type = 'PRIMARY KEY'"
                        ).fetchone()[0]
    if not keyed:
        return
    try:
        con.execute("BEGIN TRANSACTION")
        own = True
    except duckdb.TransactionException:  # the caller's transaction holds the rebuild
        own = False
    try:
        con.execute("CREATE TABLE review_queue_unkeyed AS SELECT * FROM review_queue")
        con.execute("DROP TABLE review_queue")
        con.execute("ALTER TABLE review_queue_unkeyed RENAME TO review_queue")
    except BaseException:
        if own:
            con.execute("ROLLBACK")
        raise
    if own:
        con.execute("COMMIT")


def run_file(settings: Settings, run_id: str, name: str) -> Path:
    """A file of a run; a clear error when the run or the file is missing."""
    load_run(settings, run_id)
    path = run_dir(settings, run_id) / name
    if not path.exists():
        raise SegflowError(f"run {run_id} has no {name} (was the refresh completed?)")
    return path


def entity_column(names: list[str]) -> str:
    """The entity id column of a features frame: entity_id, customer_id or account_id."""
    for name in ("entity_id", "customer_id", "account_id"):
        if name in names:
            return name
    raise SegflowError(f"features frame has no entity id column (entity_id, customer_id or "
                       f"account_id); columns: {', '.join(names[:12])}")


def features_view(con, settings: Settings, run_id: str, view: str) -> str:
    """Register a run's features.parquet as ``view`` with the id renamed ``entity_id``."""
    from segflow.scoring.runfiles import columns

    path = run_file(settings, run_id, "features.parquet")
    # the footer only (the same SQL runs on Spark); a file, or the folder of part files
    # a Spark refresh writes
    cols = columns(path)
    key = entity_column(cols)
    return _view(con, path, view, [f'"{c}" AS entity_id' if c == key else f'"{c}"'
                                   for c in cols])


def deciding_rows(view: str) -> str:
    """Each entity's one deciding row of memberships ``view``: the highest priority, the
    cohort breaking a tie (a campaign that is not exclusive gives an entity several rows).
    Revenue is attributed to it and a routed note's item proposes it, on either engine."""
    return (f"SELECT * FROM {view} QUALIFY row_number() OVER (PARTITION BY entity_id "
            "ORDER BY priority NULLS LAST, cohort NULLS LAST) = 1")


def memberships_view(con, settings: Settings, run_id: str, view: str) -> str:
    """Register a run's memberships as ``view``: one file (DuckDB) or the folder a Spark
    run writes, partitioned by cohort; the same columns, types and rows either way."""
    return _view(con, run_file(settings, run_id, "memberships.parquet"), view, None)


def _view(con, path: Path, view: str, select: list[str] | None) -> str:
    """``path`` read through the one reader of run outputs (``segflow.scoring.runfiles``)
    as temporary view ``view``, on the connection's engine."""
    from segflow.scoring import runfiles

    if getattr(con, "engine", None) == "spark":  # segflow.sqlengine.SparkConnection
        frame = runfiles.spark_frame(con.spark, path)
        (frame.selectExpr(*[s.replace('"', "`") for s in select]) if select else frame) \
            .createOrReplaceTempView(view)
        return view
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {', '.join(select or ['*'])} "
                f"FROM {runfiles.parquet_sql(path)}")
    return view


def canonical_path(settings: Settings, table: str) -> Path | None:
    path = settings.canonical_dir / f"{table}.parquet"
    return path if path.exists() else None


def _q(path: Path) -> str:
    return str(path).replace("'", "''")


def has_column(con, view: str, column: str) -> bool:
    return column in [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()]
