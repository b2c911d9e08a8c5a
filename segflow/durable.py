"""Files that are either old or new after a crash, never half-written.

``write_atomic`` writes a temporary file beside the target, flushes it to disk (fsync),
renames it over the target and fsyncs the folder, so after a power cut or SIGKILL the path
holds the previous content or the new one. A failed write (disk full) removes its temporary
file and leaves the target untouched. ``append_durable`` appends bytes and fsyncs.
"""

from __future__ import annotations

import hashlib
import os
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
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as fh:
            for chunk in ([data] if isinstance(data, bytes | bytearray) else data):
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        if hook is not None:
            hook("tmp_written")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return digest.hexdigest()


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
