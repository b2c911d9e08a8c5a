"""Where a command stages output it writes before putting it in place: one name pattern
for every such file or folder, so ``segflow doctor`` (which holds the workspace lock, so no
running command owns them) finds and removes what an interrupted command left behind.

A staged output lives in the workspace's runs folder, on the same file system as the run
folders its files are renamed into (a rename, not a copy, is what makes the move atomic).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from segflow.settings import Settings

PREFIX = ".staged-"
# relative to the workspace (``segflow.doctor`` globs it from there); anything beside a
# staged output that shares its stem (``<stem>-contributions.parquet``) matches too
PATTERN = f"runs/{PREFIX}*"


def staged_path(settings: Settings, purpose: str) -> Path:
    """A new, unused ``runs/.staged-<purpose>-<id>.parquet`` (the folder is created)."""
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    return settings.runs_dir / f"{PREFIX}{purpose}-{uuid.uuid4().hex}.parquet"


def put_in_place(staged: Path, path: Path) -> None:
    """Move the finished output ``staged`` (a file or a folder) to ``path``, replacing what
    is there, a file or a folder (an output one engine writes as a file and the other as a
    folder of part files): renames only, so a failure leaves the old output or the new
    one whole."""
    old = path.with_name(path.name + ".old")
    remove(old)
    if path.exists():
        os.replace(path, old)
    os.replace(staged, path)
    remove(old)


def remove(path: Path) -> None:
    """Remove a file or a folder, if there."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
