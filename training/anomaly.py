"""Anomaly flags: entities unusual compared with their peers.

One isolation forest per peer group (e.g. region_zone), because "unusual" is relative: a
spend that is ordinary among diaspora customers can be extreme in the northeast. The
reasons are the features furthest from the peer median in robust z-scores (median and
MAD of the peer group), which a reviewer can check by eye.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.config import ModelConfig
from training.explain import top_contributions

ALL = "__all__"


def robust_z(values: pd.DataFrame, groups: pd.Series, median=None, mad=None) -> np.ndarray:
    """(x - peer median) / (1.4826 * peer MAD), MAD floored so constant features stay 0."""
    if median is None:
        median = values.groupby(groups).median()
        mad = (values - median.reindex(groups).to_numpy()).abs().groupby(groups).median()
    med = median.reindex(groups).to_numpy()
    scale = 1.4826 * mad.reindex(groups).to_numpy()
    scale = np.where(np.isnan(scale) | (scale < 1e-9), 1.0, scale)
    return np.nan_to_num((values.to_numpy() - med) / scale)


class AnomalyEstimator:
    def __init__(self, features: list[str], outputs: list[str], params: dict):
        self.group_col = params.get("peer_group")
        self.numeric = [f for f in features if f != self.group_col]
        self.outputs, self.params = outputs, params
        self.forests: dict = {}

    def _groups(self, frame: pd.DataFrame) -> pd.Series:
        if not self.group_col:
            return pd.Series(ALL, index=frame.index)
        known = frame[self.group_col].astype(str)
        return known.where(known.isin(self.forests), ALL)

    def fit(self, frame: pd.DataFrame) -> AnomalyEstimator:
        from sklearn.ensemble import IsolationForest

        seed = int(self.params.get("seed", 7))
        frame = frame.sample(min(len(frame), int(self.params.get("max_rows", 200_000))),
                             random_state=seed)
        values = frame[self.numeric].astype(float)
        self.fill = values.median()
        values = values.fillna(self.fill)
        raw = frame[self.group_col].astype(str) if self.group_col else pd.Series(
            ALL, index=frame.index)
        self.thresholds = {}
        for group, rows in [(ALL, values), *values.groupby(raw)]:
            forest = IsolationForest(n_estimators=int(self.params.get("n_estimators", 100)),
                                     random_state=seed).fit(rows.to_numpy())
            self.forests[group] = forest
            scores = -forest.score_samples(rows.to_numpy())
            self.thresholds[group] = float(np.quantile(
                scores, 1 - float(self.params.get("contamination", 0.01))))
        groups = self._groups(frame)
        self.median = values.groupby(groups).median()
        self.mad = (values - self.median.reindex(groups).to_numpy()).abs().groupby(groups).median()
        return self

    def _z(self, frame: pd.DataFrame) -> np.ndarray:
        values = frame[self.numeric].astype(float).fillna(self.fill)
        return robust_z(values, self._groups(frame), self.median, self.mad)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        values = frame[self.numeric].astype(float).fillna(self.fill).to_numpy()
        groups = self._groups(frame).to_numpy()
        score = np.zeros(len(frame))
        flag = np.zeros(len(frame), dtype=bool)
        for group in np.unique(groups):
            rows = groups == group
            score[rows] = -self.forests[group].score_samples(values[rows])
            flag[rows] = score[rows] >= self.thresholds[group]
        out = pd.DataFrame({self.outputs[0]: score, self.outputs[1]: flag}, index=frame.index)
        if len(self.outputs) > 2:
            out[self.outputs[2]] = self._reasons(frame, flag)
        return out

    def _reasons(self, frame: pd.DataFrame, flag: np.ndarray) -> np.ndarray:
        top = self.contributions(frame, int(self.params.get("top_reasons", 2)))
        k = int(self.params.get("top_reasons", 2))
        text = pd.Series("", index=frame.index, dtype=object)
        for i in range(1, k + 1):
            z = top[f"reason_{i}_contribution"]
            part = (top[f"reason_{i}_feature"] + np.where(z > 0, " high", " low") + " for peers"
                    + " (z=" + z.round(1).astype(str) + ")")
            text = text.where(text == "", text + "; ") + part
        return np.where(flag, text.to_numpy(), None)

    def contributions(self, frame: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
        """Robust z-scores against the peer group as the per-feature 'contribution'."""
        return top_contributions(self._z(frame), self.numeric, frame, top_k)


def fit(cfg: ModelConfig, features: list[str], train: pd.DataFrame) -> AnomalyEstimator:
    return AnomalyEstimator(features, cfg.outputs, cfg.params).fit(train)


def evaluate(cfg: ModelConfig, test: pd.DataFrame, pred: pd.DataFrame,
             features: list[str]) -> dict:
    """flagged_separation: how much further from their peers the flagged rows are than the
    rest (mean of the largest |robust z|, peers measured on the held-out rows)."""
    group_col = cfg.param("peer_group")
    numeric = [f for f in features if f != group_col]
    values = test[numeric].astype(float)
    values = values.fillna(values.median())
    groups = test[group_col].astype(str) if group_col else pd.Series(ALL, index=test.index)
    worst = np.abs(robust_z(values, groups)).max(axis=1)
    flag = pred[cfg.outputs[1]].to_numpy(dtype=bool)
    if not flag.any() or flag.all():
        return {"flagged_separation": float("nan"), "flag_rate": float(flag.mean())}
    return {"flagged_separation": float(np.log1p(worst[flag]).mean()
                                        - np.log1p(worst[~flag]).mean()),
            "flag_rate": float(flag.mean())}


def report(cfg, estimator, test, pred) -> tuple[dict, dict]:
    flagged = pred[pred[cfg.outputs[1]]]
    if len(cfg.outputs) < 3 or flagged.empty:
        return {}, {}
    reasons = flagged[cfg.outputs[2]].str.split(" ").str[0].value_counts()
    return {}, {"flag_reasons": reasons.rename_axis("feature").reset_index(name="count")}
