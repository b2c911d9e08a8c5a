"""Feature builds on Spark give the rows DuckDB gives: every shipped view (B2C and B2B) over
a few hundred synthetic Holi customers and the hand-made accounts, the Spark side written
as a folder of Parquet files by the executors; a second as-of added on Spark keeps the
first and equals DuckDB's too."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow.parquet as pq
import pytest
from features_world import TABLES, write_world
from values import mismatches, view_rows

from segflow.featurestore.build import build_features, build_view
from segflow.featurestore.repo import load_repo
from segflow.featurestore.runners import DuckRunner, SparkRunner
from segflow.settings import Settings

pytestmark = pytest.mark.integration
AS_OFS = [datetime(2026, 2, 18, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC)]
ACCOUNT_TABLES = {k: TABLES[k] for k in ("accounts", "account_hierarchy", "billing",
                                         "support_tickets")}


def _world(settings: Settings) -> Settings:
    from segflow.ingest.synthetic.holi import generate_holi

    settings.ensure()
    for name, table in generate_holi(300, seed=5).items():
        if not name.endswith("_truth"):
            pq.write_table(table, settings.canonical_dir / f"{name}.parquet")
    write_world(settings, ACCOUNT_TABLES)
    return settings


@pytest.fixture(scope="module")
def built(tmp_path_factory, spark_project):
    """(DuckDB workspace, Spark workspace, each build's report): the same world. The Spark
    side is the whole stage as a user runs it; the DuckDB side its views only (the Feast
    registration, the same for both engines, is tested with the DuckDB builds)."""
    root = tmp_path_factory.mktemp("spark_features")
    duck = _world(Settings(home=root / "duck"))
    spark = _world(Settings(home=root / "spark", project=spark_project))
    runner = DuckRunner(duck)
    try:
        duck_report = {name: build_view(runner, view, AS_OFS, duck)
                       for name, view in load_repo(duck).views.items()}
    finally:
        runner.close()
    return duck, spark, duck_report, build_features(spark, AS_OFS[1:])


def test_every_view_built_on_spark_equals_the_duckdb_build(built):
    duck, spark, duck_report, spark_report = built
    assert set(spark_report) == set(duck_report) and len(duck_report) >= 10
    assert [n for n, r in spark_report.items() if "rows" not in r] == []  # none skipped
    for name in duck_report:
        spark_path = spark.features_dir / f"{name}.parquet"
        assert spark_path.is_dir() and list(spark_path.glob("part-*.parquet")), name
        key = "account_id" if name.startswith("account_") else "customer_id"
        want = view_rows(duck.features_dir / f"{name}.parquet", key, AS_OFS[1:])
        got = view_rows(spark_path, key, AS_OFS[1:])
        assert spark_report[name]["rows"] == len(got) == len(want) > 0, name
        assert list(got[0]) == list(want[0]), name  # same columns, same order
        assert mismatches(want, got) == [], name


def test_an_as_of_added_on_spark_keeps_the_other_and_equals_duckdb(built):
    duck, spark, duck_report, _ = built
    path = spark.features_dir / "customer_rfm.parquet"
    runner = SparkRunner(spark)
    try:
        build_view(runner, load_repo(spark).views["customer_rfm"], AS_OFS[:1], spark)
    finally:
        runner.close()
    got = view_rows(path, "customer_id", AS_OFS)
    want = view_rows(duck.features_dir / "customer_rfm.parquet", "customer_id", AS_OFS)
    assert len(got) == len(want) == duck_report["customer_rfm"]["rows"]
    assert {r["event_timestamp"] for r in got} == set(AS_OFS)
    assert mismatches(want, got) == []
    assert not path.with_name(path.name + ".tmp").exists()
    assert not path.with_name(path.name + ".old").exists()


def test_a_canonical_table_with_deltas_reads_on_spark_as_on_duckdb(tmp_path, spark_project):
    """Spark merges a table's incremental loads (segflow.canonical) as DuckDB does: a key
    replaced, one removed by a later load's keys, one added (a few seconds once the
    session's SparkSession is up)."""
    import pyarrow as pa

    from segflow import canonical
    from segflow import spark as sp

    settings = Settings(home=tmp_path / "ws", project=spark_project).ensure()
    base = settings.canonical_dir / "t.parquet"
    delta = canonical.delta_dir(base)
    delta.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a", "b", "c"], "v": [1, 2, 3]}), base)
    for seq, rows, keys in ((1, {"id": ["b", "d"], "v": [20, 4]}, ["b", "c", "d"]),
                            (2, {"id": ["d"], "v": [40]}, ["d", "a"])):
        names = canonical.delta_name(seq)
        pq.write_table(pa.table(rows), delta / names[0])
        pq.write_table(pa.table({"id": keys}), delta / names[1])
    want = sorted(duckdb.sql(canonical.sql(base)).fetchall())
    assert want == [("b", 20), ("d", 40)]
    session = sp.session_of(settings)
    sp.register_parquet(session, "t_with_deltas", base)
    assert sorted(tuple(r) for r in session.sql("SELECT * FROM t_with_deltas").collect()) \
        == want
    # training's reader: segflow.canonical's SQL itself, translated and run on Spark
    from segflow.training.datasets import _read_canonical

    read = _read_canonical(settings, "t", "SELECT * FROM t ORDER BY id", {})
    assert [tuple(r) for r in read.itertuples(index=False)] == want


def _online_rows(settings: Settings, entity: str) -> tuple[list[str], list[dict]]:
    """(column types, rows) of an entity's table in the online store file."""
    from segflow.featurestore.online import online_path

    con = duckdb.connect(str(online_path(settings)), read_only=True)
    try:
        relation = con.table(entity)
        return [str(t) for t in relation.types], [dict(zip(relation.columns, r, strict=True))
                                                  for r in relation.fetchall()]
    finally:
        con.close()


def test_the_online_store_loaded_on_spark_equals_the_duckdb_one(built):
    """`features online-load` (and a run's features step) on Spark: the executors compute
    every entity's latest features, and the store holds what DuckDB's load writes, row for
    row in key order, with the same columns and types, as of the same latest snapshot."""
    from segflow.featurestore.online import load_online
    from segflow.staging import PREFIX

    duck, spark, _, _ = built
    want, got = load_online(duck), load_online(spark)
    assert set(got) == set(want) == {"customer", "account"}
    assert not list(spark.runs_dir.glob(f"{PREFIX}*"))  # the staged rows are removed
    for entity, loaded in want.items():
        assert got[entity]["rows"] == loaded["rows"] > 0, entity
        assert got[entity]["as_of"] == loaded["as_of"] == AS_OFS[1], entity
        want_types, want_rows = _online_rows(duck, entity)
        got_types, got_rows = _online_rows(spark, entity)
        assert list(got_rows[0]) == list(want_rows[0]) and got_types == want_types, entity
        assert mismatches(want_rows, got_rows) == [], entity
