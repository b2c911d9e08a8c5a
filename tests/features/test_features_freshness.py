"""A refresh uses features built for its as-of time: a view whose latest snapshot is older
is built for the as-of before scoring, or the run stops naming the view and both times. An
older snapshot is never used silently."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import duckdb
import pytest
from features_world import AS_OF

from segflow.errors import SegflowError
from segflow.featurestore.build import build_features
from segflow.featurestore.freshness import ensure_features, stale_views
from segflow.featurestore.repo import load_repo

OLD = AS_OF - timedelta(days=100)   # before c4 signed up (2026-12-01)

TEMPLATE = """
name: everyone
title: Everyone
description: Every customer with a known tenure.
owner: lead.analyst
kind: cohort
entity: customer
where: tenure_days >= 0
"""
CAMPAIGN = """
name: fresh_test
title: Freshness test
owner: lead.analyst
entity: customer
salt: s1
cohorts:
  - {template: everyone, name: everyone, priority: 1}
"""


def _snapshots(settings, view: str) -> list:
    path = settings.features_dir / f"{view}.parquet"
    return [r[0] for r in duckdb.sql(f"SELECT DISTINCT event_timestamp FROM '{path}' "
                                     "ORDER BY 1").fetchall()]


@pytest.fixture
def stale(world, tmp_path, monkeypatch):
    """The tiny world with features built only 100 days before AS_OF, and a campaign."""
    build_features(world, [OLD])
    root = tmp_path / "segment_templates"
    (root / "campaigns").mkdir(parents=True)
    (root / "everyone.yaml").write_text(TEMPLATE)
    (root / "campaigns" / "fresh_test.yaml").write_text(CAMPAIGN)
    monkeypatch.setenv("SEGFLOW_TEMPLATES", str(root))
    return dataclasses.replace(world, templates_root=root)


def test_a_refresh_builds_the_snapshot_of_its_as_of(stale):
    import pyarrow.parquet as pq

    from segflow.runstore import run_dir
    from segflow.scoring.refresh import refresh_campaign

    assert {s.view.name for s in stale_views(load_repo(stale), "customer", AS_OF)} >= {
        "customer_profile", "customer_rfm"}
    record = refresh_campaign(stale, "fresh_test", as_of=AS_OF)

    assert [t.date() for t in _snapshots(stale, "customer_profile")] == [OLD.date(),
                                                                         AS_OF.date()]
    frame = pq.read_table(run_dir(stale, record.run_id) / "features.parquet")
    assert set(frame["customer_id"].to_pylist()) == {"c1", "c2", "c3", "c4"}  # c4 is new
    assert set(frame["event_timestamp"].to_pylist()) == {AS_OF}
    built = [w for w in record.inputs["warnings"] if w.startswith("features built")]
    assert len(built) == 1 and "customer_profile (latest snapshot was 2026-11-21" in built[0]
    assert stale_views(load_repo(stale), "customer", AS_OF) == []


def test_a_view_that_cannot_be_built_stops_the_run_naming_view_and_times(stale):
    (stale.canonical_dir / "engagement_events.parquet").unlink()
    with pytest.raises(SegflowError) as err:
        ensure_features(stale, "customer", AS_OF)
    message = str(err.value)
    assert "feature view 'customer_engagement'" in message
    assert f"as-of time {AS_OF.isoformat()}" in message
    assert f"latest at or before it: {OLD.isoformat()}" in message
    assert "no engagement_events" in message
    assert [t.date() for t in _snapshots(stale, "customer_engagement")] == [OLD.date()]


def test_nothing_is_built_when_the_as_of_snapshot_exists(built):
    before = {v: _snapshots(built, v) for v in ("customer_rfm", "customer_profile")}
    assert ensure_features(built, "customer", AS_OF) == []
    assert {v: _snapshots(built, v) for v in before} == before
