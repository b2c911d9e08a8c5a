"""Product mix of a top account: how many product lines it buys and how concentrated its
spend is, over the last four quarters, children rolled up."""

from datetime import timedelta

from entities import account
from feast import FeatureView, Field, FileSource
from feast.types import Float64, Int64, String

from segflow.featurestore.transform import Transformation, source_path

account_product_mix = FeatureView(
    name="account_product_mix",
    description="Product lines billed in the last 4 quarters and the top line's share.",
    owner="finance-analytics@segflow.dev",
    tags={"domain": "b2b", "topic": "product_mix"},
    entities=[account],
    ttl=timedelta(days=120),
    schema=[
        Field(name="account_id", dtype=String, description="Top account id (join key)."),
        Field(name="product_lines", dtype=Int64,
              description="Distinct product lines billed in the 12 months before as-of."),
        Field(name="top_product_share", dtype=Float64,
              description="Revenue share (0..1) of the largest line; null without revenue."),
    ],
    source=FileSource(
        name="account_product_mix_source",
        path=source_path("account_product_mix"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    ),
)

transformation = Transformation(
    sources=("top_accounts", "billing_rollup"),
    sql="""
    WITH lines AS (
        SELECT top_account_id AS account_id, product_line,
               CAST(sum(revenue::DECIMAL(38, 6)) AS DOUBLE) AS revenue
        FROM billing_rollup
        WHERE invoice_date < $as_of AND invoice_date >= $as_of - INTERVAL 12 MONTH
        GROUP BY ALL
    ), mix AS (
        SELECT account_id, count(DISTINCT product_line) AS n,
               max(revenue) / nullif(CAST(sum(revenue::DECIMAL(38, 6)) AS DOUBLE), 0) AS share,
               CAST(sum(revenue::DECIMAL(38, 6)) AS DOUBLE) AS total
        FROM lines GROUP BY ALL
    )
    SELECT t.account_id, coalesce(m.n, 0) AS product_lines,
           CASE WHEN m.total > 0 THEN m.share END::DOUBLE AS top_product_share
    FROM top_accounts t LEFT JOIN mix m USING (account_id)
    WHERE t.created_ts < $as_of
    """,
)
