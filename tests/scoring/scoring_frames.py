"""Small scored frames shaped like get_features() output plus model scores.

Columns and types follow docs/architecture.md, so validation and evaluation are tested on
the same columns the feature store and models produce, without building a Feast repo.
(A module of its own, not conftest, so test files can import it by a unique name.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from segflow.scoring.columns import family

STATES = [("Maharashtra", "west", "marathi"), ("Maharashtra", "west", "hindi"),
          ("Uttar Pradesh", "north", "hindi"), ("Tamil Nadu", "south", "tamil"),
          ("West Bengal", "east", "bengali"), ("Punjab", "north", "punjabi"),
          ("Gujarat", "west", "gujarati"), ("United Kingdom", "diaspora", "english")]
CLUSTER = {"marathi": "west_marathi_gujarati", "gujarati": "west_marathi_gujarati",
           "hindi": "hindi_heartland", "tamil": "south_dravidian", "bengali": "east_bengali",
           "punjabi": "punjab_punjabi", "english": "diaspora"}
AS_OF = datetime(2027, 3, 1, tzinfo=UTC)


def customer_frame(n: int = 400, seed: int = 1, as_of: datetime = AS_OF) -> pa.Table:
    """A scored customer frame of n rows; vectorised and seeded."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(STATES), n)
    region = np.array([s[0] for s in STATES])[pick]
    zone = np.array([s[1] for s in STATES])[pick]
    lang = np.array([s[2] for s in STATES])[pick]
    orders = rng.poisson(3, n)
    recency = np.where(orders > 0, rng.integers(1, 400, n), -1)
    signup_days = rng.integers(1, 900, n)
    idle = rng.integers(0, 40, n)
    cols = {
        "customer_id": [f"C{i:06d}" for i in range(n)],
        "event_timestamp": pa.array([as_of] * n, pa.timestamp("us", tz="UTC")),
        "region": region, "country": np.where(zone == "diaspora", "GB", "IN"),
        "preferred_language": lang, "is_diaspora": zone == "diaspora",
        "signup_ts": pa.array([as_of - timedelta(days=int(d)) for d in signup_days],
                              pa.timestamp("us", tz="UTC")),
        "tenure_days": signup_days,
        **{f"consent_{c}": rng.random(n) < 0.8 for c in ("email", "sms", "push", "ads")},
        "onboarding_completed": rng.random(n) < 0.7,
        "recency_days": pa.array(recency, mask=recency < 0),
        "frequency_365d": rng.poisson(2, n), "monetary_365d": rng.gamma(2, 1500, n),
        "lifetime_spend": rng.gamma(2, 3000, n) * (orders > 0), "lifetime_orders": orders,
        "aov": rng.gamma(2, 900, n), "refunds_365d": rng.poisson(0.2, n),
        "holi_colour_purchases_30d": rng.poisson(0.3, n),
        "festival_orders_365d": rng.poisson(1.2, n),
        "festival_spend_365d": rng.gamma(2, 800, n), "holi_buyer_last_year": rng.random(n) < 0.4,
        "festival_purchase_score": rng.random(n), "engagement_score": rng.random(n),
        "email_opens_30d": rng.poisson(2, n), "email_clicks_30d": rng.poisson(0.5, n),
        "app_sessions_30d": rng.poisson(3, n),
        "days_since_last_activity": pa.array(idle, mask=rng.random(n) < 0.05),
        "active_14d": idle < 14, "complaints_365d": rng.poisson(0.05, n),
        "unsubscribed": rng.random(n) < 0.03, "region_zone": zone,
        "language_group": np.where(lang == "hindi", "hindi",
                                   np.where(lang == "english", "english", "regional")),
        "region_language_cluster": np.array([CLUSTER[x] for x in lang]),
        "holi_propensity": rng.random(n), "flash_sale_uplift": rng.normal(0.02, 0.05, n),
        "behaviour_cluster": rng.integers(0, 5, n),
        "behaviour_cluster_label": np.array(["bargain", "festive", "loyal", "new", "lapsed"])[
            rng.integers(0, 5, n)],
        "anomaly_score": rng.random(n), "is_anomaly": rng.random(n) < 0.01,
        "anomaly_reason": np.array([""] * n),
    }
    return pa.table(cols)


def account_frame(n: int = 200, seed: int = 2) -> pa.Table:
    rng = np.random.default_rng(seed)
    revenue = rng.lognormal(14.5, 1.6, n) * (rng.random(n) < 0.93)
    growth = rng.normal(0.05, 0.25, n)
    return pa.table({
        "account_id": [f"A{i:05d}" for i in range(n)],
        "event_timestamp": pa.array([AS_OF] * n, pa.timestamp("us", tz="UTC")),
        "revenue_4q": revenue, "margin_4q": revenue * 0.2,
        "margin_pct": rng.normal(0.2, 0.08, n), "revenue_prev_4q": revenue / (1 + growth),
        "child_accounts": rng.poisson(1, n), "product_lines": rng.integers(1, 7, n),
        "top_product_share": rng.random(n), "tenure_years": rng.gamma(2, 2, n),
        "revenue_growth_yoy": growth,
        "growth_trajectory": np.where(growth > 0.1, "growing",
                                      np.where(growth < -0.1, "declining", "stable")),
        "strategic_flag": rng.random(n) < 0.03, "open_escalations": rng.poisson(0.3, n),
        "region": np.array(["west", "north", "south"])[rng.integers(0, 3, n)],
        "industry": np.array(["retail", "pharma", "logistics"])[rng.integers(0, 3, n)],
        "notes_topic": np.array(["pricing", "churn_risk", "expansion"])[rng.integers(0, 3, n)],
    })


def columns_of(table: pa.Table) -> dict[str, str]:
    return {f.name: family(f.type) for f in table.schema}


FRAMES = {"customer": customer_frame(50), "account": account_frame(20)}


def frame_columns(entity: str) -> dict[str, str]:
    """The known columns of an entity, from the test frames' schema."""
    return columns_of(FRAMES[entity])
