"""``python -m benchmarks.spark_sizing``: the sizing arithmetic of docs/scale-out.md from the
measured Spark runs (``benchmarks/results/spark/*.json``), for 10M, 100M and 1B customers.

Every Spark figure that grows with the customers (bytes read from files, shuffle bytes
written, bytes written, task time, as Spark's event log measured them) is fitted per stage
as ``fixed + per_customer x N`` through the two largest measured scales (through the origin
when only one was measured, or when the two points give a negative slope: noise on a
shared machine), then evaluated at N. Partitions are the bytes divided by 128 MB (Spark's
``spark.sql.files.maxPartitionBytes`` for files; the same target for shuffle partitions);
task time is Spark's executor run time, so core-hours, not wall time on any machine.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from benchmarks.spark_engine import RESULTS

PARTITION = 128 * 2**20
TARGETS = (10_000_000, 100_000_000, 1_000_000_000)
METRICS = ("input_bytes", "shuffle_write_bytes", "output_bytes", "executor_run_seconds")


def measured(folder: Path = RESULTS) -> list[dict]:
    """The saved runs, smallest first (a run stopped part-way counts for its stages)."""
    records = [json.loads(p.read_text()) for p in Path(folder).glob("*.json")]
    return sorted(records, key=lambda r: r["customers"])


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """(fixed, per customer) through the two largest points, else through the origin."""
    points = sorted(points)[-2:]
    (n2, m2) = points[-1]
    if len(points) == 2:
        (n1, m1) = points[0]
        slope = (m2 - m1) / (n2 - n1)
        if slope > 0:
            return m2 - slope * n2, slope
    return 0.0, m2 / n2


def stage_fits(records: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    stages = {n for r in records for n, by in r["stages"].items()
              if by.get("spark", {}).get("spark_metrics")}
    out = {}
    for name in sorted(stages):
        rows = [(r["customers"], r["stages"][name]["spark"]["spark_metrics"]) for r in records
                if r["stages"].get(name, {}).get("spark", {}).get("spark_metrics")]
        out[name] = {m: fit([(n, float(s[m])) for n, s in rows]) for m in METRICS}
    return out


def table(records: list[dict]) -> list[str]:
    fits = stage_fits(records)
    scales = ", ".join(f"{r['customers']:,}" for r in records)
    lines = [f"Fitted on the measured runs at {scales} customers.", "",
             "| customers | stage | read from files GB | file partitions | shuffle GB | "
             "shuffle partitions | written GB | task time (core-hours) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for n in TARGETS:
        for name, f in fits.items():
            at = {m: f[m][0] + f[m][1] * n for m in METRICS}
            lines.append(
                f"| {n:,} | {name} | {at['input_bytes'] / 2**30:,.1f} | "
                f"{math.ceil(at['input_bytes'] / PARTITION):,} | "
                f"{at['shuffle_write_bytes'] / 2**30:,.1f} | "
                f"{max(1, math.ceil(at['shuffle_write_bytes'] / PARTITION)):,} | "
                f"{at['output_bytes'] / 2**30:,.1f} | "
                f"{at['executor_run_seconds'] / 3600:,.1f} |")
    lines += ["", "Per customer (the fitted slope) and fixed part, per stage:", ""]
    for name, f in fits.items():
        lines.append(f"- {name}: " + "; ".join(
            f"{m} {f[m][1]:.3g}/customer + {f[m][0]:,.3g}" for m in METRICS))
    return lines


def main() -> None:
    records = measured()
    if not records:
        raise SystemExit(f"no Spark runs saved in {RESULTS}: run benchmarks.spark_engine")
    print("\n".join(table(records)))


if __name__ == "__main__":
    main()
