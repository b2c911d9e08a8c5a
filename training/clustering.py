"""Behaviour clusters: K-means on standardised numeric behaviour features, each cluster
described in words from its centroid relative to the population.

Numeric features define the distance (log1p for non-negative heavy-tailed amounts, then
median imputation and standardisation); categorical features (e.g. region_zone) do not
enter the distance but describe the cluster ("west-heavy") when over-represented.
DBSCAN runs on a sample as a diagnostic (dense groups found, noise share): behaviour data
rarely has density gaps, so K-means gives the labels and DBSCAN says how separable they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segflow.training.config import ModelConfig

Z_WORD = 0.3          # |centroid z| below this is "typical", not worth a word
HEAVY_LIFT = 1.3      # a category this over-represented names the cluster ("west-heavy")


class BehaviourSpace:
    """The standardised numeric space clusters live in; fitted on training rows."""

    def __init__(self, frame: pd.DataFrame, numeric: list[str]):
        self.numeric = numeric
        raw = frame[numeric].astype(float)
        self.log = [c for c in numeric if raw[c].min() >= 0 and raw[c].skew() > 2]
        values = self._logged(raw)
        self.median = values.median()
        filled = values.fillna(self.median)
        self.mean, self.std = filled.mean(), filled.std().replace(0, 1.0)

    def _logged(self, raw: pd.DataFrame) -> pd.DataFrame:
        raw = raw.copy()
        raw[self.log] = np.log1p(raw[self.log])
        return raw

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        values = self._logged(frame[self.numeric].astype(float)).fillna(self.median)
        return ((values - self.mean) / self.std).to_numpy()


def split_features(frame: pd.DataFrame, features: list[str]) -> tuple[list[str], list[str]]:
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])
               or pd.api.types.is_bool_dtype(frame[c])]
    return numeric, [c for c in features if c not in numeric]


def describe(centroids: np.ndarray, numeric: list[str], shares: pd.DataFrame | None,
             top: int) -> list[str]:
    """'high monetary 365d, low engagement score, west-heavy' from centroid z-scores and the
    most over-represented category value (lift over its population share)."""
    labels = []
    for i, centre in enumerate(centroids):
        order = np.argsort(-np.abs(centre))[:top]
        words = [f"{'high' if centre[j] > 0 else 'low'} {numeric[j].replace('_', ' ')}"
                 for j in order if abs(centre[j]) >= Z_WORD]
        if shares is not None and i in shares.index:
            best = shares.loc[i].idxmax()
            if shares.loc[i, best] >= HEAVY_LIFT:
                words.append(f"{best}-heavy")
        labels.append(", ".join(words) or "typical")
    return labels


class ClusterEstimator:
    def __init__(self, features: list[str], outputs: list[str], params: dict):
        self.features, self.outputs, self.params = features, outputs, params
        self.labels: list[str] = []

    def fit(self, frame: pd.DataFrame) -> ClusterEstimator:
        from sklearn.cluster import KMeans

        numeric, categorical = split_features(frame, self.features)
        sample = frame.sample(min(len(frame), int(self.params.get("max_rows", 200_000))),
                              random_state=int(self.params.get("seed", 7)))
        self.space = BehaviourSpace(sample, numeric)
        self.kmeans = KMeans(n_clusters=int(self.params.get("k", 6)), n_init=4,
                             random_state=int(self.params.get("seed", 7)))
        assigned = self.kmeans.fit_predict(self.space.transform(sample))
        shares = None
        if categorical:
            col = sample[categorical[0]].astype(str)
            within = pd.crosstab(assigned, col, normalize="index")
            shares = within / col.value_counts(normalize=True)
        self.labels = describe(self.kmeans.cluster_centers_, numeric, shares,
                               int(self.params.get("describe_top", 3)))
        self.profile = self._profile(sample, assigned, numeric)
        return self

    def _profile(self, sample, assigned, numeric) -> pd.DataFrame:
        profile = sample[numeric].astype(float).groupby(assigned).mean()
        profile.insert(0, "size", pd.Series(assigned).value_counts().sort_index().to_numpy())
        profile.insert(0, "label", self.labels)
        return profile.rename_axis("cluster").reset_index()

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        cluster = self.kmeans.predict(self.space.transform(frame))
        return pd.DataFrame({self.outputs[0]: cluster.astype(np.int64),
                             self.outputs[1]: np.asarray(self.labels, dtype=object)[cluster]},
                            index=frame.index)


def fit(cfg: ModelConfig, features: list[str], train: pd.DataFrame) -> ClusterEstimator:
    return ClusterEstimator(features, cfg.outputs, cfg.params).fit(train)


def evaluate(cfg: ModelConfig, test: pd.DataFrame, pred: pd.DataFrame,
             features: list[str]) -> dict:
    """Silhouette in a space fitted on the held-out rows themselves, so the challenger and
    the champion are scored in the same space whatever their own preprocessing."""
    from sklearn.metrics import silhouette_score

    numeric, _ = split_features(test, features)
    sample = test.sample(min(len(test), 5000), random_state=0)
    labels = pred.loc[sample.index, cfg.outputs[0]].to_numpy()
    if len(set(labels)) < 2:
        return {"silhouette": float("nan"), "clusters": float(len(set(labels)))}
    space = BehaviourSpace(sample, numeric).transform(sample)
    return {"silhouette": float(silhouette_score(space, labels, random_state=0)),
            "clusters": float(len(set(labels))), **dbscan_diagnostic(cfg, space)}


def dbscan_diagnostic(cfg: ModelConfig, space: np.ndarray) -> dict:
    spec = cfg.param("dbscan")
    if not spec:
        return {}
    from sklearn.cluster import DBSCAN

    rows = space[: int(spec.get("max_rows", 20_000))]
    found = DBSCAN(eps=float(spec["eps"]), min_samples=int(spec["min_samples"])).fit(rows)
    labels = found.labels_
    return {"dbscan_clusters": float(len(set(labels) - {-1})),
            "dbscan_noise_share": float((labels == -1).mean())}


def report(cfg, estimator: ClusterEstimator, test, pred) -> tuple[dict, dict]:
    from segflow.training import plots

    sizes = pred[cfg.outputs[1]].value_counts()
    return plots.make({"cluster_sizes": lambda: plots.bars(sizes, "Cluster sizes")}), {
        "cluster_profiles": estimator.profile}
