"""The whole chain on both engines at the issue's scale: a 20,000-customer Holi world and
the B2B accounts world (tests/governance/sparkworlds.py), each made once on DuckDB with its
first run published, then its second run refreshed, governed, published and exported on
DuckDB and on Spark (``local[2]``, the session of the ``spark_project`` fixture), Spark
from features its executors built. Every output is compared: each feature view, the
scored frame, the memberships, the movement with its reasons, the control results, the
review items and every export file, byte for byte; the manifests and the audit log name
the engine that ran. The two runs' ids differ (each names when it was made), so the
comparisons leave the run id out."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sparkworlds import accounts_plan, build, holi_plan
from values import cell_diffs, mismatches, run_rows, view_rows

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PLANS = {"holi": lambda: holi_plan(20_000), "accounts": lambda: accounts_plan(300)}


@pytest.fixture(scope="module", params=sorted(PLANS))
def world(request, tmp_path_factory, spark_project):
    return build(PLANS[request.param](), tmp_path_factory.mktemp(request.param), spark_project)


def _runs(world):
    """(DuckDB run folder, Spark run folder) of the second run."""
    return (world.duck.runs_dir / world.second, world.spark.runs_dir / world.spark_second)


def _comparable(value):
    """``value`` (an exports manifest) without what names the run, its seal (which covers
    the run id) or the engine: the rest must be equal."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()
                if k not in ("run_id", "seal_hash", "engine")}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def test_every_feature_view_built_on_spark_is_duckdbs(world):
    built = {n: r for n, r in world.features.items() if "rows" in r}
    assert len(built) >= 5
    for name, report in built.items():
        key = "account_id" if name.startswith("account_") else "customer_id"
        want = view_rows(world.duck.features_dir / f"{name}.parquet", key, [world.plan.second])
        got = view_rows(world.spark.features_dir / f"{name}.parquet", key,
                        [world.plan.second])
        assert report["rows"] == len(got) == len(want) > 0, name
        assert list(got[0]) == list(want[0]), name
        assert mismatches(want, got) == [], name


def test_the_scored_frame_is_the_same_on_both_engines(world):
    duck, spark = _runs(world)
    cols, types, want = run_rows(duck / "features.parquet", world.plan.key)
    s_cols, s_types, got = run_rows(spark / "features.parquet", world.plan.key)
    assert (s_cols, s_types) == (cols, types)
    assert set(world.plan.outputs) <= set(cols)  # the champions scored on the executors
    assert len(got) == len(want) > 0
    assert cell_diffs(cols, want, got, abs_tol=1e-12) == []


def test_memberships_are_the_same_on_both_engines(world):
    from segflow.runstore import load_run

    duck, spark = _runs(world)
    order = "entity_id, priority NULLS LAST, cohort"
    cols, types, want = run_rows(duck / "memberships.parquet", order)
    s_cols, s_types, got = run_rows(spark / "memberships.parquet", order)
    assert (s_cols, s_types) == (cols, types) and cols[0] == "run_id"
    assert [r[1:] for r in got] == [r[1:] for r in want] and len(want) > 0
    status = cols.index("status")
    assert {r[status] for r in want} >= {"assigned"}
    on_duck, on_spark = load_run(world.duck, world.second), load_run(world.spark,
                                                                    world.spark_second)
    assert on_spark.inputs["model_versions"] == on_duck.inputs["model_versions"] != {}
    assert on_spark.inputs["data_snapshot"]["rows"] == on_duck.inputs["data_snapshot"]["rows"]


def test_movement_and_its_reasons_are_the_same_on_both_engines(world):
    on_duck, on_spark = world.governed["duckdb"], world.governed["spark"]
    assert on_spark.previous_run_id == on_duck.previous_run_id == world.first
    assert on_spark.movement.counts == on_duck.movement.counts
    assert on_duck.movement.counts["moved"] + on_duck.movement.counts["entered"] > 0
    assert on_spark.movement.summary == on_duck.movement.summary != []
    assert on_spark.movement.model_reasons == on_duck.movement.model_reasons
    want = pd.read_parquet(on_duck.movement.files["parquet"])
    got = pd.read_parquet(on_spark.movement.files["parquet"])
    drop = [c for c in ("run_id",) if c in want.columns]
    pd.testing.assert_frame_equal(got.drop(columns=drop), want.drop(columns=drop))
    assert want["reason"].notna().sum() > 0


def test_control_results_are_the_same_on_both_engines(world):
    on_duck, on_spark = world.governed["duckdb"], world.governed["spark"]
    assert [r.to_dict() for r in on_spark.controls] == [r.to_dict() for r in on_duck.controls]
    assert {r.name for r in on_duck.controls} >= {"contracts_hold", "accounted_once",
                                                  "revenue_reconciles"}
    assert on_spark.exceptions == on_duck.exceptions > 0


REVIEW = ("SELECT entity_id, rule, detail, cohort_before, proposed_cohort, template, status "
          "FROM review_queue WHERE run_id = ? ORDER BY entity_id, rule")


def test_review_items_are_the_same_on_both_engines(world):
    from segflow.db import connect

    items = {}
    for settings, run in ((world.duck, world.second), (world.spark, world.spark_second)):
        with connect(settings) as con:
            items[settings.engine] = con.execute(REVIEW, [run]).fetchall()
    assert items["spark"] == items["duckdb"] and len(items["duckdb"]) > 0


def test_every_export_file_is_byte_identical_on_both_engines(world):
    """Each channel file and each account owner's hand-off file, byte for byte, and the
    exports' manifest (every file's rows, candidates, left-out counts and hash) but for
    what names the run or the engine."""
    duck = world.duck.exports_dir / world.second
    spark = world.spark.exports_dir / world.spark_second
    manifest = {side: _comparable(json.loads((folder / "manifest.json").read_text()))
                for side, folder in (("duckdb", duck), ("spark", spark))}
    assert manifest["spark"] == manifest["duckdb"] and manifest["duckdb"]["files"] != []
    written = sorted(p.relative_to(duck) for p in duck.rglob("*.csv"))
    assert written == sorted(p.relative_to(spark) for p in spark.rglob("*.csv"))
    assert len(written) >= len(manifest["duckdb"]["files"]) > 0
    for path in written:
        assert (spark / path).read_bytes() == (duck / path).read_bytes(), path
    handoff = any(p.parts[0] == "handoff" for p in written)
    assert handoff == (world.plan.campaign == "account_tiers")  # B2B: one file per owner


def test_the_manifests_and_the_audit_log_name_the_engine_that_ran(world):
    from segflow.governance.audit import read

    for settings, run, engine in ((world.duck, world.second, "duckdb"),
                                  (world.spark, world.spark_second, "spark")):
        manifest = json.loads((settings.runs_dir / run / "manifest.json").read_text())
        exports = json.loads((settings.exports_dir / run / "manifest.json").read_text())
        assert (manifest["engine"], exports["engine"]) == (engine, engine)
        (entry,) = [e for e in read(settings, run) if e["action"] == "govern"]
        assert entry["payload"]["engine"] == engine
        assert "not_on_this_engine" not in entry["payload"]
    assert (world.spark.runs_dir / world.spark_second / "memberships.parquet").is_dir()
