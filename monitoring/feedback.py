"""Campaign feedback: what a campaign actually did, per cohort, from its randomised holdout.

Lift is the difference in conversion rate, treatment minus holdout, with Newcombe's hybrid
score interval (covers its nominal level in small groups, where the Wald interval falls
short): with randomised arms that estimates the average treatment effect of the group.
Incremental revenue per customer has Welch's t interval (unpooled variances).
Every group (cohort, the whole campaign, each value of each split) is one GROUP BY in DuckDB.
"""

from __future__ import annotations

from statistics import NormalDist

import pandas as pd

LIFT_COLUMNS = ["dimension", "group", "n_treatment", "n_holdout", "open_rate", "click_rate",
                "conversion_treatment", "conversion_holdout", "lift", "lift_se", "lift_low",
                "lift_high", "revenue_per_customer_treatment", "revenue_per_customer_holdout",
                "incremental_revenue_per_customer", "incremental_revenue_low",
                "incremental_revenue_high"]


def z_value(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


# The arm of an outcome row: the holdout, else the offer the customer was sent (an
# experiment's outcomes name the offer in ``offer``; a one-offer campaign has one offer).
ARM_SQL = "CASE WHEN o.arm = 'holdout' THEN 'holdout' ELSE coalesce(o.offer, 'treatment') END"
BAU_LIST = "bau_list"  # the group name of customers on an uploaded business-as-usual list


def groups_sql(splits: list[str], customer_columns: set[str], with_cohorts: bool,
               with_bau_list: bool = False) -> str:
    """SQL of (customer_id, dimension, group): cohort, 'all' and one row per split column.

    Needs views ``outcomes``, ``customers`` and, with cohorts, ``cohorts`` (customer_id,
    cohort). A customer outside every cohort of the run counts as '(none)'. With a view
    ``bau`` (customer_id), its customers also form dimension 'bau', group 'bau_list'.
    """
    parts = ["SELECT customer_id, 'all' AS dimension, 'all' AS \"group\" FROM outcomes"]
    if with_cohorts:
        parts.append("""SELECT o.customer_id, 'cohort', coalesce(c.cohort, '(none)')
                        FROM outcomes o LEFT JOIN cohorts c USING (customer_id)""")
    if with_bau_list:
        parts.append(f"""SELECT DISTINCT o.customer_id, 'bau', '{BAU_LIST}'
                         FROM outcomes o JOIN bau b USING (customer_id)""")
    for split in splits:
        if split in customer_columns:
            parts.append(f"""SELECT o.customer_id, '{split}',
                                    coalesce(CAST(k."{split}" AS VARCHAR), '(null)')
                             FROM outcomes o LEFT JOIN customers k USING (customer_id)""")
    return " UNION ALL ".join(parts)


def lift_table(con, groups: str, confidence: float) -> pd.DataFrame:
    """Rates, lift and incremental revenue with CIs per (dimension, group)."""
    z = z_value(confidence)
    frame = con.execute(f"""
        WITH g AS ({groups}),
             a AS (SELECT g.dimension, g."group",
                     count(*) FILTER (arm <> 'holdout') AS n_treatment,
                     count(*) FILTER (arm = 'holdout') AS n_holdout,
                     avg(CAST(opened AS DOUBLE)) FILTER (arm <> 'holdout' AND sent) AS open_rate,
                     avg(CAST(clicked AS DOUBLE)) FILTER (arm <> 'holdout' AND sent)
                       AS click_rate,
                     avg(CAST(converted AS DOUBLE)) FILTER (arm <> 'holdout')
                       AS conversion_treatment,
                     avg(CAST(converted AS DOUBLE)) FILTER (arm = 'holdout')
                       AS conversion_holdout,
                     avg(coalesce(revenue, 0)) FILTER (arm <> 'holdout')
                       AS revenue_per_customer_treatment,
                     avg(coalesce(revenue, 0)) FILTER (arm = 'holdout')
                       AS revenue_per_customer_holdout,
                     var_samp(coalesce(revenue, 0)) FILTER (arm <> 'holdout') AS rv_t,
                     var_samp(coalesce(revenue, 0)) FILTER (arm = 'holdout') AS rv_h
                   FROM g JOIN outcomes o USING (customer_id) GROUP BY ALL),
             b AS (SELECT *, conversion_treatment - conversion_holdout AS lift,
                     sqrt(conversion_treatment * (1 - conversion_treatment) / n_treatment
                          + conversion_holdout * (1 - conversion_holdout) / n_holdout) AS lift_se,
                     revenue_per_customer_treatment - revenue_per_customer_holdout
                       AS incremental_revenue_per_customer,
                     sqrt(rv_t / n_treatment + rv_h / n_holdout) AS rev_se
                   FROM a)
        SELECT * FROM b ORDER BY dimension, n_treatment + n_holdout DESC""").df()
    return with_intervals(frame, z)[LIFT_COLUMNS]


def with_intervals(frame: pd.DataFrame, z: float) -> pd.DataFrame:
    """The lift's interval by Newcombe's hybrid score method and incremental revenue's by
    Welch's t: the intervals of the offer comparisons (``segflow.monitoring.experiments``),
    one construction for both pages' numbers."""
    import numpy as np
    from scipy.stats import norm
    from scipy.stats import t as student

    from segflow.monitoring.experiments import newcombe, welch_df

    n_t, n_h = frame["n_treatment"].to_numpy(float), frame["n_holdout"].to_numpy(float)
    c_t = np.round(frame["conversion_treatment"].to_numpy(float) * n_t)
    c_h = np.round(frame["conversion_holdout"].to_numpy(float) * n_h)
    level = np.full(len(frame), norm.cdf(z))
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["lift_low"], frame["lift_high"] = newcombe(c_t, n_t, c_h, n_h,
                                                         np.full(len(frame), z))
        df = welch_df(frame["rv_t"].to_numpy(float), n_t, frame["rv_h"].to_numpy(float), n_h)
    half = student.ppf(level, df) * frame["rev_se"].to_numpy(float)
    frame["incremental_revenue_low"] = frame["incremental_revenue_per_customer"] - half
    frame["incremental_revenue_high"] = frame["incremental_revenue_per_customer"] + half
    return frame


def bau_comparison(lift: pd.DataFrame, bau: str | None, confidence: float,
                   templates: dict[str, str]) -> pd.DataFrame:
    """Each template-driven cohort's lift minus the business-as-usual cohort's, with a CI.

    ``bau`` names a cohort or a template (a template's cohorts are pooled by taking the
    cohort row whose template matches, the largest when it is split), or is ``bau_list``:
    the customers of an uploaded list (dimension 'bau'). The same outcome window holds for
    both sides: they are rows of the same campaign's outcomes. The CI treats the two lifts
    as independent; customers in both only make it wider (their covariance is positive)."""
    cohorts = lift[lift["dimension"] == "cohort"]
    if bau == BAU_LIST:
        listed = lift[lift["dimension"] == "bau"]
        if listed.empty:
            return pd.DataFrame()
        base, others = listed.iloc[0], cohorts.copy()
    else:
        is_bau = (cohorts["group"] == bau) | (cohorts["group"].map(templates) == bau)
        if not bau or not is_bau.any():
            return pd.DataFrame()
        base, others = cohorts[is_bau].iloc[0], cohorts[~is_bau].copy()
    z = z_value(confidence)
    se = (others["lift_se"] ** 2 + base["lift_se"] ** 2) ** 0.5
    others["bau_cohort"] = base["group"]
    others["bau_lift"] = base["lift"]
    others["lift_vs_bau"] = others["lift"] - base["lift"]
    others["lift_vs_bau_low"] = others["lift_vs_bau"] - z * se
    others["lift_vs_bau_high"] = others["lift_vs_bau"] + z * se
    return others[["group", "bau_cohort", "lift", "bau_lift", "lift_vs_bau", "lift_vs_bau_low",
                   "lift_vs_bau_high"]].rename(columns={"group": "cohort"})


def _in_window(window_days: int) -> str:
    return (f"s.response_ts BETWEEN o.campaign_start "
            f"AND o.campaign_end + INTERVAL {int(window_days)} DAY")


def survey_table(con, groups: str, window_days: int, confidence: float = 0.95) -> pd.DataFrame:
    """NPS by group and arm from responses between the campaign start and end + window:
    promoters (9-10) minus detractors (0-6) in points, with n and a normal interval on the
    difference of two shares of one multinomial sample (var = (p + d - (p - d)^2) / n)."""
    z = z_value(confidence)
    return con.execute(f"""
        WITH g AS ({groups}),
             r AS (SELECT g.dimension, g."group", {ARM_SQL} AS arm, count(*) AS responses,
                     avg(s.nps) AS mean_nps, avg(CAST(s.nps >= 9 AS DOUBLE)) AS promoters,
                     avg(CAST(s.nps <= 6 AS DOUBLE)) AS detractors
                   FROM g JOIN outcomes o USING (customer_id) JOIN surveys s USING (customer_id)
                   WHERE s.nps IS NOT NULL AND {_in_window(window_days)} GROUP BY ALL),
             e AS (SELECT *, 100 * (promoters - detractors) AS nps,
                     100 * sqrt(greatest(promoters + detractors
                                         - (promoters - detractors) ^ 2, 0) / responses) AS se
                   FROM r)
        SELECT dimension, "group", arm, responses, mean_nps, promoters, detractors, nps,
               nps - {z} * se AS nps_low, nps + {z} * se AS nps_high
        FROM e ORDER BY dimension, "group", arm""").df()


def choice_table(con, groups: str, window_days: int, confidence: float = 0.95) -> pd.DataFrame:
    """Multiple-choice answers (``question``, ``answer`` of survey_responses) by group and
    arm: the share of respondents to each question choosing each answer, with a Wilson
    interval (statsmodels), e.g. 27% of lapsed customers preferred discounts."""
    from statsmodels.stats.proportion import proportion_confint

    table = con.execute(f"""
        WITH g AS ({groups}),
             a AS (SELECT g.dimension, g."group", {ARM_SQL} AS arm, s.question, s.answer,
                          count(DISTINCT s.customer_id) AS chose
                   FROM g JOIN outcomes o USING (customer_id) JOIN surveys s USING (customer_id)
                   WHERE s.question IS NOT NULL AND s.answer IS NOT NULL
                     AND {_in_window(window_days)} GROUP BY ALL),
             -- 'all' named: Spark's GROUP BY ALL would group by a column named all
             arms AS (SELECT dimension, "group", arm, question, answer, chose FROM a
                      UNION ALL SELECT dimension, "group", 'all' AS arm, question, answer,
                        sum(chose) FROM a GROUP BY ALL)
        SELECT *, sum(chose) OVER (PARTITION BY dimension, "group", arm, question) AS answered
        FROM arms ORDER BY dimension, "group", arm, question, chose DESC""").df()
    if table.empty:
        return table
    table["share"] = table["chose"] / table["answered"]
    low, high = proportion_confint(table["chose"], table["answered"], alpha=1 - confidence,
                                   method="wilson")
    table["share_low"], table["share_high"] = low, high
    return table


def funnel_table(con, groups: str) -> pd.DataFrame:
    """The engagement funnel by group and arm: sent, opened, clicked, converted and revenue,
    with each step as a percentage of the customers sent to (the holdout is sent nothing,
    so its row shows conversion without contact)."""
    return con.execute(f"""
        WITH g AS ({groups})
        SELECT g.dimension, g."group", {ARM_SQL} AS arm, count(*) AS customers,
               count(*) FILTER (sent) AS sent, count(*) FILTER (opened) AS opened,
               count(*) FILTER (clicked) AS clicked, count(*) FILTER (converted) AS converted,
               sum(coalesce(revenue, 0)) AS revenue,
               100 * count(*) FILTER (opened) / nullif(count(*) FILTER (sent), 0) AS open_pct,
               100 * count(*) FILTER (clicked) / nullif(count(*) FILTER (sent), 0) AS click_pct,
               100 * count(*) FILTER (converted) / count(*) AS conversion_pct
        FROM g JOIN outcomes o USING (customer_id) GROUP BY ALL
        ORDER BY g.dimension, g."group", arm""").df()


def labels_sql() -> str:
    """The outcomes as training labels: one row per customer, keyed by time of treatment."""
    return """SELECT customer_id, campaign_id, campaign_start AS event_timestamp, arm,
                     arm <> 'holdout' AS treated, converted, coalesce(revenue, 0) AS revenue,
                     opened, clicked FROM outcomes"""
