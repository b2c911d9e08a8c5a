"""Publication tables and the read API over them.

DuckDB (the workspace database) holds every published version in
``published_memberships``, one row per version in ``publications`` and the current version
per campaign in ``publication_pointer``; the view ``current_memberships`` reads through the
pointer. Writing them is ``segflow.governance.publish``'s job; this module only defines and reads
them, so later stages (monitoring's drift reference) ask here rather than parse the audit
log.

Each version is also kept as Parquet, ``published/<campaign>/vNNNNN.parquet``: one file
when the run's memberships are one file (a DuckDB run), a folder partitioned by cohort
(``vNNNNN.parquet/cohort=<name>/part-*.parquet``) when they are a folder (a Spark run), so
a cluster's jobs read one cohort of the publication where the cluster keeps it. Whatever
the form, a published version's rows are read through ``version_sql`` (segflow's one
reader of run outputs, ``segflow.scoring.runfiles``): the DuckDB table for SQL users and
the external database, the Parquet for the live API and ``read_current_parquet``.
"""

from __future__ import annotations

import json

from segflow.errors import SegflowError
from segflow.settings import Settings

COLUMNS = ("run_id", "campaign", "entity_id", "cohort", "template", "split_value", "status",
           "arm", "suppressed_by", "priority", "rank", "score", "channels", "override_id")
DDL = """
CREATE TABLE IF NOT EXISTS published_memberships (version INTEGER, run_id VARCHAR,
  campaign VARCHAR, entity_id VARCHAR, cohort VARCHAR, template VARCHAR, split_value VARCHAR,
  status VARCHAR, arm VARCHAR, suppressed_by VARCHAR, priority INTEGER, rank INTEGER,
  score DOUBLE, channels VARCHAR, override_id VARCHAR);
CREATE TABLE IF NOT EXISTS publications (campaign VARCHAR, version INTEGER, run_id VARCHAR,
  published_at TIMESTAMPTZ, published_by VARCHAR, rows BIGINT);
ALTER TABLE publications ADD COLUMN IF NOT EXISTS seal_hash VARCHAR;
ALTER TABLE publications ADD COLUMN IF NOT EXISTS sha256 VARCHAR;
ALTER TABLE publications ADD COLUMN IF NOT EXISTS audit_seq BIGINT;
CREATE TABLE IF NOT EXISTS publication_pointer (campaign VARCHAR PRIMARY KEY,
  version INTEGER);
CREATE OR REPLACE VIEW current_memberships AS SELECT m.* FROM published_memberships m
  JOIN publication_pointer p ON p.campaign = m.campaign AND p.version = m.version;
"""
RECORD = ("campaign", "version", "run_id", "published_at", "published_by", "rows",
          "seal_hash", "sha256", "audit_seq")


def ensure_tables(con) -> None:
    """Create the publication tables and view unless they are there already."""
    from segflow.db import has_schema

    view = con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = "
                       "'current_memberships'").fetchall()[0][0]
    if not view or not has_schema(con, "publications", "audit_seq"):
        con.execute(DDL)


def _rows(con, where: str, params: list) -> list[dict]:
    cur = con.execute(f"""SELECT {', '.join('p.' + c for c in RECORD)},
        c.version IS NOT NULL AS current FROM publications p
        LEFT JOIN publication_pointer c USING (campaign, version)
        WHERE {where} ORDER BY p.campaign, p.version""", params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _read(settings: Settings, where: str, params: list, con=None) -> list[dict]:
    if con is not None:
        ensure_tables(con)
        return _rows(con, where, params)
    if not settings.database_path.exists():
        return []
    from segflow.db import connect

    with connect(settings) as own:
        ensure_tables(own)
        return _rows(own, where, params)


def current_publication(settings: Settings, campaign: str, con=None) -> dict | None:
    """The campaign's current version: version, run_id, published_at, published_by, rows,
    seal_hash, sha256, audit_seq (None when never published)."""
    rows = _read(settings, "p.campaign = ? AND c.version IS NOT NULL", [campaign], con)
    return rows[0] if rows else None


def publication_history(settings: Settings, campaign: str, con=None) -> list[dict]:
    """Every version of the campaign, oldest first, with ``current`` marking the live one."""
    return _read(settings, "p.campaign = ?", [campaign], con)


def publications_of_run(settings: Settings, run_id: str, con=None) -> list[dict]:
    return _read(settings, "p.run_id = ?", [run_id], con)


def last_published_run(settings: Settings, campaign: str, before: str | None = None):
    """Run id of the campaign's current publication (None when never published, or when
    that is ``before`` itself)."""
    pub = current_publication(settings, campaign)
    if pub is None or pub["run_id"] == before:
        return None
    return pub["run_id"]


def read_current_parquet(settings: Settings, campaign: str):
    """The current published memberships from the Parquet copy (Arrow): the same columns
    and rows whether the version is one file or a folder partitioned by cohort."""
    from segflow.scoring.runfiles import read_arrow

    pointer = settings.publish_dir / campaign / "current.json"
    if not pointer.exists():
        raise SegflowError(f"campaign {campaign} has never been published")
    meta = json.loads(pointer.read_text())
    return read_arrow(settings.publish_dir / campaign / meta["file"])


def version_sql(path) -> str:
    """A DuckDB relation (for ``FROM``) over a published version's Parquet, a file or a
    folder partitioned by cohort: the one way a published version's rows are read."""
    from segflow.scoring.runfiles import parquet_sql

    return parquet_sql(path)


def version_path(settings: Settings, campaign: str, version: int, suffix: str = ".parquet"):
    return settings.publish_dir / campaign / f"v{version:05d}{suffix}"
