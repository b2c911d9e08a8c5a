"""Engagement: a channel-weighted score of recent interactions, recency of activity, and the
signals that say "stop contacting" (complaints, unsubscribes). Weights and windows live in
config/engagement.yaml."""

from datetime import timedelta

from entities import customer
from feast import FeatureView, Field, FileSource
from feast.types import Bool, Float64, Int64, String

from segflow.errors import ConfigError
from segflow.featurestore.transform import (
    Transformation,
    config_path,
    load_config,
    source_path,
)

_cfg = load_config(__file__, "engagement.yaml", {
    "window_days": int, "active_days": int, "long_window_days": int,
    "activity_event_types": list, "weights": list})


def _weights(rows: list) -> list[dict]:
    """Weight rows as a relation; a malformed row names its line in the YAML."""
    out = []
    for row in rows:
        line = getattr(row, "start_line", _cfg.line("weights"))
        if not isinstance(row, dict) or set(row) != {"channel", "event_type", "weight"}:
            raise ConfigError(config_path(__file__, "engagement.yaml"), line,
                              "each weight needs exactly channel, event_type and weight")
        if isinstance(row["weight"], bool) or not isinstance(row["weight"], int | float):
            raise ConfigError(config_path(__file__, "engagement.yaml"), line,
                              f"weight must be a number, got {row['weight']!r}")
        out.append({"channel": str(row["channel"]), "event_type": str(row["event_type"]),
                    "weight": float(row["weight"])})
    return out


customer_engagement = FeatureView(
    name="customer_engagement",
    description="Engagement: channel-weighted score, activity recency, complaints, opt-outs.",
    owner="crm-analytics@segflow.dev",
    tags={"domain": "b2c", "topic": "engagement", "suppression": "true"},
    entities=[customer],
    ttl=timedelta(days=30),
    schema=[
        Field(name="customer_id", dtype=String, description="Customer id (join key)."),
        Field(name="engagement_score", dtype=Float64,
              description="Sum of channel/event weights (config) over the last 30 days."),
        Field(name="email_opens_30d", dtype=Int64, description="Email opens in 30 days."),
        Field(name="email_clicks_30d", dtype=Int64, description="Email clicks in 30 days."),
        Field(name="app_sessions_30d", dtype=Int64, description="App sessions in 30 days."),
        Field(name="days_since_last_activity", dtype=Int64,
              description="Whole days since the last open/click/visit/session; null if never."),
        Field(name="active_14d", dtype=Bool,
              description="Any activity in the 14 days before as-of (false if never)."),
        Field(name="complaints_365d", dtype=Int64, description="Complaints in 365 days."),
        Field(name="unsubscribed", dtype=Bool,
              description="Has unsubscribed on any channel before the as-of time."),
    ],
    source=FileSource(
        name="customer_engagement_source",
        path=source_path("customer_engagement"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    ),
)

transformation = Transformation(
    sources=("customers", "engagement_events"),
    params={"window_days": _cfg["window_days"], "active_days": _cfg["active_days"],
            "long_days": _cfg["long_window_days"],
            "activity_types": [str(t) for t in _cfg["activity_event_types"]]},
    tables={"engagement_weights": _weights(_cfg["weights"])},
    sql="""
    WITH e AS (
        SELECT customer_id, event_ts, channel, event_type,
               event_ts >= $as_of - to_days(CAST($window_days AS INTEGER)) AS recent,
               event_ts >= $as_of - to_days(CAST($long_days AS INTEGER)) AS in_year
        FROM engagement_events
        WHERE event_ts < $as_of
    ), agg AS (
        SELECT e.customer_id,
               CAST(coalesce(sum(w.weight::DECIMAL(38, 6)) FILTER (WHERE e.recent), 0)
                 AS DOUBLE) AS score,
               count(*) FILTER (WHERE e.recent AND e.channel = 'email'
                                AND e.event_type = 'open') AS email_opens,
               count(*) FILTER (WHERE e.recent AND e.channel = 'email'
                                AND e.event_type = 'click') AS email_clicks,
               count(*) FILTER (WHERE e.recent AND e.event_type = 'app_session') AS sessions,
               max(e.event_ts) FILTER (WHERE list_contains($activity_types, e.event_type))
                   AS last_activity,
               count(*) FILTER (WHERE e.in_year AND e.event_type = 'complaint') AS complaints,
               bool_or(e.event_type = 'unsubscribe') AS unsubscribed
        FROM e LEFT JOIN engagement_weights w USING (channel, event_type)
        GROUP BY e.customer_id
    )
    SELECT c.customer_id,
           coalesce(a.score, 0)::DOUBLE AS engagement_score,
           coalesce(a.email_opens, 0) AS email_opens_30d,
           coalesce(a.email_clicks, 0) AS email_clicks_30d,
           coalesce(a.sessions, 0) AS app_sessions_30d,
           days_between(a.last_activity, $as_of) AS days_since_last_activity,
           coalesce(a.last_activity >= $as_of - to_days(CAST($active_days AS INTEGER)), false)
               AS active_14d,
           coalesce(a.complaints, 0) AS complaints_365d,
           coalesce(a.unsubscribed, false) AS unsubscribed
    FROM customers c LEFT JOIN agg a USING (customer_id)
    WHERE c.signup_ts < $as_of
    """,
)
