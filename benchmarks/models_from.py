"""Champion models borrowed from another workspace, for scales where training is skipped.

Training above ``NO_TRAINING_ABOVE`` customers is not part of a refresh and would not fit
the benchmark's time, so the refresh scores with champions trained on a smaller world. The
MLflow SQLite database stores artifact locations as absolute ``file://`` paths; the copy is
re-pointed at the new workspace so the source can be deleted afterwards.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from segflow.errors import SegflowError


def copy_models(source: Path, home: Path) -> dict:
    """Copy ``mlflow.db`` and ``mlartifacts/`` from ``source`` into ``home`` and rewrite every
    stored path under the source's artifacts folder to the copy's. Returns what was copied."""
    source, home = Path(source).resolve(), Path(home).resolve()
    db, artifacts = source / "mlflow.db", source / "mlartifacts"
    if not db.exists() or not artifacts.is_dir():
        raise SegflowError(f"--models-from {source}: no mlflow.db and mlartifacts/ there "
                           "(train the champions in that workspace first)")
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy2(db, home / "mlflow.db")
    shutil.rmtree(home / "mlartifacts", ignore_errors=True)
    shutil.copytree(artifacts, home / "mlartifacts")
    changed = _repoint(home / "mlflow.db", str(artifacts), str(home / "mlartifacts"))
    return {"source": str(source), "paths_rewritten": changed}


def _repoint(db: Path, old: str, new: str) -> int:
    """Replace ``old`` by ``new`` in every text column of every table that mentions it."""
    changed = 0
    with sqlite3.connect(db) as con:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [r[1] for r in con.execute(f"PRAGMA table_info('{table}')")
                       if (r[2] or "").upper().startswith(("VARCHAR", "TEXT"))]
            for column in columns:
                cur = con.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                    f'WHERE "{column}" LIKE ?', (old, new, f"%{old}%"))
                changed += cur.rowcount
    return changed
