"""A real process stopped at a named point of ``segflow.faults`` (no sleeps for timing)."""

from __future__ import annotations

import subprocess


def stopped_at(argv: list[str], env: dict, point: str) -> subprocess.Popen:
    """Start ``argv`` with ``SEGFLOW_FAULTS=<point>=pause`` and return once it has reached
    ``point``, where it waits for a line on stdin (or to be killed by the test)."""
    from segflow.faults import MARKER

    proc = subprocess.Popen(argv, env={**env, "SEGFLOW_FAULTS": f"{point}=pause"}, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_default_interrupt)
    seen = []
    while (line := proc.stderr.readline()) and MARKER not in line:
        seen.append(line)
    if line.strip() != f"{MARKER}{point}":
        proc.kill()
        proc.communicate()
        raise AssertionError(f"never reached {point} (exit {proc.returncode}): "
                             + "".join(seen))
    return proc


def _default_interrupt() -> None:
    """Ctrl-C as a user's shell delivers it: an earlier in-process server may have left SIGINT
    ignored in the test process, and a child inherits that (Python then never raises
    KeyboardInterrupt)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
