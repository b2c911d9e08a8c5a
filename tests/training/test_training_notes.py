"""The account notes classifier trained from the B2B world, tracked like every model."""

from __future__ import annotations

import pyarrow.parquet as pq

from training.champion import load_champions
from training.train import train_models


def test_notes_topics_trained_reported_per_topic_and_served(home):
    from ingest.synthetic.accounts import generate_accounts

    world = generate_accounts(400, seed=5)
    home.truth_dir.mkdir(parents=True, exist_ok=True)
    for name in ("accounts", "account_notes"):
        pq.write_table(world[name], home.canonical_dir / f"{name}.parquet")
    pq.write_table(world["account_notes_truth"], home.truth_dir / "account_notes_truth.parquet")

    [result] = train_models(home, "q2_tiers", ["account_notes_topics"])
    topics = set(world["account_notes_truth"]["topic"].to_pylist())
    assert {f"precision.{t}" for t in topics} | {f"recall.{t}" for t in topics} <= set(
        result.metrics)
    assert result.metrics["macro_f1"] > 0.5 and result.decision.promote

    [champion] = load_champions(home, "account")
    notes = world["account_notes"].to_pandas().head(30)
    out = champion.predict(notes)
    assert list(out.columns) == ["notes_topic"] and out["notes_topic"].isin(topics).all()


def test_customer_models_are_skipped_in_a_workspace_without_customers(home):
    results = train_models(home, "q2_tiers", ["holi_propensity"])
    assert results[0].status == "skipped" and "customers" in results[0].note
