"""Every feature view file is complete and its SQL computes the right values as of a time."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pyarrow.parquet as pq
import pytest
from features_world import AS_OF, TABLES, write_world
from holi_project import ROOT as PROJECT_ROOT

from segflow.errors import ConfigError, SegflowError
from segflow.featurestore.build import build_features, compute_snapshot, declared_columns
from segflow.featurestore.repo import load_repo, view_files
from segflow.featurestore.runners import DuckRunner

VIEW_FILES = view_files(PROJECT_ROOT / "feature_repo")


def test_the_repo_has_the_contract_views():
    names = {p.stem for p in VIEW_FILES}
    assert {"customer_profile", "customer_rfm", "customer_festival_buyer", "customer_engagement",
            "customer_region_language", "account_revenue", "account_product_mix",
            "account_tenure", "account_growth", "account_flags"} <= names


@pytest.mark.parametrize("path", VIEW_FILES, ids=[p.stem for p in VIEW_FILES])
def test_view_file_is_documented_and_its_sql_returns_the_declared_schema(world, path):
    repo = load_repo(world)
    view = repo.views[path.stem]
    fv = view.feature_view
    assert path.stem.split("_", 1)[0] == view.entity, "files are named <entity>_<topic>.py"
    assert fv.description and fv.owner and fv.tags and fv.ttl
    undocumented = [f.name for f in fv.schema if not f.description]
    assert not undocumented, f"fields without a description: {undocumented}"
    assert fv.batch_source.path == str(world.features_dir / f"{path.stem}.parquet")
    runner = DuckRunner(world)
    missing = set(view.transformation.sources) - runner.available
    assert not missing, f"add {missing} to the tiny world in tests/features/conftest.py"
    snap, rows = compute_snapshot(runner, view, AS_OF, AS_OF)  # raises on a schema mismatch
    assert runner.columns(snap)[:-2] == declared_columns(view)
    assert rows > 0


def test_feature_names_are_unique_within_an_entity(home):
    repo = load_repo(home)
    for entity in repo.entities:
        names = [f for v in repo.views_of(entity) for f in v.features]
        assert len(names) == len(set(names)), entity


def _snapshot(settings, view, as_of=AS_OF):
    path = settings.features_dir / f"{view}.parquet"
    rows = duckdb.sql(f"SELECT * FROM '{path}' WHERE event_timestamp = $t",
                      params={"t": as_of}).to_arrow_table().to_pylist()
    return {r.get("customer_id") or r.get("account_id"): r for r in rows}


def test_rfm_values_net_refunds_and_ignore_orders_at_or_after_as_of(built):
    rfm = _snapshot(built, "customer_rfm")
    assert set(rfm) == {"c1", "c2", "c3", "c4"}, "c5 signs up after the as-of time"
    c1 = rfm["c1"]
    assert (c1["recency_days"], c1["frequency_365d"], c1["monetary_365d"]) == (9, 2, 2000.0)
    assert (c1["lifetime_spend"], c1["lifetime_orders"], c1["aov"]) == (3000.0, 3, 1000.0)
    assert c1["refunds_365d"] == 1
    assert (rfm["c2"]["recency_days"], rfm["c2"]["lifetime_spend"]) == (364, 300.0)
    for never in ("c3", "c4"):  # c3's only order is exactly at AS_OF: not yet counted
        assert rfm[never]["recency_days"] is None and rfm[never]["aov"] is None
        assert rfm[never]["lifetime_orders"] == 0


def test_festival_and_engagement_windows(built):
    fest = _snapshot(built, "customer_festival_buyer")
    assert fest["c1"]["holi_colour_purchases_30d"] == 1
    assert (fest["c1"]["festival_orders_365d"], fest["c1"]["festival_spend_365d"]) == (2, 2000.0)
    assert fest["c2"]["holi_colour_purchases_30d"] == 0, "the 2027-03-02 order is after as-of"
    assert fest["c2"]["holi_buyer_last_year"] and not fest["c4"]["holi_buyer_last_year"]
    assert fest["c1"]["festival_purchase_score"] == 1.0
    eng = _snapshot(built, "customer_engagement")
    assert eng["c1"]["engagement_score"] == 1.0 + 3.0 + 2.0  # open + click + session weights
    assert (eng["c1"]["days_since_last_activity"], eng["c1"]["active_14d"]) == (3, True)
    assert (eng["c2"]["days_since_last_activity"], eng["c2"]["active_14d"]) == (50, False)
    assert eng["c2"]["complaints_365d"] == 1 and eng["c2"]["unsubscribed"]
    assert eng["c3"]["days_since_last_activity"] is None, "c3's session is after as-of"


def test_region_language_clusters(built):
    clusters = {k: r["region_language_cluster"]
                for k, r in _snapshot(built, "customer_region_language").items()}
    assert clusters == {"c1": "west_marathi_gujarati", "c2": "hindi_heartland",
                        "c3": "diaspora", "c4": "south_dravidian"}


def test_account_views_roll_children_up_to_top_accounts(built):
    rev = _snapshot(built, "account_revenue")
    assert set(rev) == {"A", "B"}, "child accounts are not entities of their own"
    assert (rev["A"]["revenue_4q"], rev["A"]["margin_4q"], rev["A"]["margin_pct"]) == (
        2000.0, 500.0, 0.25)
    assert (rev["A"]["revenue_prev_4q"], rev["A"]["child_accounts"]) == (1000.0, 2)
    growth = _snapshot(built, "account_growth")
    assert (growth["A"]["growth_trajectory"], growth["B"]["growth_trajectory"]) == (
        "growing", "declining")
    assert growth["B"]["revenue_growth_yoy"] == pytest.approx(-0.5)
    mix = _snapshot(built, "account_product_mix")
    assert (mix["A"]["product_lines"], mix["A"]["top_product_share"]) == (2, 0.75)
    flags = _snapshot(built, "account_flags")
    assert flags["A"]["strategic_flag"] and flags["A"]["open_escalations"] == 1
    assert not flags["B"]["strategic_flag"] and flags["B"]["open_escalations"] == 0


def test_a_purchase_after_as_of_is_invisible_in_the_earlier_snapshot(built):
    earlier = AS_OF - timedelta(days=30)
    rfm = _snapshot(built, "customer_rfm", earlier)
    assert rfm["c1"]["lifetime_orders"] == 2, "o1 (2027-02-20) is after the earlier as-of"
    assert rfm["c1"]["recency_days"] == (earlier - AS_OF.replace(month=10, year=2026)).days


def test_rebuilding_an_as_of_replaces_its_snapshot_and_keeps_others(built):
    path = built.features_dir / "customer_rfm.parquet"
    before = pq.read_table(path)
    build_features(built, AS_OF, views=["customer_rfm"])
    after = pq.read_table(path)
    assert after.num_rows == before.num_rows == 8
    counts = duckdb.sql("SELECT event_timestamp, count(*) FROM after GROUP BY 1").fetchall()
    assert sorted(n for _, n in counts) == [4, 4]


def test_views_without_their_tables_are_skipped(home):
    write_world(home, {k: v for k, v in TABLES.items()
                       if k in ("customers", "orders", "engagement_events")})
    report = build_features(home, AS_OF)
    assert "skipped" in report["account_revenue"] and report["customer_rfm"]["rows"] == 4


def test_a_bad_config_value_names_file_and_line(tmp_path, home):
    import shutil
    from dataclasses import replace

    from segflow.project import load_project

    repo_copy = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "feature_repo", repo_copy / "feature_repo")
    shutil.copy(PROJECT_ROOT / "segflow.yaml", repo_copy / "segflow.yaml")
    cfg = repo_copy / "feature_repo" / "config" / "engagement.yaml"
    cfg.write_text(cfg.read_text().replace("weight: 3.0", "weight: lots"))
    with pytest.raises(ConfigError) as err:
        load_repo(replace(home, project=load_project(repo_copy)))
    line = next(i for i, t in enumerate(cfg.read_text().splitlines(), 1) if "lots" in t)
    assert f"engagement.yaml:{line}" in str(err.value) and "weight" in str(err.value)


def test_a_sql_schema_mismatch_is_a_clear_error(world):
    from dataclasses import replace

    repo = load_repo(world)
    view = repo.views["customer_profile"]
    broken = replace(view, transformation=replace(
        view.transformation, sql="SELECT customer_id, 1 AS region FROM customers"))
    with pytest.raises(SegflowError, match="declares"):
        compute_snapshot(DuckRunner(world), broken, AS_OF, AS_OF)
