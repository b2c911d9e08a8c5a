"""What the run store knows about a run (``segflow runs show``) and re-running it."""

from __future__ import annotations

import json
from dataclasses import asdict

from governance.store import ensure_schema
from segflow.db import connect
from segflow.runstore import load_run, run_dir
from segflow.settings import Settings


def run_status(settings: Settings, run_id: str) -> dict:
    """Manifest (inputs, hashes, model versions, as-of) + controls, approvals, publication."""
    from governance.publish import DDL

    record = asdict(load_run(settings, run_id))
    with connect(settings) as con:
        ensure_schema(con)
        con.execute(DDL)
        record["controls"] = [
            {"name": n, "passed": p, "severity": s, "message": m} for n, p, s, m in
            con.execute("SELECT name, passed, severity, message FROM control_results WHERE "
                        "run_id = ? ORDER BY name", [run_id]).fetchall()]
        record["approvals"] = [{"by": b, "reason": r, "at": a} for b, r, a in con.execute(
            "SELECT approved_by, reason, approved_at FROM approvals WHERE run_id = ?",
            [run_id]).fetchall()]
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


def _memberships_digest(con, path) -> tuple[int, str]:
    """Row count and an order-free digest of the decisions (run_id left out)."""
    return con.execute(f"""SELECT count(*), coalesce(bit_xor(hash(entity_id, cohort, status,
        arm, suppressed_by, split_value, priority, rank, round(score, 9), channels)), 0)::VARCHAR
        FROM read_parquet('{str(path).replace("'", "''")}')""").fetchone()


def rerun(settings: Settings, run_id: str, reuse_features: bool = False):
    """Refresh again with the recorded as-of and overrides; compare the memberships."""
    import duckdb
    import pyarrow.parquet as pq

    from governance.refresh import refresh_with_overrides

    old = load_run(settings, run_id)
    features = pq.read_table(run_dir(settings, run_id) / "features.parquet") \
        if reuse_features else None
    new = refresh_with_overrides(settings, old.campaign, as_of=old.as_of,
                                 params=old.inputs.get("overrides") or None, features=features,
                                 override_ids=old.inputs.get("override_ids", []))
    con = duckdb.connect()
    try:
        a = _memberships_digest(con, run_dir(settings, run_id) / "memberships.parquet")
        b = _memberships_digest(con, run_dir(settings, new.run_id) / "memberships.parquet")
    finally:
        con.close()
    detail = json.dumps({"original": a, "rerun": b})
    from governance import audit

    audit.append(settings, "segflow", "rerun", {"of": run_id, "identical": a == b,
                                                "rerun_id": new.run_id}, run_id=run_id)
    return a == b, new.run_id, detail
