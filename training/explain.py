"""Per-row explanations: the top-k features by absolute contribution, vectorised."""

from __future__ import annotations

import numpy as np
import pandas as pd


def top_contributions(contrib: np.ndarray, features: list[str], frame: pd.DataFrame,
                      top_k: int = 3) -> pd.DataFrame:
    """Wide frame aligned with ``frame``: reason_<i>_feature, reason_<i>_value (as text) and
    reason_<i>_contribution for i = 1..top_k, largest absolute contribution first.

    ``contrib`` has one column per feature (a bias column, if any, already removed)."""
    contrib = np.asarray(contrib, dtype=float)
    top_k = min(top_k, len(features))
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top_k]
    rows = np.arange(len(frame))[:, None]
    names = np.asarray(features, dtype=object)[order]
    values = frame[features].astype("string").fillna("null").to_numpy(dtype=object)[rows, order]
    out = {}
    for i in range(top_k):
        out[f"reason_{i + 1}_feature"] = names[:, i]
        out[f"reason_{i + 1}_value"] = values[:, i]
        out[f"reason_{i + 1}_contribution"] = contrib[rows[:, 0], order[:, i]]
    return pd.DataFrame(out, index=frame.index)
