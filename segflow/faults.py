"""Named points in commands that must survive a crash, and a test hook to fail at them.

A crash test must stop a command at a known instant (after the staged files are written,
between two renames of a commit, after the publication's database commit), not after a
guessed sleep. Commands pass named points (``ingest.staged``, ``publish.committed``,
``audit.file_torn``, ...). In normal use ``reach`` does nothing. With ``SEGFLOW_FAULTS``
(read by ``segflow.settings``) set to ``point=action[,point=action...]`` the command acts at
that point:

- ``pause``: print ``segflow-fault: at <point>`` on stderr and wait for a line on stdin (the
  test kills the process meanwhile, or writes a line to let it go on);
- ``kill``: SIGKILL the process itself;
- an errno name (``ENOSPC``, ``EACCES``, ``EIO``; any case): raise that ``OSError`` for the
  file being written, as the operating system would, where a test cannot fill a disk;
- ``fail``: raise ``RuntimeError``.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Callable

from segflow.settings import Settings

MARKER = "segflow-fault: at "
Hook = Callable[[str], None] | None


def plan(settings: Settings | None) -> dict[str, str]:
    """{point: action} from the settings' fault plan (empty when none)."""
    text = getattr(settings, "faults", None) or ""
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {point.strip(): action.strip() for point, action in pairs}


def reach(settings: Settings | None, point: str, hook: Hook = None, *,
          path: os.PathLike | str | None = None) -> None:
    """Called at a named point: runs an in-process ``hook`` (tests), then the planned fault;
    ``path`` is the file being written there (named by an injected OSError)."""
    if hook is not None:
        hook(point)
    action = plan(settings).get(point)
    if action is None:
        return
    if action == "pause":
        sys.stderr.write(f"{MARKER}{point}\n")
        sys.stderr.flush()
        sys.stdin.readline()
    elif action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "fail":
        raise RuntimeError(f"injected failure at {point}")
    else:
        number = getattr(errno, action.upper(), errno.EIO)
        raise OSError(number, f"{os.strerror(number)} (injected at {point})",
                      None if path is None else str(path))
