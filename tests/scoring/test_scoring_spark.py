"""A refresh on Spark gives what DuckDB gives: on a tiny Holi world with trained champions,
the holi_2027 refresh (point-in-time features, both champions scored through
mlflow.pyfunc.spark_udf, 40 cohorts, exempt suppressions, ranked cohorts, the holdout and
the offer draw) writes the same scored frame, the same memberships and the same stored
contributions (explain: {store_contributions: true}, set on both) on both engines."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pyarrow.parquet as pq
import pytest
from sqlglot import exp
from values import cell_diffs, run_rows

from segflow.errors import SegflowError
from segflow.settings import Settings
from segflow.staging import PREFIX

pytestmark = [pytest.mark.integration, pytest.mark.slow]
AS_OF = datetime(2027, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, spark_project, holi_trained):
    """(DuckDB settings, Spark settings): the session's trained world (``holi_trained``),
    copied for each engine, each storing explain's contributions."""
    root = tmp_path_factory.mktemp("spark_refresh")
    shutil.copytree(holi_trained.home, root / "duck")
    shutil.copytree(holi_trained.home, root / "spark")
    spark = Settings(home=root / "spark",
                     project=replace(spark_project, store_contributions=True))
    duck = Settings(home=root / "duck")
    duck = replace(duck, project=replace(duck.project, store_contributions=True))
    return duck, spark


@pytest.fixture(scope="module")
def refreshed(trained):
    """(DuckDB run folder, Spark run folder, both records, the Spark sequence's outcome): the
    trained world refreshed on each engine. The Spark side is the campaign-refresh flow's
    own sequence as `segflow run --no-ingest --no-publish` runs it (Prefect only wraps each
    step in a task): its features step rebuilds the snapshots on Spark and loads the online
    store from them, then the refresh, govern and the drift gate run on Spark; so the
    equalities below also hold for features built by Spark."""
    from segflow.flows.sequence import refresh_sequence
    from segflow.runstore import load_run, run_dir
    from segflow.scoring.refresh import refresh_campaign

    duck, spark = trained
    on_duck = refresh_campaign(duck, "holi_2027", AS_OF)
    flowed = refresh_sequence(spark, "holi_2027", AS_OF, features=True, drift=True)
    on_spark = load_run(spark, flowed.run_id)
    return (run_dir(duck, on_duck.run_id), run_dir(spark, on_spark.run_id), on_duck, on_spark,
            flowed)


def test_segflow_preview_on_spark_scores_and_shows_what_duckdb_shows(trained, monkeypatch):
    """The whole command's path on each engine: the champions' scores (spark_udf on Spark),
    then the preview; with --set, the changes too. Nothing is written on either. On Spark
    the memberships are computed once: each count reads kept rows (a job or two per
    query), never the evaluation again (16 jobs each time when replaced views dropped the
    cached memberships)."""
    from segflow import spark as sp
    from segflow.scoring import preview_spark
    from segflow.scoring.preview import preview_campaign
    from segflow.scoring.resolve import resolve_campaign
    from segflow.sqlengine import SparkConnection

    duck, spark = trained
    queries, counted = [], preview_spark.preview_on

    def counting(con, *args):
        sp.session_of(spark).sparkContext.setJobGroup("preview counts", "preview counts")
        try:
            return counted(con, *args)
        finally:
            sp.session_of(spark).sparkContext.setLocalProperty("spark.jobGroup.id", None)

    monkeypatch.setattr(preview_spark, "preview_on", counting)
    execute = SparkConnection.execute
    monkeypatch.setattr(SparkConnection, "execute",
                        lambda self, sql, params=None: queries.append(sql) or
                        execute(self, sql, params))
    shown = []
    for settings in (duck, spark):
        changed = resolve_campaign(settings, "holi_2027",
                                   {"lapsed_high_value.lapsed_days": "30"})
        runs = sorted(p.name for p in settings.runs_dir.iterdir())
        shown.append(preview_campaign(settings, changed, AS_OF,
                                      resolve_campaign(settings, "holi_2027")))
        assert sorted(p.name for p in settings.runs_dir.iterdir()) == runs  # nothing left
    on_duckdb, on_spark = shown
    assert on_duckdb.entities >= 250 and sum(on_duckdb.status.values()) == on_duckdb.entities
    # every part has content, so the equality below compares something
    assert on_duckdb.cohorts and on_duckdb.suppressed_by and on_duckdb.changes
    assert on_duckdb.offers and on_duckdb.overlaps
    assert all(steps for steps in on_duckdb.funnels.values())
    assert on_spark == on_duckdb
    tracker = sp.session_of(spark).sparkContext.statusTracker()
    jobs = tracker.getJobIdsForGroup("preview counts")
    assert len(queries) >= 10 and 0 < len(jobs) <= 2 * len(queries)


