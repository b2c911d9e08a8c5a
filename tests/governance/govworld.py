"""Helpers of the governance tests: a tiny world of templates, one exclusive campaign and
canonical tables, and a helper that writes a run (features + memberships) as refresh does.

Memberships are computed here with plain pandas rules mirroring the templates, so the
governance code under test (which evaluates the templates through scoring's parser in
DuckDB) is checked against an independent implementation.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from segflow.runstore import create_run, freeze, run_dir
from segflow.settings import get_settings

TEMPLATES = {
    "lapsed_high_value": """
name: lapsed_high_value
title: Lapsed high-value
description: No purchase for a while, spent a lot.
owner: [asha.rao]
kind: cohort
entity: customer
params:
  lapsed_days: {type: int, default: 90, description: days since last order}
  min_spend: {type: float, default: 5000, description: lifetime spend in INR}
where: recency_days >= $lapsed_days AND lifetime_spend >= $min_spend
""",
    "new_signups": """
name: new_signups
title: New sign-ups
description: Signed up recently.
owner: ravi.k
kind: cohort
entity: customer
params:
  max_tenure: {type: int, default: 30, description: days since sign-up}
where: tenure_days <= $max_tenure
""",
    "engaged": """
name: engaged
title: Engaged buyers
description: High engagement.
owner: ravi.k
kind: cohort
entity: customer
params:
  min_score: {type: float, default: 0.5, description: engagement score}
where: engagement_score >= $min_score
""",
    "inactive_14d": """
name: inactive_14d
title: Inactive 14 days
description: No activity for 14 days.
owner: asha.rao
kind: suppression
entity: customer
params:
  days: {type: int, default: 14, description: days without activity}
where: days_since_last_activity >= $days
""",
}

CAMPAIGN = """
name: holi_test
title: Holi test
description: A small exclusive campaign for the governance tests.
owner: [lead.analyst]
entity: customer
salt: s1
exclusive: true
approval_required: false
split_by: []
channels: [email, sms, push, ads]
schedule: {cron: "0 6 * * 1", timezone: UTC}
drift: {}
bias: {}
feedback: {}
cohorts:
  - {template: lapsed_high_value, name: lapsed_high_value, params: {}, priority: 1,
     split_by: [], channels: [email, sms, ads], expected_size: [1, 50]}
  - {template: new_signups, name: new_signups, params: {}, priority: 2, split_by: [],
     channels: [push, email], expected_size: [0, 100]}
  - {template: engaged, name: engaged, params: {}, priority: 3, split_by: [],
     channels: [email, sms, push, ads], expected_size: [0, 100]}
suppressions:
  - {template: inactive_14d, params: {}, channels: []}
review: {band: 0.1, big_mover_tiers: 2, revenue_limit: 20000, revenue_column: lifetime_spend}
controls:
  revenue:
    finance: {table: billing, id: account_id, amount: revenue, date: invoice_date}
    segments: {table: orders, id: customer_id, amount: amount_inr, date: order_ts,
               where: "status = 'completed'"}
    tolerance: 0.001
    period_days: 365
exports: {}
"""
OWNERS = """
people:
  lead.analyst: {name: Lead Analyst, roles: [approver], campaigns: [holi_test]}
  second.approver: {name: Second Approver, roles: [approver, reviewer], campaigns: [holi_test],
                    templates: [lapsed_high_value]}
  asha.rao: {name: Asha Rao, roles: [reviewer]}
  ravi.k: {name: Ravi K, roles: [reviewer], campaigns: [holi_test]}
  mallory: {name: Mallory, roles: [viewer]}
