"""Revenue and margin of a top account over the last four quarters, children rolled up.
Sums come from billing, the finance system of record, so segment totals reconcile."""

from datetime import timedelta

from entities import account
from feast import FeatureView, Field, FileSource
from feast.types import Float64, Int64, String

from segflow.featurestore.transform import Transformation, source_path

account_revenue = FeatureView(
    name="account_revenue",
    description="Top-account revenue and margin, last 4 quarters and the 4 before (INR).",
    owner="finance-analytics@segflow.dev",
    tags={"domain": "b2b", "topic": "revenue", "reconciles_to": "billing"},
    entities=[account],
    ttl=timedelta(days=120),
    schema=[
        Field(name="account_id", dtype=String, description="Top account id (join key)."),
        Field(name="revenue_4q", dtype=Float64,
              description="Billed revenue, children included, in the 12 months before as-of."),
        Field(name="margin_4q", dtype=Float64, description="Margin over the same 12 months."),
        Field(name="margin_pct", dtype=Float64,
              description="margin_4q / revenue_4q; null when revenue_4q is 0."),
        Field(name="revenue_prev_4q", dtype=Float64,
              description="Billed revenue in the 12 months before those."),
        Field(name="child_accounts", dtype=Int64,
              description="Accounts rolled up into this one (all depths)."),
    ],
    source=FileSource(
        name="account_revenue_source",
        path=source_path("account_revenue"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    ),
)

transformation = Transformation(
    sources=("top_accounts", "account_billing_windows", "account_hierarchy", "accounts"),
    sql="""
    WITH kids AS (
        SELECT h.top_account_id AS account_id, count(*) AS n
        FROM account_hierarchy h JOIN accounts a USING (account_id)
        WHERE a.account_id <> h.top_account_id AND a.created_ts < $as_of
        GROUP BY ALL
    )
    SELECT t.account_id,
           coalesce(w.revenue_4q, 0)::DOUBLE AS revenue_4q,
           coalesce(w.margin_4q, 0)::DOUBLE AS margin_4q,
           (w.margin_4q / nullif(w.revenue_4q, 0))::DOUBLE AS margin_pct,
           coalesce(w.revenue_prev_4q, 0)::DOUBLE AS revenue_prev_4q,
           coalesce(k.n, 0) AS child_accounts
    FROM top_accounts t
    LEFT JOIN account_billing_windows($as_of) w USING (account_id)
    LEFT JOIN kids k USING (account_id)
    WHERE t.created_ts < $as_of
    """,
)
