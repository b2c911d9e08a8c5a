"""Governance on Spark gives what it gives on DuckDB: the same SQL text (segflow.sqlengine)
run on both engines over one tiny world of two runs (the first published) gives the same
movement counts and movers, the same control results, the same review items, the same seal
(so the same approvals count) and byte-identical export files; the Spark side's receipts
(the audit entries) name the engine."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from urllib.parse import urlparse

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


def test_reasons_and_summaries_are_identical_on_both_engines(engines, governed_both):
    """Every mover's reasons (the clauses whose truth changed, with the values before and
    after), the per-cohort sentences and movement.csv, byte for byte."""
    duck, spark, _, r2 = engines
    on_duck, on_spark = governed_both
    movement = pd.read_parquet(on_spark.movement.files["parquet"])
    want = pd.read_parquet(on_duck.movement.files["parquet"])
    assert want["reasons"].notna().sum() > 0 and (want["movement"] != "stayed").sum() == \
        want.loc[want["movement"] != "stayed", "reason"].notna().sum()  # every mover has one
    pd.testing.assert_frame_equal(movement, want)
    assert on_spark.movement.summary == on_duck.movement.summary and on_duck.movement.summary
    assert (spark.runs_dir / r2 / "movement.csv").read_bytes() == \
        (duck.runs_dir / r2 / "movement.csv").read_bytes()
    assert (spark.runs_dir / r2 / "movement.parquet").is_dir()  # written by the executors


def test_the_report_s_figures_are_identical_on_both_engines(engines, governed_both):
    """Cohort sizes, reach per channel, movement counts, the story's sentences, reasons
    and its sample of movers: computed by the executors on Spark, the same figures."""
    from segflow.db import connect
    from segflow.governance.context import RunContext
    from segflow.governance.report import run_figures

    duck, spark, _, r2 = engines
    figures = {}
    for settings in (duck, spark):
        with connect(settings) as con:
            figures[settings.engine] = run_figures(settings, RunContext.of(settings, r2), con)
    (sizes, movement), (spark_sizes, spark_movement) = figures["duckdb"], figures["spark"]
    assert sizes["cohorts"] and movement["movers"] and movement["story"]
    for key in sizes:
        assert (key, spark_sizes[key]) == (key, sizes[key])
    for key in movement:
        assert (key, spark_movement[key]) == (key, movement[key])
    assert (spark.runs_dir / r2 / "report.html").exists()


def test_the_receipts_name_the_engine(engines, governed_both):
    from segflow.governance.audit import read

    duck, spark, _, r2 = engines
    for settings, engine in ((duck, "duckdb"), (spark, "spark")):
        (entry,) = [e for e in read(settings, r2) if e["action"] == "govern"]
        assert entry["payload"]["engine"] == engine
        assert "not_on_this_engine" not in entry["payload"]  # every step runs on both


QUEUE = ("SELECT review_id, run_id, campaign, entity_id, rule, detail, cohort_before, "
         "proposed_cohort, template, status FROM review_queue WHERE run_id = ? "
         "ORDER BY review_id")


def test_review_items_and_the_seal_are_identical_on_both_engines(engines, governed_both):
    from segflow.db import connect
    from segflow.governance import seal as seals

    duck, spark, _, r2 = engines
    on_duck, on_spark = governed_both
    found = {}
    for settings in (duck, spark):
        with connect(settings) as con:
            found[settings.engine] = (con.execute(QUEUE, [r2]).fetchall(),
                                      seals.current(con, r2))
    (items, seal), (spark_items, spark_seal) = found["duckdb"], found["spark"]
    assert {i[4].split(":")[0] for i in items} >= {"boundary", "big_mover"}  # rule
    assert spark_items == items and on_spark.exceptions == on_duck.exceptions == len(items)
    assert spark_seal.seal_hash == seal.seal_hash and spark_seal.by_status == seal.by_status
    assert (spark.runs_dir / r2 / "review_items").is_dir()  # the executors wrote it


def _rows(settings, run_id: str) -> list[tuple]:
    """The run's rows stored in the driver's DuckDB (not the view over the Parquet)."""
    from segflow.db import connect

    with connect(settings) as con:
        return con.execute("SELECT review_id, status FROM review_rows WHERE run_id = ?",
                           [run_id]).fetchall()


def test_spark_review_items_stay_in_the_executors_parquet_until_decided(
        engines, governed_both, tmp_path):
    """The driver's DuckDB stores none of a Spark run's open items; the desk's keys came
    with them from the executors (the same pages as DuckDB's); a decision copies only its
    item into the database (governing again: ``test_review_queue_store``)."""
    from govworld import copy_world

    from segflow.db import connect
    from segflow.governance.context import RunContext
    from segflow.governance.desk.queue import Filters, page
    from segflow.governance.owners import load_owners
    from segflow.governance.review_cli import decide_many

    duck, spark, _, r2 = engines
    ws = copy_world(spark, tmp_path / "copy")  # a copied workspace reads its own files
    assert _rows(ws, r2) == [] and governed_both[1].exceptions > 1
    with connect(ws) as con:
        shown = page(con, RunContext.of(ws, r2), Filters(sort="move", size=200), None).rows
    with connect(duck) as con:
        want = page(con, RunContext.of(duck, r2), Filters(sort="move", size=200), None).rows
    assert shown == want and {r["move"] for r in shown} - {None}
    with connect(ws) as con:  # an item ravi.k may decide (the ids change with the run's)
        mine = page(con, RunContext.of(ws, r2), Filters(owner="ravi.k", size=25),
                    load_owners(ws.owners_path)).rows
    first = mine[0]["review_id"]
    decide_many(ws, r2, [first], "ravi.k", "checked against the account notes")
    assert _rows(ws, r2) == [(first, "confirmed")]
    with connect(ws) as con:
        status = dict(con.execute("SELECT status, count(*) FROM review_queue WHERE run_id = ? "
                                  "GROUP BY 1", [r2]).fetchall())
    assert status == {"confirmed": 1, "open": governed_both[1].exceptions - 1}


def test_a_spark_run_whose_review_items_are_gone_says_so(engines, governed_both, tmp_path):
    """A registered set's folder removed: the run's open items fail with one line naming
    the run and what to do, rather than listing none."""
    import shutil

    from govworld import copy_world

    from segflow.failures import one_line
    from segflow.governance.review_cli import list_items

    _, spark, r1, r2 = engines
    ws = copy_world(spark, tmp_path / "copy")
    assert list_items(ws, r2, "open")
    shutil.rmtree(ws.runs_dir / r2 / "review_items")
    with pytest.raises(Exception) as failed:
        list_items(ws, r2, "open")
    assert one_line(failed.value).startswith(f"the review items of run {r2} are missing (")
    assert one_line(failed.value).endswith(f"govern the run again (`segflow govern {r2}`)")
    duck = engines[0]
    assert list_items(ws, r1, None) == list_items(duck, r1, None)  # other runs still answer
    from segflow.governance.doctor import findings

    (gone,) = [f for f in findings(ws, repair=True) if f.area == "review"]
    assert (gone.subject, gone.ok) == (r2, False) and "review items are missing" in gone.problem


def test_a_spark_run_is_approved_as_a_duckdb_one(engines, governed_both):
    """The gate re-hashes the memberships on the executors, finds the seal intact, and an
    approval of that seal counts."""
    from govworld import APPROVAL, drift_passed

    from segflow.governance.gate import verdict
    from segflow.governance.publish import approve

    _, spark, _, r2 = engines
    drift_passed(spark, r2)
    approve(spark, r2, "lead.analyst", APPROVAL)
    after = verdict(spark, r2)
    assert after.seal_intact and after.approved_by == ["lead.analyst"]
    assert not {r.code for r in after.reasons} & {"not_governed", "seal_mismatch",
                                                   "approval_missing", "approval_stale"}


def test_the_executors_hash_a_folder_as_the_gate_does(tmp_path, spark_project):
    """Part files hashed by Spark's executors give ``runstore.file_sha256``'s digest of the
    folder (Spark's markers left out), and of a single file its SHA-256."""
    from segflow import spark as sp
    from segflow.runstore import file_sha256
    from segflow.sqlengine import SparkConnection
    from segflow.sqlengine import file_sha256 as on_engine

    con = SparkConnection(sp.session(spark_project.spark))
    con.execute("COPY (SELECT 'C1' AS entity_id UNION ALL SELECT 'C2') TO "
                f"'{tmp_path / 'm.parquet'}' (FORMAT parquet)")
    folder = tmp_path / "m.parquet"
    assert any(p.name.startswith(("_", ".")) for p in folder.iterdir())  # markers present
    assert on_engine(con, folder) == file_sha256(folder)
    one = next(folder.glob("part-*.parquet"))
    assert on_engine(con, one) == file_sha256(one)


@pytest.fixture(scope="module")
def exported_on_spark(engines):
    """The first run exported on Spark, and the canonical files each of the Spark scans
    that ran during the export read (``file_scans``)."""
    from segflow import spark as sp
    from segflow.governance.pipeline import export_for

    _, spark, r1, _ = engines
    session = sp.session_of(spark)
    key, old = "spark.sql.maxMetadataStringLength", None
    old = session.conf.get(key)
    session.conf.set(key, "100000")  # a scan's description names its whole path
    try:
        before = _execution_ids(session)
        index = export_for(spark, r1)
        scans = file_scans(session, _execution_ids(session) - before)
    finally:
        session.conf.set(key, old)
    return index, scans


def _execution_ids(session) -> set[int]:
    executions = session._jsparkSession.sharedState().statusStore().executionsList()
    return {executions.apply(i).executionId() for i in range(executions.size())}


def file_scans(session, executions: set[int]) -> list[Path]:
    """The path of every Parquet scan that read files in ``executions`` (Spark SQL's
    own records, as its UI shows them), once per scan that ran: a scan inside a cached
    relation is listed in each query that reads the cache, but its metric (files read)
    is one accumulator, set only where the scan ran."""
    store = session._jsparkSession.sharedState().statusStore()
    ran: dict[int, str] = {}
    for execution in executions:
        seq = store.executionMetrics(execution).toSeq()
        values = {int(seq.apply(i)._1()): seq.apply(i)._2() for i in range(seq.size())}
        nodes = store.planGraph(execution).allNodes()
        for node in (nodes.apply(i) for i in range(nodes.size())):
            if not node.name().startswith("Scan parquet"):
                continue
            metrics = node.metrics()
            for metric in (metrics.apply(i) for i in range(metrics.size())):
                read = values.get(metric.accumulatorId(), "0").replace(",", "")
                if metric.name() == "number of files read" and int(read or 0) > 0:
                    where = node.desc().split("Location: ", 1)[1]  # Index(n paths)[a, b]
                    ran[metric.accumulatorId()] = Path(urlparse(
                        where.split("[", 1)[1].split("]", 1)[0]).path)
    return list(ran.values())


def test_a_spark_export_reads_the_customers_once(engines, exported_on_spark):
    """Spark computes a relation a query names again wherever it is read, unless it is
    cached: a judgement per channel read the customers once per channel (four times in
    this world). One judgement of every channel reads them once, however many channels
    and cohort files there are; the events once for unsubscribes and complaints together
    (twice before: one scan per kind of opt-out)."""
    _, spark, _, _ = engines
    _, scans = exported_on_spark
    read = [f.name for f in scans if f.parent == spark.canonical_dir.resolve()]
    customers, events = "customers.parquet", spark.table_path("events").name
    assert (read.count(customers), read.count(events)) == (1, 1), scans


def test_exports_are_byte_identical_on_both_engines(engines, exported_on_spark):
    from segflow.governance.pipeline import export_for

    duck, spark, r1, _ = engines
    on_duck, on_spark = export_for(duck, r1), exported_on_spark[0]
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


def test_curated_lists_on_a_spark_run_add_the_empty_column_or_refuse_an_active_list(
        spark_project):
    """A campaign that declares a curated cohort (account_tiers) refreshes on Spark when no
    list is active: the memberships gain the same empty curated_id as on DuckDB and each
    listed id's outcome is its list's state; an active list is refused in one line."""
    import pyarrow as pa

    from segflow import spark as sp
    from segflow.errors import SegflowError
    from segflow.governance.curated import _on_spark, apply_curated

    m = pa.table({"entity_id": ["a", "b"], "cohort": ["top", None],
                  "status": ["assigned", "unassigned"]})
    listed = pa.table({"entity_id": ["a", "zz"], "cohort": ["vip"] * 2,
                       "version": pa.array([1, 1], pa.int32()),
                       "priority": pa.array([0, 0], pa.int32()),
                       "channels": ["account_manager"] * 2, "state": ["expired"] * 2})
    frame = sp.session(spark_project.spark).createDataFrame(m.to_pandas())
    out, outcomes = _on_spark(frame, listed, "run-1")
    want, want_outcomes = apply_curated(m, listed)
    assert out.toArrow().to_pylist() == want.to_pylist()
    assert outcomes.equals(want_outcomes)
    active = listed.set_column(5, "state", pa.array(["active"] * 2))
    with pytest.raises(SegflowError, match="curated list 'vip' is active, and applying "
                                           "curated lists on Spark is not built yet"):
        _on_spark(frame, active, "run-1")


def test_drop_if_exists_of_a_temporary_table_runs_on_spark(spark_project):
    """Governance drops an earlier run's temporary table before it registers its own (the
    note topics); on Spark that is the session's view, and dropping it twice is no error."""
    from segflow import spark as sp
    from segflow.sqlengine import SparkConnection, has_table

    con = SparkConnection(session=sp.session(spark_project.spark))
    con.execute("CREATE OR REPLACE TEMP TABLE dropped_here AS SELECT 1 AS k")
    assert has_table(con, "dropped_here")
    con.execute("DROP TABLE IF EXISTS temp.dropped_here")
    con.execute("DROP TABLE IF EXISTS temp.dropped_here")
    assert not has_table(con, "dropped_here")


def test_files_written_per_value_by_one_spark_job_are_duckdb_s_files(tmp_path, spark_project):
    """``write_csv_per_value`` (an export's files of a channel, one job): each value's file
    is DuckDB's ``COPY (... WHERE cohort = v ORDER BY ALL)``, NULLs last, a value with no
    rows the header alone."""
    import duckdb

    from segflow import spark as sp
    from segflow.sqlengine import write_csv_per_value

    rows = [("b", "C2", None, "x"), ("a", "C9", 'say "hi", then', None), ("a", "C1", "", "y"),
            ("a", "C1", None, "a\nb"), ("b", "C0", "z", None)]
    schema = "cohort string, customer_id string, email string, offer string"
    paths = {v: tmp_path / "spark" / v / "email.csv" for v in ("a", "b", "none")}
    for path in paths.values():
        path.parent.mkdir(parents=True)
    frame = sp.session(spark_project.spark).createDataFrame(rows, schema)
    write_csv_per_value(frame, "cohort", paths, header=True)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (cohort VARCHAR, customer_id VARCHAR, email VARCHAR, "
                "offer VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
    for value, path in paths.items():
        want = tmp_path / f"duck-{value}.csv"
        con.execute(f"COPY (SELECT * EXCLUDE (cohort) FROM t WHERE cohort = '{value}' "
                    f"ORDER BY ALL) TO '{want}' (HEADER)")
        assert path.read_bytes() == want.read_bytes(), value
    assert not list(tmp_path.glob("spark/.*"))  # Spark's staging folder removed


def test_the_catalogue_s_sizes_are_counted_by_the_executors(engines, governed_both,
                                                             monkeypatch):
    """The template catalogue's sizes of a run: the same on both engines, and on Spark
    counted by Spark, not by a DuckDB inside the driver (a distinct count over every
    membership: 1 GB of the driver's memory at 10M customers before)."""
    import duckdb

    from segflow.governance.catalogue import SIZES_FILE, run_sizes

    duck, spark, _, r2 = engines
    for settings in (duck, spark):
        (settings.runs_dir / r2 / SIZES_FILE).unlink(missing_ok=True)
    want = run_sizes(duck, r2)

    def refused(*args, **kwargs):
        raise AssertionError("a DuckDB connection opened in the driver of a Spark project")

    monkeypatch.setattr(duckdb, "connect", refused)
    assert want and run_sizes(spark, r2) == want
    assert json.loads((spark.runs_dir / r2 / SIZES_FILE).read_text())
