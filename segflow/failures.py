"""Library errors a user causes or meets, turned into one clear line at the CLI edge.

A truncated Parquet file, a CSV the reader cannot parse, a full disk or a missing permission
reach segflow as DuckDB, Arrow or operating-system exceptions whose text was written for the
library's own developers (a dump of reader options, ``[Errno 28]`` with no path). This
module is the one place that knows those classes: one function per class, each returning
the ``segflow.errors`` error a person can act on (file, line, what to do), or None when the
exception is not something a user can fix (a bug, shown as such by the CLI).

Code that knows more than the exception (which file it was writing) raises the named
error itself, with ``writing(path)`` or ``disk_full(path)``; this module is the fallback
for what arrives at the edge unexplained.
"""

from __future__ import annotations

import errno
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from segflow.errors import DiskFull, EnvironmentFailure, PermissionDenied, SegflowError

_QUOTED_PATH = re.compile(r"""["']((?:/|\./|\.\./)[^"']+)["']""")


def describe(exc: BaseException) -> SegflowError | None:
    """The user-facing error for a library exception, or None when it is a bug."""
    if isinstance(exc, SegflowError):
        return exc
    for kind, explain in _explainers():
        if isinstance(exc, kind):
            found = explain(exc)
            if found is not None:
                return found
    return None


def one_line(exc: BaseException) -> str:
    """The exception as one line a person can act on (its first line when unexplained)."""
    known = describe(exc)
    return str(known) if known is not None else _first_line(exc)


def _explainers() -> list[tuple[type, Callable]]:
    """(exception class, its explainer), most specific first. DuckDB and Arrow classes are
    looked up only when the library is already loaded: an exception of a library that was
    never imported cannot be in flight, and the CLI's edge stays light."""
    found: list[tuple[type, Callable]] = []
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None:
        found += [(duckdb.IOException, from_duckdb_io), (duckdb.OutOfMemoryException,
                                                          from_duckdb_memory),
                  (duckdb.InvalidInputException, from_duckdb_invalid_input),
                  (duckdb.ConversionException, from_duckdb_conversion)]
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        found += [(pyarrow.ArrowInvalid, from_arrow_invalid)]
    found += [(UnicodeDecodeError, from_unicode_error), (OSError, from_os_error),
              (Exception, from_wrapped_os_error)]
    return found


# --- the operating system -----------------------------------------------------------

def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"


def free_space(path: Path | str | None) -> str:
    """Free space on the filesystem holding ``path`` (its nearest existing folder)."""
    where = Path(path) if path else _workspace()
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        return human_bytes(shutil.disk_usage(where).free)
    except OSError:
        return "unknown space"


def _workspace() -> Path:
    from segflow.settings import get_settings

    return get_settings().home


def disk_full(path: Path | str | None) -> DiskFull:
    """The one line for a full disk: what could not be written and how much is free."""
    target = Path(path) if path else _workspace()
    what = f"cannot write {target}" if path else f"a write in the workspace {target} failed"
    return DiskFull(f"disk full: {what} ({free_space(target)} free on that filesystem); "
                    "free some space, or point --home at a bigger disk, and run the command "
                    "again")


def permission_denied(path: Path | str | None, detail: str = "") -> PermissionDenied:
    target = path or "a file in the workspace"
    return PermissionDenied(f"permission denied: {target}{f' ({detail})' if detail else ''}; "
                            "check its owner and mode (ls -l) or run as the user who owns "
                            "the workspace")


def from_os_error(exc: OSError) -> SegflowError | None:
    path = exc.filename
    if exc.errno == errno.ENOSPC or any(w in str(exc) for w in DISK_FULL_WORDS):
        return disk_full(path)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return permission_denied(path)
    if exc.errno == errno.EROFS:
        return EnvironmentFailure(f"read-only filesystem: cannot write {path or 'the workspace'}"
                                  "; point --home at a writable folder")
    if exc.errno == errno.ENOENT and path:
        return SegflowError(f"no such file or folder: {path}")
    if exc.errno is not None:
        return EnvironmentFailure(f"{exc.strerror or exc}: {path or ''}".rstrip(": "))
    return None


DISK_FULL_WORDS = ("No space left on device", "database or disk is full")


def from_wrapped_os_error(exc: Exception) -> SegflowError | None:
    """A full disk or a refused permission met inside another library's error class (a
    DuckDB transaction failing to write its log, SQLite's "database or disk is full")."""
    text = str(exc)
    if any(words in text for words in DISK_FULL_WORDS):
        return disk_full(_quoted_path(text))
    if "Permission denied" in text:
        return permission_denied(_quoted_path(text))
    return None


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Name ``path`` in a disk-full or permission error raised while a library writes it
    (pyarrow says ``[Errno 28]`` without the file)."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC or "No space left on device" in str(exc):
            raise disk_full(path) from exc
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise permission_denied(exc.filename or path) from exc
        raise


# --- DuckDB --------------------------------------------------------------------------

def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"^(IO|Invalid Input|Conversion|Out of Memory) Error: ", "", text)


def _quoted_path(text: str) -> str | None:
    found = _QUOTED_PATH.search(text)
    return found.group(1) if found else None


