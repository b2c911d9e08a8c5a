"""Governance on Spark gives what it gives on DuckDB: the same SQL text (segflow.sqlengine)
run on both engines over one tiny world of two runs (the first published) gives the same
movement counts and movers, the same control results and byte-identical export files; the
Spark side's receipts (the audit entries) name the engine."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
from govworld import (
    AS_OF_1,
    AS_OF_2,
    approve_and_publish,
    base_features,
    copy_world,
    governed,
    make_world,
    write_canonical,
    write_run,
)
from test_governance_movement import changed

pytestmark = pytest.mark.integration
MOVER_COLUMNS = ["entity_id", "movement", "cohort_before", "cohort_after", "status_before",
                 "status_after", "score_before", "score_after", "override_id"]


@pytest.fixture(scope="module")
def engines(tmp_path_factory, spark_project):
    """(DuckDB settings, Spark settings, first run, second run): a world whose first run is
    governed and published on DuckDB and whose second is written, copied into two
    workspaces, the second on ``engine: spark``."""
    root = tmp_path_factory.mktemp("gov_spark")
    base = make_world(root / "base")
    f1 = base_features(120)
    write_canonical(base, list(f1.customer_id))
    r1 = governed(base, f1, AS_OF_1)
    approve_and_publish(base, r1)
    r2 = write_run(base, changed(f1), AS_OF_2)
    duck = copy_world(base, root / "duck")
    spark = dataclasses.replace(copy_world(base, root / "spark"),
                                project=dataclasses.replace(
                                    duck.project, engine="spark", spark=spark_project.spark))
    return duck, spark, r1, r2


@pytest.fixture(scope="module")
def governed_both(engines):
    from segflow.governance.pipeline import govern_run

    duck, spark, _, r2 = engines
    return govern_run(duck, r2), govern_run(spark, r2)


def test_movement_and_controls_are_identical_on_both_engines(engines, governed_both):
    duck, spark, r1, r2 = engines
    on_duck, on_spark = governed_both
    assert on_spark.previous_run_id == on_duck.previous_run_id == r1
    assert on_spark.movement.counts == on_duck.movement.counts
    assert sum(on_duck.movement.counts.values()) > 0 and on_duck.movement.counts["moved"] > 0
    movers = pd.read_parquet(on_spark.movement.files["parquet"])[MOVER_COLUMNS]
    want = pd.read_parquet(on_duck.movement.files["parquet"])[MOVER_COLUMNS]
    pd.testing.assert_frame_equal(movers.reset_index(drop=True), want.reset_index(drop=True))
    assert [r.to_dict() for r in on_spark.controls] == [r.to_dict() for r in on_duck.controls]
    assert {r.name for r in on_spark.controls} >= {"contracts_hold", "accounted_once",
                                                   "revenue_reconciles",
                                                   "sizes_within_bounds", "no_sudden_change"}


def test_the_receipts_name_the_engine(engines, governed_both):
    from segflow.governance.audit import read

    duck, spark, _, r2 = engines
    for settings, engine in ((duck, "duckdb"), (spark, "spark")):
        (entry,) = [e for e in read(settings, r2) if e["action"] == "govern"]
        assert entry["payload"]["engine"] == engine
    assert "the review queue" in entry["payload"]["not_on_this_engine"]


def test_exports_are_byte_identical_on_both_engines(engines):
    from segflow.governance.pipeline import export_for

    duck, spark, r1, _ = engines
    on_duck, on_spark = export_for(duck, r1), export_for(spark, r1)
    assert on_duck["files"] and on_spark["files"] == on_duck["files"]
    assert on_spark["left_out"] == on_duck["left_out"]
    for f in on_duck["files"]:
        path = f"{f['cohort']}/{f['channel']}.csv"
        assert (spark.exports_dir / r1 / path).read_bytes() == \
            (duck.exports_dir / r1 / path).read_bytes()
    manifest = json.loads((spark.exports_dir / r1 / "manifest.json").read_text())
    assert manifest["files"] == on_duck["files"]
    assert (manifest["engine"], on_duck["engine"]) == ("spark", "duckdb")


@pytest.mark.parametrize("rows", [[], [("C1", 'say "hi", then', ""), ("C2", None, "a\nb")]])
def test_a_csv_written_from_spark_is_the_file_duckdb_writes(tmp_path, spark_project, rows):
    """Quotes, commas, empty text, NULL, a line break, and zero rows (a header only)."""
    import duckdb

    from segflow import spark as sp
    from segflow.sqlengine import write_csv

    schema = "customer_id string, email string, phone string"
    write_csv(sp.session(spark_project.spark).createDataFrame(rows, schema),
              tmp_path / "spark.csv", header=True)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (customer_id VARCHAR, email VARCHAR, phone VARCHAR)")
    for row in rows:
        con.execute("INSERT INTO t VALUES (?, ?, ?)", row)
    con.execute(f"COPY t TO '{tmp_path / 'duck.csv'}' (HEADER)")
    assert (tmp_path / "spark.csv").read_bytes() == (tmp_path / "duck.csv").read_bytes()
