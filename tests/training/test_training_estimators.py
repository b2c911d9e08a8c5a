"""Estimators on small planted data: each finds what was planted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from segflow.training.anomaly import AnomalyEstimator
from segflow.training.clustering import ClusterEstimator
from segflow.training.notes import NotesEstimator
from segflow.training.uplift import UpliftEstimator, uplift_estimator

LGBM = {"n_estimators": 60, "num_leaves": 4, "min_child_samples": 40, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def effect_data():
    """Treatment helps only where g == 1 (+0.3); 70% treated, like holi_2026."""
    rng = np.random.default_rng(3)
    n = 6000
    frame = pd.DataFrame({"g": rng.integers(0, 2, n), "noise": rng.normal(size=n),
                          "zone": rng.choice(["north", "south"], n)})
    t = (rng.uniform(size=n) < 0.7).astype(int)
    y = (rng.uniform(size=n) < 0.2 + 0.3 * frame["g"] * t).astype(int)
    return frame, y, t


@pytest.mark.parametrize("method,extra", [
    ("t_learner", {}), ("x_learner", {}), ("dr_learner", {}), ("dr_learner", {"cross_fit": 3}),
    ("r_learner", {"cross_fit": 3}), ("s_learner", {}), ("s_learner", {"interactions": True}),
    ("class_transformation", {})])
def test_uplift_learners_find_the_planted_effect(effect_data, method, extra):
    frame, y, t = effect_data
    model = uplift_estimator(["g", "noise", "zone"], "u",
                             {"method": method, "lightgbm": LGBM,
                              "effect_lightgbm": {"min_child_samples": 200}, **extra})
    u = model.fit(frame, y, t).uplift(frame)
    gap = u[frame["g"] == 1].mean() - u[frame["g"] == 0].mean()
    assert gap == pytest.approx(0.3, abs=0.1)
    why = model.contributions(frame[frame["g"] == 1].head(20), top_k=1)  # the persuadables
    assert (why["reason_1_feature"] == "g").mean() > 0.5
    assert model.feature_importance().index[0] == "g"


def test_bagging_averages_fits_on_their_own_rows_and_seeds(effect_data):
    """bagging: n copies of the learner, each on its own random share of the rows with its
    own LightGBM seed; the prediction and the contributions are the copies' means."""
    frame, y, t = effect_data
    model = uplift_estimator(["g", "noise", "zone"], "u",
                             {"method": "s_learner", "interactions": True,
                              "lightgbm": {**LGBM, "random_state": 11},
                              "bagging": {"n": 3, "fraction": 0.7}})
    model.fit(frame, y, t)
    members = model.members
    assert [m.outcome_params["random_state"] for m in members] == [11, 12, 13]
    each = np.array([m.uplift(frame) for m in members])
    assert np.abs(each[0] - each[1]).max() > 0.01       # different rows, different fits
    np.testing.assert_allclose(model.uplift(frame), each.mean(axis=0))
    values, names = model.contribution_matrix(frame.head(50))
    np.testing.assert_allclose(values, np.mean(
        [m.contribution_matrix(frame.head(50))[0] for m in members], axis=0))
    assert names == ["g", "noise", "zone"] and model.feature_importance().index[0] == "g"
    gap = model.uplift(frame)[frame["g"] == 1].mean() - model.uplift(frame)[frame["g"] == 0].mean()
    assert gap == pytest.approx(0.3, abs=0.1)


def test_an_ensemble_averages_different_learners(effect_data):
    frame, y, t = effect_data
    members = {"s": {"method": "s_learner", "interactions": True, "lightgbm": LGBM},
               "x": {"method": "x_learner", "lightgbm": LGBM,
                     "effect_lightgbm": {"min_child_samples": 200}}}
    model = uplift_estimator(["g", "noise", "zone"], "u",
                             {"method": "ensemble", "members": members})
    u = model.fit(frame, y, t).uplift(frame)
    assert [m.method for m in model.members] == ["s_learner", "x_learner"]
    np.testing.assert_allclose(u, np.mean([m.uplift(frame) for m in model.members], axis=0))
    assert u[frame["g"] == 1].mean() - u[frame["g"] == 0].mean() == pytest.approx(0.3, abs=0.1)
    why = model.contributions(frame[frame["g"] == 1].head(20), top_k=1)
    assert (why["reason_1_feature"] == "g").mean() > 0.5


