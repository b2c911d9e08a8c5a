"""The workspace lock: one command at a time changes a workspace.

Two refreshes, or a publish racing an approval, used to die half-way with DuckDB's own
"Could not set lock on file" and leave runs behind in state ``created``. Every command that
writes takes this lock first, so the second one stops before it starts and says who holds
the workspace, since when, and what to do.

The lock is ``flock`` on ``<home>/.segflow.lock``: the kernel releases it when the holder
dies, however it dies (SIGKILL included), so a lock is never stale. The file also records
the holder (command, process, user, time); when a new holder finds a record whose process
is gone, the previous command ended without finishing, and ``previous_holder`` returns it
so the caller can mark that command's unfinished runs failed.

The lock is re-entrant within a process (a Prefect flow holds it while its steps, which
take it too, run), and waits up to ``SEGFLOW_LOCK_WAIT`` seconds (default 10) for a
holder to finish before giving up.
"""

from __future__ import annotations

import fcntl
import functools
import getpass
import inspect
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from segflow.errors import WorkspaceBusy
from segflow.settings import Settings

LOCK_FILE = ".segflow.lock"
DEFAULT_WAIT_S = 10.0

_process_lock = threading.RLock()
_held: dict[Path, tuple[int, int]] = {}  # lock path -> (fd, depth) held by this process
_previous: dict[Path, dict | None] = {}  # what the last acquisition found left behind


def lock_path(settings: Settings) -> Path:
    return settings.home / LOCK_FILE


def describe_command() -> str:
    """What the holder runs, as a person would type it (``segflow publish RUN``)."""
    argv = [os.path.basename(sys.argv[0]) if sys.argv else "python", *sys.argv[1:]]
    return " ".join(argv)[:300]


def read_holder(settings: Settings) -> dict | None:
    """The holder record in the lock file, or None (no file, empty, or unreadable)."""
    try:
        text = lock_path(settings).read_text(encoding="utf-8")
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def busy_message(settings: Settings, holder: dict | None) -> str:
    """One line: who holds the workspace, since when, and what to do."""
    if not holder:
        return (f"the workspace {settings.home} is busy: another segflow command holds "
                f"{lock_path(settings)}; wait for it to finish and run this again")
    doing = f" ({holder['operation']})" if holder.get("operation") else ""
    return (f"the workspace {settings.home} is busy: `{holder.get('command')}`{doing} (process "
            f"{holder.get('pid')}, user {holder.get('user')}) has held it since "
            f"{holder.get('since')}; wait for it to finish and run this again, or stop that "
            f"process (kill {holder.get('pid')}) if it hangs")


def wait_seconds() -> float:
    try:
        return float(os.environ.get("SEGFLOW_LOCK_WAIT", DEFAULT_WAIT_S))
    except ValueError:
        return DEFAULT_WAIT_S


@contextmanager
def workspace_lock(settings: Settings, what: str | None = None,
                   wait: float | None = None) -> Iterator[dict | None]:
    """Hold the workspace lock for the block; yields the record of a previous holder that
    died without releasing it (its process is gone), else None.

    Raises ``WorkspaceBusy`` (exit code 3) when another process holds it for longer than
    ``wait`` seconds.
    """
    path = lock_path(settings)
    with _process_lock:
        if path in _held:
            fd, depth = _held[path]
            _held[path] = (fd, depth + 1)
            try:
                yield _previous.get(path)
            finally:
                with _process_lock:
                    fd, depth = _held[path]
                    _held[path] = (fd, depth - 1)
            return
    settings.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + (wait_seconds() if wait is None else wait)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise WorkspaceBusy(busy_message(settings, read_holder(settings))) from None
            time.sleep(0.1)
    previous = read_holder(settings)
    if previous and previous.get("pid") == os.getpid():
        previous = None
    _write_holder(fd, {"operation": what, "command": describe_command(), "pid": os.getpid(),
                       "user": _user(), "host": socket.gethostname(),
                       "since": datetime.now(UTC).isoformat(timespec="seconds")})
    with _process_lock:
        _held[path] = (fd, 1)
        _previous[path] = previous if previous and not pid_alive(previous.get("pid")) else None
    try:
        yield _previous[path]
    finally:
        with _process_lock:
            _held.pop(path, None)
            _previous.pop(path, None)
        try:
            os.ftruncate(fd, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _write_holder(fd: int, record: dict) -> None:
    data = json.dumps(record).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def holds_workspace(what: str) -> Callable:
    """Decorator for library functions that change a workspace: the function's ``settings``
    argument (first positional or keyword) names the workspace to lock for the call."""

    def wrap(fn: Callable) -> Callable:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def locked(*args, **kwargs):
            settings = signature.bind_partial(*args, **kwargs).arguments.get("settings")
            if settings is None:
                return fn(*args, **kwargs)
            with workspace_lock(settings, what):
                return fn(*args, **kwargs)

        return locked

    return wrap


def held_by_this_process(settings: Settings) -> bool:
    with _process_lock:
        return lock_path(settings) in _held
