"""The account-manager hand-off: one file per account owner with their accounts, tier,
movement and the reason, written with the channel exports of a run.

A campaign configures it in ``exports.handoff``: the canonical ``table`` that names each
account's owner, its ``id`` and ``owner`` columns (the project's names, never the
platform's), and the ``channel`` whose cohorts are handed over (default
``account_manager``). An account is in the hand-off when its cohort in this run, or its
cohort before (it moved down or out), uses that channel. Accounts whose owner is blank go
to ``_no_owner.csv``: nothing is dropped, and the index counts every file.

Each file is written to a temporary name and renamed (a reader sees the whole file or the
old one) and gets a manifest (rows, SHA-256) like the channel files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from segflow.canonical import source
from segflow.errors import SegflowError
from segflow.governance.reasons import lit

NO_OWNER = "_no_owner"


def owner_file_name(owner: str | None) -> str:
    """A file name for an owner: letters, digits, dot, dash and underscore kept."""
    if owner is None or not owner.strip():
        return NO_OWNER
    return re.sub(r"[^A-Za-z0-9._-]+", "_", owner.strip()).strip("._") or NO_OWNER


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _handoff_cohorts(ctx, channel: str) -> list[str]:
    """Cohort names (template and curated) that use the hand-off channel."""
    names = [n for n, rule in ctx.rules.items() if channel in rule.spec.channels]
    return names + [c.name for c in ctx.config.curated if channel in c.channels]


def write_handoff(settings, con, ctx, canonical: dict, folder: Path) -> dict | None:
    """Write ``<folder>/handoff/<owner>.csv`` (+ manifests) from view ``m_cur`` and the
    run's movement; returns the index entry, None when the campaign configures none."""
    from segflow.governance.config import handoff_config
    from segflow.runstore import run_dir

    cfg = handoff_config(ctx.config)
    if cfg is None:
        return None
    table = canonical.get(cfg["table"])
    if table is None:
        raise SegflowError(f"the hand-off reads canonical/{cfg['table']}.parquet (exports."
                           f"handoff.table of {ctx.run.campaign}), which is not ingested")
    columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source(table)}")
               .fetchall()]
    for key in ("id", "owner"):
        if cfg[key] not in columns:
            raise SegflowError(f"canonical/{cfg['table']}.parquet has no column "
                               f"'{cfg[key]}' (exports.handoff.{key} of {ctx.run.campaign})")
    cohorts = _handoff_cohorts(ctx, cfg["channel"])
    movement = run_dir(settings, ctx.run_id) / "movement.parquet"
    moves = (f"SELECT entity_id, cohort_before, movement, reason FROM read_parquet("
             f"{lit(movement)})" if movement.exists() else
             "SELECT NULL::VARCHAR AS entity_id, NULL::VARCHAR AS cohort_before, "
             "NULL::VARCHAR AS movement, NULL::VARCHAR AS reason WHERE false")
    wanted = "(" + (", ".join(lit(c) for c in cohorts) or "NULL") + ")"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE handoff AS
        WITH j AS MATERIALIZED (
          SELECT coalesce(m.entity_id, mv.entity_id) AS entity_id, m.cohort AS tier,
                 m.status, mv.cohort_before AS tier_before,
                 coalesce(mv.movement, 'stayed') AS movement, mv.reason
          FROM (SELECT *, split_part(cohort, '__', 1) AS base FROM m_cur
                WHERE status IN ('assigned', 'holdout')) m
          FULL OUTER JOIN (SELECT *, split_part(cohort_before, '__', 1) AS base
                           FROM ({moves})) mv ON mv.entity_id = m.entity_id
          -- the bases are columns of the two sides: DuckDB 2.0 cannot bind an OR of
          -- split_part over both sides of a full outer join
          WHERE m.base IN {wanted} OR mv.base IN {wanted})
        SELECT CAST(a.{_q(cfg['owner'])} AS VARCHAR) AS owner,
               j.entity_id AS {_q(cfg['id'])}, j.* EXCLUDE (entity_id)
        FROM j LEFT JOIN {source(table)} a
          ON CAST(a.{_q(cfg['id'])} AS VARCHAR) = j.entity_id""")
    out = folder / "handoff"
    out.mkdir(parents=True, exist_ok=True)
    owners = [r[0] for r in con.execute("SELECT DISTINCT owner FROM handoff ORDER BY owner "
                                        "NULLS LAST").fetchall()]
    files, seen = [], {}
    for owner in owners:
        name = owner_file_name(owner)
        if name in seen:
            raise SegflowError(f"owners '{seen[name]}' and '{owner}' would share the hand-off "
                               f"file {name}.csv; give them distinct names")
        seen[name] = owner
        files.append(_write_owner(con, out, owner, name, ctx.run_id))
    index = {"channel": cfg["channel"], "table": cfg["table"], "owner_column": cfg["owner"],
             "cohorts": cohorts, "files": files, "rows": sum(f["rows"] for f in files),
             "no_owner": next((f["rows"] for f in files if f["owner"] is None), 0)}
    (out / "index.json").write_text(json.dumps(index, indent=2))
    return index


def _write_owner(con, out: Path, owner: str | None, name: str, run_id: str) -> dict:
    """One owner's file, written to a temporary name and renamed, and its manifest."""
    path = out / f"{name}.csv"
    tmp = path.with_name(path.name + ".tmp")
    where = "owner IS NULL" if owner is None else f"owner = {lit(owner)}"
    con.execute(f"COPY (SELECT * EXCLUDE (owner) FROM handoff WHERE {where} ORDER BY ALL) "
                f"TO {lit(tmp)} (HEADER)")
    os.replace(tmp, path)
    data = path.read_bytes()
    rows = con.execute(f"SELECT count(*) FROM handoff WHERE {where}").fetchone()[0]
    manifest = {"run_id": run_id, "owner": owner, "file": path.name, "rows": rows,
                "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    path.with_suffix(".manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
