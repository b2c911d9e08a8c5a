"""Growth trajectory of a top account: year-on-year revenue change, bucketed into growing,
stable or declining by the thresholds in config/account_growth.yaml."""

from datetime import timedelta

from entities import account
from feast import FeatureView, Field, FileSource
from feast.types import Float64, String

from segflow.featurestore.transform import Transformation, load_config, source_path

_cfg = load_config(__file__, "account_growth.yaml",
                   {"growing_above": (int, float), "declining_below": (int, float)})

account_growth = FeatureView(
    name="account_growth",
    description="Year-on-year revenue growth of the top account and its trajectory.",
    owner="finance-analytics@segflow.dev",
    tags={"domain": "b2b", "topic": "growth"},
    entities=[account],
    ttl=timedelta(days=120),
    schema=[
        Field(name="account_id", dtype=String, description="Top account id (join key)."),
        Field(name="revenue_growth_yoy", dtype=Float64,
              description="(revenue_4q - revenue_prev_4q) / revenue_prev_4q; null when the "
                          "previous year had no positive revenue."),
        Field(name="growth_trajectory", dtype=String,
              description="growing | stable | declining (thresholds in config); new revenue "
                          "without a previous year counts as growing."),
    ],
    source=FileSource(
        name="account_growth_source",
        path=source_path("account_growth"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    ),
)

transformation = Transformation(
    sources=("top_accounts", "account_billing_windows"),
    params={"growing": float(_cfg["growing_above"]), "declining": float(_cfg["declining_below"])},
    sql="""
    WITH g AS (
        SELECT t.account_id, coalesce(w.revenue_4q, 0) AS rev,
               coalesce(w.revenue_prev_4q, 0) AS prev
        FROM top_accounts t LEFT JOIN account_billing_windows($as_of) w USING (account_id)
        WHERE t.created_ts < $as_of
    )
    SELECT account_id,
           CASE WHEN prev > 0 THEN (rev - prev) / prev END::DOUBLE AS revenue_growth_yoy,
           CASE WHEN prev <= 0 THEN CASE WHEN rev > 0 THEN 'growing' ELSE 'stable' END
                WHEN (rev - prev) / prev >= $growing THEN 'growing'
                WHEN (rev - prev) / prev <= $declining THEN 'declining'
                ELSE 'stable' END AS growth_trajectory
    FROM g
    """,
)