def _legacy_list(path, memberships) -> tuple[Path, int]:
    """A list a team keeps: each in-cohort customer of the run with its first cohort, five
    of them moved to another cohort, a label that is no cohort and an id the run lacks;
    with the number of planted disagreements."""
    from segflow.scoring.runfiles import parquet_sql

    rows = duckdb.sql(f"""SELECT entity_id, cohort FROM {parquet_sql(memberships)}
        WHERE status IN ('assigned', 'holdout') QUALIFY row_number() OVER (PARTITION BY
        entity_id ORDER BY priority, cohort) = 1 ORDER BY entity_id""").fetchall()
    cohorts = sorted({c for _, c in rows})
    moved = [(e, cohorts[(cohorts.index(c) + 1) % len(cohorts)]) for e, c in rows[:5]]
    listed = moved + [(rows[5][0], "Platinum")] + rows[6:] + [("C99999999", cohorts[0])]
    path.write_text("customer_id;segment\n" + "".join(f"{e};{c}\n" for e, c in listed))
    return path, 7


def test_segflow_compare_on_spark_finds_what_duckdb_finds(trained, refreshed, tmp_path):
    """`segflow compare` on each engine, on features scored now (spark_udf on Spark,
    nothing written): the same agreement, confusion table and explained disagreements,
    down to each clause's values; and, on DuckDB, a run's scored features give the same.
    On Spark a run's features folder is read as the staged one is (``spark_frame``);
    comparing from a run on Spark too would add 11 s to the suite's Spark time, so that
    variant was tried from the CLI instead (docs/scale-out.md)."""
    from segflow.scoring.compare import compare_campaign, read_legacy
    from segflow.scoring.resolve import resolve_campaign

    duck_folder, _, on_duck, _, _ = refreshed
    path, planted = _legacy_list(tmp_path / "list.csv", duck_folder / "memberships.parquet")
    legacy = read_legacy(path, "customer")
    shown = []
    for settings in trained:
        runs = sorted(p.name for p in settings.runs_dir.iterdir())
        shown.append(compare_campaign(settings, resolve_campaign(settings, "holi_2027"),
                                      legacy, 0, AS_OF))
        assert sorted(p.name for p in settings.runs_dir.iterdir()) == runs  # nothing left
    on_duckdb, on_spark = shown
    assert on_duckdb["disagree"] == planted and len(on_duckdb["disagreements"]) == planted
    assert on_duckdb["legacy"]["not_cohorts"] == ["Platinum"]
    assert all(d["why"] for d in on_duckdb["disagreements"])
    assert any("rule fails" in d["why"] or "comes first" in d["why"]
               for d in on_duckdb["disagreements"])  # clauses and values explained
    assert on_spark == on_duckdb
    duck = trained[0]
    from_run = compare_campaign(duck, resolve_campaign(duck, "holi_2027"), legacy, 0,
                                record=on_duck)
    assert from_run == on_duckdb  # a run's features are what scoring now gives


def test_the_scored_frame_is_the_same_on_both_engines(refreshed):
    duck, spark, _, _, _ = refreshed
    assert (spark / "features.parquet").is_dir()  # written by the executors, part by part
    d_cols, d_types, d_rows = run_rows(duck / "features.parquet", "customer_id")
    s_cols, s_types, s_rows = run_rows(spark / "features.parquet", "customer_id")
    assert (s_cols, s_types) == (d_cols, d_types)
    assert {"holi_propensity", "flash_sale_uplift"} <= set(s_cols)
    assert len(s_rows) == len(d_rows) >= 250
    assert cell_diffs(d_cols, d_rows, s_rows, abs_tol=1e-12) == []


def test_memberships_are_the_same_on_both_engines(refreshed):
    duck, spark, on_duck, on_spark, _ = refreshed
    order = "entity_id, priority NULLS LAST, cohort"
    cols, types, d_rows = run_rows(duck / "memberships.parquet", order)
    s_cols, s_types, s_rows = run_rows(spark / "memberships.parquet", order)
    assert (s_cols, s_types) == (cols, types) and cols[0] == "run_id"
    assert [r[1:] for r in s_rows] == [r[1:] for r in d_rows]  # every value, bar the run id
    assert {r[0] for r in s_rows} == {on_spark.run_id}
    status = cols.index("status")
    counts = {}
    for r in d_rows:
        counts[r[status]] = counts.get(r[status], 0) + 1
    assert counts.get("holdout", 0) > 0 and counts.get("assigned", 0) > 0  # the draw ran
    assert on_spark.inputs["data_snapshot"]["rows"] == on_duck.inputs["data_snapshot"]["rows"]