def _midrank_quantiles(u: np.ndarray) -> np.ndarray:
    """Each value's quantile among ``u``, ties sharing the middle of their ranks (scipy)."""
    from scipy.stats import rankdata

    return (rankdata(u, method="average") - 0.5) / len(u)


def test_a_rank_ensemble_orders_by_the_mean_of_members_quantiles(effect_data):
    """combine: rank: on the training rows the output orders customers exactly as the mean
    of each member's quantile among its own training predictions, and is read back on the
    plain mean's scale, so the planted effect keeps its size; a customer's score does not
    depend on who else is scored."""
    frame, y, t = effect_data
    members = {"s": {"method": "s_learner", "interactions": True, "lightgbm": LGBM},
               "x": {"method": "x_learner", "lightgbm": LGBM,
                     "effect_lightgbm": {"min_child_samples": 200}}}
    model = uplift_estimator(["g", "noise", "zone"], "u",
                             {"method": "ensemble", "combine": "rank", "members": members})
    u = model.fit(frame, y, t).uplift(frame)
    each = [m.uplift(frame) for m in model.members]
    mean_q = np.mean([_midrank_quantiles(v) for v in each], axis=0)
    assert np.diff(u[np.argsort(mean_q, kind="stable")]).min() >= 0
    plain = np.mean(each, axis=0)
    assert plain.min() <= u.min() and u.max() <= plain.max()
    assert not np.allclose(u, plain)                       # not the plain mean
    assert u[frame["g"] == 1].mean() - u[frame["g"] == 0].mean() == pytest.approx(0.3, abs=0.1)
    np.testing.assert_allclose(model.uplift(frame.head(7)), u[:7])


def test_a_rank_ensemble_of_identical_members_is_that_member(effect_data):
    """Two identical fits: each quantile read back on the same distribution gives the
    member's own prediction on every training row."""
    frame, y, t = effect_data
    one = {"method": "s_learner", "lightgbm": LGBM}
    model = uplift_estimator(["g", "noise", "zone"], "u", {
        "method": "ensemble", "combine": "rank", "members": {"a": one, "b": one}})
    u = model.fit(frame, y, t).uplift(frame)
    np.testing.assert_allclose(u, model.members[0].uplift(frame), atol=1e-12)


def test_ensemble_members_named_in_a_set_of_learners(effect_data):
    """members: [name, ...] in a set of named learners (hillstrom.yaml) becomes those
    learners' params: the ensemble predicts what the inline one does."""
    from segflow.training.uplift import resolve_named

    frame, y, t = effect_data
    s = {"method": "s_learner", "interactions": True, "lightgbm": LGBM}
    tl = {"method": "t_learner", "lightgbm": LGBM}
    learners = resolve_named({"s": s, "t": tl, "both": {"method": "ensemble",
                                                        "members": ["s", "t"]}})
    assert learners["both"]["members"] == {"s": s, "t": tl} and learners["s"] is s
    named = uplift_estimator(["g", "noise", "zone"], "u", learners["both"]).fit(frame, y, t)
    inline = uplift_estimator(["g", "noise", "zone"], "u", {
        "method": "ensemble", "members": {"s": s, "t": tl}}).fit(frame, y, t)
    np.testing.assert_allclose(named.uplift(frame), inline.uplift(frame))
    with pytest.raises(ValueError, match="member 'nope' is not a learner of this set"):
        resolve_named({"s": s, "e": {"method": "ensemble", "members": ["s", "nope"]}})
    with pytest.raises(ValueError, match="member 'e' is an ensemble"):
        resolve_named({"s": s, "e": {"method": "ensemble", "members": ["s"]},
                       "f": {"method": "ensemble", "members": ["e"]}})


