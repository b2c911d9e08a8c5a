"""Approval and atomic publication of a run's memberships.

DuckDB (the workspace database, default): one transaction inserts the new version into
``published_memberships``, records it in ``publications`` and moves the
``publication_pointer`` row; ``current_memberships`` is a view through that pointer, so
readers see the old version or the new one, never a mix. A crash before COMMIT leaves the
previous version current. Any SQLAlchemy URL (``settings.publish_db_url``) gets the same
tables and view in one SQLAlchemy transaction (``governance.publish_sql``). The Parquet copy
under ``published/<campaign>/`` is written to a versioned file first, then ``current.json``
is switched with ``os.replace``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime

from governance import audit
from governance.store import ensure_schema, run_file
from segflow.db import connect
from segflow.errors import ControlFailed, SegflowError
from segflow.runstore import run_dir
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
CREATE TABLE IF NOT EXISTS publication_pointer (campaign VARCHAR PRIMARY KEY,
  version INTEGER);
CREATE OR REPLACE VIEW current_memberships AS SELECT m.* FROM published_memberships m
  JOIN publication_pointer p ON p.campaign = m.campaign AND p.version = m.version;
"""
Hook = Callable[[str], None] | None


def current_publication(settings: Settings, campaign: str) -> dict | None:
    """{'version', 'run_id', 'published_at', ...} of the campaign's current version."""
    if not settings.database_path.exists():
        return None
    with connect(settings) as con:
        con.execute(DDL)
        cur = con.execute("""SELECT p.* FROM publications p JOIN publication_pointer c
            USING (campaign, version) WHERE campaign = ?""", [campaign])
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None


def approve(settings: Settings, run_id: str, by: str, reason: str) -> dict:
    """Record an approval by a campaign owner or reviewer, with a required reason."""
    from governance.context import RunContext

    ctx = RunContext.of(settings, run_id)
    allowed = set(ctx.config.owners) | set(ctx.config.review.get("reviewers") or [])
    if by not in allowed:
        raise SegflowError(f"{by!r} may not approve {run_id}: approvers are "
                           f"{', '.join(sorted(allowed))}")
    if not reason or not reason.strip():
        raise SegflowError("an approval needs a reason (--reason)")
    with connect(settings) as con:
        ensure_schema(con)
        con.execute("INSERT INTO approvals VALUES (?, ?, ?, now())", [run_id, by, reason])
    entry = {"by": by, "reason": reason}
    audit.append(settings, by, "approve", entry, run_id=run_id)
    return entry


def gate(settings: Settings, run_id: str) -> tuple[list[str], bool, bool]:
    """(blocking messages, approval needed, approved) from stored controls and reviews."""
    from governance.context import RunContext

    ctx = RunContext.of(settings, run_id)
    with connect(settings) as con:
        ensure_schema(con)
        controls = con.execute("SELECT name, passed, severity, message FROM control_results "
                               "WHERE run_id = ? ORDER BY name", [run_id]).fetchall()
        open_items = con.execute("SELECT count(*) FROM review_queue WHERE run_id = ? AND "
                                 "status = 'open'", [run_id]).fetchone()[0]
        approved = con.execute("SELECT count(*) FROM approvals WHERE run_id = ?",
                               [run_id]).fetchone()[0] > 0
    if not controls:
        return [f"run {run_id} has not been governed yet (segflow govern {run_id})"], False, \
            approved
    blocks = [f"control {n} failed: {m}" for n, ok, sev, m in controls
              if not ok and sev == "block"] + drift_blocks(settings, run_id)
    needs = (ctx.config.approval_required or open_items > 0
             or any(not ok for _, ok, _, _ in controls))
    return blocks, needs, approved


