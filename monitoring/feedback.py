"""Campaign feedback: what a campaign actually did, per cohort, from its randomised holdout.

Lift is the difference in conversion rate, treatment minus holdout, with a normal-
approximation (Wald, unpooled variances) confidence interval: with randomised arms that
estimates the average treatment effect of the group, and the samples are large enough for
the approximation. Incremental revenue per customer uses the same construction on means.
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


def groups_sql(splits: list[str], customer_columns: set[str], with_cohorts: bool) -> str:
    """SQL of (customer_id, dimension, group): cohort, 'all' and one row per split column.

    Needs views ``outcomes``, ``customers`` and, with cohorts, ``cohorts`` (customer_id,
    cohort). A customer outside every cohort of the run counts as '(none)'.
    """
    parts = ["SELECT customer_id, 'all' AS dimension, 'all' AS \"group\" FROM outcomes"]
    if with_cohorts:
        parts.append("""SELECT o.customer_id, 'cohort', coalesce(c.cohort, '(none)')
                        FROM outcomes o LEFT JOIN cohorts c USING (customer_id)""")
    for split in splits:
        if split in customer_columns:
            parts.append(f"""SELECT o.customer_id, '{split}',
                                    coalesce(CAST(k."{split}" AS VARCHAR), '(null)')
                             FROM outcomes o LEFT JOIN customers k USING (customer_id)""")
    return " UNION ALL ".join(parts)


def lift_table(con, groups: str, confidence: float) -> pd.DataFrame:
    """Rates, lift and incremental revenue with CIs per (dimension, group)."""
    z = z_value(confidence)
    return con.execute(f"""
        WITH g AS ({groups}),
             a AS (SELECT g.dimension, g."group",
                     count(*) FILTER (arm = 'treatment') AS n_treatment,
                     count(*) FILTER (arm = 'holdout') AS n_holdout,
                     avg(CAST(opened AS DOUBLE)) FILTER (arm = 'treatment' AND sent) AS open_rate,
                     avg(CAST(clicked AS DOUBLE)) FILTER (arm = 'treatment' AND sent)
                       AS click_rate,
                     avg(CAST(converted AS DOUBLE)) FILTER (arm = 'treatment')
                       AS conversion_treatment,
                     avg(CAST(converted AS DOUBLE)) FILTER (arm = 'holdout')
                       AS conversion_holdout,
                     avg(coalesce(revenue, 0)) FILTER (arm = 'treatment')
                       AS revenue_per_customer_treatment,
                     avg(coalesce(revenue, 0)) FILTER (arm = 'holdout')
                       AS revenue_per_customer_holdout,
                     var_samp(coalesce(revenue, 0)) FILTER (arm = 'treatment') AS rv_t,
                     var_samp(coalesce(revenue, 0)) FILTER (arm = 'holdout') AS rv_h
                   FROM g JOIN outcomes o USING (customer_id) GROUP BY ALL),
             b AS (SELECT *, conversion_treatment - conversion_holdout AS lift,
                     sqrt(conversion_treatment * (1 - conversion_treatment) / n_treatment
                          + conversion_holdout * (1 - conversion_holdout) / n_holdout) AS lift_se,
                     revenue_per_customer_treatment - revenue_per_customer_holdout
                       AS incremental_revenue_per_customer,
                     sqrt(rv_t / n_treatment + rv_h / n_holdout) AS rev_se
                   FROM a)
        SELECT *, lift - {z} * lift_se AS lift_low, lift + {z} * lift_se AS lift_high,
               incremental_revenue_per_customer - {z} * rev_se AS incremental_revenue_low,
               incremental_revenue_per_customer + {z} * rev_se AS incremental_revenue_high
        FROM b ORDER BY dimension, n_treatment + n_holdout DESC""").df()[LIFT_COLUMNS]


def bau_comparison(lift: pd.DataFrame, bau: str | None, confidence: float,
                   templates: dict[str, str]) -> pd.DataFrame:
    """Each template-driven cohort's lift minus the business-as-usual cohort's, with a CI.

    ``bau`` names a cohort or a template; a template's cohorts are pooled by taking the
    cohort row whose template matches (the largest when it is split).
    """
    cohorts = lift[lift["dimension"] == "cohort"]
    is_bau = (cohorts["group"] == bau) | (cohorts["group"].map(templates) == bau)
    if not bau or not is_bau.any():
        return pd.DataFrame()
    base = cohorts[is_bau].iloc[0]
    others = cohorts[~is_bau].copy()
    z = z_value(confidence)
    se = (others["lift_se"] ** 2 + base["lift_se"] ** 2) ** 0.5
    others["bau_cohort"] = base["group"]
    others["lift_vs_bau"] = others["lift"] - base["lift"]
    others["lift_vs_bau_low"] = others["lift_vs_bau"] - z * se
    others["lift_vs_bau_high"] = others["lift_vs_bau"] + z * se
    return others[["group", "bau_cohort", "lift", "lift_vs_bau", "lift_vs_bau_low",
                   "lift_vs_bau_high"]].rename(columns={"group": "cohort"})


def survey_table(con, groups: str, window_days: int) -> pd.DataFrame:
    """NPS by group and arm from responses between the campaign start and end + window."""
    return con.execute(f"""
        WITH g AS ({groups})
        SELECT g.dimension, g."group", o.arm, count(*) AS responses, avg(s.nps) AS mean_nps
        FROM g JOIN outcomes o USING (customer_id) JOIN surveys s USING (customer_id)
        WHERE s.response_ts BETWEEN o.campaign_start
                                AND o.campaign_end + INTERVAL {int(window_days)} DAY
        GROUP BY ALL ORDER BY g.dimension, g."group", o.arm""").df()


def labels_sql() -> str:
    """The outcomes as training labels: one row per customer, keyed by time of treatment."""
    return """SELECT customer_id, campaign_id, campaign_start AS event_timestamp, arm,
                     arm = 'treatment' AS treated, converted, coalesce(revenue, 0) AS revenue,
                     opened, clicked FROM outcomes"""
