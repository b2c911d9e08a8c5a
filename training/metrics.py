"""Metrics of probability models: discrimination, calibration and lift."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC, PR-AUC (average precision), Brier score, base rate and top-decile lift."""
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    lift = lift_by_decile(y, p)
    return {
        "auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "base_rate": float(y.mean()),
        "mean_prediction": float(p.mean()),
        "lift_top_decile": float(lift["lift"].iloc[0]),
    }


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean prediction vs observed rate per quantile bin of the prediction."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), bins, labels=False)
    table = frame.groupby("bin").agg(n=("y", "size"), mean_predicted=("p", "mean"),
                                     observed_rate=("y", "mean"))
    return table.reset_index()


def lift_by_decile(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Decile 1 = the 10% with the highest prediction; lift = its rate / the base rate."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    frame["decile"] = 10 - pd.qcut(frame["p"].rank(method="first"), 10, labels=False)
    table = frame.groupby("decile").agg(n=("y", "size"), rate=("y", "mean")).reset_index()
    table["lift"] = table["rate"] / frame["y"].mean()
    return table


def truth_metrics(y: np.ndarray, p: np.ndarray, true_p: np.ndarray) -> dict[str, float]:
    """On a synthetic world: how well predictions rank like the true probabilities, and
    the oracle AUC (the AUC the true probabilities reach on the same labels)."""
    return {
        "spearman_true_p": float(spearmanr(p, true_p).statistic),
        "oracle_auc": float(roc_auc_score(np.asarray(y, dtype=int), true_p)),
    }
