"""Propensity and uplift tasks: fit on the training rows, evaluate any model's predictions
on the held-out rows (the challenger's and the champion's alike), and build the report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segflow.training import metrics, plots
from segflow.training.config import ModelConfig
from segflow.training.propensity import PropensityEstimator
from segflow.training.uplift import uplift_estimator
from segflow.training.uplift_metrics import (
    perfect_qini_curve,
    qini_auc_score,
    qini_curve,
    uplift_at_k,
    uplift_auc_score,
)


def fit_propensity(cfg: ModelConfig, features: list[str], train: pd.DataFrame):
    return PropensityEstimator(features, cfg.outputs[0], cfg.param("lightgbm")).fit(
        train, train["label"])


def evaluate_propensity(cfg: ModelConfig, test: pd.DataFrame, pred: pd.DataFrame) -> dict:
    y, p = test["label"].to_numpy(), pred[cfg.outputs[0]].to_numpy(dtype=float)
    result = metrics.classification_metrics(y, p)
    drawn = drawn_probability(test)
    if drawn is not None:
        result.update(metrics.truth_metrics(y, p, drawn))
    return result


def drawn_probability(test: pd.DataFrame) -> np.ndarray | None:
    """On a synthetic world, the probability each label was actually drawn from:
    true_p0 + true_tau for treated customers, true_p0 for the holdout. (true_p0 alone
    understates the oracle: a treated customer's purchase was drawn with the effect.)"""
    if "true_p0" not in test or not test["true_p0"].notna().all():
        return None
    p = test["true_p0"].to_numpy(dtype=float)
    if "true_tau" in test and "treatment" in test and test["true_tau"].notna().all():
        p = p + test["true_tau"].to_numpy(dtype=float) * test["treatment"].to_numpy(dtype=float)
    return p


def report_propensity(cfg, estimator, test, pred) -> tuple[dict, dict]:
    y, p = test["label"].to_numpy(), pred[cfg.outputs[0]].to_numpy(dtype=float)
    calib = metrics.calibration_table(y, p)
    tables = {"calibration": calib, "lift_by_decile": metrics.lift_by_decile(y, p)}
    figures = plots.make({
        "feature_importance": lambda: plots.feature_importance(estimator.feature_importance()),
        "calibration": lambda: plots.calibration(calib)})
    return figures, tables


def fit_uplift(cfg: ModelConfig, features: list[str], train: pd.DataFrame):
    model = uplift_estimator(features, cfg.outputs[0], cfg.params)
    return model.fit(train, train["label"], train["treatment"])


def evaluate_uplift(cfg: ModelConfig, test: pd.DataFrame, pred: pd.DataFrame) -> dict:
    y, t = test["label"].to_numpy(), test["treatment"].to_numpy()
    u = pred[cfg.outputs[0]].to_numpy(dtype=float)
    result = {
        "qini_auc": qini_auc_score(y, u, t),
        "uplift_auc": uplift_auc_score(y, u, t),
        "uplift_at_30": uplift_at_k(y, u, t, "overall", 0.3),
        "uplift_at_30_by_group": uplift_at_k(y, u, t, "by_group", 0.3),
        "mean_uplift": float(u.mean()),
        "ate_observed": float(y[t == 1].mean() - y[t == 0].mean()),
    }
    if "true_tau" in test and test["true_tau"].notna().all():
        tau = test["true_tau"].to_numpy(dtype=float)
        result.update({
            "rmse_true_tau": float(np.sqrt(np.mean((u - tau) ** 2))),
            # the error of the best constant prediction (the mean true effect)
            "rmse_constant": float(np.std(tau)),
            "corr_true_tau": float(np.corrcoef(u, tau)[0, 1]),
            "oracle_qini_auc": qini_auc_score(y, tau, t),
            "oracle_uplift_at_30": uplift_at_k(y, tau, t, "overall", 0.3),
        })
    return result


def report_uplift(cfg, estimator, test, pred) -> tuple[dict, dict]:
    y, t = test["label"].to_numpy(), test["treatment"].to_numpy()
    u = pred[cfg.outputs[0]].to_numpy(dtype=float)
    curves = {"model": qini_curve(y, u, t), "perfect": perfect_qini_curve(y, t)}
    if "true_tau" in test and test["true_tau"].notna().all():
        curves["oracle (true effects)"] = qini_curve(y, test["true_tau"].to_numpy(), t)
    figures = plots.make({
        "feature_importance": lambda: plots.feature_importance(estimator.feature_importance()),
        "qini_curve": lambda: plots.qini(curves)})
    return figures, {}
