"""The oracle of a synthetic world ranks by the probability each label was drawn from."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segflow.training.supervised import drawn_probability


def test_treated_labels_were_drawn_with_the_effect():
    test = pd.DataFrame({"true_p0": [0.1, 0.1, 0.3], "true_tau": [0.2, 0.2, -0.1],
                         "treatment": [1, 0, 1]})
    assert np.allclose(drawn_probability(test), [0.3, 0.1, 0.2])
    assert np.allclose(drawn_probability(test.drop(columns="true_tau")), [0.1, 0.1, 0.3])
    assert drawn_probability(test.drop(columns="true_p0")) is None