def test_stored_contributions_are_the_same_on_both_engines(refreshed):
    """Spark's executors write contributions.parquet/ beside the scored folder: DuckDB's
    file's columns, types and rows, key by key, every customer once."""
    from segflow.scoring.score import CONTRIBUTIONS

    duck, spark, on_duck, on_spark, _ = refreshed
    assert (spark / CONTRIBUTIONS).is_dir() and (duck / CONTRIBUTIONS).is_file()
    assert not list(spark.parent.glob(f"{PREFIX}*"))  # nothing staged is left behind
    d_cols, d_types, d_rows = run_rows(duck / CONTRIBUTIONS, "customer_id")
    s_cols, s_types, s_rows = run_rows(spark / CONTRIBUTIONS, "customer_id")
    assert (s_cols, s_types) == (d_cols, d_types)
    assert {"holi_propensity:reason_5_contribution",
            "flash_sale_uplift:reason_1_feature"} <= set(d_cols)
    assert len(s_rows) == len(d_rows) == on_duck.inputs["data_snapshot"]["rows"]
    assert len({r[0] for r in s_rows}) == len(s_rows)
    assert cell_diffs(d_cols, d_rows, s_rows, abs_tol=1e-6) == []


def test_explain_reads_a_spark_run_s_stored_contributions(refreshed):
    """segflow explain on the Spark run says its contributions come from the run (none
    loaded from the models) and shows what it shows for the DuckDB run."""
    import json

    from typer.testing import CliRunner

    from segflow.cli import app

    duck, spark, on_duck, on_spark, _ = refreshed
    customer = duckdb.sql(f"SELECT min(customer_id) FROM read_parquet('"
                          f"{duck / 'features.parquet'}')").fetchall()[0][0]
    shown = {}
    for folder, record in ((duck, on_duck), (spark, on_spark)):
        result = CliRunner().invoke(app, ["--home", str(folder.parents[1]), "explain",
                                          "--campaign", "holi_2027", "--customer", customer,
                                          "--run", record.run_id, "--json", "--top", "5"])
        assert result.exit_code == 0, result.output
        shown[folder] = json.loads(result.output)
    got, want = shown[spark], shown[duck]
    assert got["contributions_from"] == want["contributions_from"] == "run"
    assert set(got["contributions"]) == {"holi_propensity", "flash_sale_uplift"}
    for col, reasons in want["contributions"].items():
        assert len(reasons) == 5
        assert [r["feature"] for r in got["contributions"][col]] == [
            r["feature"] for r in reasons]
        assert [r["contribution"] for r in got["contributions"][col]] == pytest.approx(
            [r["contribution"] for r in reasons], abs=1e-6)


def test_the_spark_run_records_its_engine_and_the_model_versions(refreshed):
    import json

    duck, spark, on_duck, on_spark, _ = refreshed
    manifest = json.loads((spark / "manifest.json").read_text())
    assert manifest["engine"] == "spark"
    assert json.loads((duck / "manifest.json").read_text())["engine"] == "duckdb"
    assert on_spark.inputs["model_versions"] == on_duck.inputs["model_versions"] != {}
    assert on_spark.status in ("governed", "blocked")  # the flow's sequence governed it
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


def test_a_run_refreshed_on_spark_is_governed_on_spark(refreshed, trained):
    """The flow's sequence on Spark: its features step built every view as a folder of the
    executors' part files and loaded the online store, and govern read the refresh's Parquet
    folders: every in-cohort entity of the first run enters, every control runs, the seal
    holds and the drift gate ran."""
    from segflow.featurestore.online import online_path

    _, spark, _, on_spark, flowed = refreshed
    settings = trained[1]
    assert flowed.steps == ["features", "refresh", "govern", "drift"] and not flowed.repeat
    assert [p.name for p in settings.features_dir.glob("*.parquet") if not p.is_dir()] == []
    assert online_path(settings).is_file() and flowed.drift is not None
    result = flowed.governed
    from segflow.scoring.runfiles import parquet_sql

    entered = duckdb.sql(f"SELECT count(DISTINCT entity_id) FROM "
                         f"{parquet_sql(spark / 'memberships.parquet')} WHERE cohort IS NOT "
                         "NULL AND status IN ('assigned', 'holdout')").fetchall()[0][0]
    assert entered > 0 and result.movement.counts["entered"] == entered
    assert {r.name for r in result.controls} >= {"contracts_hold", "accounted_once",
                                                 "sizes_within_bounds"}
    from segflow.governance.gate import verdict

    v = verdict(settings, on_spark.run_id)  # sealed on Spark, its folder re-hashed intact
    assert v.seal_intact and "not_governed" not in {r.code for r in v.reasons}