@pytest.mark.parametrize("params,message", [
    ({"method": "ensemble", "combine": "median", "members": {"a": {"method": "s_learner"}}},
     "combine is one of mean, rank"),
    ({"method": "s_learner", "combine": "rank"}, "unknown key"),
    ({"method": "s_learner", "bagging": {"n": 1}}, "at least 2"),
    ({"method": "s_learner", "bagging": {"n": 3, "fraction": 0}}, "fraction"),
    ({"method": "s_learner", "bagging": {"n": 3, "fraction": 1.5}}, "fraction"),
    ({"method": "s_learner", "bagging": {"n": 3, "rows": 0.5}}, "unknown bagging"),
    ({"method": "ensemble"}, "needs members"),
    ({"method": "ensemble", "members": {"a": {"method": "ensemble", "members": {}}}},
     "one learner"),
    ({"method": "ensemble", "members": {"a": {"method": "s_learner", "lr": 1}}},
     "unknown key"),
    # shapes a model file may hold: each a ValueError (file and line at load), no traceback
    ({"method": "ensemble", "members": ["s_learner", "x_learner"]}, "members is a mapping"),
    ({"method": "ensemble", "members": {"a": "s_learner"}}, "member a is a mapping"),
    ({"method": "ensemble", "members": {"a": {"lightgbm": {}}}}, "member a needs a method"),
    ({"method": "s_learner", "bagging": 5}, "bagging is a mapping"),
    ({"method": "s_learner", "bagging": {"n": 2.7}}, "whole number"),
])
def test_averaged_uplift_settings_are_checked(params, message):
    with pytest.raises(ValueError, match=message):
        uplift_estimator(["g"], "u", params)


ONE_THREAD = {**LGBM, "n_jobs": 1}


def test_monotone_constrains_the_response_models_only(effect_data):
    """monotone: {feature: 1}: the response model's predictions never fall as the feature
    rises (the S-learner's own and treated-only columns both), while an effect stage stays
    free; a sign other than 1/-1 or a name that is not a feature is refused."""
    frame, _, t = effect_data
    rng = np.random.default_rng(8)
    y = (rng.uniform(size=len(t)) < 0.2 + 0.1 * np.sin(3 * frame["noise"])).astype(int)
    grid = pd.DataFrame({"g": 1, "noise": np.linspace(-2, 2, 41), "zone": "north"})
    curves = {}
    for name, extra in (("free", {}), ("rising", {"monotone": {"noise": 1}})):
        model = uplift_estimator(["g", "noise", "zone"], "u",
                                 {"method": "s_learner", "interactions": True,
                                  "lightgbm": ONE_THREAD, **extra}).fit(frame, y, t)
        X = model.encoder.transform(grid)
        curves[name] = [model.models["s"].predict_proba(model._design(X, arm))[:, 1]
                        for arm in (0, 1)]
    assert all((np.diff(curve) >= -1e-12).all() for curve in curves["rising"])
    assert any((np.diff(curve) < 0).any() for curve in curves["free"])
    x = uplift_estimator(["g", "noise", "zone"], "u",
                         {"method": "x_learner", "lightgbm": ONE_THREAD,
                          "monotone": {"noise": 1}})
    assert x._monotone_params(grid)["monotone_constraints"] == [0, 1, 0]
    assert "monotone_constraints" not in x.effect_params
    with pytest.raises(ValueError, match="1 .rising. or -1"):
        uplift_estimator(["g"], "u", {"method": "s_learner", "monotone": {"g": 2}})
    with pytest.raises(ValueError, match="not features"):
        uplift_estimator(["g"], "u", {"method": "s_learner", "monotone": {"x": 1}})


def test_early_stopping_chooses_the_number_of_trees_on_held_out_rows(effect_data):
    """early_stopping: the trees of each stage are counted on a held-out share of the
    training rows, then the stage is refitted on all rows with that many: on the planted
    data far fewer than the 2,000-tree ceiling, and the effect is still found."""
    frame, y, t = effect_data
    model = uplift_estimator(["g", "noise", "zone"], "u",
                             {"method": "t_learner",
                              "lightgbm": {**ONE_THREAD, "n_estimators": 2000},
                              "early_stopping": {"fraction": 0.25, "rounds": 20}})
    u = model.fit(frame, y, t).uplift(frame)
    assert len(model.trees_chosen) == 2 and max(model.trees_chosen) < 500
    assert [model.models[m].n_estimators for m in ("mu1", "mu0")] == model.trees_chosen
    assert u[frame["g"] == 1].mean() - u[frame["g"] == 0].mean() == pytest.approx(0.3, abs=0.1)
    for bad, message in (({"fraction": 1}, "0 < fraction < 1"), ({"rounds": 0}, "rounds"),
                         ({"patience": 3}, "unknown early_stopping")):
        with pytest.raises(ValueError, match=message):
            uplift_estimator(["g"], "u", {"method": "s_learner", "early_stopping": bad})


