"""segflow train on engine: spark: the training rows (the label campaign's outcomes, the
point-in-time join, the cap) are computed on Spark and come to the driver as Arrow; the fit
stays on the driver. On the shared 1,500-customer training world: the same frame as DuckDB's,
the same metrics, and under ``split: {max_rows: N}`` the same sampled customers."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace

import pandas as pd
import pytest
from values import cell_diffs

from segflow.training.config import load_model_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODEL = "holi_propensity"


@pytest.fixture(scope="module")
def trained(world, tmp_path_factory, spark_project):
    """(DuckDB settings, Spark settings, {engine: (result, the training frame it kept)}):
    two copies of the world, holi_propensity trained on each engine."""
    from segflow.training.train import train_models

    root = tmp_path_factory.mktemp("spark_training")
    duck = replace(world.settings, home=root / "duck")
    spark = replace(world.settings, home=root / "spark", project=spark_project)
    out = {}
    for settings in (duck, spark):
        shutil.copytree(world.settings.home, settings.home)
        (result,) = train_models(settings, "holi_2027", models=[MODEL])
        out[settings.engine] = (result, pd.read_parquet(settings.home / "training" /
                                                        "snapshot.parquet"))
    return duck, spark, out


def _tags(settings, run_id: str) -> dict:
    from segflow.training import tracking

    return tracking.configure(settings).get_run(run_id).data.tags


def _cells(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(None if v is pd.NA else v for v in row)
            for row in frame.astype(object).itertuples(index=False)]


def test_the_training_frame_prepared_on_spark_is_duckdb_s(trained, world):
    """Every row, column, type and value; on both, the order planted the day before the
    campaign start is counted and the one the day after is not (point in time)."""
    _, _, out = trained
    want, got = out["duckdb"][1], out["spark"][1]
    assert list(got.columns) == list(want.columns) and len(want) >= 1000
    assert [str(t) for t in got.dtypes] == [str(t) for t in want.dtypes]
    assert {"label", "treatment", "true_p0", "lifetime_spend"} <= set(want.columns)
    early, late = world.planted
    spend = got.set_index("customer_id")["lifetime_spend"]
    assert spend[early] >= world.planted_amount > spend[late]
    assert cell_diffs(list(want.columns), _cells(want), _cells(got)) == []


def test_a_model_trained_on_spark_data_scores_what_the_duckdb_one_scores(trained):
    """LightGBM is deterministic on equal input: the same metrics, and the runs say which
    engine prepared their data (the same data snapshot hash)."""
    duck, spark, out = trained
    (on_duck, _), (on_spark, _) = out["duckdb"], out["spark"]
    assert on_duck.status == on_spark.status == "trained"
    assert on_spark.metrics == pytest.approx(on_duck.metrics, rel=1e-12, abs=1e-12)
    assert on_duck.metrics["auc"] > 0.5
    d_tags, s_tags = _tags(duck, on_duck.run_id), _tags(spark, on_spark.run_id)
    assert (d_tags["data_engine"], s_tags["data_engine"]) == ("duckdb", "spark")
    assert s_tags["data_snapshot"] == d_tags["data_snapshot"]
    assert "sample_max_rows" not in s_tags  # no cap set: every row


def test_a_cap_samples_the_same_customers_on_both_engines(trained):
    """``split: {max_rows: N}``: the N customers whose md5 (key and seed) is smallest, on
    Spark as on DuckDB and as Python's hashlib ranks them; the frames are the same."""
    from segflow.training.datasets import campaign_training_frame, model_features

    duck, spark, out = trained
    cfg = load_model_config(duck.models_config_dir / f"{MODEL}.yaml")
    cfg = replace(cfg, split={**cfg.split, "max_rows": 150})
    features = model_features(duck, cfg)
    on_duck = campaign_training_frame(duck, cfg, features)
    on_spark = campaign_training_frame(spark, cfg, features)
    everyone = out["duckdb"][1]["customer_id"].tolist()
    seed = str(cfg.split["seed"])
    picked = sorted(sorted(everyone, key=lambda k: (hashlib.md5(
        f"{k}:{seed}".encode()).hexdigest(), k))[:150])
    assert on_duck.frame["customer_id"].tolist() == picked
    assert on_spark.frame["customer_id"].tolist() == picked
    assert on_spark.tags() == {"data_engine": "spark", "sample_max_rows": "150",
                               "sample_rows": "150", "sample_rows_available": str(len(everyone))}
    want, got = on_duck.frame, on_spark.frame
    assert cell_diffs(list(want.columns), _cells(want), _cells(got)) == []


