"""Point-in-time training sets: features are as of the campaign start, never later."""

from __future__ import annotations

from segflow.training.config import load_model_config
from segflow.training.datasets import campaign_training_frame, model_features


def _frame(world):
    cfg = load_model_config(world.settings.models_config_dir / "holi_propensity.yaml")
    features = model_features(world.settings, cfg)
    return cfg, features, campaign_training_frame(world.settings, cfg, features).frame


def test_post_start_purchase_is_invisible_and_pre_start_visible(world):
    _, _, frame = _frame(world)
    early, late = world.planted
    spend = frame.set_index("customer_id")["lifetime_spend"]
    assert spend[early] >= world.planted_amount          # the day before the start: counted
    assert spend[late] < world.planted_amount            # the day after the start: invisible


def test_one_row_per_campaign_customer_with_labels_and_truth(world):
    import pandas as pd

    cfg, features, frame = _frame(world)
    outcomes = pd.read_parquet(world.settings.canonical_dir / "campaign_outcomes.parquet")
    assert len(frame) == len(outcomes) and frame["customer_id"].is_unique
    assert (frame["event_timestamp"] == pd.Timestamp(world.campaign_start)).all()
    merged = frame.merge(outcomes, on="customer_id")
    assert (merged["label"] == merged["converted"].astype(int)).all()
    assert (merged["treatment"] == (merged["arm"] == "treatment").astype(int)).all()
    assert set(features) <= set(frame.columns)
    assert not {"true_p0", "true_tau"} & set(features)
    assert frame["true_p0"].notna().all()
