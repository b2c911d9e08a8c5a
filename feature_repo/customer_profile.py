"""Who the customer is: where they live, their language, how long they have been with us,
and what they allow us to contact them on."""

from datetime import timedelta

from entities import customer
from feast import FeatureView, Field, FileSource
from feast.types import Bool, Int64, String, UnixTimestamp

from segflow.featurestore.transform import Transformation, source_path

customer_profile = FeatureView(
    name="customer_profile",
    description="Customer profile: region, language, tenure and channel consents.",
    owner="crm-analytics@segflow.dev",
    tags={"domain": "b2c", "topic": "profile", "pii": "false"},
    entities=[customer],
    ttl=timedelta(days=400),
    schema=[
        Field(name="customer_id", dtype=String, description="Customer id (join key)."),
        Field(name="region", dtype=String,
              description="Indian state, or the country name for diaspora customers."),
        Field(name="country", dtype=String, description="ISO-2 country code."),
        Field(name="preferred_language", dtype=String,
              description="Preferred language, lower case (hindi, tamil, english, ...)."),
        Field(name="is_diaspora", dtype=Bool, description="Lives outside India (country != IN)."),
        Field(name="signup_ts", dtype=UnixTimestamp, description="Sign-up time (UTC)."),
        Field(name="tenure_days", dtype=Int64,
              description="Whole days from sign-up to the as-of time."),
        Field(name="consent_email", dtype=Bool, description="May be emailed."),
        Field(name="consent_sms", dtype=Bool, description="May be sent SMS."),
        Field(name="consent_push", dtype=Bool, description="May be sent push notifications."),
        Field(name="consent_ads", dtype=Bool, description="May be targeted with paid ads."),
        Field(name="onboarding_completed", dtype=Bool,
              description="Finished the onboarding journey."),
    ],
    source=FileSource(
        name="customer_profile_source",
        path=source_path("customer_profile"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    ),
)

transformation = Transformation(
    sources=("customers",),
    sql="""
    SELECT customer_id, region, country, preferred_language,
           country <> 'IN' AS is_diaspora,
           signup_ts,
           days_between(signup_ts, $as_of) AS tenure_days,
           consent_email, consent_sms, consent_push, consent_ads, onboarding_completed
    FROM customers
    WHERE signup_ts < $as_of
    """,
)
