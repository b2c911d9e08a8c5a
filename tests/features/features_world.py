"""A tiny hand-made canonical world whose feature values can be worked out on paper.

Imported by name (tests/features is on sys.path under pytest's default import mode)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

AS_OF = datetime(2027, 3, 1, tzinfo=UTC)
EARLIER = AS_OF - timedelta(days=30)  # the second snapshot the retrieval tests build


def ts(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


TS = pa.timestamp("us", tz="UTC")


def _customer(cid, region, country, lang, signup, consent=True):
    return {"customer_id": cid, "account_id": None, "parent_account_id": None,
            "email": f"{cid}@x.in", "phone": "+919800000000", "name": cid.upper(),
            "signup_ts": signup, "region": region, "country": country, "city": "X",
            "preferred_language": lang, "consent_email": consent, "consent_sms": False,
            "consent_push": consent, "consent_ads": False, "onboarding_completed": True}


CUSTOMERS = [
    _customer("c1", "Maharashtra", "IN", "marathi", ts(2025, 3, 10)),
    _customer("c2", "Uttar Pradesh", "IN", "hindi", ts(2026, 1, 1)),
    _customer("c3", "United Kingdom", "GB", "english", ts(2025, 6, 1, 12)),
    _customer("c4", "Tamil Nadu", "IN", "tamil", ts(2026, 12, 1), consent=False),
    _customer("c5", "Punjab", "IN", "hindi", ts(2027, 3, 5)),  # signs up after AS_OF
]


def _order(oid, cid, when, amount, category="apparel", festival=None, status="completed"):
    return {"order_id": oid, "customer_id": cid, "order_ts": when, "amount": amount,
            "currency": "INR", "amount_inr": amount, "quantity": 1, "category": category,
            "festival": festival, "channel": "web", "status": status}


ORDERS = [
    # c1: two completed orders in the last year, one refunded, one older than a year
    _order("o1", "c1", ts(2027, 2, 20), 500.0, "holi_colours", "holi"),
    _order("o2", "c1", ts(2026, 10, 1), 1500.0, "gifts", "diwali"),
    _order("o3", "c1", ts(2026, 11, 1), 800.0, status="refunded"),
    _order("o4", "c1", ts(2025, 12, 1), 1000.0),
    # c2: one Holi order last year (2026-03-02), one order after AS_OF (invisible)
    _order("o5", "c2", ts(2026, 3, 2), 300.0, "pichkari", "holi"),
    _order("o6", "c2", ts(2027, 3, 2), 9999.0, "holi_colours", "holi"),
    # c3: an order exactly at AS_OF is not yet counted (windows are [start, as_of))
    _order("o7", "c3", AS_OF, 700.0),
    # c4: never ordered
]


def _event(eid, cid, when, channel, event_type):
    return {"event_id": eid, "customer_id": cid, "event_ts": when, "channel": channel,
            "event_type": event_type}


EVENTS = [
    _event("e1", "c1", ts(2027, 2, 25), "email", "open"),    # weight 1
    _event("e2", "c1", ts(2027, 2, 25), "email", "click"),   # weight 3
    _event("e3", "c1", ts(2027, 2, 26), "app", "app_session"),  # weight 2
    _event("e4", "c1", ts(2027, 2, 26), "email", "send"),    # no weight, not activity
    _event("e5", "c2", ts(2027, 1, 10), "web", "visit"),     # outside 30d; last activity
    _event("e6", "c2", ts(2026, 12, 1), "email", "complaint"),
    _event("e7", "c2", ts(2026, 12, 2), "email", "unsubscribe"),
    _event("e8", "c3", ts(2027, 3, 3), "app", "app_session"),  # after AS_OF
]

ACCOUNTS = [
    {"account_id": "A", "parent_account_id": None, "name": "Acme", "industry": "retail",
     "region": "west", "country": "IN", "created_ts": ts(2020, 1, 1), "strategic_flag": False,
     "owner": "asha"},
    {"account_id": "A1", "parent_account_id": "A", "name": "Acme East", "industry": "retail",
     "region": "east", "country": "IN", "created_ts": ts(2022, 1, 1), "strategic_flag": True,
     "owner": "asha"},
    {"account_id": "A2", "parent_account_id": "A1", "name": "Acme Kol", "industry": "retail",
     "region": "east", "country": "IN", "created_ts": ts(2023, 7, 1), "strategic_flag": False,
     "owner": "asha"},
    {"account_id": "B", "parent_account_id": None, "name": "Bolt", "industry": "energy",
     "region": "south", "country": "IN", "created_ts": ts(2025, 3, 1), "strategic_flag": False,
     "owner": "ravi"},
]
HIERARCHY = [
    {"account_id": "A", "parent_account_id": None, "top_account_id": "A", "depth": 0},
    {"account_id": "A1", "parent_account_id": "A", "top_account_id": "A", "depth": 1},
    {"account_id": "A2", "parent_account_id": "A1", "top_account_id": "A", "depth": 2},
    {"account_id": "B", "parent_account_id": None, "top_account_id": "B", "depth": 0},
]


def _invoice(iid, aid, when, revenue, margin, line):
    return {"invoice_id": iid, "account_id": aid, "invoice_date": when, "revenue": revenue,
            "margin": margin, "product_line": line}


BILLING = [
    _invoice("i1", "A", ts(2026, 6, 1), 1000.0, 300.0, "core"),
    _invoice("i2", "A1", ts(2026, 9, 1), 500.0, 100.0, "analytics"),
    _invoice("i3", "A2", ts(2026, 12, 1), 500.0, 100.0, "core"),
    _invoice("i4", "A", ts(2025, 6, 1), 1000.0, 200.0, "core"),     # previous 4 quarters
    _invoice("i5", "A", ts(2027, 3, 1), 9999.0, 999.0, "core"),     # at AS_OF: not counted
    _invoice("i6", "B", ts(2026, 4, 1), 100.0, 10.0, "core"),
    _invoice("i7", "B", ts(2025, 4, 1), 200.0, 20.0, "core"),
]
TICKETS = [
    {"ticket_id": "t1", "account_id": "A2", "opened_ts": ts(2027, 2, 1), "severity": "high",
     "status": "open"},
    {"ticket_id": "t2", "account_id": "A", "opened_ts": ts(2027, 2, 1), "severity": "low",
     "status": "open"},
    {"ticket_id": "t3", "account_id": "B", "opened_ts": ts(2027, 2, 1), "severity": "critical",
     "status": "closed"},
]

TABLES = {"customers": (CUSTOMERS, ["signup_ts"]), "orders": (ORDERS, ["order_ts"]),
          "engagement_events": (EVENTS, ["event_ts"]),
          "accounts": (ACCOUNTS, ["created_ts"]), "account_hierarchy": (HIERARCHY, []),
          "billing": (BILLING, ["invoice_date"]), "support_tickets": (TICKETS, ["opened_ts"])}


def write_world(settings, tables=TABLES) -> None:
    settings.canonical_dir.mkdir(parents=True, exist_ok=True)
    for name, (rows, ts_cols) in tables.items():
        table = pa.Table.from_pylist(rows)
        for col in ts_cols:
            table = table.set_column(table.schema.get_field_index(col), col,
                                     table[col].cast(TS))
        pq.write_table(table, settings.canonical_dir / f"{name}.parquet")


def entity_frame(key: str, ids: list[str]) -> pd.DataFrame:
    """An entity frame asking for each id at several times: before any snapshot, between
    the two, at one, after, and past each view's ttl, so a point-in-time retrieval is
    checked on every side of the snapshots."""
    offsets = [-45, -30, -10, 0, 20, 30, 45, 500]
    stamps = [AS_OF + timedelta(days=d) for d in offsets]
    return pd.DataFrame({key: [i for i in ids for _ in stamps],
                         "event_timestamp": [t for _ in ids for t in stamps]})
