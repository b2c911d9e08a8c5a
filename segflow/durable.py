"""Files that are either old or new after a crash, never half-written.

``write_atomic`` writes a temporary file beside the target, flushes it to disk (fsync),
renames it over the target and fsyncs the folder, so after a power cut or SIGKILL the path
holds the previous content or the new one. A failed write (disk full) removes its temporary
file and leaves the target untouched. ``write_folder_atomic`` does the same for a folder of
files (a Spark run's partitioned Parquet): every file staged and synced in ``<name>.tmp/``,
then the folder renamed into place. ``append_durable`` appends bytes and fsyncs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | Iterable[bytes], hook=None) -> str:
    """Write ``data`` (bytes, or chunks of bytes) to ``path`` atomically; returns its sha256.

    ``hook(stage)`` is called with ``"tmp_written"`` once the temporary file is complete and
    synced, before the rename (the publication's named crash points use it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        sha = _write_synced(tmp, [data] if isinstance(data, bytes | bytearray) else data)
        if hook is not None:
            hook("tmp_written")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return sha


def _write_synced(path: Path, chunks: Iterable[bytes]) -> str:
    """Write ``chunks`` to ``path``, fsync it, and return the SHA-256 of what was written."""
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        for chunk in chunks:
            digest.update(chunk)
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    return digest.hexdigest()


def write_folder_atomic(path: Path, files: Iterable[tuple[str, Iterable[bytes]]],
                        hook=None) -> list[tuple[str, str]]:
    """Write a folder of files at ``path`` atomically: each ``(relative name, chunks)`` is
    written and fsynced under ``<path>.tmp/`` (its sub-folders synced too), then the staged
    folder is renamed to ``path`` and the parent synced. Returns ``(relative name, sha256)``
    per file, hashed as written, for ``segflow.runstore.folder_sha256``.

    ``path`` must hold nothing anyone owns: a folder already there (left by an interrupted
    write of the same target) is removed before the rename, which a directory rename needs.
    ``hook("tmp_written")`` runs once every file is staged and synced, before the rename. A
    failure removes the staged folder and leaves ``path`` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    remove_path(tmp)
    parts: list[tuple[str, str]] = []
    try:
        folders = {tmp}
        for name, chunks in files:
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.update(p for p in target.parents if p.is_relative_to(tmp))
            parts.append((name, _write_synced(target, chunks)))
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            fsync_dir(folder)
        if hook is not None:
            hook("tmp_written")
        remove_path(path)
        os.replace(tmp, path)
    except BaseException:
        remove_path(tmp)
        raise
    fsync_dir(path.parent)
    return parts


def remove_path(path: Path) -> None:
    """Remove a file or a folder (a version written by either engine); nothing if absent."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def read_chunks(path: Path, size: int = 8 << 20) -> Iterable[bytes]:
    """A file in 8 MB chunks: a 10M-customer memberships file is hundreds of MB."""
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def append_durable(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` and fsync (the folder too when the file is new)."""
    path = Path(path)
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if new:
        fsync_dir(path.parent)
