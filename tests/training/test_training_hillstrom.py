"""The Hillstrom figures stay where docs/models.md says: a 3-seed run of the learner chosen on
seeds 100..109 (the S-learner at 100 trees, best on Womens, both metrics) and of the
S-learner whose settings the Holi campaign ships, on the peers' protocol (Womens E-Mail vs
No E-Mail, outcome visit), must keep its mean above a floor set from the 10-seed figures of
`segflow models evaluate --dataset hillstrom` over seeds 0..9 (same settings). The floor is
the 10-seed mean less two standard errors of a 3-seed mean (2 sd / sqrt 3). The module's cost:
16 s at load 10 on the shared 2-core VM (6 fits of 100-300 trees, one thread each)"""

from __future__ import annotations

import math

import pytest

from segflow.settings import get_settings
from segflow.training import hillstrom

TEN_SEEDS = {  # learner -> metric -> (mean, sd) over seeds 0..9
    "s_learner_100_trees": {"uplift_at_30": (0.0791, 0.0069), "qini_auc": (0.0635, 0.0088)},
    "s_learner": {"uplift_at_30": (0.0772, 0.0053), "qini_auc": (0.0593, 0.0066)}}


@pytest.fixture(scope="module")
def three_seeds():
    path = hillstrom.data_path(get_settings())
    if not path.exists():
        pytest.skip(f"Hillstrom data not found at {path}")
    setup = hillstrom.load_setup()
    setup = {**setup, "learners": {k: setup["learners"][k] for k in TEN_SEEDS}, "peers": {}}
    return hillstrom.evaluate(hillstrom.read_hillstrom(path), setup, "womens", "visit",
                              [0, 1, 2])


@pytest.mark.parametrize("learner,metric", [(learner, metric) for learner in TEN_SEEDS
                                            for metric in TEN_SEEDS[learner]])
def test_learners_stay_above_the_floor_set_from_ten_seeds(three_seeds, learner, metric):
    mean, sd = TEN_SEEDS[learner][metric]
    floor = mean - 2 * sd / math.sqrt(3)
    rows = three_seeds[three_seeds["learner"] == learner]
    assert len(rows) == 3 and rows[metric].mean() >= floor


def test_the_evaluation_pairs_learners_on_the_same_splits():
    """The summary's paired difference is per seed against the learner with the best mean."""
    import pandas as pd

    per_seed = pd.DataFrame({
        "learner": ["a", "b"] * 3, "seed": [0, 0, 1, 1, 2, 2], "peer": [False, True] * 3,
        "uplift_at_30": [0.10, 0.08, 0.06, 0.05, 0.08, 0.05],
        "qini_auc": [0.01, 0.02, 0.01, 0.03, 0.01, 0.04]})
    summary = hillstrom.summarise(per_seed).set_index("learner")
    assert summary.loc["b", "uplift_at_30_vs_best"] == pytest.approx(-0.02)
    assert summary.loc["b", "uplift_at_30_vs_best_sd"] == pytest.approx(0.01)
    assert summary.loc["a", "qini_auc_vs_best"] == pytest.approx(-0.02)
    assert summary.loc["a", "uplift_at_30_vs_best"] == 0 and bool(summary.loc["b", "peer"])


def test_the_evaluation_can_run_a_few_learners():
    """--learner keeps the named learners and peers only; an unknown name is one clear line."""
    from segflow.errors import SegflowError

    setup = hillstrom.load_setup()
    few = hillstrom.only_learners(setup, ["x_learner", "sklift_two_models"])
    assert list(few["learners"]) == ["x_learner"] and list(few["peers"]) == ["sklift_two_models"]
    assert hillstrom.only_learners(setup, []) is setup
    with pytest.raises(SegflowError, match="--learner 'nope': use one of s_learner"):
        hillstrom.only_learners(setup, ["nope"])
