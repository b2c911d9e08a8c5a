"""Run one benchmark stage in this process: ``python -m benchmarks.stage NAME --home DIR
--customers N --out result.json [--profile profile.txt]``.

Each stage runs in a fresh process so that its peak memory (read by the parent from
``os.wait4``'s rusage of this process) is the stage's own, and so that import costs and
caches of one stage never flatter the next. The heavy libraries are imported before the
clock starts and their import time is reported apart ("imports"): a scheduled refresh
imports them once per process, not once per stage. ``--profile`` runs the stage under
cProfile and writes the 25 most expensive calls by cumulative time.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from benchmarks import peers, stages
from benchmarks.timing import own_peak_mb
from benchmarks.world import workspace

STAGES = {
    "generate": stages.generate, "ingest": stages.ingest, "floor": peers.floor,
    "history": stages.history, "train": stages.train, "baseline": stages.baseline,
    "features": stages.features,
    "retrieval": stages.retrieval, "online": stages.online, "refresh": stages.refresh,
    "govern": stages.govern, "exports": stages.exports, "drift": stages.drift,
    "publish": stages.publish, "feast_file": peers.feast_file,
    "feast_duckdb": peers.feast_duckdb, "feast_materialize": peers.feast_materialize,
    "pandas": peers.pandas, "lookups": peers.lookups,
}


HEAVY = ("duckdb", "pyarrow.parquet", "pandas", "feast", "mlflow", "lightgbm", "sklearn",
         "evidently")


def warm_imports(modules=HEAVY) -> float:
    """Import the heavy libraries; seconds taken (kept out of the stage's figure)."""
    import importlib

    start = time.perf_counter()
    for module in modules:
        importlib.import_module(module)
    return time.perf_counter() - start


def run_stage(name: str, home: Path, customers: int, profile: Path | None = None,
              templates: Path | None = None) -> dict:
    settings = workspace(home, templates)
    if profile is None:
        return STAGES[name](settings, customers)
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    result = profiler.runcall(STAGES[name], settings, customers)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
    profile.write_text(text.getvalue())
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(STAGES))
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--templates", type=Path, help="templates root (default: project's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    imports = warm_imports()
    result = run_stage(args.name, args.home, args.customers, args.profile, args.templates)
    result["imports_seconds"] = imports
    result["peak_rss_mb"] = own_peak_mb()   # replaces the parent's ru_maxrss (see there)
    args.out.write_text(json.dumps(result, default=str, indent=1))


if __name__ == "__main__":
    main()
