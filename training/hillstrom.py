"""Real-data check of the uplift learners on the Hillstrom (MineThatData) e-mail campaign.

Pairing Womens E-Mail vs No E-Mail, outcome ``visit``; 50/50 split stratified on
(treatment, outcome) with a fixed seed, repeated over several seeds; uplift@30% is computed
exactly as scikit-uplift does, so the figures sit next to its tutorial's 0.0661.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from segflow.errors import SegflowError
from segflow.settings import PROJECT_ROOT
from segflow.yamlio import load_yaml
from training.uplift import UpliftEstimator
from training.uplift_metrics import qini_auc_score, uplift_at_k

DATA_PATH = PROJECT_ROOT.parent / "shared" / "data" / "hillstrom.csv"
CONFIG_PATH = Path(__file__).with_name("hillstrom.yaml")


def load_setup(path: Path = CONFIG_PATH) -> dict:
    """Pairing, features, learners and the published reference, from hillstrom.yaml."""
    return dict(load_yaml(path))


@dataclass(frozen=True)
class HillstromResult:
    learner: str
    seed: int
    uplift_at_30: float
    uplift_at_30_by_group: float
    qini_auc: float


def load_hillstrom(setup: dict, path: Path = DATA_PATH
                   ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features, outcome and treatment (1 = treatment arm) of the two arms compared."""
    if not Path(path).exists():
        raise SegflowError(f"Hillstrom data not found at {path}; place the MineThatData CSV "
                           "there (see ../shared/README.md) to run this evaluation")
    data = pd.read_csv(path)
    pair = setup["pairing"]
    data = data[data["segment"].isin([pair["treatment"], pair["control"]])]
    data = data.reset_index(drop=True)
    treatment = (data["segment"] == pair["treatment"]).to_numpy(dtype=int)
    return data[setup["features"]], data[pair["outcome"]].to_numpy(dtype=int), treatment


def evaluate_seed(X, y, t, seed: int, learners: dict) -> list[HillstromResult]:
    from sklearn.model_selection import train_test_split

    strata = t * 2 + y
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=0.5,
                                           stratify=strata, random_state=seed)
    results = []
    for name, spec in learners.items():
        model = UpliftEstimator(list(X.columns), "uplift", spec["method"],
                                {**spec["lightgbm"], "random_state": seed})
        model.fit(X.iloc[idx_train], y[idx_train], t[idx_train])
        u = model.uplift(X.iloc[idx_test])
        yt, tt = y[idx_test], t[idx_test]
        results.append(HillstromResult(
            name, seed, uplift_at_k(yt, u, tt, "overall", 0.3),
            uplift_at_k(yt, u, tt, "by_group", 0.3), qini_auc_score(yt, u, tt)))
    return results


def evaluate_hillstrom(seeds: list[int], path: Path = DATA_PATH) -> pd.DataFrame:
    """One row per learner: uplift@30% mean, std, min, max over seeds (and Qini, by-group)."""
    setup = load_setup()
    X, y, t = load_hillstrom(setup, path)
    rows = [r.__dict__ for s in seeds for r in evaluate_seed(X, y, t, s, setup["learners"])]
    per_seed = pd.DataFrame(rows)
    summary = per_seed.groupby("learner").agg(
        uplift_at_30_mean=("uplift_at_30", "mean"), uplift_at_30_std=("uplift_at_30", "std"),
        uplift_at_30_min=("uplift_at_30", "min"), uplift_at_30_max=("uplift_at_30", "max"),
        uplift_at_30_by_group_mean=("uplift_at_30_by_group", "mean"),
        qini_auc_mean=("qini_auc", "mean"), seeds=("seed", "size"))
    summary["reference"] = setup["reference_uplift_at_30"]
    return summary.reset_index().sort_values("uplift_at_30_mean", ascending=False)
