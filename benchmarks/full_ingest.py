"""A full ingest against the ingest floor, and against another checkout's code, in one run.

Issue 18's target is a full ``segflow ingest`` within 4x of the ingest floor (DuckDB reading
every source file once into Parquet, no checks: ``benchmarks.incremental._floor_step``),
measured in the same run. On a machine shared with others the load moves by a factor of
several within minutes, so the steps alternate: each round runs the floor, this checkout's
full ingest and (with ``--base DIR``) the full ingest of the code in DIR (a ``git archive``
of main, say: its folders are linked into ``DIR/segflow`` as pyproject.toml's
``package-dir`` maps them, DIR is put ahead of the installed package on the child's
``PYTHONPATH`` and the child runs in DIR, so it reads that checkout's project), the order
turned each round. Every ingest runs in its own process on a fresh
workspace (the phone cache empty, as a first load), so each has its own peak memory (the
step's ``VmHWM``) and CPU seconds (``os.wait4``: DuckDB's threads and the phone parsers'
processes included).
The canonical tables and quarantine files of every ingest are compared with the first
one's (row count and an order-free hash of every row of every file).

    python -m benchmarks.full_ingest --sources DIR/sources.yaml [--base DIR] [--rounds 2]
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
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.incremental import _fingerprints
from benchmarks.world import workspace


def _child(step: list, cwd: Path | None = None, path: Path | None = None) -> dict:
    """One step of ``benchmarks.incremental`` in a fresh process (in ``cwd``, with ``path``
    ahead of the installed package); its result with wall, CPU seconds and peak memory."""
    from benchmarks.run import _wait

    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        result = Path(out.name)
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(path), str(cwd)])
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.incremental", "--step",
                             json.dumps([step[0], str(result), *step[1:]])],
                            cwd=cwd, env=env)
    code, usage, _ = _wait(proc)
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"step {step} failed (exit {code})")
    data = json.loads(result.read_text())
    result.unlink()
    return {"seconds": data["seconds"], "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            # the step's own peak (VmHWM); a base checkout older than that reports none
            "peak_mb": data.get("peak_mb", usage.ru_maxrss / 1024),
            "load": (load, os.getloadavg()[0])}


def as_package(checkout: Path) -> Path:
    """A checkout's folders linked where the installed package has them (pyproject.toml's
    ``package-dir``: ``segflow.ingest`` is ``ingest/``), so that putting the checkout on
    ``PYTHONPATH`` imports all of its code, not a mix with the installed one."""
    import tomllib

    dirs = tomllib.loads((checkout / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    for package, folder in dirs.items():
        link = checkout.joinpath(*package.split("."))
        if package != "segflow" and not link.exists():
            link.symlink_to(checkout / folder, target_is_directory=True)
    return checkout


def run(sources: Path, root: Path, base: Path | None, rounds: int) -> dict:
    codes = {"branch": (None, None)}
    if base is not None:
        codes["base"] = (as_package(base), base)
    runs, tables, n = [], {}, 0
    for r in range(rounds):
        order = ["floor", *codes] if r % 2 == 0 else [*reversed(list(codes)), "floor"]
        for name in order:
            n += 1
            home = root / f"ws{n}"
            if name == "floor":
                res = _child(["floor", str(sources), str(home)])
            else:
                cwd, path = codes[name]
                res = _child(["ingest", str(home), str(sources), True], cwd, path)
                settings = workspace(home)
                tables[n] = {**_fingerprints(settings.canonical_dir), **{
                    f"quarantine/{k}": v
                    for k, v in _fingerprints(settings.quarantine_dir).items()}}
            runs.append({"round": r + 1, "code": name, **res})
            print(json.dumps(runs[-1]), flush=True)
            shutil.rmtree(home, ignore_errors=True)
    first = next(iter(tables.values()))
    return {"runs": runs, "equal": all(t == first for t in tables.values()),
            "tables": first}


def markdown(result: dict) -> str:
    rows = []
    for r in result["runs"]:
        floor = next(x for x in result["runs"] if x["round"] == r["round"]
                     and x["code"] == "floor")
        rows.append(f"| {r['round']} | {r['code']} | {r['seconds']:.1f} | "
                    f"{r['seconds'] / floor['seconds']:.2f}x | {r['cpu']:.1f} | "
                    f"{r['cpu'] / floor['cpu']:.2f}x | {r['peak_mb']:,.0f} | "
                    f"{r['load'][0]:.1f} / {r['load'][1]:.1f} |")
    verdict = "equal" if result["equal"] else "DIFFERENT"
    return (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores; canonical "
            f"tables and quarantine files of every ingest {verdict}.\n\n"
            "| round | code | seconds | x floor | CPU s | CPU x floor | peak RSS (MB) | "
            "load before / after |\n|---|---|---:|---:|---:|---:|---:|---:|\n"
            + "\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, required=True, help="the world's sources.yaml")
    parser.add_argument("--base", type=Path, help="a checkout laid out as a segflow package")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="segflow-full-ingest-"))
    try:
        result = run(args.sources.resolve(), root, args.base and args.base.resolve(),
                     args.rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = markdown(result)
    print(text)
    if args.out:
        args.out.write_text(text + "\n" + json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
