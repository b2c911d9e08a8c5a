"""Run a command and measure its whole process tree: a Spark stage is a Python process, its
JVM (a child started by pyspark) and the JVM's Python workers (scoring's ``spark_udf``), so
the stage's own ``ru_maxrss`` (one process's high-water mark) says nothing of the JVM.

The tree is sampled every ``INTERVAL`` seconds from /proc: peak memory is the highest sum
over the tree at one instant, as resident set size (RSS, counts pages shared between
processes once per process: an upper bound) and proportional set size (PSS, shared pages
split between their users: what the tree really holds). CPU seconds are a lower bound: the
larger of the root's ``wait4`` rusage (itself plus the children it waited for) and the sum
of every sampled process's last user + system time (a process's last < INTERVAL seconds and
processes that lived less than that are missed).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from benchmarks.run import MIN_AVAILABLE_MB, available_mb

INTERVAL = 0.25


@dataclass
class TreeUsage:
    code: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    peak_pss_mb: float = 0.0
    peak_processes: int = 0
    # peak PSS of each kind of process: the stage's Python ("driver"), Java (Spark's JVM:
    # driver and executors in local mode), and the other processes (Spark's Python workers)
    peak_pss_by_kind: dict[str, float] = field(default_factory=dict)
    starved: bool = False
    load: list[float] = field(default_factory=list)  # 1-minute load average, each sample

    def to_dict(self) -> dict:
        load = self.load or [0.0]
        return {"wall_seconds": round(self.wall_seconds, 2),
                "cpu_seconds": round(self.cpu_seconds, 2),
                "peak_tree_rss_mb": round(self.peak_rss_mb), "peak_tree_pss_mb":
                round(self.peak_pss_mb), "peak_processes": self.peak_processes,
                "peak_pss_mb_by_kind": {k: round(v) for k, v in self.peak_pss_by_kind.items()},
                "load_min": round(min(load), 2), "load_max": round(max(load), 2),
                "load_mean": round(sum(load) / len(load), 2)}


def run_tree(cmd: list[str], log: Path, cwd: Path) -> TreeUsage:
    """Run ``cmd`` (output to ``log``) and sample its process tree until it exits."""
    usage = TreeUsage()
    cpu: dict[tuple[int, float], float] = {}
    started = time.perf_counter()
    last_load = 0.0
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd)
        root = psutil.Process(proc.pid)
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                usage.code = os.waitstatus_to_exitcode(status)
                break
            kinds: dict[str, float] = {}
            rss, pss, count = _sample(root, cpu, kinds)
            for kind, mb in kinds.items():
                usage.peak_pss_by_kind[kind] = max(usage.peak_pss_by_kind.get(kind, 0.0), mb)
            usage.peak_rss_mb = max(usage.peak_rss_mb, rss)
            usage.peak_pss_mb = max(usage.peak_pss_mb, pss)
            usage.peak_processes = max(usage.peak_processes, count)
            if time.perf_counter() - last_load >= 5:
                usage.load.append(os.getloadavg()[0])
                last_load = time.perf_counter()
            if not usage.starved and available_mb() < MIN_AVAILABLE_MB:
                usage.starved = True
                _stop(root)
            time.sleep(INTERVAL)
    usage.wall_seconds = time.perf_counter() - started
    usage.load.append(os.getloadavg()[0])
    usage.cpu_seconds = max(rusage.ru_utime + rusage.ru_stime, sum(cpu.values()))
    return usage


def tree_cpu_seconds(pid: int | None = None) -> float:
    """User + system seconds of a process (this one by default), the children it waited
    for, and its live descendants (a stage's JVM and Python workers), now."""
    root = psutil.Process(pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _sample(root: psutil.Process, cpu: dict, kinds: dict | None = None
            ) -> tuple[float, float, int]:
    """(RSS MB, PSS MB, processes) of the tree now; updates each process's CPU seconds and
    adds each process's PSS to ``kinds`` under its kind (driver, java, workers)."""
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0, 0.0, 0
    rss = pss = 0.0
    for p in procs:
        try:
            times = p.cpu_times()
            cpu[(p.pid, p.create_time())] = times.user + times.system
            rss_kb, pss_kb = _rollup(p.pid)
            kind = "driver" if p.pid == root.pid else (
                "java" if p.name() == "java" else "workers")
        except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError,
                ProcessLookupError):
            continue
        rss += rss_kb / 1024
        pss += pss_kb / 1024
        if kinds is not None:
            kinds[kind] = kinds.get(kind, 0.0) + pss_kb / 1024
    return rss, pss, len(procs)


def _rollup(pid: int) -> tuple[int, int]:
    """Rss and Pss (kB) of one process from /proc/<pid>/smaps_rollup (cheap: one summary)."""
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def _stop(root: psutil.Process) -> None:
    """Kill the tree this benchmark started: the children (JVM, workers) first."""
    try:
        children = root.children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for p in [*children, root]:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
