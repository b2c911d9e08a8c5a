"""The campaign uplift learner chosen on the mean of 10 held-out splits, not one.

Reads the training frame a `segflow train` run kept (``<home>/training/snapshot.parquet``:
features, label, arm and, on a synthetic world, the true effects), refits each candidate
on 10 hash splits of it (seeds 0..9, the model config's test fraction) and prints the mean
and sd of the Qini, uplift@30% and, where the truth exists, the RMSE and correlation
against the true effects. The figures in docs/models.md come from::

    python -m benchmarks.uplift_splits --home /tmp/holi100k

(about 10 minutes at 100k customers on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CANDIDATES = {
    "x_learner (config)": None,  # the shipped flash_sale_uplift params
    "x_learner, outcome 15 leaves / effect 1,500 per leaf": {
        "method": "x_learner",
        "outcome_lightgbm": {"n_estimators": 300, "learning_rate": 0.03, "num_leaves": 15,
                             "min_child_samples": 100, "subsample": 0.8, "subsample_freq": 1,
                             "colsample_bytree": 0.8},
        "effect_lightgbm": {"n_estimators": 300, "learning_rate": 0.01, "num_leaves": 4,
                            "min_child_samples": 1500, "reg_lambda": 10}},
    "t_learner (config settings)": "t_learner",
    "s_learner with interactions (the Hillstrom settings)": {
        "method": "s_learner", "interactions": True,
        "lightgbm": {"n_estimators": 300, "learning_rate": 0.03, "max_depth": 4,
                     "num_leaves": 16, "min_child_samples": 50, "subsample": 0.8,
                     "subsample_freq": 1, "colsample_bytree": 0.8}},
    "dr_learner, cross-fit 5": "dr_learner",
    "r_learner, cross-fit 5": "r_learner",
    "class_transformation (config settings)": "class_transformation",
}


def candidates(config_params: dict) -> dict[str, dict]:
    """Each candidate's params: the config's, or the config's LightGBM under another method
    (the dr/r learners with the second X-learner's two stages and cross-fitting)."""
    strong = CANDIDATES["x_learner, outcome 15 leaves / effect 1,500 per leaf"]
    out = {}
    for name, spec in CANDIDATES.items():
        if spec is None:
            out[name] = config_params
        elif isinstance(spec, dict):
            out[name] = spec
        elif spec in ("dr_learner", "r_learner"):
            out[name] = {**strong, "method": spec, "cross_fit": 5}
        else:
            out[name] = {"method": spec, "lightgbm": config_params.get("lightgbm", {})}
    return out


def run(home: Path, model: str = "flash_sale_uplift", splits: int = 10):
    import numpy as np
    import pandas as pd

    from segflow.settings import Settings
    from segflow.training.config import load_model_configs
    from segflow.training.datasets import model_features
    from segflow.training.encoding import holdout_mask
    from segflow.training.uplift import uplift_estimator
    from segflow.training.uplift_metrics import qini_auc_score, uplift_at_k

    settings = Settings(home=Path(home).resolve())
    cfg = load_model_configs(settings.models_config_dir, [model])[0]
    features = model_features(settings, cfg)
    frame = pd.read_parquet(settings.home / "training" / "snapshot.parquet")
    truth = "true_tau" in frame and frame["true_tau"].notna().all()
    rows = []
    for seed in range(splits):
        held = holdout_mask(frame[cfg.join_key], float(cfg.split["test_fraction"]), seed)
        train, test = frame[~held], frame[held]
        y, t = test["label"].to_numpy(), test["treatment"].to_numpy()
        for name, params in candidates(cfg.params).items():
            u = uplift_estimator(features, "u", params, {"n_jobs": 1}).fit(
                train, train["label"], train["treatment"]).uplift(test)
            row = {"learner": name, "seed": seed, "qini": qini_auc_score(y, u, t),
                   "uplift_at_30": uplift_at_k(y, u, t, "overall", 0.3)}
            if truth:
                tau = test["true_tau"].to_numpy()
                row.update(rmse=float(np.sqrt(np.mean((u - tau) ** 2))),
                           rmse_constant=float(np.std(tau)),
                           corr=float(np.corrcoef(u, tau)[0, 1]),
                           oracle_qini=qini_auc_score(y, tau, t))
            rows.append(row)
    table = pd.DataFrame(rows).drop(columns="seed").groupby("learner").agg(["mean", "std"])
    return table.sort_values(("qini", "mean"), ascending=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True, type=Path, help="workspace trained on it")
    parser.add_argument("--model", default="flash_sale_uplift")
    parser.add_argument("--splits", type=int, default=10)
    args = parser.parse_args(argv)
    print(run(args.home, args.model, args.splits).round(4).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
