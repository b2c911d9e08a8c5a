"""Per-row explanations: the top-k features by absolute contribution, vectorised."""

from __future__ import annotations

import numpy as np
import pandas as pd


def top_order(contrib: np.ndarray, top_k: int) -> np.ndarray:
    """Per row, the column indices of the ``top_k`` largest absolute contributions (largest
    first; ties in feature order, so a run's stored reasons are reproducible)."""
    return np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top_k]


def top_contribution_columns(contrib: np.ndarray, features: list[str],
                             top_k: int) -> dict[str, np.ndarray]:
    """reason_<i>_feature and reason_<i>_contribution for i = 1..top_k, without the values
    (a run stores these beside its features, which hold the values already)."""
    contrib = np.asarray(contrib, dtype=float)
    order = top_order(contrib, min(top_k, len(features)))
    rows = np.arange(contrib.shape[0])[:, None]
    names = np.asarray(features, dtype=object)[order]
    out = {}
    for i in range(order.shape[1]):
        out[f"reason_{i + 1}_feature"] = names[:, i]
        out[f"reason_{i + 1}_contribution"] = contrib[rows[:, 0], order[:, i]]
    return out


def top_contributions(contrib: np.ndarray, features: list[str], frame: pd.DataFrame,
                      top_k: int = 3) -> pd.DataFrame:
    """Wide frame aligned with ``frame``: reason_<i>_feature, reason_<i>_value (as text) and
    reason_<i>_contribution for i = 1..top_k, largest absolute contribution first.

    ``contrib`` has one column per feature (a bias column, if any, already removed)."""
    contrib = np.asarray(contrib, dtype=float)
    order = top_order(contrib, min(top_k, len(features)))
    rows = np.arange(len(frame))[:, None]
    values = frame[features].astype("string").fillna("null").to_numpy(dtype=object)[rows, order]
    columns = top_contribution_columns(contrib, features, top_k)
    out = {}
    for i in range(order.shape[1]):
        out[f"reason_{i + 1}_feature"] = columns[f"reason_{i + 1}_feature"]
        out[f"reason_{i + 1}_value"] = values[:, i]
        out[f"reason_{i + 1}_contribution"] = columns[f"reason_{i + 1}_contribution"]
    return pd.DataFrame(out, index=frame.index)
