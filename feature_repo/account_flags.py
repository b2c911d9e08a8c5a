"""Flags reviewers look at before tiering: strategic status, open escalations, and where the
account sits. Escalation rules live in config/account_flags.yaml.

Tickets carry their current status only, so open_escalations at a past as-of time counts
tickets opened before it that are open now (the canonical table has no status history)."""

from datetime import timedelta

from entities import account
from feast import FeatureView, Field, FileSource
from feast.types import Bool, Int64, String

from segflow.featurestore.transform import Transformation, load_config, source_path

_cfg = load_config(__file__, "account_flags.yaml", {
    "escalation_severities": list, "open_statuses": list, "window_days": int})

account_flags = FeatureView(
    name="account_flags",
    description="Strategic flag (any account in the family), open escalations, region, industry.",
    owner="finance-analytics@segflow.dev",
    tags={"domain": "b2b", "topic": "flags", "review": "true"},
    entities=[account],
    ttl=timedelta(days=120),
    schema=[
        Field(name="account_id", dtype=String, description="Top account id (join key)."),
        Field(name="strategic_flag", dtype=Bool,
              description="The top account or any of its children is flagged strategic."),
        Field(name="open_escalations", dtype=Int64,
              description="Open high-severity tickets of the family opened in the last 90 days."),
        Field(name="region", dtype=String, description="Region of the top account."),
        Field(name="industry", dtype=String, description="Industry of the top account."),
    ],
    source=FileSource(
        name="account_flags_source",
        path=source_path("account_flags"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    ),
)

transformation = Transformation(
    sources=("top_accounts", "accounts", "account_hierarchy", "support_tickets"),
    params={"severities": [str(s) for s in _cfg["escalation_severities"]],
            "statuses": [str(s) for s in _cfg["open_statuses"]],
            "window_days": _cfg["window_days"]},
    sql="""
    WITH family AS (
        SELECT coalesce(h.top_account_id, a.account_id) AS top_id, a.account_id,
               a.strategic_flag
        FROM accounts a LEFT JOIN account_hierarchy h USING (account_id)
        WHERE a.created_ts < $as_of
    ), esc AS (
        SELECT f.top_id, count(*) AS n
        FROM support_tickets s JOIN family f USING (account_id)
        WHERE s.opened_ts < $as_of
          AND s.opened_ts >= $as_of - to_days(CAST($window_days AS INTEGER))
          AND list_contains($severities, s.severity) AND list_contains($statuses, s.status)
        GROUP BY ALL
    ), strat AS (
        SELECT top_id, bool_or(coalesce(strategic_flag, false)) AS strategic
        FROM family GROUP BY ALL
    )
    SELECT t.account_id, coalesce(st.strategic, false) AS strategic_flag,
           coalesce(e.n, 0) AS open_escalations, t.region, t.industry
    FROM top_accounts t
    LEFT JOIN strat st ON st.top_id = t.account_id
    LEFT JOIN esc e ON e.top_id = t.account_id
    WHERE t.created_ts < $as_of
    """,
)