def drift_blocks(settings: Settings, run_id: str) -> list[str]:
    """A breached, unacknowledged drift gate blocks publication.

    Read from the gate's verdict file (``runs/<id>/drift/gate.json``, written by monitoring)
    so governance does not import the later monitoring stage. A run never drift-checked is
    not blocked here: the campaign-refresh flow always checks before it publishes.
    """
    path = run_dir(settings, run_id) / "drift" / "gate.json"
    if not path.exists():
        return []
    verdict = json.loads(path.read_text(encoding="utf-8"))
    if verdict.get("passed") or verdict.get("acknowledged"):
        return []
    return [f"drift gate breached ({'; '.join(verdict.get('reasons') or [])}); acknowledge "
            f"with `segflow drift ack {run_id} --by NAME --reason TEXT`"]


def publish_run(settings: Settings, run_id: str, by: str | None = None,
                _hook: Hook = None) -> dict:
    """Publish a governed run; refuses on a failed control or a missing approval."""
    from governance.store import load_run

    blocks, needs, approved = gate(settings, run_id)
    if blocks:
        raise ControlFailed(f"cannot publish {run_id}: " + "; ".join(blocks))
    if needs and not approved:
        raise ControlFailed(f"cannot publish {run_id}: it needs an approval (campaign setting, "
                            f"a failed review control or open exceptions); run `segflow "
                            f"approve {run_id} --by NAME --reason TEXT`")
    run = load_run(settings, run_id)
    source = run_file(settings, run_id, "memberships.parquet")
    actor = by or "segflow"
    if settings.publish_db_url:
        from governance.publish_sql import publish_sqlalchemy

        version = publish_sqlalchemy(settings.publish_db_url, run.campaign, run_id, source,
                                     actor, _hook)
    else:
        version = None
    version = _publish_duckdb(settings, run.campaign, run_id, source, actor, _hook, version)
    _switch_parquet(settings, run.campaign, run_id, version, source)
    entry = {"campaign": run.campaign, "version": version, "by": actor,
             "target": "sqlalchemy" if settings.publish_db_url else "duckdb"}
    audit.append(settings, actor, "publish", entry, run_id=run_id)
    return entry


def select_columns(present: list[str]) -> str:
    return ", ".join(c if c in present else f"NULL AS {c}" for c in COLUMNS)


def _publish_duckdb(settings, campaign, run_id, source, actor, hook: Hook,
                    version: int | None) -> int:
    """One transaction: data rows (skipped when another database holds them) + pointer."""
    src = "read_parquet('" + str(source).replace("'", "''") + "')"
    with connect(settings) as con:
        con.execute(DDL)
        present = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
        con.execute("BEGIN TRANSACTION")
        if version is None:
            version = con.execute("SELECT coalesce(max(version), 0) + 1 FROM publications "
                                  "WHERE campaign = ?", [campaign]).fetchone()[0]
            con.execute(f"INSERT INTO published_memberships SELECT {version}, "
                        f"{select_columns(present)} FROM {src}")
        rows = con.execute(f"SELECT count(*) FROM {src}").fetchone()[0]
        con.execute("INSERT INTO publications VALUES (?, ?, ?, ?, ?, ?)",
                    [campaign, version, run_id, datetime.now(UTC), actor, rows])
        if hook:
            hook("before_switch")
        con.execute("INSERT OR REPLACE INTO publication_pointer VALUES (?, ?)",
                    [campaign, version])
        con.execute("COMMIT")
    return version


def _switch_parquet(settings, campaign, run_id, version, source) -> None:
    folder = settings.publish_dir / campaign
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"v{version:05d}.parquet"
    tmp = target.with_suffix(".parquet.tmp")
    tmp.write_bytes(source.read_bytes())
    os.replace(tmp, target)
    pointer = folder / "current.json"
    tmp = pointer.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"version": version, "run_id": run_id, "file": target.name}))
    os.replace(tmp, pointer)


def read_current_parquet(settings: Settings, campaign: str):
    """The current published memberships from the Parquet copy (Arrow)."""
    import pyarrow.parquet as pq

    pointer = settings.publish_dir / campaign / "current.json"
    if not pointer.exists():
        raise SegflowError(f"campaign {campaign} has never been published")
    meta = json.loads(pointer.read_text())
    return pq.read_table(settings.publish_dir / campaign / meta["file"])
