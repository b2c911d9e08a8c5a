"""Uplift meta-learners on LightGBM, trained on a randomised treatment/holdout split.

- t_learner: one classifier per arm; uplift = p_treated(x) - p_control(x).
- x_learner: the T-learner's classifiers impute individual effects (treated: y - mu0(x),
  control: mu1(x) - y); two regressors learn them and are blended with the treatment share
  g: uplift = g * tau0(x) + (1 - g) * tau1(x) (Kuenzel et al. 2019; with randomised arms
  the propensity is the constant g).
- class_transformation: one classifier of z = y*t + (1-y)*(1-t), arms re-weighted to 50/50
  so that uplift = 2 P(z=1 | x) - 1 holds for unbalanced arms too (Jaskowski & Jaroszewicz).

Contributions (for explaining memberships) are LightGBM pred_contrib values: for the
x_learner the same blend of the two effect regressors' contributions, exact and on the
probability scale; for the t_learner the treated minus the control classifier's
contributions, on the log-odds scale; for class transformation twice the classifier's
contributions in log-odds of z.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.encoding import FeatureEncoder
from training.explain import top_contributions
from training.propensity import lgbm_params

METHODS = ("t_learner", "x_learner", "class_transformation")


class UpliftEstimator:
    """Fitted encoder + meta-learner; predicts the uplift column and explains it."""

    def __init__(self, features: list[str], output: str, method: str,
                 lightgbm: dict | None = None):
        if method not in METHODS:
            raise ValueError(f"unknown uplift method {method!r}; use one of {METHODS}")
        self.encoder = FeatureEncoder(features)
        self.output, self.method = output, method
        self.lightgbm = lgbm_params(lightgbm)
        self.models: dict = {}
        self.treated_share = 0.5

    def fit(self, frame: pd.DataFrame, y, treatment) -> UpliftEstimator:
        from lightgbm import LGBMClassifier, LGBMRegressor

        X = self.encoder.fit(frame).transform(frame)
        y, t = np.asarray(y, dtype=int), np.asarray(treatment, dtype=int)
        self.treated_share = float(t.mean())
        if self.method == "class_transformation":
            z = y * t + (1 - y) * (1 - t)
            w = np.where(t == 1, 0.5 / self.treated_share, 0.5 / (1 - self.treated_share))
            self.models["z"] = LGBMClassifier(**self.lightgbm).fit(X, z, sample_weight=w)
            return self
        for arm, mask in (("mu1", t == 1), ("mu0", t == 0)):
            self.models[arm] = LGBMClassifier(**self.lightgbm).fit(X[mask], y[mask])
        if self.method == "x_learner":
            d1 = y[t == 1] - self.models["mu0"].predict_proba(X[t == 1])[:, 1]
            d0 = self.models["mu1"].predict_proba(X[t == 0])[:, 1] - y[t == 0]
            self.models["tau1"] = LGBMRegressor(**self.lightgbm).fit(X[t == 1], d1)
            self.models["tau0"] = LGBMRegressor(**self.lightgbm).fit(X[t == 0], d0)
        return self

    def uplift(self, frame: pd.DataFrame) -> np.ndarray:
        X = self.encoder.transform(frame)
        m, g = self.models, self.treated_share
        if self.method == "class_transformation":
            return 2 * m["z"].predict_proba(X)[:, 1] - 1
        if self.method == "x_learner":
            return g * m["tau0"].predict(X) + (1 - g) * m["tau1"].predict(X)
        return m["mu1"].predict_proba(X)[:, 1] - m["mu0"].predict_proba(X)[:, 1]

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({self.output: self.uplift(frame)}, index=frame.index)

    def contributions(self, frame: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
        X = self.encoder.transform(frame)
        m, g = self.models, self.treated_share

        def contrib(name):
            return m[name].predict(X, pred_contrib=True)[:, :-1]

        if self.method == "class_transformation":
            values = 2 * contrib("z")
        elif self.method == "x_learner":
            values = g * contrib("tau0") + (1 - g) * contrib("tau1")
        else:
            values = contrib("mu1") - contrib("mu0")
        return top_contributions(values, self.encoder.features, frame, top_k)

    def feature_importance(self) -> pd.Series:
        parts = {"x_learner": ("tau0", "tau1"), "t_learner": ("mu0", "mu1"),
                 "class_transformation": ("z",)}[self.method]
        total = sum(self.models[name].booster_.feature_importance(importance_type="gain")
                    for name in parts)
        return pd.Series(total, index=self.encoder.features).sort_values(ascending=False)
