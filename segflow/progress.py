"""Progress of long steps (ingest, features, training, refresh, preview, drift): one line per
stage on stderr when it ends, with its elapsed time, so a 20-second refresh is not silence.

Off unless the CLI turns it on (library callers, flows and tests print nothing); the CLI
turns it off again for ``--quiet`` and for any command given ``--json``. It writes to
stderr only, so a script reading stdout never sees it. On a terminal a spinner names the
stage while it runs (rich, already used for the CLI's tables) and is replaced by the line.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

_on = False


def enable(on: bool = True) -> None:
    global _on
    _on = on


def enabled() -> bool:
    return _on


@contextmanager
def stage(what: str):
    """Time the block and print ``what`` with the seconds it took (or that it failed)."""
    if not _on:
        yield
        return
    start = time.perf_counter()
    spinner = _spinner(what)
    ok = False
    try:
        yield
        ok = True
    finally:
        if spinner is not None:
            spinner.stop()
        seconds = time.perf_counter() - start
        sys.stderr.write(f"  {what}: {'done' if ok else 'failed'} in {_took(seconds)}\n")
        sys.stderr.flush()


def _took(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def _spinner(what: str):
    """A transient spinner on a terminal (None in a pipe or a log file)."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console

    status = Console(stderr=True).status(what + " ...")
    status.start()
    return status
