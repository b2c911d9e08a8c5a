"""What the run store knows about a run (``segflow runs show``) and re-running it."""

from __future__ import annotations

import json
from dataclasses import asdict

from segflow.db import connect
from segflow.governance.review_sets import require_items
from segflow.governance.store import ensure_schema
from segflow.lock import holds_workspace
from segflow.runstore import frozen_settings, is_frozen, load_run, run_dir
from segflow.settings import Settings


def run_status(settings: Settings, run_id: str) -> dict:
    """Manifest (inputs, hashes, model versions, as-of) + the gate's verdict, controls,
    approvals (with the seal each approved) and publications."""
    from segflow.governance.gate import verdict
    from segflow.governance.publications import ensure_tables

    record = asdict(load_run(settings, run_id))
    record["frozen_rules"] = is_frozen(settings, run_id)
    with connect(settings) as con:
        ensure_schema(con)
        ensure_tables(con)
        record["verdict"] = verdict(settings, run_id, con=con).to_dict() \
            if (run_dir(settings, run_id) / "memberships.parquet").exists() else None
        record["controls"] = [
            {"name": n, "passed": p, "severity": s, "message": m} for n, p, s, m in
            con.execute("SELECT name, passed, severity, message FROM control_results WHERE "
                        "run_id = ? ORDER BY name", [run_id]).fetchall()]
        record["approvals"] = [{"by": b, "reason": r, "at": a, "seal_hash": h, "os_user": u}
                               for b, r, a, h, u in con.execute(
            "SELECT approved_by, reason, approved_at, seal_hash, os_user FROM approvals WHERE "
            "run_id = ? ORDER BY approved_at", [run_id]).fetchall()]
        require_items(con, run_id)
        record["open_exceptions"] = con.execute(
            "SELECT count(*) FROM review_queue WHERE run_id = ? AND status = 'open'",
            [run_id]).fetchone()[0]
        record["publications"] = [
            {"version": v, "at": a, "by": b, "current": c} for v, a, b, c in con.execute(
                """SELECT p.version, p.published_at, p.published_by,
                   c.version IS NOT NULL FROM publications p LEFT JOIN publication_pointer c
                   USING (campaign, version) WHERE p.run_id = ? ORDER BY 1""",
                [run_id]).fetchall()]
    files = run_dir(settings, run_id)
    record["files"] = sorted(p.name for p in files.iterdir())
    return record


def decisions(settings: Settings, run_ids: list[str]) -> dict[str, str]:
    """What governance decided for each run, in words for ``segflow runs list``:
    "published v2 (current)", "published v1", "approved", or nothing (the run's own status
    then says where it stands). A run record keeps the refresh's status ("governed"); the
    approval and the publication are the workspace's records, read here in two queries."""
    if not run_ids or not settings.database_path.exists():
        return {}
    from segflow.governance.publications import ensure_tables

    with connect(settings) as con:
        ensure_schema(con)
        ensure_tables(con)
        rows = con.execute("""
            WITH asked AS (SELECT unnest(?::VARCHAR[]) AS run_id),
            pub AS (SELECT p.run_id, max(p.version) AS version,
                           bool_or(c.version IS NOT NULL) AS current
                    FROM publications p LEFT JOIN publication_pointer c
                    USING (campaign, version) GROUP BY p.run_id)
            SELECT a.run_id, pub.version, pub.current,
                   EXISTS (SELECT 1 FROM approvals x WHERE x.run_id = a.run_id)
            FROM asked a LEFT JOIN pub USING (run_id)""", [list(run_ids)]).fetchall()
    out = {}
    for run_id, version, current, approved in rows:  # one row per run listed
        if version is not None:
            out[run_id] = f"published v{version}" + (" (current)" if current else "")
        elif approved:
            out[run_id] = "approved"
    return out


def _memberships_digest(con, path) -> tuple[int, str]:
    """Row count and an order-free digest of the decisions (run_id left out)."""
    from segflow.scoring.runfiles import parquet_sql

    return con.execute(f"""SELECT count(*), coalesce(bit_xor(hash(entity_id, cohort, status,
        arm, suppressed_by, split_value, priority, rank, round(score, 9), channels)), 0)::VARCHAR
        FROM {parquet_sql(path)}""").fetchone()


@holds_workspace("rerun")
def rerun(settings: Settings, run_id: str, reuse_features: bool = False):
    """Refresh again with the run's frozen campaign and templates, its model versions, its
    as-of time and its overrides; compare the memberships and record the result."""
    import duckdb

    from segflow.governance import audit
    from segflow.governance.refresh import refresh_with_overrides
    from segflow.scoring.runfiles import read_arrow

    old = load_run(settings, run_id)
    features = read_arrow(run_dir(settings, run_id) / "features.parquet") \
        if reuse_features else None
    new = refresh_with_overrides(frozen_settings(settings, run_id), old.campaign,
                                 as_of=old.as_of, params=old.inputs.get("overrides") or None,
                                 features=features,
                                 override_ids=old.inputs.get("override_ids", []),
                                 model_versions=old.inputs.get("model_versions") or {},
                                 curated_versions={
                                     e["name"]: {"version": e.get("version"),
                                                 "state": e["state"]}
                                     for e in old.inputs.get("curated") or []})
    con = duckdb.connect()
    try:
        a = _memberships_digest(con, run_dir(settings, run_id) / "memberships.parquet")
        b = _memberships_digest(con, run_dir(settings, new.run_id) / "memberships.parquet")
    finally:
        con.close()
    detail = json.dumps({"original": a, "rerun": b})
    audit.record(settings, "segflow", "rerun", {
        "of": run_id, "identical": a == b, "rerun_id": new.run_id,
        "model_versions": old.inputs.get("model_versions") or {}}, run_id=run_id)
    return a == b, new.run_id, detail
