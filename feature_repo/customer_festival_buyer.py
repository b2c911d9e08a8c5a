"""Festival buying: who buys for Holi and other festivals, and how much of their buying is
festival buying. Windows live in config/festival_buyer.yaml."""

from datetime import timedelta

from entities import customer
from feast import FeatureView, Field, FileSource
from feast.types import Bool, Float64, Int64, String

from segflow.featurestore.transform import Transformation, load_config, source_path

_cfg = load_config(__file__, "festival_buyer.yaml", {
    "holi_window_days": int, "festival_window_days": int, "holi_categories": list})

customer_festival_buyer = FeatureView(
    name="customer_festival_buyer",
    description="Festival buying: Holi colour purchases, festival orders and spend.",
    owner="crm-analytics@segflow.dev",
    tags={"domain": "b2c", "topic": "festival", "campaign": "holi"},
    entities=[customer],
    ttl=timedelta(days=30),
    schema=[
        Field(name="customer_id", dtype=String, description="Customer id (join key)."),
        Field(name="holi_colour_purchases_30d", dtype=Int64,
              description="Completed Holi colour/pichkari orders in the last 30 days."),
        Field(name="festival_orders_365d", dtype=Int64,
              description="Completed festival-tagged orders (holi, diwali) in 365 days."),
        Field(name="festival_spend_365d", dtype=Float64,
              description="INR spent on completed festival-tagged orders in 365 days."),
        Field(name="holi_buyer_last_year", dtype=Bool,
              description="Bought a Holi-tagged order in the 365 days before as-of."),
        Field(name="festival_purchase_score", dtype=Float64,
              description="Share (0..1) of completed orders in 365 days that were festival "
                          "orders; 0 if none."),
    ],
    source=FileSource(
        name="customer_festival_buyer_source",
        path=source_path("customer_festival_buyer"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    ),
)

transformation = Transformation(
    sources=("customers", "orders"),
    params={"holi_days": _cfg["holi_window_days"], "festival_days": _cfg["festival_window_days"],
            "holi_categories": [str(c) for c in _cfg["holi_categories"]]},
    sql="""
    WITH o AS (
        SELECT customer_id, amount_inr, festival, category
        FROM orders
        WHERE status = 'completed' AND order_ts < $as_of
          AND order_ts >= $as_of - to_days(CAST($festival_days AS INTEGER))
    ), holi AS (
        SELECT customer_id, count(*) AS n
        FROM orders
        WHERE status = 'completed' AND order_ts < $as_of
          AND order_ts >= $as_of - to_days(CAST($holi_days AS INTEGER))
          AND list_contains($holi_categories, category)
        GROUP BY customer_id
    ), agg AS (
        SELECT customer_id, count(*) AS orders,
               count(*) FILTER (WHERE festival IS NOT NULL) AS festival_orders,
               CAST(sum(amount_inr::DECIMAL(38, 6)) FILTER (WHERE festival IS NOT NULL) AS DOUBLE)
                 AS festival_spend,
               bool_or(festival = 'holi') AS holi_buyer
        FROM o GROUP BY customer_id
    )
    SELECT c.customer_id,
           coalesce(h.n, 0) AS holi_colour_purchases_30d,
           coalesce(a.festival_orders, 0) AS festival_orders_365d,
           coalesce(a.festival_spend, 0)::DOUBLE AS festival_spend_365d,
           coalesce(a.holi_buyer, false) AS holi_buyer_last_year,
           coalesce(a.festival_orders / nullif(a.orders, 0), 0)::DOUBLE
               AS festival_purchase_score
    FROM customers c
    LEFT JOIN agg a USING (customer_id)
    LEFT JOIN holi h USING (customer_id)
    WHERE c.signup_ts < $as_of
    """,
)
