"""Uplift metrics against values worked out by hand (scikit-uplift's definitions).

Customers in score order: (y, t) = (1, 1), (0, 1), (1, 0), (0, 0).
Qini curve  y_t(n) - y_c(n) n_t(n)/n_c(n): 0, 1, 1, -1, 0 -> area 1.
Perfect Qini (sorted by y*t - y*(1-t)): points (0,0) (1,1) (3,1) (4,0) -> area 3.
Uplift curve (r_t - r_c) n: 0, 1, 1, -1.5, 0 -> area 0.5; perfect uplift curve area 4.5.
The random baselines end at 0 here, so the normalised scores are 1/3 and 1/9.
"""

from __future__ import annotations

import numpy as np
import pytest

from segflow.training.uplift_metrics import (
    qini_auc_score,
    qini_curve,
    uplift_at_k,
    uplift_auc_score,
)

Y = np.array([1, 0, 1, 0])
T = np.array([1, 1, 0, 0])
U = np.array([0.4, 0.3, 0.2, 0.1])


def test_qini_curve_points():
    x, q = qini_curve(Y, U, T)
    assert x.tolist() == [0, 1, 2, 3, 4]
    assert q.tolist() == [0, 1, 1, -1, 0]


def test_normalised_qini_and_auuc():
    assert qini_auc_score(Y, U, T) == pytest.approx(1 / 3)
    assert uplift_auc_score(Y, U, T) == pytest.approx(1 / 9)


def test_tied_scores_are_one_threshold():
    # the first two customers tie: the curve jumps from (0, 0) to (2, 1), area 2 -> 2/3
    tied = np.array([0.4, 0.4, 0.1, 0.1])
    assert qini_curve(Y, tied, T)[0].tolist() == [0, 2, 4]
    assert qini_auc_score(Y, tied, T) == pytest.approx(2 / 3)


def test_uplift_at_k_overall_and_by_group():
    # top 3 overall: treated responses 1, 0 -> 0.5; control response 1 -> 1.0
    assert uplift_at_k(Y, U, T, "overall", k=3) == pytest.approx(-0.5)
    # top half of each arm: treated (1) minus control (1)
    assert uplift_at_k(Y, U, T, "by_group", k=0.5) == pytest.approx(0.0)


def test_perfect_ranking_beats_reversed_ranking():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, 2000)
    tau = rng.uniform(0, 0.4, 2000)
    y = (rng.uniform(size=2000) < 0.2 + tau * t).astype(int)
    assert qini_auc_score(y, tau, t) > 0 > qini_auc_score(y, -tau, t)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="binary"):
        qini_auc_score([0, 2], [0.1, 0.2], [0, 1])
    with pytest.raises(ValueError, match="strategy"):
        uplift_at_k(Y, U, T, "top")
    with pytest.raises(ValueError, match="k="):
        uplift_at_k(Y, U, T, "overall", k=1.5)