def test_uplift_stages_take_their_own_settings():
    model = UpliftEstimator(["g"], "u", "x_learner", {"num_leaves": 7},
                            outcome_lightgbm={"min_child_samples": 10},
                            effect_lightgbm={"min_child_samples": 900})
    assert model.outcome_params["num_leaves"] == model.effect_params["num_leaves"] == 7
    assert (model.outcome_params["min_child_samples"],
            model.effect_params["min_child_samples"]) == (10, 900)
    with pytest.raises(ValueError, match="cross_fit"):
        UpliftEstimator(["g"], "u", "dr_learner", cross_fit=1)
    with pytest.raises(ValueError, match="imputes no row with a model that saw it"):
        UpliftEstimator(["g"], "u", "x_learner", cross_fit=5)


def test_cross_fitting_imputes_each_row_without_seeing_it(effect_data):
    """Deep outcome models memorise pure noise: imputed in-sample, a treated row's own-arm
    prediction follows its label; cross-fitted (the model never saw the row) it does not."""
    frame, _, t = effect_data
    y = (np.random.default_rng(5).uniform(size=len(t)) < 0.3).astype(int)
    deep = {"n_estimators": 300, "num_leaves": 63, "min_child_samples": 2,
            "learning_rate": 0.3}
    treated = t == 1
    corr = {}
    for folds in (0, 3):
        model = UpliftEstimator(["g", "noise", "zone"], "u", "dr_learner", deep,
                                cross_fit=folds)
        X = model.encoder.fit(frame).transform(frame)
        mu1, _ = model._imputed_outcomes(X, y, t)
        corr[folds] = np.corrcoef(mu1[treated], y[treated])[0, 1]
    assert corr[0] > 0.3 and abs(corr[3]) < 0.05


def test_clusters_are_described_from_their_centroids():
    rng = np.random.default_rng(1)
    big = pd.DataFrame({"spend": rng.normal(5000, 300, 300), "visits": rng.normal(2, 0.3, 300),
                        "region_zone": "west"})
    small = pd.DataFrame({"spend": rng.normal(500, 50, 300), "visits": rng.normal(9, 0.5, 300),
                          "region_zone": rng.choice(["north", "south"], 300)})
    frame = pd.concat([big, small], ignore_index=True)
    model = ClusterEstimator(["spend", "visits", "region_zone"], ["c", "label"],
                             {"k": 2, "describe_top": 2}).fit(frame)
    out = model.predict_frame(frame)
    assert out["c"].iloc[:300].nunique() == 1 and out["c"].iloc[0] != out["c"].iloc[-1]
    assert out["label"].iloc[0] == "high spend, low visits, west-heavy"
    assert out["label"].iloc[-1].startswith("low spend, high visits")


