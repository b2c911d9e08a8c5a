"""How long the commands that only read configuration take: `templates check` on a
30-template project and `explain` in a demo workspace, each as a fresh `segflow` process (what
a user waits for, imports included), ours against a baseline installation in the same run.

    python -m benchmarks.config_commands --home WORKSPACE [--baseline PYTHON] [--repeat 3]
        [--save]

WORKSPACE is a workspace the holi demo wrote (`segflow init DIR --starter holi && cd DIR &&
segflow demo holi`: 100,000 customers by default); --baseline is the python of another
segflow installation (for example the main branch's .venv/bin/python) run on the same
project and workspace. The project is the holi starter written to a temporary folder plus one
template (30 templates). Prints a Markdown table of median wall and CPU seconds (user +
system of the process: on a shared machine the wall time mostly measures the others) and
which heavy libraries each command imported. Each command runs once untimed first, so
Python's bytecode caches exist as in a user's installation (a shell that sets
PYTHONDONTWRITEBYTECODE would otherwise time compiling MLflow from source); the timed runs
are still fresh processes. ``--save`` appends the table to
benchmarks/results/config_commands.md, which RESULTS.md includes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "config_commands.md"
HEAVY = ("feast", "mlflow", "lightgbm", "sklearn", "pandas", "evidently", "prefect")
PROBE = ("import json, sys, time; t = time.perf_counter(); from segflow.cli import run; "
         "code = run(sys.argv[1:]); print(json.dumps({'code': code, 'heavy': [m for m in "
         f"{HEAVY!r} if m in sys.modules]}}))")


def _project(folder: Path) -> Path:
    """The holi starter plus one more template: a 30-template project."""
    from segflow.starters import init_project

    root = init_project(folder / "shop", "holi").root
    templates = root / "segment_templates"
    source = templates / "loyal_frequent.yaml"
    (templates / "loyal_frequent_copy.yaml").write_text(
        source.read_text().replace("name: loyal_frequent", "name: loyal_frequent_copy"))
    assert len(list(templates.glob("*.yaml"))) == 30
    return root


def _time(python: str, project: Path, args: list[str], repeat: int, warm: bool = True) -> dict:
    env = {**os.environ, "SEGFLOW_PROJECT": str(project)}
    env.pop("SEGFLOW_HOME", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if warm:  # untimed: bytecode caches written as an installation has them
        subprocess.run([python, "-c", PROBE, *args], env=env, capture_output=True)
    runs, cpu, last = [], [], {}
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run([python, "-c", PROBE, *args], env=env, capture_output=True,
                              text=True)
        runs.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        lines = done.stdout.strip().splitlines()
        last = json.loads(lines[-1]) if done.returncode == 0 and lines else {
            "code": done.returncode, "heavy": ["(failed: " + done.stderr.strip()[-200:] + ")"]}
    return {"seconds": statistics.median(runs), "cpu": statistics.median(cpu),
            "code": last.get("code"),
            "heavy": last.get("heavy", [])}


def _customer(home: Path) -> str:
    import pyarrow.parquet as pq

    ids = pq.read_table(home / "canonical" / "customers.parquet", columns=["customer_id"])
    return ids.column(0)[ids.num_rows // 2].as_py()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--baseline", help="python of another segflow installation")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--save", action="store_true",
                        help="append the table to benchmarks/results/config_commands.md")
    args = parser.parse_args()
    home = args.home.resolve()
    customers = __import__("pyarrow.parquet").parquet.read_metadata(
        home / "canonical" / "customers.parquet").num_rows
    customer = _customer(home)
    pythons = {"this branch": sys.executable}
    if args.baseline:
        pythons["baseline"] = args.baseline
    cases = [
        ("templates check, 30 templates (columns cached)", ["templates", "check"]),
        (f"explain, {customers:,d} customers", ["explain", "--campaign", "holi_2027",
                                               "--customer", customer]),
        (f"explain --top 0, {customers:,d} customers", ["explain", "--campaign", "holi_2027",
                                                       "--customer", customer, "--top", "0"]),
        (f"explain --full, {customers:,d} customers", ["explain", "--campaign", "holi_2027",
                                                      "--customer", customer, "--full"]),
        (f"explain --top 6 (beyond the stored 5: loads the models), {customers:,d} customers",
         ["explain", "--campaign", "holi_2027", "--customer", customer, "--top", "6"]),
    ]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        project = _project(Path(tmp))
        cache = home / "feast" / "columns.json"
        rows = []
        for who, python in pythons.items():
            if cache.exists():
                cache.unlink()
            cold = _time(python, project, ["--home", str(home), "templates", "check"], 1,
                         warm=False)
            rows.append((who, "templates check, 30 templates (first, columns not cached)", cold))
            for title, argv in cases:
                if who == "baseline" and ("--top" in argv or "--full" in argv):
                    continue  # options the baseline lacks or that add nothing there
                rows.append((who, title, _time(python, project, ["--home", str(home), *argv],
                                               args.repeat)))
        shutil.rmtree(project, ignore_errors=True)
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {customers:,d} "
             "customers", "",
             f"{os.cpu_count()} cores; load at start {load:.2f}; median of {args.repeat} "
             "(first-run rows: 1)", "",
             "| installation | command | wall s | CPU s | exit | heavy libraries imported |",
             "|---|---|---:|---:|---:|---|"]
    lines += [f"| {who} | {title} | {r['seconds']:.2f} | {r['cpu']:.2f} | {r['code']} | "
              f"{', '.join(r['heavy']) or 'none'} |" for who, title, r in rows]
    print("\n".join(lines))
    if args.save:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write("\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
