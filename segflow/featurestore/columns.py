"""Which feature columns a project's repo defines, without importing Feast when it can.

Checking templates needs each entity's feature names and types, and nothing else of the
feature store. Loading the repo imports Feast (tens of seconds on a busy machine), so the
answer is kept in the workspace (``<home>/feast/columns.json``) under a fingerprint of the
repo's files: while no view file or config changed, commands that only read configuration
(``templates check``, ``preview``'s and ``explain``'s campaign resolution) read the file;
after a change, the repo is loaded once and the file rewritten. A wrong cache could only
come from a fingerprint collision (SHA-256 of every file's path and bytes).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from segflow.settings import Settings

CACHE = "columns.json"


def fingerprint(repo_dir: Path) -> str:
    """SHA-256 over the path and bytes of every file the repo is loaded from."""
    digest = hashlib.sha256()
    repo_dir = Path(repo_dir)
    for path in sorted([*repo_dir.glob("*.py"), *repo_dir.glob("*.yaml"),
                        *repo_dir.glob("config/*.yaml")]):
        digest.update(path.relative_to(repo_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def feature_types(settings: Settings) -> list[dict]:
    """(entity, feature, type) of every feature of the project's repo, as dicts."""
    path = settings.feast_dir / CACHE
    key = fingerprint(settings.feature_repo_dir)
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("fingerprint") == key:
            return cached["columns"]
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    from segflow.featurestore.repo import load_repo

    return remember(settings, load_repo(settings), key)


def remember(settings: Settings, repo, key: str | None = None) -> list[dict]:
    """Write the columns of a loaded repo to the workspace's cache (when the workspace
    exists: a check never creates one) and return them."""
    columns = [{"entity": view.entity, "feature": f.name, "type": str(f.dtype)}
               for view in repo.views.values() for f in view.feature_view.features]
    if settings.home.is_dir():
        settings.feast_dir.mkdir(exist_ok=True)
        target = settings.feast_dir / CACHE
        tmp = target.with_name(f".{CACHE}.tmp")
        tmp.write_text(json.dumps({"fingerprint": key or fingerprint(
            settings.feature_repo_dir), "columns": columns}), encoding="utf-8")
        tmp.replace(target)
    return columns


def empty_features(settings: Settings) -> dict[str, str]:
    """Feature columns null in every row of the built snapshots: {column: view file}.

    Read from the Parquet footers' statistics (null count against row count per row group)
    through DuckDB, so it costs the same at 10M customers as at 100 and imports neither
    pandas nor Feast. A column whose statistics are missing anywhere counts as not empty;
    a view never built is not looked at (nothing is known about it yet)."""
    files = sorted(settings.features_dir.glob("*.parquet")) if settings.features_dir.is_dir() \
        else []
    if not files:
        return {}
    import duckdb

    with duckdb.connect() as con:
        rows = con.execute(
            """SELECT file_name, path_in_schema,
                      bool_and(coalesce(stats_null_count = row_group_num_rows, false))
               FROM parquet_metadata($files) GROUP BY ALL""",
            {"files": [str(f) for f in files]}).fetchall()
    empty: dict[str, str] = {}
    for file, column, all_null in rows:
        if all_null:
            empty.setdefault(column, file)
        else:  # a column with values in any view is not empty
            empty[column] = ""
    return {c: f for c, f in empty.items() if f}