def test_spark_memberships_are_partitioned_by_cohort_and_read_back_whole(refreshed,
                                                                        spark_project):
    """runs/<id>/memberships.parquet/cohort=<name>/ on Spark, rows without a cohort in
    Hive's NULL partition; DuckDB (hive partitioning) and Spark read back the DuckDB run's
    columns, order, types and rows, the cohort as text."""
    import pyarrow as pa

    from segflow import spark as sp
    from segflow.scoring.runfiles import parquet_sql, read_arrow, spark_frame

    duck, spark, _, _, _ = refreshed
    folder = spark / "memberships.parquet"
    parts = {p.name for p in folder.iterdir() if p.is_dir()}
    want = pq.read_table(duck / "memberships.parquet")
    cohorts = {c for c in want.column("cohort").to_pylist() if c is not None}
    assert parts == {f"cohort={c}" for c in cohorts} | {"cohort=__HIVE_DEFAULT_PARTITION__"}
    assert not list(folder.glob("*.parquet"))  # every row file sits in its cohort's folder
    assert "cohort" not in pq.read_schema(next(folder.glob("cohort=*/*.parquet"))).names
    assert "read_parquet" in parquet_sql(folder) and "hive_partitioning" in parquet_sql(folder)

    def rows(table: pa.Table) -> list[tuple]:
        keys = [tuple("" if v is None else str(v) for v in r.values())
                for r in table.drop_columns(["run_id"]).to_pylist()]
        return sorted(keys)

    got = read_arrow(folder)
    assert got.schema == want.schema
    assert rows(got) == rows(want)
    frame = spark_frame(sp.session(spark_project.spark), folder)
    on_spark = frame.toArrow()
    assert [(f.name, f.type) for f in on_spark.schema] == [(f.name, f.type) for f in want.schema]
    assert rows(on_spark) == rows(want)


def test_drift_on_spark_takes_a_bounded_deterministic_sample_on_the_executors(
        refreshed, spark_project, tmp_path):
    """A side cut to at most N customers (N below the world's size), the same customers on
    a second cut, their memberships and no one else's."""
    from segflow import spark as sp
    from segflow.monitoring.drift_spark import sample_side
    from segflow.monitoring.reference import Side
    from segflow.scoring.runfiles import read_arrow

    _, spark, _, _, _ = refreshed
    session = sp.session(spark_project.spark)
    side = Side("run", spark / "features.parquet", spark / "memberships.parquet")
    one = sample_side(session, side, 100, 0, tmp_path / "one")
    two = sample_side(session, side, 100, 0, tmp_path / "two")
    ids = [read_arrow(s.features).column("customer_id").to_pylist() for s in (one, two)]
    everyone = read_arrow(spark / "features.parquet").num_rows
    assert one.rows == two.rows == everyone > 100  # the side's count, not the sample's
    assert len(ids[0]) == 100 and len(set(ids[0])) == 100
    assert sorted(ids[0]) == sorted(ids[1])
    members = read_arrow(one.memberships)
    assert set(members.column("entity_id").to_pylist()) == set(ids[0])
    assert members.num_rows == read_arrow(spark / "memberships.parquet", where="entity_id IN ("
                                          + ", ".join(f"'{i}'" for i in ids[0]) + ")").num_rows


