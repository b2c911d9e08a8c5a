"""The source-sync flow's work (``sync_source``: what each scheduled run does, called in
process; the Prefect wrapper only turns its steps into tasks): one source loaded from its
watermark, then only the feature views reading a table it changed rebuilt; a load with
nothing new rebuilds nothing. And the deployments ``segflow serve`` registers per
scheduled source, beside the campaigns', a source never loaded by its watermark skipped."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ingest"))

from test_ingest_incremental import Crm, customer, first_load, order  # noqa: E402

from segflow.errors import ConfigError  # noqa: E402

ORDER_VIEWS = {"customer_rfm", "customer_festival_buyer"}   # the Holi views reading orders


@pytest.fixture
def crm(tmp_path) -> Crm:
    folder = tmp_path / "sources"
    folder.mkdir()
    crm = Crm(folder)
    crm.sources.write_text(textwrap.dedent("""\
        as_of: 2027-01-01
        sources:
          customers: {kind: sql, url: "sqlite:///crm.db", table: customers,
                      cursor: {column: updated_at}, tombstone: deleted,
                      schedule: {cron: '0 * * * *', timezone: Asia/Kolkata}}
          orders: {kind: sql, url: "sqlite:///crm.db", table: orders,
                   cursor: {column: updated_at}, tombstone: deleted, schedule: '30 2 * * *'}
        """))
    return crm


def test_a_sync_rebuilds_only_the_views_reading_what_changed(home, crm):
    from segflow.flows.sync import sync_source
    from segflow.ingest.pipeline import run_ingest

    first_load(crm)
    run_ingest(home, crm.sources)
    crm.upsert("orders", [order(500, 1, "2026-01-02 00:00:00", amount=250.0),
                          order(3, 2, "2026-01-02 00:00:00", amount=75.0)])
    crm.upsert("customers", [customer(3, "2026-01-02 00:00:00", name="Not loaded now")])

    out = sync_source(home, "orders", str(crm.sources))

    assert (out["load"], out["full_because"], out["changed"]) == (
        "incremental", None, ["orders"])
    assert out["rows_changed"] == {"orders": 3}   # one new, one altered: old and new version
    assert set(out["rebuilt"]) == ORDER_VIEWS
    assert {p.stem for p in home.features_dir.glob("*.parquet")} == ORDER_VIEWS
    before = {p.stem: p.stat().st_mtime_ns for p in home.features_dir.glob("*.parquet")}

    again = sync_source(home, "orders", str(crm.sources))   # nothing new since

    assert (again["load"], again["changed"], again["rebuilt"]) == ("incremental", [], {})
    assert {p.stem: p.stat().st_mtime_ns
            for p in home.features_dir.glob("*.parquet")} == before


def test_serve_deploys_each_scheduled_source_on_its_cron(home, crm):
    from segflow.flows.deploy import runnable_sources, source_deployments
    from segflow.ingest.pipeline import run_ingest

    (home.sources_dir).mkdir(parents=True, exist_ok=True)
    (home.sources_dir / "sources.yaml").write_text(crm.sources.read_text().replace(
        "sqlite:///crm.db", f"sqlite:///{crm.path}"))
    first_load(crm)
    ready, skipped = runnable_sources(home)
    assert ready == [] and set(skipped) == {"customers", "orders"}
    assert skipped["orders"].startswith("it cannot be loaded from a watermark yet (")
    run_ingest(home)

    ready, skipped = runnable_sources(home)
    deployments = source_deployments(ready)

    assert skipped == {}
    assert [(d.name, d.parameters, d.schedules[0].schedule.cron,
             d.schedules[0].schedule.timezone) for d in deployments] == [
        ("sync-customers", {"table": "customers"}, "0 * * * *", "Asia/Kolkata"),
        ("sync-orders", {"table": "orders"}, "30 2 * * *", "UTC")]
    assert {d.flow_name for d in deployments} == {"source-sync"}


def test_serve_on_spark_schedules_no_load_and_says_why(home, crm):
    """On `engine: spark` ingest does not run yet: serve deploys no source sync, naming
    the reason for each, and its campaign refreshes start from the canonical tables (the
    deployment's parameters say `ingest: false`, and serve says it)."""
    from dataclasses import replace

    from segflow.engines import SPARK, SparkSettings
    from segflow.flows.deploy import campaign_deployments, runnable_sources, to_serve

    (home.sources_dir).mkdir(parents=True, exist_ok=True)
    (home.sources_dir / "sources.yaml").write_text(crm.sources.read_text())
    spark = replace(home, project=replace(home.project, engine=SPARK,
                                          spark=SparkSettings(master="local[2]")))
    ready, skipped = runnable_sources(spark)
    assert ready == [] and set(skipped) == {"customers", "orders"}
    assert skipped["orders"].startswith("ingest: this project runs on engine: spark (")
    said: list[str] = []
    with pytest.raises(Exception, match="no campaign and no scheduled source can run here"):
        to_serve(spark, say=said.append)
    assert "skipped source orders: ingest: this project runs on engine: spark (" in \
        "\n".join(said)
    assert [d.parameters for d in campaign_deployments(spark, ["holi_2027"])] == [
        {"campaign": "holi_2027", "ingest": False}]
    assert [d.parameters for d in campaign_deployments(home, ["holi_2027"])] == [
        {"campaign": "holi_2027", "ingest": True}]


@pytest.mark.parametrize(("schedule", "says"), [
    ("'0 * * *'", "not five fields"),
    ("'61 * * * *'", "schedule is a cron of five fields"),
    ("{cron: '0 * * * *', zone: UTC}", "unknown key 'zone' in schedule"),
    ("{cron: '0 * * * *', timezone: Mars/Base}", "unknown time zone 'Mars/Base'"),
])
def test_a_bad_schedule_names_its_file_and_line(tmp_path, home, schedule, says):
    from segflow.ingest.sources import read_sources

    path = tmp_path / "sources.yaml"
    path.write_text(textwrap.dedent(f"""\
        sources:
          orders: {{kind: sql, url: "sqlite:///crm.db", table: orders,
                   cursor: {{column: updated_at}},
                   schedule: {schedule}}}
        """))
    with pytest.raises(ConfigError, match=says) as err:
        read_sources(path, home.contracts_dir)
    assert f"{path}:" in str(err.value)


def test_a_schedule_needs_a_cursor(tmp_path, home):
    from segflow.ingest.sources import read_sources

    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  orders: {kind: sql, url: 'sqlite:///crm.db', table: orders,"
                    "\n           schedule: '0 * * * *'}\n")
    with pytest.raises(ConfigError, match="loaded alone, from its watermark"):
        read_sources(path, home.contracts_dir)


def test_views_reading_follow_the_relations_derived_in_the_repo(home):
    """billing reaches the account views through billing_rollup and the window macro; the
    hierarchy (rewritten with accounts) reaches every view reading top_accounts."""
    from segflow.featurestore.repo import load_repo

    repo = load_repo(home)
    assert repo.views_reading({"billing"}, home.feature_repo_dir) == [
        "account_growth", "account_product_mix", "account_revenue"]
    assert repo.views_reading({"orders"}, home.feature_repo_dir) == sorted(ORDER_VIEWS)
    assert set(repo.views_reading({"account_hierarchy"}, home.feature_repo_dir)) == {
        name for name in repo.views if name.startswith("account_")}
    assert repo.views_reading(set(), home.feature_repo_dir) == []
