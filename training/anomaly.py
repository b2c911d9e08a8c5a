"""Anomaly flags: entities unusual compared with their peers.

One isolation forest per peer group, because "unusual" is relative: a spend that is
ordinary among diaspora customers can be extreme in the northeast, a margin normal for a
small retailer is odd for a large bank. Peers are the rows sharing the ``peer_group``
columns (one or several, e.g. region_zone, or industry) and, with ``bands``, the same band
of a numeric column: ``count`` quantile bands learnt at fit (e.g. last year's revenue in
three) or fixed ``edges`` (e.g. tenure below two years, whose growth is not comparable).
Band columns only place a row among its peers; they are not scored.

Two scores: ``isolation_forest`` (one forest per peer group) or ``peer_z``, the largest
robust z-score of any feature against the peer group (transparent: the score *is* the
first reason). ``log_features`` are compared as log(1 + x) (growth rates, skewed counts).
The reasons are the features furthest from the peer median in robust z-scores (median and
MAD of the peer group), said in words with the value and the peers' typical value, which a
reviewer can check by eye.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segflow.training.config import ModelConfig
from segflow.training.explain import top_contributions

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


def peer_columns(params: dict) -> list[str]:
    """The peer_group setting as a list of columns (one name or a list)."""
    group = params.get("peer_group") or []
    return [group] if isinstance(group, str) else list(group)


class AnomalyEstimator:
    def __init__(self, features: list[str], outputs: list[str], params: dict):
        self.group_cols = peer_columns(params)
        self.bands = list(params.get("bands") or [])
        banded = {b["column"] for b in self.bands}
        self.numeric = [f for f in features if f not in self.group_cols and f not in banded]
        self.logged = set(params.get("log_features") or [])
        self.method = params.get("score", "isolation_forest")
        self.outputs, self.params = outputs, params
        self.band_edges: list[np.ndarray] = []
        self.forests: dict = {}

    def _peer_key(self, frame: pd.DataFrame) -> pd.Series:
        """Each row's peer group in words: 'industry=retail, size band 2 of 3'."""
        parts = [col + "=" + frame[col].astype(str) for col in self.group_cols]
        for spec, edges in zip(self.bands, self.band_edges, strict=True):
            value = frame[spec["column"]].astype(float).to_numpy()
            band = np.searchsorted(edges, np.nan_to_num(value, nan=0.0), side="right") + 1
            parts.append(pd.Series([f"{spec['column']} band {b} of {len(edges) + 1}"
                                    for b in band], index=frame.index))
        if not parts:
            return pd.Series(ALL, index=frame.index)
        key = parts[0]
        for part in parts[1:]:
            key = key + ", " + part
        return key

    def _groups(self, frame: pd.DataFrame) -> pd.Series:
        known = self._peer_key(frame)
        return known.where(known.isin(self.forests), ALL)

    def fit(self, frame: pd.DataFrame) -> AnomalyEstimator:
        from sklearn.ensemble import IsolationForest

        seed = int(self.params.get("seed", 7))
        frame = frame.sample(min(len(frame), int(self.params.get("max_rows", 200_000))),
                             random_state=seed)
        values = self._values(frame)
        self.fill = values.median()
        values = values.fillna(self.fill)
        for spec in self.bands:
            if "edges" in spec:
                self.band_edges.append(np.asarray(spec["edges"], dtype=float))
            else:
                count = int(spec.get("count", 3))
                self.band_edges.append(np.nanquantile(frame[spec["column"]].astype(float),
                                                      np.arange(1, count) / count))
        raw = self._peer_key(frame)
        self.thresholds = {}
        small = int(self.params.get("min_peers", 30))
        groups = [(g, rows) for g, rows in values.groupby(raw) if len(rows) >= small]
        for group, rows in [(ALL, values), *groups]:
            forest = IsolationForest(n_estimators=int(self.params.get("n_estimators", 100)),
                                     random_state=seed).fit(rows.to_numpy())
            self.forests[group] = forest
            scores = -forest.score_samples(rows.to_numpy())
            self.thresholds[group] = float(np.quantile(
                scores, 1 - float(self.params.get("contamination", 0.01))))
        groups = self._groups(frame)
        self.median = values.groupby(groups).median()
        self.mad = (values - self.median.reindex(groups).to_numpy()).abs().groupby(groups).median()
        if self.method == "peer_z":
            self.z_threshold = float(np.quantile(self._peer_z(frame), 1 - float(
                self.params.get("contamination", 0.01))))
        return self

    def _values(self, frame: pd.DataFrame) -> pd.DataFrame:
        values = frame[self.numeric].astype(float)
        for col in self.logged:
            values[col] = np.log1p(values[col].clip(lower=-0.99))
        return values

    def _peer_z(self, frame: pd.DataFrame) -> np.ndarray:
        return np.abs(self._z(frame)).max(axis=1)

    def _z(self, frame: pd.DataFrame) -> np.ndarray:
        values = self._values(frame).fillna(self.fill)
        return robust_z(values, self._groups(frame), self.median, self.mad)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        values = self._values(frame).fillna(self.fill).to_numpy()
        groups = self._groups(frame).to_numpy()
        score = np.zeros(len(frame))
        flag = np.zeros(len(frame), dtype=bool)
        if self.method == "peer_z":
            score = self._peer_z(frame)
            flag = score >= self.z_threshold
            groups = np.array([])
        for group in np.unique(groups):
            rows = groups == group
            score[rows] = -self.forests[group].score_samples(values[rows])
            flag[rows] = score[rows] >= self.thresholds[group]
        out = pd.DataFrame({self.outputs[0]: score, self.outputs[1]: flag}, index=frame.index)
        if len(self.outputs) > 2:
            out[self.outputs[2]] = self._reasons(frame, flag)
        return out

    def _reasons(self, frame: pd.DataFrame, flag: np.ndarray) -> np.ndarray:
        """For flagged rows, e.g. 'margin_pct 0.12, typical for peers (industry=retail,
        size band 2 of 3) 0.46: far lower (z=-6.1)'; None for the others."""
        k = int(self.params.get("top_reasons", 2))
        top = self.contributions(frame, k)
        groups = self._groups(frame)
        typical = self.median.reindex(groups)
        peers = groups.where(groups != ALL, "all rows")
        text = pd.Series("", index=frame.index, dtype=object)
        for i in range(1, k + 1):
            feature, z = top[f"reason_{i}_feature"], top[f"reason_{i}_contribution"]
            median = typical.to_numpy()[np.arange(len(frame)),
                                        [self.numeric.index(f) for f in feature]]
            logged = feature.isin(self.logged).to_numpy()  # back from log1p, only where
            median = np.where(logged, np.expm1(np.where(logged, median, 0.0)), median)
            words = np.where(np.abs(z) >= 6, "far ", "") + np.where(z > 0, "higher", "lower")
            value = pd.to_numeric(top[f"reason_{i}_value"], errors="coerce").map(_short)
            part = (feature + " " + value + ", typical for peers ("
                    + peers + ") " + pd.Series(median, index=frame.index).map(_short) + ": "
                    + words + " (z=" + z.round(1).astype(str) + ")")
            text = text.where(text == "", text + "; ") + part
        return np.where(flag, text.to_numpy(), None)

    def contribution_matrix(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """Robust z-scores against the peer group as the per-feature 'contribution'."""
        return self._z(frame), list(self.numeric)

    def contributions(self, frame: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
        """The top k features of ``contribution_matrix`` per row, with their values."""
        return top_contributions(*self.contribution_matrix(frame), frame, top_k)


def _short(value: float) -> str:
    """A typical value for reading, not for computing: 3 significant digits."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def fit(cfg: ModelConfig, features: list[str], train: pd.DataFrame) -> AnomalyEstimator:
    return AnomalyEstimator(features, cfg.outputs, cfg.params).fit(train)


def evaluate(cfg: ModelConfig, test: pd.DataFrame, pred: pd.DataFrame,
             features: list[str]) -> dict:
    """flagged_separation: how much further from their peers the flagged rows are than the
    rest (mean of the largest |robust z|, peers measured on the held-out rows). On a world
    with planted anomalies (``true_anomaly``), also precision and recall against them."""
    cols = peer_columns(cfg.params)
    numeric = [f for f in features if f not in cols]
    values = test[numeric].astype(float)
    values = values.fillna(values.median())
    groups = (test[cols].astype(str).agg(", ".join, axis=1) if cols
              else pd.Series(ALL, index=test.index))
    worst = np.abs(robust_z(values, groups)).max(axis=1)
    flag = pred[cfg.outputs[1]].to_numpy(dtype=bool)
    result = {"flag_rate": float(flag.mean())}
    if "true_anomaly" in test:
        planted = test["true_anomaly"].notna().to_numpy()
        hits = int((flag & planted).sum())
        result.update({"planted": float(planted.sum()),
                       "precision_planted": hits / flag.sum() if flag.any() else float("nan"),
                       "recall_planted": hits / planted.sum() if planted.any()
                       else float("nan")})
    if not flag.any() or flag.all():
        return {"flagged_separation": float("nan"), **result}
    return {"flagged_separation": float(np.log1p(worst[flag]).mean()
                                        - np.log1p(worst[~flag]).mean()), **result}


def report(cfg, estimator, test, pred) -> tuple[dict, dict]:
    flagged = pred[pred[cfg.outputs[1]]]
    if len(cfg.outputs) < 3 or flagged.empty:
        return {}, {}
    reasons = flagged[cfg.outputs[2]].str.split(" ").str[0].value_counts()
    return {}, {"flag_reasons": reasons.rename_axis("feature").reset_index(name="count")}
