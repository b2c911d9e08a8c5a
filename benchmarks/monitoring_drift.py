"""Time the drift report on N customers (default 1M): ``python -m benchmarks.monitoring_drift``.

Builds two scored runs in a temporary workspace (the second with engagement halved in the
north), then times ``segflow.monitoring.gate.check``: Evidently on a ``sample_size`` hash sample per
side, DuckDB composition, mix PSI and bias over every row. Prints one line per phase.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from segflow.runstore import create_run, run_dir
from segflow.settings import Settings

ZONES = np.array(["north", "west", "south", "east", "central", "northeast", "diaspora"])
LANGS = np.array(["hindi", "marathi", "tamil", "telugu", "bengali", "gujarati", "english"])


def scored(n: int, seed: int, shift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    zone = ZONES[rng.integers(0, len(ZONES), n)]
    eng = rng.beta(2, 2, n)
    eng = np.where(shift & (zone == "north"), eng / 2, eng)
    frame = pd.DataFrame({"customer_id": np.char.add("C", np.arange(n).astype(str)),
                          "region_zone": zone, "preferred_language": LANGS[rng.integers(0, 7, n)],
                          "engagement_score": eng, "email_opens_30d": rng.poisson(8 * eng),
                          "active_14d": rng.random(n) < eng})
    for i in range(14):  # other numeric features, like the rfm/festival views
        frame[f"feature_{i:02d}"] = rng.lognormal(3, 1, n)
    frame["holi_propensity"] = 1 / (1 + np.exp(-(3 * eng - 1.5)))
    return frame


def memberships(frame: pd.DataFrame, run_id: str) -> pd.DataFrame:
    engaged = frame["engagement_score"].to_numpy() >= 0.5
    cohort = np.where(engaged, np.char.add("engaged__", frame["region_zone"].to_numpy()
                                           .astype(str)), "high_value")
    return pd.DataFrame({"run_id": run_id, "campaign": "bench", "entity_id": frame["customer_id"],
                         "cohort": cohort, "template": np.where(engaged, "engaged", "high_value"),
                         "status": "assigned", "arm": "treatment"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--sample-size", type=int, default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    import evidently  # noqa: F401  (import cost is per process, reported apart)

    from segflow.monitoring.gate import check
    print(f"import evidently: {time.perf_counter() - started:.1f}s")

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "ws", templates_root=Path(tmp) / "templates")
        settings.ensure()
        settings.campaigns_dir.mkdir(parents=True)
        (settings.campaigns_dir / "bench.yaml").write_text(
            f"name: bench\ndrift:\n  sample_size: {args.sample_size}\n"
            "  scores: [holi_propensity]\n  key_features: [engagement_score, feature_00]\n")
        started = time.perf_counter()
        for seed, shift in ((1, False), (2, True)):
            record = create_run(settings, "bench", datetime(2027, 3, 1, tzinfo=UTC), {})
            frame = scored(args.customers, seed, shift)
            frame.to_parquet(run_dir(settings, record.run_id) / "features.parquet")
            memberships(frame, record.run_id).to_parquet(
                run_dir(settings, record.run_id) / "memberships.parquet")
        print(f"built 2 runs of {args.customers:,} customers in "
              f"{time.perf_counter() - started:.1f}s")
        started = time.perf_counter()
        summary, gate = check(settings, "bench")
        print(f"drift on {args.customers:,} customers (Evidently sample "
              f"{summary['sample']['current']['rows']:,} per side, {summary['features']['n']} "
              f"features + {summary['scores']['n']} score): "
              f"{time.perf_counter() - started:.1f}s; passed={gate['passed']}; "
              f"drifted={summary['features']['drifted']}")


if __name__ == "__main__":
    main()