def test_the_drift_verdict_on_spark_is_duckdbs_where_the_sample_covers_everyone(
        refreshed, spark_project):
    """Each engine's run against the training snapshot: on Spark the sides are the
    executors' samples (the cap, 100,000 by default, covers the world), and the drifted
    columns, their statistics and the verdict are DuckDB's."""
    from segflow.monitoring.config import load_monitoring_config
    from segflow.monitoring.drift import run_drift
    from segflow.monitoring.gate import breaches

    duck, spark, on_duck, on_spark, _ = refreshed
    duck_settings = Settings(home=duck.parents[1])
    spark_settings = Settings(home=spark.parents[1], project=spark_project)
    from dataclasses import replace as with_

    import pyarrow as pa

    config = load_monitoring_config(duck_settings, "holi_2027")
    schema = pq.read_schema(duck / "features.parquet")  # four features keep Evidently quick
    numeric = [f.name for f in schema if pa.types.is_floating(f.type)][:4]
    config = with_(config, drift=with_(config.drift, features=numeric))
    want = run_drift(duck_settings, on_duck.run_id, config, "training")
    got = run_drift(spark_settings, on_spark.run_id, config, "training")
    assert got["sample"]["engine"] == "spark" and "engine" not in want["sample"]
    assert got["sample"]["customers"] == config.drift.sample_size
    assert got["sample"]["current"] == want["sample"]["current"]  # everyone, of everyone
    assert got["sample"]["current"]["rows"] == got["sample"]["current"]["of"] > 250
    assert (spark / "drift" / "sample" / "current" / "features.parquet").is_dir()
    for key in ("features", "scores", "affected_cohorts", "bias_flags", "excluded_columns"):
        assert got[key] == want[key], key
    assert breaches(got, config) == breaches(want, config)
    assert want["features"]["n"] > 0


def test_a_missing_text_output_is_null_on_spark_as_on_duckdb(spark_project, tmp_path):
    """mlflow's spark_udf casts a text output with numpy's str, so a missing label would
    arrive as the text 'None'; the scored frame keeps it NULL, as DuckDB does."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    from segflow import spark as sp
    from segflow.scoring.score_spark import with_model

    class Labels(mlflow.pyfunc.PythonModel):  # a notes model: no label where no note
        def predict(self, context, model_input, params=None):
            x = model_input["x"]
            return pd.DataFrame({"label": [None if v < 0 else "churn risk" for v in x],
                                 "score": x.astype(float)})

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    inputs = pd.DataFrame({"x": [1.0, -1.0, 2.0]})
    outputs = pd.DataFrame({"label": ["churn risk", None, "churn risk"], "score": [1.0, -1, 2]})
    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="m", python_model=Labels(), registered_model_name="labels",
                                signature=infer_signature(inputs, outputs))
    spark = sp.session(spark_project.spark)
    frame = spark.createDataFrame(inputs)
    model = SimpleNamespace(name="labels", version=1, features=["x"], outputs=["label", "score"])
    got = sorted(with_model(spark, frame, model).select("x", "label").collect())
    assert [(r.x, r.label) for r in got] == [(-1.0, None), (1.0, "churn risk"),
                                             (2.0, "churn risk")]


def test_no_window_of_the_evaluation_runs_on_one_partition(spark_project, home, columns,
                                                          tmp_path):
    """holi_2027 ranks three cohorts without a split by score: Spark folds their constant
    split away, and a window with no partition left sorts every match in one task (issue
    #20). Every window of the evaluation's physical plan keeps a partition (the ranks are
    numbered per score bucket, segflow.scoring.ranking); the plan alone (and the one job
    computing the frame's pass, staged), of a frame read from Parquet as a refresh reads its
    scored folder."""
    import json

    from scoring_frames import customer_frame

    from segflow import spark as sp
    from segflow.scoring.evaluate_spark import evaluate_on_spark
    from segflow.scoring.resolve import resolve_campaign

    resolved = resolve_campaign(home, "holi_2027", columns=columns)
    assert sum(1 for b in resolved.cohorts if b.template.rank_by and not b.spec.split_by) >= 3
    session = sp.session(spark_project.spark)
    pq.write_table(customer_frame(50), tmp_path / "scored.parquet")
    frame = session.read.parquet(str(tmp_path / "scored.parquet"))
    out = evaluate_on_spark(session, frame, resolved, "r1")
    plan = json.loads(out._jdf.queryExecution().executedPlan().toJSON())
    windows = [n for n in plan if n["class"].endswith(".WindowExec")]
    assert len(windows) >= 1 + 3  # the membership rank, and at least one per ranked cohort
    assert [n["partitionSpec"] for n in windows if not n["partitionSpec"]] == []
    # the one pass over the frame (the query's MATERIALIZED CTE) was computed before, once:
    # the plan reads its checkpoint, never the Parquet frame (segflow.scoring.evaluate_spark)
    assert [n for n in plan if n["class"].endswith("FileSourceScanExec")] == []
    assert any(n["class"].endswith("RDDScanExec") for n in plan)
