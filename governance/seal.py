"""The seal of a governed run: what the controls, movement and review looked at.

Governing a run records the SHA-256 of its ``memberships.parquet``, its row count and counts
by status, and the SHA-256 of ``features.parquet`` (a file, or a Spark run's folder of part
files: ``segflow.runstore.file_sha256``), in DuckDB (``run_seals``) and in
``runs/<id>/seal.json``. Approvals record the seal they approved; publication and export
hash the memberships file again and refuse anything else. Governing a run again after its
memberships changed makes a new seal, and approvals of the old content no longer count.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from segflow.governance.store import run_file
from segflow.runstore import run_dir
from segflow.settings import Settings
from segflow.sqlengine import file_sha256


@dataclass(frozen=True)
class Seal:
    run_id: str
    seal_hash: str
    memberships_sha256: str
    features_sha256: str
    rows: int
    by_status: dict
    sealed_at: str

    def to_dict(self) -> dict:
        return asdict(self)


def compute(settings: Settings, con, run_id: str) -> Seal:
    """Hash and count the run's files as they are now, on the engine of ``con``
    (``segflow.sqlengine``): on Spark the executors count the statuses and hash the part
    files, and the seal is the one DuckDB computes for the same files. What a seal covers
    is decided here only."""
    import hashlib

    from segflow.governance.audit import canonical

    memberships = run_file(settings, run_id, "memberships.parquet")
    src = "read_parquet('" + str(memberships).replace("'", "''") + "')"
    by_status = {s: int(n) for s, n in con.execute(
        f"SELECT status, count(*) FROM {src} GROUP BY 1 ORDER BY 1").fetchall()}
    body = {"run_id": run_id, "memberships_sha256": file_sha256(con, memberships),
            "features_sha256": file_sha256(con, run_file(settings, run_id,
                                                         "features.parquet")),
            "rows": sum(by_status.values()), "by_status": by_status}
    digest = hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()
    return Seal(seal_hash=digest, sealed_at=datetime.now(UTC).isoformat(), **body)


def store(con, seal: Seal) -> None:
    """Make ``seal`` the run's current seal (inside the govern transaction)."""
    con.execute("UPDATE run_seals SET current = false WHERE run_id = ?", [seal.run_id])
    con.execute("INSERT INTO run_seals VALUES (?, ?, ?, ?, ?, ?, ?, true)",
                [seal.run_id, seal.seal_hash, seal.memberships_sha256, seal.features_sha256,
                 seal.rows, json.dumps(seal.by_status), seal.sealed_at])


def write_file(settings: Settings, seal: Seal) -> None:
    from segflow.durable import write_atomic

    write_atomic(run_dir(settings, seal.run_id) / "seal.json",
                 json.dumps(seal.to_dict(), indent=2).encode("utf-8"))


def current(con, run_id: str) -> Seal | None:
    row = con.execute("""SELECT run_id, seal_hash, memberships_sha256, features_sha256, rows,
        by_status, CAST(sealed_at AS VARCHAR) FROM run_seals
        WHERE run_id = ? AND current""", [run_id]).fetchone()
    if row is None:
        return None
    return Seal(*row[:5], json.loads(row[5]), row[6])
