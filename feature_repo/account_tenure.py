"""How long a top account has been a customer: long-standing accounts get tier protection."""

from datetime import timedelta

from entities import account
from feast import FeatureView, Field, FileSource
from feast.types import Float64, String

from segflow.featurestore.transform import Transformation, source_path

account_tenure = FeatureView(
    name="account_tenure",
    description="Tenure of the top account in years.",
    owner="finance-analytics@segflow.dev",
    tags={"domain": "b2b", "topic": "tenure"},
    entities=[account],
    ttl=timedelta(days=120),
    schema=[
        Field(name="account_id", dtype=String, description="Top account id (join key)."),
        Field(name="tenure_years", dtype=Float64,
              description="Whole days from the account's creation to as-of, / 365.25."),
    ],
    source=FileSource(
        name="account_tenure_source",
        path=source_path("account_tenure"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    ),
)

transformation = Transformation(
    sources=("top_accounts",),
    sql="""
    SELECT account_id, (days_between(created_ts, $as_of) / 365.25)::DOUBLE AS tenure_years
    FROM top_accounts WHERE created_ts < $as_of
    """,
)
