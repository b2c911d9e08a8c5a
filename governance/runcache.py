"""Figures read from a run's files, kept beside them until the files change.

Pages are rendered again after every change of a run's state (a drift check, a review, an
approval, a publication, an export), and most of what they show is counted from files that
governance sealed and nothing rewrites in between: the memberships, the movement. Counting
them again each time costs a scan per figure (seconds at 10M customers; a Spark job each on
``engine: spark``). So a page's reader keeps the rows it counted in a small JSON file beside
the run, with a key saying what they were read from (each file's fingerprint, the queries'
digest), and reads them back while the key still holds. A rewritten file (a re-governed
run, an applied override) changes its fingerprint, and the rows are read again: a kept
figure is never older than its file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def fingerprint(path: Path) -> list | None:
    """What changes whenever ``path`` is written again: the size, modification time and
    inode of the file, or of each file under it (a Spark run's folder of part files); None
    when it does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    out = []
    for p in files:
        st = p.stat()
        out.append([p.relative_to(path.parent).as_posix(), st.st_size, st.st_mtime_ns,
                    st.st_ino])
    return out


def kept(cache: Path, key: Any) -> Any | None:
    """The value kept in ``cache`` under ``key`` (compared as JSON), or None when the file
    is missing, unreadable or was kept under another key."""
    try:
        held = json.loads(Path(cache).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(held, dict) or held.get("key") != json.loads(json.dumps(key)):
        return None
    return held.get("value")


def keep(cache: Path, key: Any, value: Any) -> None:
    """Keep ``value`` under ``key`` in ``cache`` (written atomically). A value JSON cannot
    hold, or a folder that cannot be written, is not kept: the figures are read again next
    time, which is slower, never wrong."""
    from segflow.durable import write_atomic

    try:
        data = json.dumps({"key": key, "value": value}, allow_nan=False)
    except (TypeError, ValueError) as err:
        log.debug("not kept (%s): %s", cache, err)
        return
    try:
        write_atomic(Path(cache), data.encode("utf-8"))
    except OSError as err:
        log.debug("not kept (%s): %s", cache, err)
