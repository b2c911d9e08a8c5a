"""Receipts of canonical tables: what ingest proved about each file, and how to tell that a
file is still the one it proved it on.

Ingest checks every row against the table's contract (types, keys, nulls, allowed and
plausible values) and quarantines what fails, so a canonical file it wrote holds by
construction. The contracts control before publication re-proves that only for files that
changed since: re-counting 293M distinct event ids at 10M customers costs a minute and
gigabytes of memory to confirm what ingest already established.

A file is "the same" when the SHA-256 of its whole content matches the receipt. Size,
modification time and the Parquet footer were once enough to decide that; they are not: a
5-byte edit inside a data page, with the mtime set back, kept all three and let 882 values
the contract forbids through the control. The hash is streamed in 4 MB chunks, so memory
stays flat; SHA-256 runs at about 1 GB/s here (the CPU's SHA extensions; BLAKE2b measured
0.6-0.7 GB/s on the same machine), about 0.8 s for the 0.76 GB of canonical tables of 1M
customers and 8 s at 10M, against a minute for the re-check it saves.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from segflow.errors import SegflowError

RECEIPTS = "_receipts.json"
JOURNAL = ".ingest-commit.json"  # in the canonical folder while ingest switches its tables
CHUNK = 1 << 22  # bytes hashed per read


def content_hash(path: Path) -> str:
    """SHA-256 of the whole file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(path: Path) -> dict:
    """What identifies a file's content: its size (a cheap first test) and its hash."""
    path = Path(path)
    return {"bytes": path.stat().st_size, "sha256": content_hash(path)}


def receipt(path: Path, rows: int, checks: list[str]) -> dict:
    """The receipt ingest writes for one canonical file it has just checked."""
    return {"file": Path(path).name, "rows": rows, "checks": checks, **fingerprint(path)}


def receipts_path(canonical_dir: Path) -> Path:
    return Path(canonical_dir) / RECEIPTS


def read_receipts(canonical_dir: Path) -> dict:
    """Every table's receipt ({} when ingest has written none)."""
    source = receipts_path(canonical_dir)
    return json.loads(source.read_text()) if source.exists() else {}


def unchanged(entry: dict | None, path: Path) -> bool:
    """The file's content is the one the receipt describes (a receipt without a content
    hash, from before hashes were recorded, proves nothing)."""
    path = Path(path)
    if not entry or "sha256" not in entry or not path.exists():
        return False
    if path.stat().st_size != entry.get("bytes"):
        return False
    return content_hash(path) == entry["sha256"]


def proved(canonical_dir: Path, table: str, path: Path) -> dict | None:
    """The table's receipt if the file, and each of its delta files, is unchanged since
    ingest proved it, else None.

    Nothing is proved while an interrupted ingest commit is unfinished: its tables are half
    switched, and the control must scan them."""
    if (Path(canonical_dir) / JOURNAL).exists():
        return None
    entry = read_receipts(canonical_dir).get(table)
    if not unchanged(entry, path) or not deltas_unchanged(canonical_dir, entry, path):
        return None
    return entry


def deltas_unchanged(canonical_dir: Path, entry: dict, path: Path) -> bool:
    """Every delta file of the table (``segflow.canonical``) is one its receipt lists,
    unchanged (rows and keys files alike), and no listed one is missing."""
    from segflow.canonical import deltas

    listed = entry.get("deltas") or {}
    found = {str(rows.relative_to(canonical_dir)): (rows, keys)
             for _, rows, keys in deltas(Path(path))}
    if set(found) != set(listed):
        return False
    return all(unchanged(listed[name], rows) and unchanged(listed[name].get("keys"), keys)
               for name, (rows, keys) in found.items())


def unfinished_commit(canonical_dir: Path) -> SegflowError | None:
    """The error a reader of canonical tables raises while an ingest's switch of them is
    unfinished (its journal remains), else None."""
    journal = Path(canonical_dir) / JOURNAL
    if not journal.exists():
        return None
    return SegflowError(f"an ingest was killed while it switched the canonical tables "
                        f"({journal} remains): run `segflow doctor` to complete the switch "
                        "(or `segflow ingest` again)")
