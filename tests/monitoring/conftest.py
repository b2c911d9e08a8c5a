"""A tiny scored world for monitoring tests: features and memberships of a run, written in
the contract's schema (runs/<id>/features.parquet, memberships.parquet)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from segflow.runstore import create_run, run_dir

ZONES = np.array(["north", "west", "south", "east"])
LANGS = np.array(["hindi", "marathi", "tamil", "english"])


def scored_frame(n: int, seed: int, halve_north: bool = False) -> pd.DataFrame:
    """Customers with features and a score; optionally engagement halved in the north."""
    rng = np.random.default_rng(seed)
    zone = ZONES[rng.choice(4, n, p=[0.4, 0.2, 0.2, 0.2])]
    engagement = rng.beta(2, 2, n)
    opens = rng.poisson(8 * engagement)
    if halve_north:
        engagement = np.where(zone == "north", engagement / 2, engagement)
        opens = np.where(zone == "north", opens // 2, opens)
    recency = rng.exponential(60, n)
    recency[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({
        "customer_id": [f"C{i:06d}" for i in range(n)],
        "event_timestamp": pd.Timestamp("2027-03-01", tz="UTC"),
        "name": [f"name {i}" for i in rng.permutation(n)],
        "region_zone": zone, "preferred_language": LANGS[rng.integers(0, 4, n)],
        "engagement_score": engagement, "email_opens_30d": opens,
        "monetary_365d": rng.lognormal(7, 1, n), "recency_days": recency,
        "active_14d": rng.random(n) < 0.5, "tenure_days": rng.integers(30, 900, n),
        "holi_propensity": 1 / (1 + np.exp(-(3 * engagement - 1.5))),
    })


def memberships(frame: pd.DataFrame, run_id: str, campaign: str) -> pd.DataFrame:
    """Exclusive assignment: engaged (split by zone) first, then high_value, else unassigned."""
    engaged = frame["engagement_score"].to_numpy() >= 0.5
    high = ~engaged & (frame["monetary_365d"].to_numpy() >= 1500)
    template = np.where(engaged, "engaged", np.where(high, "high_value", None))
    split = np.where(engaged, frame["region_zone"].to_numpy(), None)
    cohort = np.where(engaged, "engaged__" + frame["region_zone"].astype(str).to_numpy(),
                      template)
    status = np.where(template == None, "unassigned", "assigned")  # noqa: E711
    return pd.DataFrame({
        "run_id": run_id, "campaign": campaign, "entity_id": frame["customer_id"],
        "cohort": cohort, "template": template, "split_value": split, "status": status,
        "arm": np.where(status == "assigned", "treatment", None), "suppressed_by": None,
        "priority": np.where(engaged, 1, np.where(high, 2, None)), "rank": None,
        "score": frame["holi_propensity"], "channels": "email"})


OWNERS = """people:
  asha: {name: Asha, roles: [approver]}
  mallory: {name: Mallory, roles: [viewer]}
"""


@pytest.fixture
def world(home, tmp_path):
    """Settings with their own campaigns folder and owners file, and a helper that writes a
    scored run."""
    settings = dataclasses.replace(home, templates_root=tmp_path / "templates")
    settings.campaigns_dir.mkdir(parents=True)
    settings.owners_path.write_text(OWNERS)

    def add_run(frame: pd.DataFrame, campaign: str = "holi_2027") -> str:
        record = create_run(settings, campaign, datetime(2027, 3, 1, tzinfo=UTC), {})
        folder = run_dir(settings, record.run_id)
        frame.to_parquet(folder / "features.parquet", index=False)
        memberships(frame, record.run_id, campaign).to_parquet(
            folder / "memberships.parquet", index=False)
        return record.run_id

    return SimpleNamespace(settings=settings, add_run=add_run, frame=scored_frame)
