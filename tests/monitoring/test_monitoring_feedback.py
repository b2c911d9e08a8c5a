"""Campaign feedback on last year's synthetic Holi campaign recovers the generator's lift."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from segflow.errors import SegflowError
from segflow.ingest.synthetic.holi import generate_holi
from segflow.monitoring.config import FeedbackConfig
from segflow.monitoring.feedback_run import labels_path, run_feedback


@pytest.fixture(scope="module")
def holi():
    return generate_holi(20_000, seed=7)  # the generator's default world


@pytest.fixture
def canonical(home, holi):
    for table in ("customers", "campaign_outcomes", "survey_responses"):
        pq.write_table(holi[table], home.canonical_dir / f"{table}.parquet")
    return home


def test_overall_lift_ci_contains_true_average_effect(canonical, holi):
    summary = run_feedback(canonical, "holi_2026", FeedbackConfig())
    true_lift = holi["holi_2026_truth"].column("true_tau").to_numpy().mean()
    overall = summary["overall"]
    assert overall["lift_low"] < true_lift < overall["lift_high"]
    assert overall["lift_high"] - overall["lift_low"] < 0.05  # informative, not vacuous
    n = holi["campaign_outcomes"].num_rows
    assert overall["n_treatment"] + overall["n_holdout"] == n


def test_splits_cover_every_customer_and_write_labels(canonical, holi):
    run_feedback(canonical, "holi_2026", FeedbackConfig(splits=["region", "preferred_language"]))
    out = canonical.home / "feedback" / "holi_2026"
    lift = pd.read_parquet(out / "lift.parquet")
    n = holi["campaign_outcomes"].num_rows
    for split in ("region", "preferred_language"):
        rows = lift[lift["dimension"] == split]
        assert len(rows) > 1 and (rows["n_treatment"] + rows["n_holdout"]).sum() == n
    labels = pd.read_parquet(labels_path(canonical, "holi_2026"))
    assert len(labels) == n and labels["customer_id"].is_unique
    assert set(labels.columns) >= {"customer_id", "event_timestamp", "treated", "converted"}
    assert (out / "feedback.html").read_text().count("<html") == 1
    assert json.loads((out / "feedback.json").read_text())["labels"].endswith("labels.parquet")
    assert (out / "survey.parquet").exists()


def test_cohorts_from_memberships_and_bau_comparison(canonical, holi, tmp_path):
    outcomes = holi["campaign_outcomes"].to_pandas()
    truth = holi["holi_2026_truth"].to_pandas().set_index("customer_id")["true_tau"]
    top = truth.reindex(outcomes["customer_id"]).to_numpy() > np.median(truth)
    members = pd.DataFrame({
        "entity_id": outcomes["customer_id"], "status": "assigned",
        "cohort": np.where(top, "high_tau", "everyone_else"),
        "template": np.where(top, "high_tau", "bau")})
    path = tmp_path / "memberships.parquet"
    members.to_parquet(path)
    summary = run_feedback(canonical, "holi_2026", FeedbackConfig(bau_cohort="bau"),
                           memberships=path)
    bau = pd.DataFrame(summary["bau"]).set_index("cohort")
    # customers picked for a high true effect beat business as usual, and the CI says so
    assert bau.loc["high_tau", "bau_cohort"] == "everyone_else"
    assert bau.loc["high_tau", "lift_vs_bau_low"] > 0


def test_unknown_campaign_names_what_is_there(canonical):
    with pytest.raises(SegflowError, match="present: holi_2026"):
        run_feedback(canonical, "diwali_2025", FeedbackConfig())
