"""``python -m benchmarks.run --scale 100k|1m|10m [--stages ...] [--out benchmarks/RESULTS.md]``

Generates a Holi world of that size (seed fixed) in a temporary workspace, then runs every
stage of a Holi 2027 refresh and every peer, each in its own process, in order. Per stage it
records the timed seconds (reported by the stage) and the peak RSS of the stage's process
(``VmHWM``, the kernel's high-water mark of that process, read by the stage as it ends:
``benchmarks.timing.own_peak_mb``). Raw figures go to ``benchmarks/results/<scale>.json``;
the table of every scale measured so far is rendered to RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.world import customers_of

HERE = Path(__file__).resolve().parent
ORDER = ("generate", "ingest", "floor", "history", "train", "baseline", "features", "retrieval",
         "online", "refresh", "govern", "drift", "publish", "exports", "feast_duckdb", "feast_file",
         "feast_materialize", "pandas", "lookups")
NO_TRAINING_ABOVE = 1_000_000
MIN_AVAILABLE_MB = 1_500  # a stage is stopped when the machine has less than this free
# stages that may be run once more, under the profiler, after every figure is taken
PROFILEABLE = ("ingest", "features", "retrieval", "online", "refresh", "govern", "drift",
               "exports")


def run_one(name: str, home: Path, customers: int, profile: Path | None = None,
            templates: Path | None = None) -> dict:
    """One stage in a child process; its result plus wall seconds and peak RSS."""
    out = home / f"stage_{name}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.stage", name, "--home", str(home),
           "--customers", str(customers), "--out", str(out)]
    if profile:
        cmd += ["--profile", str(profile)]
    if templates:
        cmd += ["--templates", str(templates)]
    log = home / f"stage_{name}.log"
    started = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=HERE.parent)
        code, usage, starved = _wait(proc)
    result = {"wall_seconds": time.perf_counter() - started,
              # a stopped stage's only figure; a finished one reports its own (VmHWM:
              # ru_maxrss also carries the parent's mark across exec, timing.own_peak_mb)
              "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: kilobytes
              "load_after": round(os.getloadavg()[0], 2)}  # shared machine: was it busy?
    if code == 0 and out.exists():
        result.update(json.loads(out.read_text()))
    elif starved:
        result["error"] = (f"stopped: the machine had under {MIN_AVAILABLE_MB} MB available "
                           "(shared machine); the stage needs more memory than was free")
    else:
        tail = log.read_text(errors="replace").strip().splitlines()[-6:]
        result["error"] = f"exit {code}: " + " | ".join(tail)
    return result


def available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable"):
            return int(line.split()[1]) / 1024
    return float("inf")


def _wait(proc: subprocess.Popen) -> tuple[int, object, bool]:
    """Wait for the stage; stop it if the shared machine runs short of memory, so that a
    benchmark never pushes other work into swap or the OOM killer."""
    starved = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage, starved
        if not starved and available_mb() < MIN_AVAILABLE_MB:
            starved = True
            proc.kill()
        time.sleep(0.2)


def machine() -> dict:
    from importlib.metadata import version

    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    return {"cores": os.cpu_count(), "memory_gb": round(mem / 1024 / 1024, 1),
            "load_at_start": round(os.getloadavg()[0], 2),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "versions": {"python": sys.version.split()[0],
                         **{p: version(p) for p in ("duckdb", "feast", "pandas", "pyarrow",
                                                    "lightgbm", "evidently")}}}


def plan(stages: list[str] | None, customers: int) -> list[str]:
    chosen = [s for s in ORDER if stages is None or s in stages]
    if customers > NO_TRAINING_ABOVE and "train" in chosen:
        chosen.remove("train")  # models come from a smaller world: see docs/performance.md
    return chosen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="100k", help="10k, 100k, 1m, 10m or a number")
    parser.add_argument("--stages", nargs="*", choices=ORDER, help="default: all, in order")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--home", type=Path, help="keep the workspace here (default: temp)")
    parser.add_argument("--templates", type=Path, help="templates root (default: project's)")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--models-from", type=Path, metavar="DIR",
                        help="copy trained champions (mlflow.db, mlartifacts/) from this "
                             "workspace; for scales where training is skipped")
    parser.add_argument("--until", metavar="HH:MM",
                        help="start no stage after this UTC time (a shared machine's slot); "
                             "the stages left are recorded as not run")
    parser.add_argument("--merge", action="store_true",
                        help="update only these stages in the scale's existing results "
                             "(needs --home of that run's workspace)")
    args = parser.parse_args(argv)
    customers = customers_of(args.scale)
    home = args.home or Path(tempfile.mkdtemp(prefix=f"segflow-bench-{args.scale}-"))
    home.mkdir(parents=True, exist_ok=True)
    record = {"scale": args.scale, "customers": customers, "machine": machine(), "stages": {}}
    previous = HERE / "results" / f"{args.scale}.json"
    if args.merge and previous.exists():
        base = json.loads(previous.read_text())
        base.setdefault("reruns", []).append({"stages": args.stages, **record["machine"]})
        record = base
    if args.models_from:
        from benchmarks.models_from import copy_models

        record["models_from"] = copy_models(args.models_from, home)
    try:
        for name in plan(args.stages, customers):
            if args.until and time.strftime("%H:%M", time.gmtime()) >= args.until:
                record["stages"][name] = {"peak_rss_mb": 0, "error": "not started: out of "
                                          f"time (--until {args.until} UTC)"}
                continue
            result = run_one(name, home, customers, templates=args.templates)
            record["stages"][name] = result
            print(f"{name:<18} {result.get('seconds', float('nan')):9.2f} s  "
                  f"{result['peak_rss_mb']:8.0f} MB  {result.get('error', '')}", flush=True)
            save(record, args.out)  # every stage: a run stopped part-way keeps its figures
        if not args.no_profile:
            record["profile"] = profile_slowest(record, home, customers, args.templates)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    save(record, args.out)


def profile_slowest(record: dict, home: Path, customers: int,
                    templates: Path | None) -> dict | None:
    done = {n: r for n, r in record["stages"].items() if n in PROFILEABLE and "error" not in r}
    if not done:
        return None
    name = max(done, key=lambda n: done[n]["seconds"])
    target = home / f"profile_{name}.txt"
    run_one(name, home, customers, profile=target, templates=templates)
    return {"stage": name, "text": target.read_text() if target.exists() else ""}


def save(record: dict, out: Path) -> None:
    from benchmarks.report import render

    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / f"{record['scale']}.json").write_text(json.dumps(record, indent=1, default=str))
    out.write_text(render(sorted(results.glob("*.json"))))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