"""
PRIORITY = {"lapsed_high_value": 1, "new_signups": 2, "engaged": 3}
CHANNELS = {"lapsed_high_value": "email,sms,ads", "new_signups": "push,email",
            "engaged": "email,sms,push,ads"}


def base_features(n: int = 40, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": [f"C{i:03d}" for i in range(n)],
        "recency_days": rng.integers(1, 200, n).astype(float),
        "lifetime_spend": rng.choice([1000.0, 4800.0, 5200.0, 9000.0, 30000.0], n),
        "tenure_days": rng.integers(1, 400, n),
        "engagement_score": rng.random(n).round(3),
        "days_since_last_activity": rng.integers(0, 20, n),
        "is_anomaly": rng.random(n) < 0.05,
    })


def assign(features: pd.DataFrame) -> pd.DataFrame:
    """Exclusive assignment by priority, suppression first (independent of governance)."""
    f = features
    rules = {
        "lapsed_high_value": (f.recency_days >= 90) & (f.lifetime_spend >= 5000),
        "new_signups": f.tenure_days <= 30,
        "engaged": f.engagement_score >= 0.5,
    }
    cohort = pd.Series([None] * len(f), dtype=object)
    for name in sorted(rules, key=PRIORITY.get, reverse=True):
        cohort[rules[name].to_numpy()] = name
    suppressed = (f.days_since_last_activity >= 14).to_numpy()
    status = np.where(suppressed, "suppressed", np.where(cohort.isna(), "unassigned",
                                                         "assigned"))
    cohort[suppressed] = None
    return pd.DataFrame({
        "entity_id": f.customer_id, "cohort": cohort, "template": cohort,
        "split_value": None, "status": status,
        "arm": np.where(status == "assigned", "treatment", None),
        "suppressed_by": np.where(suppressed, "inactive_14d", None),
        "priority": cohort.map(PRIORITY).astype("Int64"), "rank": pd.array([None] * len(f),
                                                                           dtype="Int64"),
        "score": f.engagement_score.astype(float),
        "channels": cohort.map(CHANNELS).fillna(""),
    })


def frozen_rules(settings) -> dict[str, bytes]:
    """The world's campaign, templates and owners file, as refresh freezes them."""
    files = {f"segment_templates/{p.name}": p.read_bytes()
             for p in settings.templates_dir.glob("*.yaml")}
    files["segment_templates/campaigns/holi_test.yaml"] = (
        settings.campaigns_dir / "holi_test.yaml").read_bytes()
    if settings.owners_path.exists():
        files["owners.yaml"] = settings.owners_path.read_bytes()
    if settings.realtime_path.exists():
        files["realtime.yaml"] = settings.realtime_path.read_bytes()
    return files


def write_run(settings, features: pd.DataFrame, as_of: datetime,
              memberships: pd.DataFrame | None = None) -> str:
    """Write a run the way refresh does: manifest, frozen rules, features.parquet,
    memberships.parquet."""
    record = create_run(settings, "holi_test", as_of, {"overrides": {}})
    freeze(settings, record.run_id, frozen_rules(settings))
    folder = run_dir(settings, record.run_id)
    features.to_parquet(folder / "features.parquet", index=False)
    m = assign(features) if memberships is None else memberships
    m.insert(0, "campaign", "holi_test")
    m.insert(0, "run_id", record.run_id)
    m.to_parquet(folder / "memberships.parquet", index=False)
    return record.run_id


AS_OF_1 = datetime(2027, 2, 1, tzinfo=UTC)
AS_OF_2 = datetime(2027, 3, 1, tzinfo=UTC)


def _table(contract, frame: pd.DataFrame):
    import pyarrow as pa

    schema = contract.arrow_schema()
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


def write_canonical(settings, ids: list[str], seed: int = 3) -> dict[str, pd.DataFrame]:
    """Contract-conforming customers, orders, billing (one invoice per order, a credit note
    per refund) and engagement events (a few email unsubscribes) for ``ids``."""
    import pyarrow.parquet as pq

    from segflow.ingest.contract import load_contracts

    contracts = load_contracts(get_settings().contracts_dir)
    rng, n = np.random.default_rng(seed), len(ids)
    ts = pd.Timestamp("2026-06-01", tz="UTC")
    customers = pd.DataFrame({
        "customer_id": ids, "account_id": None, "parent_account_id": None,
        "email": [f"user{i}@example.com" if i % 7 else None for i in range(n)],
        "phone": [f"+9198{i:08d}" if i % 5 else None for i in range(n)],
        "name": [f"Customer {i}" for i in range(n)], "signup_ts": ts, "region": "Maharashtra",
        "country": "IN", "city": "Pune", "preferred_language": "hindi",
        "consent_email": rng.random(n) < 0.8, "consent_sms": rng.random(n) < 0.7,
        "consent_push": rng.random(n) < 0.6, "consent_ads": rng.random(n) < 0.7,
        "onboarding_completed": True})
    k = np.repeat(np.arange(n), 2)
    amounts = rng.integers(100, 5000, len(k)).astype(float)
    orders = pd.DataFrame({
        "order_id": [f"O{i:05d}" for i in range(len(k))],
        "customer_id": np.array(ids)[k], "order_ts": ts + pd.to_timedelta(k % 90, unit="D"),
        "amount": amounts, "currency": "INR", "amount_inr": amounts, "quantity": 1,
        "category": "sweets", "festival": None, "channel": "web",
        "status": np.where(np.arange(len(k)) % 9 == 0, "refunded", "completed")})
    invoices = pd.DataFrame({"invoice_id": "I" + orders.order_id, "account_id":
                             orders.customer_id, "invoice_date": orders.order_ts.dt.floor("D"),
                             "revenue": orders.amount_inr, "margin": orders.amount_inr * 0.3,
                             "product_line": "retail"})
    refunds = orders[orders.status == "refunded"]
    credits = pd.DataFrame({"invoice_id": "CN" + refunds.order_id, "account_id":
                            refunds.customer_id, "invoice_date": refunds.order_ts.dt.floor("D"),
                            "revenue": -refunds.amount_inr, "margin": -refunds.amount_inr * 0.3,
                            "product_line": "retail"})
    billing = pd.concat([invoices, credits], ignore_index=True)
    events = pd.DataFrame({"event_id": ["E1", "E2"], "customer_id": [ids[1], ids[2]],
                           "event_ts": ts, "channel": "email", "event_type": "unsubscribe"})
    frames = {"customers": customers, "orders": orders, "billing": billing,
              "engagement_events": events}
    settings.canonical_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        pq.write_table(_table(contracts[name], frame),
                       settings.canonical_dir / f"{name}.parquet")
    return frames