def from_duckdb_io(exc) -> SegflowError | None:
    text = str(exc)
    wrapped = from_wrapped_os_error(exc)
    if wrapped is not None:
        return wrapped
    match = re.search(r'No files found that match the pattern "([^"]+)"', text)
    if match:
        return SegflowError(f"no such file: {match.group(1)}")
    return SegflowError(_first_line(exc))


def from_duckdb_memory(exc) -> SegflowError:
    """DuckDB out of memory. When it names its own limit ("(16.0 MiB/19.0 MiB used)") the
    cap segflow set for the step (a share of RAM, ``segflow.db.memory_limit``) was reached,
    not the machine's memory, so closing other programs would not help."""
    text = _first_line(exc)
    cap = re.search(r"\(\S+ \S+/(\S+ \S+) used\)", text)
    if cap:
        return EnvironmentFailure(
            f"out of memory: {text}; DuckDB reached the {cap.group(1)} segflow gives it for "
            "this step (a share of this machine's memory) with work it cannot spill to disk: "
            "run on a machine with more memory")
    return EnvironmentFailure(f"out of memory: {text}; close other programs or "
                              "run on a machine with more memory")


CSV_REASONS = (  # DuckDB's wording -> what it means for the person holding the file
    ("unterminated quote", "a quoted value is never closed (a stray \" in a value?)"),
    ("Expected Number of Columns", "the line has a different number of fields than the "
                                   "header (a line cut short, or a delimiter in an unquoted "
                                   "value)"),
    ("Invalid unicode", "the text is not valid UTF-8; set `encoding:` for this source in "
                        "sources.yaml (latin-1, utf-16, cp1252, ...)"),
    ("Maximum line size", "the line is longer than the reader's 2 MB limit (a missing line "
                          "break or an unclosed quote?)"),
)


def csv_reason(text: str) -> str:
    """DuckDB's CSV error in plain words."""
    for needle, plain in CSV_REASONS:
        if needle in text:
            return plain
    return text.strip().rstrip(".")


def from_duckdb_invalid_input(exc) -> SegflowError | None:
    text = str(exc)
    magic = re.search(r"No magic bytes found at end of file '([^']+)'", text)
    if magic:
        return truncated_parquet(magic.group(1))
    if "CSV Error on Line" in text or "sniffing file" in text:
        return csv_error(text)
    return SegflowError(_first_line(exc))


def csv_error(text: str) -> SegflowError:
    """One line for DuckDB's CSV reader errors: file, line and the cause, without the dump
    of reader options that follows them."""
    file = re.search(r"^\s*file = (.+)$", text, re.M) or re.search(
        r'sniffing file "([^"]+)"', text)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    where = (file.group(1).strip() if file else "a CSV file") + (
        f":{line.group(1)}" if line else "")
    if "sniffing file" in text and not line:
        return SegflowError(f"{where}: the CSV layout (delimiter, quotes, header) could not be "
                            "recognised; set `delimiter:` for the source in sources.yaml and "
                            "check the file is CSV text")
    body = [s for s in text.splitlines()[1:] if s.strip() and not s.startswith(
        ("Original Line", "Possible", "  "))]
    return SegflowError(f"{where}: {csv_reason(body[0] if body else _first_line(text))}")


def from_duckdb_conversion(exc) -> SegflowError:
    return SegflowError(_first_line(exc))


# --- Arrow / Parquet -------------------------------------------------------------------

def truncated_parquet(path: Path | str | None) -> SegflowError:
    """A Parquet file whose footer is missing or damaged: name it and say how to rebuild."""
    if path is None:
        return SegflowError("a Parquet file is truncated or is not Parquet (the reader did not "
                            "name it); run `segflow doctor` to find which")
    parts = Path(path).parts
    if "canonical" in parts:
        fix = "re-run `segflow ingest` to rebuild it, or restore it from a backup"
    elif "features" in parts:
        fix = "rebuild it with `segflow features build --as-of ...`"
    else:
        fix = "restore it or write it again"
    return SegflowError(f"{path} is not a complete Parquet file (truncated, or not Parquet); "
                        f"{fix}")


def from_arrow_invalid(exc) -> SegflowError | None:
    text = str(exc)
    if "magic bytes" in text or "Parquet file size is 0" in text:
        return truncated_parquet(_quoted_path(text))
    return SegflowError(_first_line(exc))


# --- text encodings ---------------------------------------------------------------------

def decode_error(path: Path | str, line: int | None, encoding: str,
                 option: str = "encoding") -> SegflowError:
    """A file that is not valid in its declared encoding: file, line and the option to set."""
    where = f"{path}:{line}" if line else str(path)
    return SegflowError(f"{where}: not valid {encoding} text; set `{option}:` for this source "
                        "in sources.yaml to the file's real encoding (latin-1, cp1252, "
                        "utf-16, ...)")


def from_unicode_error(exc: UnicodeDecodeError) -> SegflowError:
    return SegflowError(f"a file is not valid {exc.encoding} text (byte "
                        f"0x{exc.object[exc.start]:02x} at offset {exc.start}); if it is a "
                        "source, set `encoding:` for it in sources.yaml")
