"""A refresh on Spark gives what DuckDB gives: on a tiny Holi world with trained champions,
the holi_2027 refresh (point-in-time features, both champions scored through
mlflow.pyfunc.spark_udf, 40 cohorts, exempt suppressions, ranked cohorts, the holdout and
the offer draw) writes the same scored frame and the same memberships on both engines."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

import duckdb
import pyarrow.parquet as pq
import pytest
from sqlglot import exp
from values import same

from segflow.errors import SegflowError
from segflow.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
AS_OF = datetime(2027, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory, spark_project):
    """(DuckDB run folder, Spark run folder, both records): one world, trained once, copied
    for Spark, refreshed on each engine."""
    from segflow.featurestore.build import build_features
    from segflow.ingest.synthetic.holi import TABLES, generate_holi
    from segflow.runstore import run_dir
    from segflow.scoring.refresh import refresh_campaign
    from segflow.training.train import train_models

    root = tmp_path_factory.mktemp("spark_refresh")
    duck = Settings(home=root / "duck").ensure()
    world = generate_holi(300, seed=5)
    for name in TABLES:
        pq.write_table(world[name], duck.canonical_dir / f"{name}.parquet")
    build_features(duck, [datetime(2026, 2, 18, tzinfo=UTC), AS_OF])
    train_models(duck, "holi_2027", models=["holi_propensity", "flash_sale_uplift"])
    shutil.copytree(duck.home, root / "spark")
    spark = Settings(home=root / "spark", project=spark_project)
    on_duck = refresh_campaign(duck, "holi_2027", AS_OF)
    on_spark = refresh_campaign(spark, "holi_2027", AS_OF)
    return run_dir(duck, on_duck.run_id), run_dir(spark, on_spark.run_id), on_duck, on_spark


def _rows(path, order: str) -> tuple[list[str], list[str], list[tuple]]:
    files = f"{path}/*.parquet" if path.is_dir() else str(path)
    rel = duckdb.sql(f"SELECT * FROM read_parquet('{files}') ORDER BY {order}")
    return rel.columns, [str(t) for t in rel.types], rel.fetchall()



def test_the_scored_frame_is_the_same_on_both_engines(refreshed):
    duck, spark, _, _ = refreshed
    assert (spark / "features.parquet").is_dir()  # written by the executors, part by part
    d_cols, d_types, d_rows = _rows(duck / "features.parquet", "customer_id")
    s_cols, s_types, s_rows = _rows(spark / "features.parquet", "customer_id")
    assert (s_cols, s_types) == (d_cols, d_types)
    assert {"holi_propensity", "flash_sale_uplift"} <= set(s_cols)
    assert len(s_rows) == len(d_rows) >= 250
    diffs = [(d_cols[i], a, b) for x, y in zip(d_rows, s_rows, strict=True)
             for i, (a, b) in enumerate(zip(x, y, strict=True)) if not same(a, b, abs_tol=1e-12)]
    assert diffs == []


def test_memberships_are_the_same_on_both_engines(refreshed):
    duck, spark, on_duck, on_spark = refreshed
    order = "entity_id, priority NULLS LAST, cohort"
    cols, _, d_rows = _rows(duck / "memberships.parquet", order)
    s_cols, _, s_rows = _rows(spark / "memberships.parquet", order)
    assert s_cols == cols and cols[0] == "run_id"
    assert [r[1:] for r in s_rows] == [r[1:] for r in d_rows]  # every value, bar the run id
    assert {r[0] for r in s_rows} == {on_spark.run_id}
    status = cols.index("status")
    counts = {}
    for r in d_rows:
        counts[r[status]] = counts.get(r[status], 0) + 1
    assert counts.get("holdout", 0) > 0 and counts.get("assigned", 0) > 0  # the draw ran
    assert on_spark.inputs["data_snapshot"]["rows"] == on_duck.inputs["data_snapshot"]["rows"]


def test_the_spark_run_records_its_engine_and_the_model_versions(refreshed):
    import json

    duck, spark, on_duck, on_spark = refreshed
    manifest = json.loads((spark / "manifest.json").read_text())
    assert manifest["engine"] == "spark"
    assert json.loads((duck / "manifest.json").read_text())["engine"] == "duckdb"
    assert on_spark.inputs["model_versions"] == on_duck.inputs["model_versions"] != {}
    assert on_spark.status == "scored"
    assert on_spark.inputs["data_snapshot"]["features_hash"].startswith("xxhash64-sum:")


def test_a_template_rule_spark_cannot_run_stops_the_evaluation_naming_it():
    from segflow.dialects import parse, to_spark
    from segflow.scoring.evaluate_spark import _Markers, _predicate

    assert to_spark("SELECT x IN $regions AS y FROM t") == \
        "SELECT ARRAY_CONTAINS(:regions, x) AS y FROM t"
    tree = parse("regexp_full_match(name, $p)")[0]
    markers = _Markers(SimpleNamespace(cohorts=(), suppressions=()))
    markers.names[id(tree)] = "odd_names"
    markers.predicate(tree, {"p": "a.*"}, "c0_", {})
    with pytest.raises(SegflowError, match="^odd_names: its rule cannot run on Spark: .*"
                       "regexp_full_match"):
        _predicate(markers, 0)


def test_the_spark_holdout_draw_is_the_md5_draw_python_and_duckdb_make(spark_project):
    """The Spark rewrite of the stable draw gives each id the value of sqlparts.unit_hash."""
    from segflow import spark as sp
    from segflow.scoring.evaluate_spark import _hash
    from segflow.scoring.sqlparts import unit_hash

    expr = _hash(exp.column("id"), exp.Placeholder(this="salt")).sql("spark")
    session = sp.session(spark_project.spark)
    ids = ["C000001", "C123456", "x", "ünï", ""]
    rows = sp.sql(session, f"SELECT id, {expr} AS u FROM VALUES "
                  + ", ".join(f"('{i}')" for i in ids) + " AS t(id)", {"salt": "s1"}).collect()
    assert {r["id"]: r["u"] for r in rows} == {i: unit_hash(i, "s1") for i in ids}


@pytest.mark.parametrize("exclusive", [True, False])
def test_the_b2b_campaign_evaluates_the_same_on_spark(spark_project, home, columns, exclusive):
    """account_tiers over the scoring tests' synthetic accounts, as written (exclusive) and
    overlapping (every matching cohort a row: DuckDB's unnest, Spark's explode)."""
    from scoring_frames import account_frame

    from segflow import spark as sp
    from segflow.scoring.evaluate import evaluate_memberships
    from segflow.scoring.evaluate_spark import evaluate_on_spark
    from segflow.scoring.resolve import resolve_campaign

    frame = account_frame(200)
    resolved = resolve_campaign(home, "account_tiers", columns=columns)
    resolved = replace(resolved, campaign=replace(resolved.campaign, exclusive=exclusive))
    session = sp.session(spark_project.spark)
    want = evaluate_memberships(frame, resolved, "r1")
    got = evaluate_on_spark(session, session.createDataFrame(frame.to_pandas()), resolved,
                            "r1").toArrow()
    order = [("entity_id", "ascending"), ("cohort", "ascending")]
    assert [(f.name, f.type) for f in got.schema] == [(f.name, f.type) for f in want.schema]
    assert got.sort_by(order).to_pylist() == want.sort_by(order).to_pylist()
    assert want.num_rows >= (200 if exclusive else 201)  # overlapping: some in two cohorts


def test_a_run_refreshed_on_spark_is_governed_on_spark(refreshed, spark_project):
    """The refresh's Parquet folders are what govern reads on Spark: every in-cohort entity
    of the first run enters, and every control runs."""
    from segflow.governance.pipeline import govern_run

    _, spark, _, on_spark = refreshed
    settings = Settings(home=spark.parents[1], project=spark_project)
    result = govern_run(settings, on_spark.run_id)
    entered = duckdb.sql(f"SELECT count(DISTINCT entity_id) FROM read_parquet("
                         f"'{spark}/memberships.parquet/*.parquet') WHERE cohort IS NOT NULL "
                         "AND status IN ('assigned', 'holdout')").fetchall()[0][0]
    assert entered > 0 and result.movement.counts["entered"] == entered
    assert {r.name for r in result.controls} >= {"contracts_hold", "accounted_once",
                                                 "sizes_within_bounds"}
    from segflow.governance.gate import verdict

    v = verdict(settings, on_spark.run_id)  # sealed on Spark, its folder re-hashed intact
    assert v.seal_intact and "not_governed" not in {r.code for r in v.reasons}