def drift_passed(settings, run_id: str) -> None:
    """The drift gate's verdict as monitoring records it for a run that passed: its audit
    entry, then the verdict file (the governance tests test how governance reads them;
    tests/monitoring test the check)."""
    import json

    from segflow.governance.audit import record

    record(settings, "segflow", "drift_checked", {"passed": True, "reasons": []},
           run_id=run_id)
    path = run_dir(settings, run_id) / "drift" / "gate.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run_id": run_id, "passed": True, "reasons": [],
                                "acknowledged": None, "error": None}))


APPROVAL = "figures checked against the finance report"
ACCEPTANCE = "boundary items go out as proposed, reviewed next week"


def governed(settings, features: pd.DataFrame, as_of: datetime,
             memberships: pd.DataFrame | None = None) -> str:
    """A run written, governed and drift-checked (passed)."""
    from segflow.governance.pipeline import govern_run

    run = write_run(settings, features, as_of, memberships)
    govern_run(settings, run)
    drift_passed(settings, run)
    return run


def approve_and_publish(settings, run_id: str, by: str = "lead.analyst") -> dict:
    """Approve when needed and publish, accepting the open review items explicitly."""
    from segflow.governance.gate import verdict
    from segflow.governance.publish import approve, publish_run

    v = verdict(settings, run_id)
    if v.needs_approval:
        approve(settings, run_id, by, APPROVAL)
    return publish_run(settings, run_id, by=by, accept_open=v.open_exceptions or None,
                       reason=ACCEPTANCE if v.open_exceptions else None)


def make_world(root) -> object:
    """Settings of a fresh world under ``root``: templates, campaign, owners file and an
    empty workspace (``root/ws``)."""
    from segflow.settings import Settings

    templates = root / "segment_templates"
    (templates / "campaigns").mkdir(parents=True)
    for name, text in TEMPLATES.items():
        (templates / f"{name}.yaml").write_text(text)
    (templates / "campaigns" / "holi_test.yaml").write_text(CAMPAIGN)
    (root / "owners.yaml").write_text(OWNERS)
    return Settings(home=root / "ws", templates_root=templates).ensure()


def copy_world(settings, root) -> object:
    """A copy of a prepared world (workspace, templates, owners) under ``root``: each test
    gets its own, made in milliseconds instead of governing runs again."""
    import dataclasses
    import shutil

    source = settings.home.parent
    shutil.copytree(source, root, dirs_exist_ok=True)
    return dataclasses.replace(settings, home=root / "ws",
                               templates_root=root / "segment_templates")


def refreshed_world(root):
    """A world under ``root`` with one refresh (scoring's, through governance's overrides
    hook) governed: (settings, the features table, run id)."""
    import pyarrow as pa

    from segflow.governance.pipeline import govern_run
    from segflow.governance.refresh import refresh_with_overrides

    settings = make_world(root)
    f = base_features()
    write_canonical(settings, list(f.customer_id))
    table = pa.Table.from_pandas(f, preserve_index=False)
    run = refresh_with_overrides(settings, "holi_test", AS_OF_1, features=table).run_id
    govern_run(settings, run)
    return settings, table, run
