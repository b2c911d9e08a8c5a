"""Bias check: is a cohort's make-up by region, language (or any configured attribute) far
from the eligible population's?

Disparity ratio = share of a value inside the group / its share in the eligible population
(every entity not suppressed). A ratio past ``max_disparity`` or below its inverse is flagged.
Groups are templates by default, summing their split cohorts: a cohort split by region is
100% one region by construction, which says nothing about fairness; the template does.
"""

from __future__ import annotations

import pandas as pd

from segflow.monitoring.config import BiasConfig

COLUMNS = ["group", "attribute", "value", "n_group", "group_share", "population_share",
           "disparity_ratio", "flagged"]


def empty_table() -> pd.DataFrame:
    return pd.DataFrame({"group": pd.Series(dtype=str), "attribute": pd.Series(dtype=str),
                         "value": pd.Series(dtype=str), "n_group": pd.Series(dtype="int64"),
                         "group_share": pd.Series(dtype=float),
                         "population_share": pd.Series(dtype=float),
                         "disparity_ratio": pd.Series(dtype=float),
                         "flagged": pd.Series(dtype=bool)})


def bias_table(con, config: BiasConfig, available: set[str], min_group: int = 30
               ) -> pd.DataFrame:
    """Composition of every group against the eligible population (views cur_m, cur_f)."""
    attributes = [a for a in config.attributes or [] if a in available]
    if not attributes:  # nothing to check (`bias: {attributes: []}`): an empty, typed table
        return empty_table()
    group_col = "template" if config.group_by == "template" else "cohort"
    parts = [f"""SELECT e.entity_id, e.grp, '{a}' AS attribute,
                        coalesce(CAST(f.{a} AS VARCHAR), '(null)') AS value
                 FROM e JOIN cur_f f ON f.entity_id = e.entity_id""" for a in attributes]
    low, high = 1 / config.max_disparity, config.max_disparity
    return con.execute(f"""
        WITH e AS (SELECT DISTINCT entity_id, NULL::VARCHAR AS grp FROM cur_m
                   WHERE status <> 'suppressed'
                   UNION ALL SELECT DISTINCT entity_id, coalesce({group_col}, cohort) FROM cur_m
                   WHERE status IN ('assigned', 'holdout')),
             long AS ({' UNION ALL '.join(parts)}),
             pop AS (SELECT attribute, value, count(*) / sum(count(*)) OVER (PARTITION BY
                            attribute) AS population_share
                     FROM long WHERE grp IS NULL GROUP BY attribute, value),
             grp AS (SELECT grp AS "group", attribute, value, count(*) AS n_value,
                            sum(count(*)) OVER (PARTITION BY grp, attribute) AS n_group
                     FROM long WHERE grp IS NOT NULL GROUP BY grp, attribute, value),
             pairs AS (SELECT DISTINCT g."group", g.attribute, g.n_group, p.value,
                              p.population_share FROM grp g JOIN pop p USING (attribute))
        SELECT p."group", p.attribute, p.value, p.n_group,
               coalesce(g.n_value, 0) / p.n_group AS group_share, p.population_share,
               (coalesce(g.n_value, 0) / p.n_group) / p.population_share AS disparity_ratio,
               p.population_share >= {config.min_population_share} AND p.n_group >= {min_group}
                 AND (disparity_ratio > {high} OR disparity_ratio < {low}) AS flagged
        FROM pairs p LEFT JOIN grp g USING ("group", attribute, value)
        ORDER BY flagged DESC, greatest(disparity_ratio, 1 / nullif(disparity_ratio, 0)) DESC,
                 "group", attribute, value  -- ties (two attributes naming the same people)
        """).df()[COLUMNS]
