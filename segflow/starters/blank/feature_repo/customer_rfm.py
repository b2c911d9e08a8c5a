"""Recency, frequency and monetary value, plus tenure: how recently, how often and how much
a customer buys, and for how long they have been a customer. Refunded orders never count as
spend. Amounts are in the project's base currency (orders.amount_base).

A feature view is one file: the Feast FeatureView (every field described) and the DuckDB
SQL that computes it as of a time ($as_of); the tables it reads are the canonical tables
named in `sources`. CHANGE: add a field here and to the SELECT, or add a file for a new
view (docs/features.md)."""

from datetime import timedelta

from entities import customer
from feast import FeatureView, Field, FileSource
from feast.types import Float64, Int64, String

from segflow.featurestore.transform import Transformation, source_path

customer_rfm = FeatureView(
    name="customer_rfm",
    description="RFM and tenure of each customer, from completed orders (base currency).",
    owner="analytics@example.com",
    entities=[customer],
    ttl=timedelta(days=30),
    schema=[
        Field(name="customer_id", dtype=String, description="Customer id (join key)."),
        Field(name="recency_days", dtype=Int64,
              description="Whole days since the last completed order; null if never ordered."),
        Field(name="frequency_365d", dtype=Int64,
              description="Completed orders in the 365 days before the as-of time."),
        Field(name="monetary_365d", dtype=Float64,
              description="Spent on completed orders in the 365 days before the as-of time."),
        Field(name="lifetime_spend", dtype=Float64,
              description="Spent on all completed orders before the as-of time."),
        Field(name="lifetime_orders", dtype=Int64, description="All completed orders."),
        Field(name="aov", dtype=Float64,
              description="Average completed order value; null if never ordered."),
        Field(name="tenure_days", dtype=Int64,
              description="Whole days since the customer signed up."),
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
        SELECT customer_id, order_ts, amount_base,
               order_ts >= $as_of - INTERVAL 365 DAY AS in_year
        FROM orders
        WHERE order_ts < $as_of AND status = 'completed'
    ), agg AS (
        SELECT customer_id,
               max(order_ts) AS last_order_ts,
               count(*) FILTER (WHERE in_year) AS frequency_365d,
               CAST(coalesce(sum(amount_base::DECIMAL(38, 6)) FILTER (WHERE in_year), 0)
                    AS DOUBLE) AS monetary_365d,
               CAST(sum(amount_base::DECIMAL(38, 6)) AS DOUBLE) AS lifetime_spend,
               count(*) AS lifetime_orders
        FROM o GROUP BY customer_id
    )
    SELECT c.customer_id,
           days_between(a.last_order_ts, $as_of) AS recency_days,
           coalesce(a.frequency_365d, 0) AS frequency_365d,
           coalesce(a.monetary_365d, 0)::DOUBLE AS monetary_365d,
           coalesce(a.lifetime_spend, 0)::DOUBLE AS lifetime_spend,
           coalesce(a.lifetime_orders, 0) AS lifetime_orders,
           (a.lifetime_spend / nullif(a.lifetime_orders, 0))::DOUBLE AS aov,
           days_between(c.signup_ts, $as_of) AS tenure_days
    FROM customers c LEFT JOIN agg a USING (customer_id)
    WHERE c.signup_ts < $as_of
    """,
)
