"""Clocks for the benchmark: a stopwatch, and phase timers that wrap a stage's own public
functions for the duration of one call, so a refresh is timed as it really runs (one call of
``refresh_campaign``) while still saying how much of it was retrieval, scoring, evaluation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start

    def split(self) -> float:
        """Seconds since the start, while still running."""
        return time.perf_counter() - self._start


@contextmanager
def phase_timer(module, attr: str, label: str, phases: dict[str, float]) -> Iterator[None]:
    """Accumulate into ``phases[label]`` the time spent in ``module.attr`` while inside."""
    original = getattr(module, attr)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            phases[label] = phases.get(label, 0.0) + time.perf_counter() - start

    setattr(module, attr, timed)
    try:
        yield
    finally:
        setattr(module, attr, original)


@contextmanager
def phases_of(targets: list[tuple[object, str, str]], phases: dict[str, float]):
    """Several ``phase_timer``s at once: (module, function name, label)."""
    with ExitStack() as stack:
        for module, attr, label in targets:
            stack.enter_context(phase_timer(module, attr, label, phases))
        yield phases


def own_peak_mb() -> float:
    """This process's own peak resident memory (MB), from ``VmHWM`` in /proc/self/status.

    Why not ``ru_maxrss`` from the parent's ``os.wait4``: Linux carries a process's
    high-water mark across ``exec``, so a child forked from a parent holding 5 GB reports
    at least 5 GB whatever it used itself (a 1M incremental benchmark reported the
    generator's 5,802 MB for every step). ``VmHWM`` belongs to the address space that
    ``exec`` makes new, so it counts only the step. Children a step waits for are not in
    it (the Spark stages measure their process tree apart, ``benchmarks.proctree``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM is not in /proc/self/status: peak memory cannot be measured")