def test_the_cap_and_the_rows_used_are_recorded_in_the_mlflow_run(trained, tmp_path):
    """A capped training (on DuckDB here; the tags come from the same preparation on both
    engines) records the cap, the rows used and the rows there were."""
    from segflow.training import tracking
    from segflow.training.train import train_one

    duck, _, out = trained
    settings = replace(duck, home=tmp_path / "capped")
    shutil.copytree(duck.home, settings.home)
    cfg = load_model_config(duck.models_config_dir / f"{MODEL}.yaml")
    cfg = replace(cfg, split={**cfg.split, "max_rows": 400})
    result = train_one(settings, tracking.configure(settings), cfg, "holi_2027", None)
    run = tracking.configure(settings).get_run(result.run_id).data
    assert run.tags["data_engine"] == "duckdb"
    assert (run.tags["sample_max_rows"], run.tags["sample_rows"]) == ("400", "400")
    assert run.tags["sample_rows_available"] == str(len(out["duckdb"][1]))
    assert run.params["split.max_rows"] == "400"
    assert int(run.tags["train_rows"]) + int(run.tags["test_rows"]) == 400


def test_an_unsupervised_model_s_snapshot_rows_are_the_same_on_spark(trained, world):
    """behaviour_clusters' rows (every customer's features as of the snapshot, the refresh's
    retrieval on Spark) capped on each engine: the same customers and values."""
    from datetime import UTC, datetime

    from segflow.training.datasets import model_features, snapshot_frame

    duck, spark, _ = trained
    cfg = load_model_config(duck.models_config_dir / "behaviour_clusters.yaml")
    cfg = replace(cfg, split={**cfg.split, "max_rows": 120})
    as_of = datetime(2027, 3, 1, tzinfo=UTC)
    on_duck = snapshot_frame(duck, cfg, model_features(duck, cfg), as_of)
    on_spark = snapshot_frame(spark, cfg, model_features(duck, cfg), as_of)
    want, got = on_duck.frame, on_spark.frame
    assert len(want) == 120 and int(on_duck.available) > 1000
    assert (on_spark.available, list(got.columns)) == (on_duck.available, list(want.columns))
    assert got["customer_id"].tolist() == want["customer_id"].tolist()
    assert cell_diffs(list(want.columns), _cells(want), _cells(got)) == []


def test_a_notes_model_s_rows_are_the_same_on_spark(tmp_path, spark_project):
    """account_notes_topics' notes (read and capped on the engine, by note_id) with the
    reviewed and the generator's topics: the same frame on both engines."""
    import pyarrow.parquet as pq

    from segflow.ingest.synthetic.accounts import generate_accounts
    from segflow.settings import Settings
    from segflow.training.datasets import notes_frame

    duck = Settings(home=tmp_path / "ws").ensure()
    spark = replace(duck, project=spark_project)
    world = generate_accounts(60, seed=3)
    duck.truth_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(world["account_notes"], duck.canonical_dir / "account_notes.parquet")
    truth = world["account_notes_truth"]
    pq.write_table(truth, duck.truth_dir / "account_notes_truth.parquet")
    pq.write_table(truth.slice(0, 40), duck.canonical_dir / "account_notes_reviewed.parquet")
    cfg = load_model_config(duck.models_config_dir / "account_notes_topics.yaml")
    cfg = replace(cfg, split={**cfg.split, "max_rows": 80})
    on_duck, on_spark = notes_frame(duck, cfg), notes_frame(spark, cfg)
    want, got = on_duck.frame, on_spark.frame
    assert len(want) == 80 < on_duck.available == on_spark.available
    assert want["label"].notna().any() and want["true_topic"].notna().all()
    assert list(got.columns) == list(want.columns)
    assert [str(t) for t in got.dtypes] == [str(t) for t in want.dtypes]
    assert cell_diffs(list(want.columns), _cells(want), _cells(got)) == []