def test_anomaly_is_relative_to_peers_and_says_why():
    rng = np.random.default_rng(2)
    n = 1000
    frame = pd.DataFrame({"zone": np.repeat(["rich", "poor"], n // 2),
                          "spend": np.r_[rng.normal(10000, 500, n // 2),
                                         rng.normal(1000, 50, n // 2)],
                          "refunds": rng.poisson(1, n).astype(float)})
    frame.loc[n - 1, "spend"] = 10000.0     # ordinary among the rich, extreme among the poor
    model = AnomalyEstimator(["zone", "spend", "refunds"], ["score", "flag", "why"],
                             {"peer_group": "zone", "contamination": 0.01}).fit(frame)
    out = model.predict_frame(frame)
    assert out.loc[n - 1, "flag"]
    assert out.loc[n - 1, "why"].startswith(
        "spend 10,000, typical for peers (zone=poor) 1,000: far higher (z=")
    assert out["flag"].mean() < 0.05
    assert out.loc[~out["flag"], "why"].isna().all()


def test_peer_z_anomalies_compare_within_bands_of_size_and_age():
    """Peers are the same group *and* band: a margin ordinary for small accounts is unusual
    for a large one; young accounts' growth is compared with young accounts only."""
    rng = np.random.default_rng(4)
    n = 3000
    size = rng.lognormal(0, 1, n)
    young = rng.random(n) < 0.2
    frame = pd.DataFrame({
        "sector": rng.choice(["a", "b"], n), "size": size, "age": np.where(young, 1.0, 5.0),
        "margin": np.where(size > np.median(size), 0.5, 0.2) + rng.normal(0, 0.02, n),
        "growth": np.where(young, rng.normal(2.0, 0.5, n), rng.normal(0.05, 0.05, n))})
    big = int(np.argmax(size))
    frame.loc[big, "margin"] = 0.2                # ordinary margin for a small account
    params = {"peer_group": ["sector"], "score": "peer_z", "contamination": 0.005,
              "bands": [{"column": "size", "count": 2}, {"column": "age", "edges": [2]}],
              "log_features": ["growth"], "top_reasons": 1, "min_peers": 10}
    model = AnomalyEstimator(["sector", "size", "age", "margin", "growth"],
                             ["score", "flag", "why"], params).fit(frame)
    out = model.predict_frame(frame)
    assert out.loc[big, "flag"] and out.loc[big, "why"].startswith("margin 0.2, typical")
    assert "size band 2 of 2" in out.loc[big, "why"]
    assert out.loc[young, "flag"].mean() < 0.05    # their growth is normal among the young


TOPICS = [{"topic": "churn_risk", "description": "may leave",
           "phrases": ["competitor", "cancel"]},
          {"topic": "pricing_complaint", "description": "price objections",
           "phrases": ["price", "expensive", "discount"]},
          {"topic": "renewal", "description": "routine renewal", "phrases": ["renewal"]}]


def test_notes_rules_pick_the_topic_and_abstain_when_unclear():
    model = NotesEstimator(["topic", "guess", "margin"], {"topics": TOPICS, "min_margin": 1})
    probe = pd.DataFrame({"text": [
        "The PRICE is too expensive, they want a discount",    # pricing, margin 3
        "may cancel and move to a competitor over price",      # churn 2 vs pricing 1
        "renewal talk; they mention a competitor",             # tie: first listed wins...
        "lunch with the team"]})                               # no phrase at all
    out = model.predict_frame(probe)
    assert out["guess"].tolist() == ["pricing_complaint", "churn_risk", "churn_risk",
                                     "churn_risk"]
    assert out["margin"].tolist() == [3.0, 1.0, 0.0, 0.0]
    # ... but a tie (margin 0) and a note without any phrase abstain: no topic, to review
    assert out["topic"].tolist() == ["pricing_complaint", "churn_risk", None, None]


def test_reviewed_labels_train_a_classifier_on_top_of_the_rules():
    rows = [(f"they asked about the {w} of the contract {i}", "pricing_complaint")
            for i, w in enumerate(["cost", "fee", "invoice"] * 10)]
    rows += [(f"next year's contract {i} is being prepared", "renewal") for i in range(30)]
    frame = pd.DataFrame(rows, columns=["text", "label"])
    params = {"topics": TOPICS, "min_margin": 1, "min_reviewed": 20}
    unlabelled = pd.Series(None, index=frame.index, dtype=object)
    rules_only = NotesEstimator(["topic"], params).fit(frame["text"], unlabelled)
    assert rules_only.classifier is None
    assert rules_only.predict_frame(frame)["topic"].isna().all()   # no phrase matches
    learned = NotesEstimator(["topic"], params).fit(frame["text"], frame["label"])
    assert learned.classifier is not None and learned.trained_on == 60
    probe = pd.DataFrame({"text": ["what is the fee on the contract", "contract being prepared"]})
    assert learned.predict_frame(probe)["topic"].tolist() == ["pricing_complaint", "renewal"]


def test_hillstrom_evaluation_skips_clearly_without_data(monkeypatch, tmp_path):
    import segflow.training.hillstrom as hillstrom
    from segflow.cli import app

    monkeypatch.setattr(hillstrom, "data_path", lambda settings: tmp_path / "absent.csv")
    result = CliRunner().invoke(app, ["models", "evaluate", "--dataset", "hillstrom",
                                      "--seeds", "1"])
    assert result.exit_code == 0
    assert f"skipped: Hillstrom data not found at {tmp_path / 'absent.csv'}" in result.output
