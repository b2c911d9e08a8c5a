"""Recency, frequency and monetary value: how recently, how often and how much a customer
buys. Refunded orders count as refunds, never as spend."""

from datetime import timedelta

from entities import customer
from feast import FeatureView, Field, FileSource
from feast.types import Float64, Int64, String

from segflow.featurestore.transform import Transformation, source_path

customer_rfm = FeatureView(
    name="customer_rfm",
    description="RFM: recency, frequency and monetary value of completed orders (INR).",
    owner="crm-analytics@segflow.dev",
    tags={"domain": "b2c", "topic": "rfm"},
    entities=[customer],
    ttl=timedelta(days=30),
    schema=[
        Field(name="customer_id", dtype=String, description="Customer id (join key)."),
        Field(name="recency_days", dtype=Int64,
              description="Whole days since the last completed order; null if never ordered."),
        Field(name="frequency_365d", dtype=Int64,
              description="Completed orders in the 365 days before the as-of time."),
        Field(name="monetary_365d", dtype=Float64,
              description="INR spent on completed orders in the 365 days before as-of."),
        Field(name="lifetime_spend", dtype=Float64,
              description="INR spent on all completed orders (net of refunds)."),
        Field(name="lifetime_orders", dtype=Int64, description="All completed orders."),
        Field(name="aov", dtype=Float64,
              description="Average completed order value (INR); null if never ordered."),
        Field(name="refunds_365d", dtype=Int64,
              description="Refunded orders in the 365 days before the as-of time."),
    ],
    source=FileSource(
        name="customer_rfm_source",
        path=source_path("customer_rfm"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    ),
)

transformation = Transformation(
    sources=("customers", "orders"),
    sql="""
    WITH o AS (
        SELECT customer_id, order_ts, amount_inr,
               status = 'completed' AS done,
               status = 'refunded' AS refunded,
               order_ts >= $as_of - INTERVAL 365 DAY AS in_year
        FROM orders
        WHERE order_ts < $as_of
    ), agg AS (
        SELECT customer_id,
               max(order_ts) FILTER (WHERE done) AS last_order_ts,
               count(*) FILTER (WHERE done AND in_year) AS frequency_365d,
               CAST(coalesce(sum(amount_inr::DECIMAL(38, 6)) FILTER (WHERE done AND in_year),
                             0) AS DOUBLE) AS monetary_365d,
               CAST(coalesce(sum(amount_inr::DECIMAL(38, 6)) FILTER (WHERE done), 0) AS DOUBLE)
                 AS lifetime_spend,
               count(*) FILTER (WHERE done) AS lifetime_orders,
               count(*) FILTER (WHERE refunded AND in_year) AS refunds_365d
        FROM o GROUP BY customer_id
    )
    SELECT c.customer_id,
           days_between(a.last_order_ts, $as_of) AS recency_days,
           coalesce(a.frequency_365d, 0) AS frequency_365d,
           coalesce(a.monetary_365d, 0)::DOUBLE AS monetary_365d,
           coalesce(a.lifetime_spend, 0)::DOUBLE AS lifetime_spend,
           coalesce(a.lifetime_orders, 0) AS lifetime_orders,
           (a.lifetime_spend / nullif(a.lifetime_orders, 0))::DOUBLE AS aov,
           coalesce(a.refunds_365d, 0) AS refunds_365d
    FROM customers c LEFT JOIN agg a USING (customer_id)
    WHERE c.signup_ts < $as_of
    """,
)
