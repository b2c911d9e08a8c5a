"""Receipts of canonical tables: what ingest proved about each file, and how to tell that a
file is still the one it proved it on.

Ingest checks every row against the table's contract (types, keys, nulls, allowed values)
and quarantines what fails, so a canonical file it wrote holds by construction. The
contracts control before publication re-proves that only for files that changed since:
re-counting 293M distinct event ids at 10M customers costs a minute and gigabytes of memory
to confirm what ingest already established. A file is "the same" when its size, its
modification time and the SHA-256 of its Parquet footer (row groups, offsets, sizes and
column statistics) all match the receipt; a rewrite by any tool changes at least the time.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

RECEIPTS = "_receipts.json"


def fingerprint(path: Path) -> dict:
    """Size, mtime (ns) and footer hash of a Parquet file: cheap, read from its tail only."""
    path = Path(path)
    stat = path.stat()
    with path.open("rb") as fh:
        fh.seek(-8, os.SEEK_END)
        tail = fh.read(8)
        footer_len = int.from_bytes(tail[:4], "little")
        fh.seek(-(8 + footer_len), os.SEEK_END)
        footer = fh.read(footer_len)
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "footer_sha256": hashlib.sha256(footer + tail).hexdigest()}


def receipt(path: Path, rows: int, checks: list[str]) -> dict:
    """The receipt ingest writes for one canonical file it has just checked."""
    return {"file": Path(path).name, "rows": rows, "checks": checks, **fingerprint(path)}


def receipts_path(canonical_dir: Path) -> Path:
    return Path(canonical_dir) / RECEIPTS


def proved(canonical_dir: Path, table: str, path: Path) -> dict | None:
    """The table's receipt if the file is unchanged since ingest proved it, else None."""
    source = receipts_path(canonical_dir)
    if not source.exists():
        return None
    entry = json.loads(source.read_text()).get(table)
    if not entry or not Path(path).exists():
        return None
    now = fingerprint(path)
    return entry if all(entry.get(k) == v for k, v in now.items()) else None
