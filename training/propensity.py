"""Propensity: a LightGBM classifier of converting in the campaign window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segflow.training.encoding import FeatureEncoder
from segflow.training.explain import top_contributions

LGBM_DEFAULTS = {"verbose": -1, "n_jobs": 2, "random_state": 7}


def lgbm_params(params: dict | None) -> dict:
    return {**LGBM_DEFAULTS, **(params or {})}


class PropensityEstimator:
    """Fitted encoder + classifier; predicts the output column and explains it."""

    def __init__(self, features: list[str], output: str, lightgbm: dict | None = None):
        self.encoder = FeatureEncoder(features)
        self.output = output
        self.lightgbm = lgbm_params(lightgbm)
        self.model = None

    def fit(self, frame: pd.DataFrame, y: np.ndarray) -> PropensityEstimator:
        from lightgbm import LGBMClassifier

        X = self.encoder.fit(frame).transform(frame)
        self.model = LGBMClassifier(**self.lightgbm).fit(X, np.asarray(y, dtype=int))
        return self

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        p = self.model.predict_proba(self.encoder.transform(frame))[:, 1]
        return pd.DataFrame({self.output: p}, index=frame.index)

    def contribution_matrix(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """LightGBM pred_contrib (SHAP values in log-odds): one column per feature."""
        contrib = self.model.predict(self.encoder.transform(frame), pred_contrib=True)
        return contrib[:, :-1], list(self.encoder.features)

    def contributions(self, frame: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
        """The top k features of ``contribution_matrix`` per row, with their values."""
        return top_contributions(*self.contribution_matrix(frame), frame, top_k)

    def feature_importance(self) -> pd.Series:
        gain = self.model.booster_.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.encoder.features).sort_values(ascending=False)
