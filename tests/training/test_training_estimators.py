"""Estimators on small planted data: each finds what was planted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from training.anomaly import AnomalyEstimator
from training.clustering import ClusterEstimator
from training.notes import NotesEstimator
from training.uplift import UpliftEstimator

LGBM = {"n_estimators": 60, "num_leaves": 4, "min_child_samples": 40, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def effect_data():
    """Treatment helps only where g == 1 (+0.3); 70% treated, like holi_2026."""
    rng = np.random.default_rng(3)
    n = 6000
    frame = pd.DataFrame({"g": rng.integers(0, 2, n), "noise": rng.normal(size=n),
                          "zone": rng.choice(["north", "south"], n)})
    t = (rng.uniform(size=n) < 0.7).astype(int)
    y = (rng.uniform(size=n) < 0.2 + 0.3 * frame["g"] * t).astype(int)
    return frame, y, t


@pytest.mark.parametrize("method", ["t_learner", "x_learner", "class_transformation"])
def test_uplift_learners_find_the_planted_effect(effect_data, method):
    frame, y, t = effect_data
    model = UpliftEstimator(["g", "noise", "zone"], "u", method, LGBM).fit(frame, y, t)
    u = model.uplift(frame)
    gap = u[frame["g"] == 1].mean() - u[frame["g"] == 0].mean()
    assert gap == pytest.approx(0.3, abs=0.1)
    why = model.contributions(frame.head(20), top_k=1)
    assert (why["reason_1_feature"] == "g").mean() > 0.5


def test_clusters_are_described_from_their_centroids():
    rng = np.random.default_rng(1)
    big = pd.DataFrame({"spend": rng.normal(5000, 300, 300), "visits": rng.normal(2, 0.3, 300),
                        "region_zone": "west"})
    small = pd.DataFrame({"spend": rng.normal(500, 50, 300), "visits": rng.normal(9, 0.5, 300),
                          "region_zone": rng.choice(["north", "south"], 300)})
    frame = pd.concat([big, small], ignore_index=True)
    model = ClusterEstimator(["spend", "visits", "region_zone"], ["c", "label"],
                             {"k": 2, "describe_top": 2}).fit(frame)
    out = model.predict_frame(frame)
    assert out["c"].iloc[:300].nunique() == 1 and out["c"].iloc[0] != out["c"].iloc[-1]
    assert out["label"].iloc[0] == "high spend, low visits, west-heavy"
    assert out["label"].iloc[-1].startswith("low spend, high visits")


def test_anomaly_is_relative_to_peers_and_says_why():
    rng = np.random.default_rng(2)
    n = 1000
    frame = pd.DataFrame({"zone": np.repeat(["rich", "poor"], n // 2),
                          "spend": np.r_[rng.normal(10000, 500, n // 2),
                                         rng.normal(1000, 50, n // 2)],
                          "refunds": rng.poisson(1, n).astype(float)})
    frame.loc[n - 1, "spend"] = 10000.0     # ordinary among the rich, extreme among the poor
    model = AnomalyEstimator(["zone", "spend", "refunds"], ["score", "flag", "why"],
                             {"peer_group": "zone", "contamination": 0.01}).fit(frame)
    out = model.predict_frame(frame)
    assert out.loc[n - 1, "flag"]
    assert out.loc[n - 1, "why"].startswith("spend high for peers")
    assert out["flag"].mean() < 0.05
    assert out.loc[~out["flag"], "why"].isna().all()


def test_notes_classifier_learns_topics():
    texts = {"pricing_complaint": "the price increase is too expensive for our budget",
             "churn_risk": "they are evaluating a competitor and may cancel the contract",
             "expansion_interest": "they want more seats and a new product line next quarter"}
    rows = [(f"{text} note {i}", topic) for topic, text in texts.items() for i in range(20)]
    frame = pd.DataFrame(rows, columns=["text", "label"])
    model = NotesEstimator("topic", {"C": 4.0}).fit(frame["text"], frame["label"])
    probe = pd.DataFrame({"text": ["too expensive price", "may cancel for a competitor"]})
    assert model.predict_frame(probe)["topic"].tolist() == ["pricing_complaint", "churn_risk"]


def test_hillstrom_command_skips_clearly_without_data(monkeypatch, tmp_path):
    import training.hillstrom as hillstrom
    from segflow.cli import app

    monkeypatch.setattr(hillstrom, "DATA_PATH", tmp_path / "absent.csv")
    result = CliRunner().invoke(app, ["evaluate", "uplift-hillstrom", "--seeds", "0"])
    assert result.exit_code == 0 and "skipped: Hillstrom data not found" in result.output
