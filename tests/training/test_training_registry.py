"""Training end to end on the tiny world: MLflow runs on a SQLite database in the
workspace, champion/challenger promotion, champions loaded for scoring, CLI commands."""

from __future__ import annotations

import pytest
from holi_project import ROOT as PROJECT_ROOT
from typer.testing import CliRunner

from segflow.cli import app
from segflow.errors import SegflowError
from segflow.training import registry, tracking
from segflow.training.champion import load_champions
from segflow.training.train import train_models

MODELS_DIR = PROJECT_ROOT / "training" / "models"
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
        # what the MLflow screens show: a description, the data it learned from, the commit
        assert run.data.tags["mlflow.note.content"] and version.description
        assert client.get_registered_model(b.name).description
        contexts = sorted(i.tags[0].value for i in run.inputs.dataset_inputs)
        assert contexts == ["evaluation", "training"]
        assert len(run.data.tags["mlflow.source.git.commit"]) == 40
        # the run spans the training: opened before fitting, closed after the version and
        # the model card were logged
        assert run.info.status == "FINISHED"
        took_ms = run.info.end_time - run.info.start_time
        assert took_ms >= 1000 * run.data.metrics["fit_seconds"] > 0
        assert run.info.start_time <= version.creation_timestamp <= run.info.end_time


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


def _card(client, run_id: str, home) -> dict:
    import json
    from pathlib import Path

    folder = home / "card_dl" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    return json.loads(Path(client.download_artifacts(run_id, "model_card.json",
                                                     str(folder))).read_text())


def test_every_run_logs_a_model_card_against_the_champion(world, twice):
    _, second = twice
    client = tracking.configure(world.settings)
    result = next(r for r in second if r.name == "flash_sale_uplift")
    card = _card(client, result.run_id, world.settings.home)
    assert card["champion_version"] is not None
    rows = {r["metric"]: r for r in card["versus_champion"]}
    assert set(rows) == set(result.metrics)
    assert rows["qini_auc"]["champion"] == pytest.approx(rows["qini_auc"]["challenger"])
    assert {"oracle_qini_auc", "rmse_constant"} <= set(card["oracle"])
    assert card["feature_importance"] and card["slice_by"] == ["region_zone", "language_group"]
    assert sum(s["rows"] for s in card["slices"]) == card["trained"]["held_out_rows"]
    md = client.download_artifacts(result.run_id, "model_card.md",
                                   str(world.settings.home / "card_dl" / result.run_id))
    assert "## Quality by region_zone x language_group" in open(md).read()
    prop = next(r for r in second if r.name == "holi_propensity")
    card = _card(client, prop.run_id, world.settings.home)
    assert len(card["calibration"]) == 10


def test_manual_promotion_waits_for_a_named_approver():
    from segflow.training.config import load_model_configs
    from segflow.training.registry import decide

    cfg = load_model_configs(MODELS_DIR, ["flash_sale_uplift"])[0]
    better = decide(cfg.promotion, 0.05, 0.01, "1")
    assert not better.promote and better.awaiting_approval
    assert better.tags()["promotion.decision"] == "awaiting_approval"
    assert "awaiting approval by one of priya.nair" in better.reason
    assert decide(cfg.promotion, 0.05, None, None).promote     # the first version: no champion


def test_cli_promote_needs_the_named_approver_and_is_audited(trained_home, twice):
    import json

    _, second = twice
    version = next(r for r in second if r.name == "flash_sale_uplift").version
    runner = CliRunner()
    base = ["models", "promote", "flash_sale_uplift", version, "--reason",
            "model card reviewed against the champion"]
    nobody = runner.invoke(app, base).exception        # main() prints it, exits with 2
    assert isinstance(nobody, SegflowError) and nobody.exit_code == 2
    assert "needs a named approver: --by one of priya.nair" in str(nobody)
    wrong = runner.invoke(app, [*base, "--by", "rahul.verma"]).exception
    assert "rahul.verma may not promote flash_sale_uplift" in str(wrong)
    done = runner.invoke(app, [*base, "--by", "priya.nair"])
    assert done.exit_code == 0 and "approved by priya.nair" in done.output
    client = tracking.configure(trained_home)
    champ = registry.champion_version(client, "flash_sale_uplift")
    assert str(champ.version) == version and champ.tags["promotion.approved_by"] == "priya.nair"
    entries = [json.loads(line) for line in trained_home.audit_log_path.read_text().splitlines()]
    assert entries[-1]["action"] == "model.promote" and entries[-1]["actor"] == "priya.nair"
    assert entries[-1]["payload"]["version"] == version


def test_cli_compare_shows_every_logged_metric(trained_home, twice):
    compared = CliRunner().invoke(app, ["models", "compare", "flash_sale_uplift"])
    assert compared.exit_code == 0
    lines = compared.output.splitlines()
    assert lines[1].startswith("qini_auc (promotion)")
    for metric in ("uplift_at_30", "rmse_true_tau", "oracle_qini_auc", "ate_observed"):
        assert any(line.startswith(metric + " ") for line in lines), metric
