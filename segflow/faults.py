"""Named points in long commands where a fault-injection test can stop or break them.

A crash test must kill a command at a known instant (after the staged files are written,
between two renames of a commit), not after a guessed sleep. Commands call
``checkpoint("ingest.staged")`` at such instants; normally that is one environment lookup
and nothing else. A test sets:

- ``SEGFLOW_PAUSE_AT=<name>[,<name>...]`` and ``SEGFLOW_PAUSE_FD=<fd>`` (a pipe's write end
  inherited by the child): at a named point the process writes the name and a newline to
  the pipe, then waits there until it is killed (the test's SIGKILL);
- ``SEGFLOW_FAIL_AT=<name>:<errno name>`` (e.g. ``ingest.write:ENOSPC``): at that point the
  process raises that ``OSError``, as the operating system would, for filesystems the test
  cannot fill for real.
"""

from __future__ import annotations

import errno
import os
import signal

PAUSE_AT, PAUSE_FD, FAIL_AT = "SEGFLOW_PAUSE_AT", "SEGFLOW_PAUSE_FD", "SEGFLOW_FAIL_AT"


def checkpoint(name: str, path: os.PathLike | str | None = None) -> None:
    """A named instant of a command; ``path`` is what it is writing (for injected errors)."""
    pause = os.environ.get(PAUSE_AT)
    if pause and name in pause.split(","):
        _pause(name)
    fail = os.environ.get(FAIL_AT)
    if fail:
        point, _, code = fail.partition(":")
        if point == name:
            number = getattr(errno, code or "EIO", errno.EIO)
            raise OSError(number, os.strerror(number), None if path is None else str(path))


def _pause(name: str) -> None:
    fd = int(os.environ.get(PAUSE_FD, "-1"))
    if fd >= 0:
        os.write(fd, f"{name}\n".encode())
    while True:  # the test kills this process here
        signal.pause()
