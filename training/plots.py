"""Diagnostic plots logged with each run; skipped (and said so) without matplotlib."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _figure(title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.set_title(title)
    return fig, ax


def feature_importance(importance: pd.Series, top: int = 20):
    fig, ax = _figure("Feature importance (gain)")
    shown = importance.head(top)[::-1]
    ax.barh(shown.index, shown.to_numpy())
    fig.tight_layout()
    return fig


def calibration(table: pd.DataFrame):
    fig, ax = _figure("Calibration (held-out, deciles of prediction)")
    ax.plot(table["mean_predicted"], table["observed_rate"], "o-", label="model")
    top = float(max(table["mean_predicted"].max(), table["observed_rate"].max()))
    ax.plot([0, top], [0, top], "--", color="grey", label="perfect")
    ax.set_xlabel("mean predicted")
    ax.set_ylabel("observed rate")
    ax.legend()
    return fig


def qini(curves: dict[str, tuple[np.ndarray, np.ndarray]]):
    """Qini curves (model, perfect, oracle...) with the random diagonal."""
    fig, ax = _figure("Qini curve (held-out)")
    for label, (x, y) in curves.items():
        ax.plot(x, y, label=label)
    x_end, y_end = next(iter(curves.values()))[0][-1], next(iter(curves.values()))[1][-1]
    ax.plot([0, x_end], [0, y_end], "--", color="grey", label="random")
    ax.set_xlabel("customers targeted")
    ax.set_ylabel("incremental responders")
    ax.legend()
    return fig


def bars(values: pd.Series, title: str):
    fig, ax = _figure(title)
    ax.bar([str(i) for i in values.index], values.to_numpy())
    fig.tight_layout()
    return fig


def make(builders: dict) -> dict:
    """Build figures from {name: zero-argument builder}; empty when matplotlib is absent."""
    if not HAVE_MATPLOTLIB:
        return {}
    return {name: build() for name, build in builders.items()}
