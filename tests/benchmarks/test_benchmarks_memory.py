"""A benchmark step's peak memory is its own (benchmarks/timing.py ``own_peak_mb``), not
the high-water mark Linux carries across ``exec`` from the process that started it, which
is what ``ru_maxrss`` from ``os.wait4`` reports."""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.timing import own_peak_mb

HELD_MB = 400
CHILD = "from benchmarks.timing import own_peak_mb; print(own_peak_mb())"


def test_a_child_reports_its_own_peak_not_its_parents():
    held = bytearray(HELD_MB * 1024 * 1024)
    held[::4096] = b"\x01" * len(held[::4096])          # touch every page: resident
    assert own_peak_mb() > HELD_MB
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    with proc.stdout:
        out = proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)
    inherited = usage.ru_maxrss / 1024
    assert inherited > HELD_MB                            # why ru_maxrss cannot be used
    assert float(out) < HELD_MB / 2                       # the child's own: an interpreter
    del held
