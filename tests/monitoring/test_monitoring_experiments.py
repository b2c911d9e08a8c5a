"""Experiment statistics: real data (Hillstrom), coverage over simulated campaigns, the false-
positive rate under repeated peeking, and sample-size planning."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from segflow.monitoring.experiments import arm_totals_sql, compare, heterogeneity, plan
from segflow.settings import get_settings
from segflow.training import hillstrom

ARMS = {"No E-Mail": "holdout", "Mens E-Mail": "mens", "Womens E-Mail": "womens"}


@pytest.fixture(scope="module")
def hillstrom_totals():
    path = hillstrom.data_path(get_settings())
    if not path.exists():
        pytest.skip(f"Hillstrom data not found at {path}")
    con = duckdb.connect()
    con.execute(f"""CREATE VIEW outcomes AS SELECT row_number() OVER () AS customer_id,
        segment, conversion = 1 AS converted, spend AS revenue, zip_code
        FROM read_csv('{path}')""")
    groups = ("SELECT customer_id, 'all' AS dimension, 'all' AS \"group\" FROM outcomes "
              "UNION ALL SELECT customer_id, 'zip_code', zip_code FROM outcomes")
    arm = "CASE segment " + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in ARMS.items()) + " END"
    return con.execute(arm_totals_sql(groups, arm)).df()


def test_hillstrom_rates_and_decisions(hillstrom_totals):
    c = compare(hillstrom_totals)
    overall = c[c["dimension"] == "all"].set_index(["metric", "arm", "baseline"])
    # the MineThatData challenge's published figures: conversion 1.25% / 0.88% / 0.57%,
    # spend per customer $1.42 / $1.08 / $0.65
    conv = overall.loc["conversion"]
    assert round(conv.loc[("mens", "holdout"), "value_arm"], 4) == 0.0125
    assert round(conv.loc[("womens", "holdout"), "value_arm"], 4) == 0.0088
    assert round(conv.loc[("mens", "holdout"), "value_baseline"], 4) == 0.0057
    rev = overall.loc["revenue"]
    assert [round(rev.loc[(a, "holdout"), "value_arm"], 2) for a in ("mens", "womens")] \
        == [1.42, 1.08]
    # every e-mail beats no e-mail, and men's beats women's on conversion after Holm
    assert conv["significant"].all() and (conv["difference"] > 0).all()
    mw = conv.loc[("mens", "womens")]
    assert mw["low"] > 0 and mw["p_adjusted"] < 0.05
    assert mw["low_always_valid"] < mw["low"] < mw["difference"]  # wider: valid at any look
    assert mw["decision"].startswith("mens beats womens overall by 0.37 points of conversion")
    # 3 comparisons x 2 metrics x 3 zip codes: corrected within each (dimension, metric)
    zips = c[(c["dimension"] == "zip_code") & (c["metric"] == "conversion")]
    assert len(zips) == 9 and (zips["p_adjusted"] >= zips["p_value"]).all()
    het = heterogeneity(c)
    assert set(het["arm"]) == {"mens", "womens"} and het["p_value"].between(0, 1).all()


def _simulated_totals(rng, n_campaigns: int, sizes: dict, rates: dict) -> pd.DataFrame:
    """Per campaign (group "<campaign>:<customers per arm>" of the dimension ``sizes``
    names) and arm: the totals of a campaign whose arms convert at ``rates`` (revenue 500
    per conversion)."""
    rows = []
    for dimension, per_arm in sizes.items():
        for n_per_arm in per_arm:
            for arm, p in rates.items():
                conv = rng.binomial(n_per_arm, p, n_campaigns)
                rows.append(pd.DataFrame({
                    "dimension": dimension, "group": [f"{s}:{n_per_arm}" for s in
                                                      range(n_campaigns)],
                    "arm": arm, "n": n_per_arm, "conversions": conv,
                    "revenue_sum": conv * 500.0, "revenue_sumsq": conv * 500.0**2}))
    return pd.concat(rows, ignore_index=True)


def test_intervals_cover_the_true_lift_in_200_simulated_campaigns():
    """Each of 200 campaigns is read overall (20,000 customers per arm) and in region-sized
    groups of 60 to 2,000 per arm, where a symmetric (Wald) interval under-covers."""
    import warnings

    from statsmodels.stats.proportion import confint_proportions_2indep

    rates = {"holdout": 0.04, "discount": 0.05, "bundle": 0.046, "free_shipping": 0.04}
    sizes = {"all": (20_000,), "region": (60, 100, 150, 250, 400, 700, 1_200, 2_000)}
    totals = _simulated_totals(np.random.default_rng(3), 200, sizes, rates)
    c = compare(totals)
    truth = np.array([rates[a] - rates[b] for a, b in zip(c["arm"], c["baseline"],
                                                          strict=True)])
    truth = np.where(c["metric"] == "revenue", truth * 500, truth)
    inside = (c["low"] <= truth) & (truth <= c["high"])
    assert len(c) == 200 * 9 * 6 * 2
    conversion = (c["metric"] == "conversion").to_numpy()
    # Newcombe's interval: at least its nominal 95% over the 10,800 conversion intervals
    # (an interval covering exactly 95% would be measured within 94.6%..95.4%)
    assert inside[conversion].mean() >= 0.95
    # the Wald interval it replaced, on the same draws, under-covers
    t = totals.set_index(["dimension", "group", "arm"])["conversions"]
    conv = c[conversion]
    c1 = t.loc[list(zip(conv["dimension"], conv["group"], conv["arm"], strict=True))]
    c2 = t.loc[list(zip(conv["dimension"], conv["group"], conv["baseline"], strict=True))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = confint_proportions_2indep(c1.to_numpy(), conv["n_arm"].to_numpy(),
                                               c2.to_numpy(), conv["n_baseline"].to_numpy(),
                                               method="wald", compare="diff")
    wald = ((low <= truth[conversion]) & (truth[conversion] <= high)).mean()
    assert wald < 0.95 < inside[conversion].mean()
    # revenue (500 per conversion: a Bernoulli times a constant, the hardest case for a
    # t interval) stays within sampling error of its nominal 95%
    assert inside[~conversion].mean() >= 0.94
    overall = c["dimension"] == "all"
    always = (c["low_always_valid"] <= truth) & (truth <= c["high_always_valid"])
    # all 12 always-valid intervals of a campaign at once
    assert always[overall].groupby(c["group"][overall]).all().mean() >= 0.95


def test_peeking_keeps_false_positives_at_five_percent_only_with_always_valid_intervals():
    rng = np.random.default_rng(11)
    sims, looks, step, p = 400, 10, 2_000, 0.05
    a = rng.binomial(step, p, (sims, looks)).cumsum(axis=1)  # A/A: no true difference
    b = rng.binomial(step, p, (sims, looks)).cumsum(axis=1)
    n = step * np.arange(1, looks + 1)
    frame = pd.concat([pd.DataFrame({
        "dimension": "all", "group": [f"{s}:{k}" for s in range(sims) for k in range(looks)],
        "arm": arm, "n": np.tile(n, sims), "conversions": counts.ravel(),
        "revenue_sum": 0.0, "revenue_sumsq": 0.0}) for arm, counts in
        (("offer", a), ("holdout", b))], ignore_index=True)
    c = compare(frame, tau=0.01)
    c = c[c["metric"] == "conversion"]
    sim = c["group"].str.split(":").str[0]
    naive = ((c["low"] > 0) | (c["high"] < 0)).groupby(sim).any().mean()
    valid = ((c["low_always_valid"] > 0) | (c["high_always_valid"] < 0)).groupby(sim).any()
    assert valid.mean() <= 0.05
    assert naive > 0.08  # reading the fixed-sample interval at every look does inflate it


def test_plan_round_trips_between_size_and_detectable_lift():
    mde = plan(0.04, n_per_arm=20_000, comparisons=3)
    assert 0.004 < mde["minimum_detectable_lift"] < 0.008
    assert mde["alpha_per_comparison"] == pytest.approx(0.05 / 3)
    back = plan(0.04, lift=mde["minimum_detectable_lift"], comparisons=3)
    assert abs(back["n_per_arm"] - 20_000) <= 20  # the root finder's tolerance
    assert plan(0.04, lift=0.01)["n_per_arm"] < back["n_per_arm"]
    with pytest.raises(ValueError, match="either the arm size or the lift"):
        plan(0.04)


@pytest.mark.parametrize(("text", "message"), [
    ("feedback: {correction: sidak}", "'feedback.correction' is one of holm, bonferroni"),
    ("feedback: {sequential_tau: 0}", "'feedback.sequential_tau' must be > 0"),
])
def test_bad_analysis_settings_name_the_line(home, tmp_path, text, message):
    import dataclasses

    from segflow.errors import ConfigError
    from segflow.monitoring.config import load_monitoring_config

    settings = dataclasses.replace(home, templates_root=tmp_path / "templates")
    settings.campaigns_dir.mkdir(parents=True)
    (settings.campaigns_dir / "c.yaml").write_text(f"name: c\n{text}\n")
    with pytest.raises(ConfigError, match=message) as err:
        load_monitoring_config(settings, "c")
    assert ":2:" in str(err.value)


def test_a_group_too_small_to_judge_is_shown_but_never_tested():
    """One converted customer against one who did not: 100 points of 'lift' and no
    variance; the comparison is reported as too small, outside the correction's family."""
    totals = pd.DataFrame({
        "dimension": ["all", "all", "region", "region", "region", "region"],
        "group": ["all", "all", "Goa", "Goa", "Bihar", "Bihar"],
        "arm": ["offer", "holdout"] * 3, "n": [5000, 5000, 1, 1, 4999, 4999],
        "conversions": [300, 200, 1, 0, 299, 200], "revenue_sum": 0.0, "revenue_sumsq": 0.0})
    c = compare(totals).set_index(["dimension", "group", "metric"])
    goa = c.loc[("region", "Goa", "conversion")]
    assert not goa["tested"] and not goa["significant"] and np.isnan(goa["p_adjusted"])
    assert goa["decision"] == "too few customers to judge offer against holdout in Goa (1 and 1)"
    bihar = c.loc[("region", "Bihar", "conversion")]
    assert bihar["tested"] and bihar["p_adjusted"] == pytest.approx(bihar["p_value"])  # alone
    assert not c.loc[("all", "all", "revenue"), "tested"]  # no revenue at all: no variance
