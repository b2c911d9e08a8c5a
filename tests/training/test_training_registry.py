"""Training end to end on the tiny world: MLflow runs on a SQLite database in the
workspace, champion/challenger promotion, champions loaded for scoring, CLI commands."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from segflow.cli import app
from training import registry, tracking
from training.champion import load_champions
from training.train import train_models

MODELS = ["holi_propensity", "flash_sale_uplift", "behaviour_clusters", "customer_anomaly"]


@pytest.fixture(scope="module")
def twice(world):
    """Every customer model trained twice on unchanged data."""
    first = train_models(world.settings, "holi_2027", MODELS)
    second = train_models(world.settings, "holi_2027", MODELS)
    return first, second


def test_tracking_uses_sqlite_in_the_workspace(world, twice):
    assert world.settings.mlflow_db_path.exists()
    assert not (world.settings.home / "mlruns").exists()
    assert any(world.settings.mlflow_artifacts_dir.rglob("MLmodel"))


def test_first_version_promoted_second_not_and_decision_recorded(world, twice):
    first, second = twice
    client = tracking.configure(world.settings)
    for a, b in zip(first, second, strict=True):
        assert a.decision.promote and a.decision.reason == "no champion yet"
        assert not b.decision.promote                       # unchanged data: not better
        assert b.decision.champion == pytest.approx(b.decision.challenger)
        assert str(registry.champion_version(client, a.name).version) == a.version
        run = client.get_run(b.run_id)
        assert run.data.tags["promotion.decision"] == "not_promoted"
        assert run.data.tags["promotion.champion_version"] == a.version
        assert run.data.tags["data_snapshot"] == client.get_run(a.run_id).data.tags[
            "data_snapshot"]
        version = client.get_model_version(b.name, b.version)
        assert version.tags["promotion.decision"] == "not_promoted"


def test_runs_log_metrics_plots_and_truth_comparisons(world, twice):
    first, _ = twice
    by_name = {r.name: r for r in first}
    client = tracking.configure(world.settings)
    prop = by_name["holi_propensity"].metrics
    assert {"auc", "pr_auc", "brier", "lift_top_decile", "oracle_auc",
            "spearman_true_p"} <= set(prop)
    assert 0 < prop["brier"] < 1 and prop["oracle_auc"] > 0.5
    assert {"qini_auc", "uplift_auc", "uplift_at_30", "rmse_true_tau",
            "oracle_qini_auc"} <= set(by_name["flash_sale_uplift"].metrics)
    artifacts = {a.path for a in client.list_artifacts(by_name["holi_propensity"].run_id,
                                                        "plots")}
    assert {"plots/calibration.png", "plots/feature_importance.png"} <= artifacts
    qini = {a.path for a in client.list_artifacts(by_name["flash_sale_uplift"].run_id, "plots")}
    assert "plots/qini_curve.png" in qini


def test_champions_predict_exactly_their_outputs_and_explain(world, twice):
    from segflow.featurestore.retrieval import get_features

    frame = get_features(world.settings, "customer").to_pandas().head(40)
    champions = {c.name: c for c in load_champions(world.settings, "customer")}
    assert set(champions) == set(MODELS)
    for champ in champions.values():
        out = champ.predict(frame)
        assert list(out.columns) == champ.outputs and len(out) == len(frame)
    assert champions["holi_propensity"].predict(frame)["holi_propensity"].between(0, 1).all()
    labels = champions["behaviour_clusters"].predict(frame)["behaviour_cluster_label"]
    assert labels.map(type).eq(str).all()
    why = champions["holi_propensity"].contributions(frame, top_k=2)
    assert list(why.columns[:3]) == ["reason_1_feature", "reason_1_value",
                                     "reason_1_contribution"]
    assert why["reason_1_feature"].isin(champions["holi_propensity"].features).all()
    assert (why["reason_1_contribution"].abs() >= why["reason_2_contribution"].abs()).all()
    assert champions["flash_sale_uplift"].contributions(frame).shape == (40, 9)


def test_cli_list_compare_and_manual_promotion(trained_home, twice):
    _, second = twice
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0 and "holi_propensity" in listed.output
    new = next(r for r in second if r.name == "customer_anomaly")
    done = runner.invoke(app, ["models", "promote", "customer_anomaly", new.version,
                               "--reason", "reviewed by hand"])
    assert done.exit_code == 0, done.output
    client = tracking.configure(trained_home)
    champ = registry.champion_version(client, "customer_anomaly")
    assert str(champ.version) == new.version
    assert champ.tags["promotion.reason"] == "reviewed by hand"
    compared = runner.invoke(app, ["models", "compare", "customer_anomaly"])
    assert "promoted_by_hand" in compared.output and f"* v{new.version}" in compared.output
