"""Where a command stages output it writes before putting it in place: one name pattern
for every such file or folder, so ``segflow doctor`` (which holds the workspace lock, so no
running command owns them) finds and removes what an interrupted command left behind.

A staged output lives in the workspace's runs folder, on the same file system as the run
folders its files are renamed into (a rename, not a copy, is what makes the move atomic).
"""

from __future__ import annotations

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
