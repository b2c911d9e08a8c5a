"""`segflow feedback` on Spark gives what DuckDB gives: on last year's synthetic Holi
campaign (2,000 customers), with cohorts from a run's memberships folder partitioned by
cohort (as a Spark run writes it), two splits, a business-as-usual list and the survey
answers, every table feedback writes and the labels the next training reads are the same on
both engines."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from segflow.ingest.synthetic.holi import generate_holi
from segflow.monitoring.config import FeedbackConfig
from segflow.monitoring.feedback_run import feedback_dir, labels_path, run_feedback
from segflow.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CAMPAIGN = "holi_2026"
TABLES = ("lift", "funnel", "arm_totals", "survey", "survey_choices", "comparisons",
          "heterogeneity", "bau_comparison")


@pytest.fixture(scope="module")
def both(tmp_path_factory, spark_project):
    """(DuckDB settings, Spark settings, the list of business as usual): one workspace
    each over the same canonical tables and the same memberships folder."""
    root = tmp_path_factory.mktemp("spark_feedback")
    world = generate_holi(2_000, seed=7)
    duck = Settings(home=root / "duck").ensure()
    for table in ("customers", "campaign_outcomes", "survey_responses"):
        pq.write_table(world[table], duck.canonical_dir / f"{table}.parquet")
    outcomes = world["campaign_outcomes"].to_pandas()
    truth = world["holi_2026_truth"].to_pandas().set_index("customer_id")["true_tau"]
    top = truth.reindex(outcomes["customer_id"]).to_numpy() > np.median(truth)
    members = pd.DataFrame({
        "entity_id": outcomes["customer_id"],
        "status": np.where(np.arange(len(outcomes)) % 10 == 0, "suppressed", "assigned"),
        "cohort": np.where(top, "high_tau", "everyone_else"),
        "template": np.where(top, "high_tau", "bau")})
    folder = root / "memberships.parquet"
    for cohort, rows in members.groupby("cohort"):  # a Spark run's layout: cohort=<name>/
        (folder / f"cohort={cohort}").mkdir(parents=True)
        rows.drop(columns="cohort").to_parquet(folder / f"cohort={cohort}" / "part-0.parquet",
                                               index=False)
    listed = root / "bau.csv"
    outcomes[["customer_id"]].iloc[::3].to_csv(listed, index=False)
    shutil.copytree(duck.home, root / "spark")
    spark = Settings(home=root / "spark", project=spark_project)
    return duck, spark, folder, listed


def _read(path):
    return pd.read_parquet(path).reset_index(drop=True)


def _same(left: pd.DataFrame, right: pd.DataFrame, name: str) -> None:
    """Equal tables whatever the row order: the same columns, rows sorted on every column
    that is not a float, floats within 1e-9."""
    assert list(right.columns) == list(left.columns), name
    keys = [c for c in left.columns if left[c].dtype.kind not in "fc"]
    left, right = (t.sort_values(keys, kind="stable").reset_index(drop=True)
                   for t in (left, right))
    pd.testing.assert_frame_equal(left, right, check_dtype=False, rtol=1e-9, atol=1e-12,
                                  obj=name)


def test_feedback_on_spark_writes_what_duckdb_writes(both):
    duck, spark, folder, _ = both
    config = FeedbackConfig(splits=["region", "preferred_language"], bau_cohort="bau")
    summaries = [run_feedback(s, CAMPAIGN, config, memberships=folder) for s in (duck, spark)]
    on_duck, on_spark = (feedback_dir(s, CAMPAIGN) for s in (duck, spark))
    # every part has content, so the equalities below compare something
    lift = _read(on_duck / "lift.parquet")
    assert set(lift["dimension"]) == {"all", "cohort", "region", "preferred_language"}
    assert set(lift[lift["dimension"] == "cohort"]["group"]) == {
        "high_tau", "everyone_else", "(suppressed)"}
    assert len(_read(on_duck / "survey_choices.parquet")) > 0
    assert len(_read(on_duck / "bau_comparison.parquet")) > 0
    for table in TABLES:
        _same(_read(on_duck / f"{table}.parquet"), _read(on_spark / f"{table}.parquet"),
              table)
    assert labels_path(spark, CAMPAIGN).is_dir()  # written by the executors
    _same(_read(labels_path(duck, CAMPAIGN)), _read(labels_path(spark, CAMPAIGN)), "labels")
    duck_said, spark_said = summaries
    assert spark_said["decisions"] == duck_said["decisions"] and duck_said["decisions"]
    assert spark_said["arms"] == duck_said["arms"]
    for key in ("overall", "funnel", "nps"):  # records with NaN (no opens in the holdout)
        rows = [pd.DataFrame(s[key] if key != "overall" else [s[key]]) for s in summaries]
        _same(*rows, key)
    assert (on_spark / "feedback.html").read_text().count("<html") == 1


def test_feedback_on_spark_reads_a_bau_list_and_answers_that_only_arrived_by_webhook(
        both, tmp_path):
    """An uploaded business-as-usual list (a CSV file) and, before ingest loads any survey
    file, the answers a survey tool's webhook sent are read the same on both engines."""
    duck, spark, folder, listed = both
    shown = []
    for settings in (duck, spark):
        home = tmp_path / settings.home.name
        shutil.copytree(settings.home, home)
        moved = replace(settings, home=home)
        answers = moved.canonical_dir / "survey_responses.parquet"
        live = moved.events_offline_dir / "survey_responses" / "2026-03-20"
        live.mkdir(parents=True)
        shutil.move(answers, live / "part-0.parquet")
        summary = run_feedback(moved, CAMPAIGN, FeedbackConfig(bau_list=str(listed)),
                               memberships=folder)
        assert summary["surveys_note"] is None and summary["nps"], settings.engine
        shown.append({t: _read(feedback_dir(moved, CAMPAIGN) / f"{t}.parquet")
                      for t in ("lift", "survey", "bau_comparison")})
    on_duck, on_spark = shown
    assert "bau" in set(on_duck["lift"]["dimension"]) and len(on_duck["bau_comparison"]) > 0
    for table, rows in on_duck.items():
        _same(rows, on_spark[table], table)


def test_a_project_that_changes_engine_gets_its_labels_replaced_whole(both, tmp_path):
    """DuckDB writes the labels as one file and Spark as a folder of part files: feedback
    on either engine replaces whichever the other left (DuckDB could not write its file
    over Spark's folder)."""
    duck, spark, folder, _ = both
    home = tmp_path / "ws"
    shutil.copytree(duck.home, home)
    on_duck, on_spark = replace(duck, home=home), replace(spark, home=home)
    labels = labels_path(on_duck, CAMPAIGN)
    run_feedback(on_duck, CAMPAIGN, FeedbackConfig(), memberships=folder)
    assert labels.is_file()
    rows = len(pd.read_parquet(labels))
    run_feedback(on_spark, CAMPAIGN, FeedbackConfig(), memberships=folder)
    assert labels.is_dir() and len(pd.read_parquet(labels)) == rows > 0
    run_feedback(on_duck, CAMPAIGN, FeedbackConfig(), memberships=folder)
    assert labels.is_file() and len(pd.read_parquet(labels)) == rows
    assert sorted(p.name for p in labels.parent.iterdir() if "labels" in p.name) == [
        "labels.parquet"]  # nothing staged left beside it
