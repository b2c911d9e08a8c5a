"""Our DuckDB retrieval and online store give what Feast itself gives on the same inputs."""

from __future__ import annotations

import math
from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from features_world import AS_OF, EARLIER, entity_frame, write_world

from segflow.featurestore.build import build_features
from segflow.featurestore.online import load_online, lookup
from segflow.featurestore.repo import feature_store, load_repo
from segflow.featurestore.retrieval import get_features

pytestmark = pytest.mark.integration


def _plain(value):
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value


def _rows(frame: pd.DataFrame, columns, key) -> list:
    frame = frame.sort_values([key, "event_timestamp"], kind="stable")
    return [tuple(_plain(v) for v in row) for row in frame[columns].itertuples(index=False)]


@pytest.mark.parametrize("entity, ids", [("customer", ["c1", "c2", "c3", "c4", "c5", "zz"]),
                                         ("account", ["A", "A1", "B", "nope"])])
def test_get_features_equals_feast_historical_retrieval(snapshots, entity, ids):
    repo = load_repo(snapshots)
    key = repo.join_key(entity)
    entity_df = entity_frame(key, ids)
    refs = [f"{v.name}:{f}" for v in repo.views_of(entity) for f in v.features]
    ours = get_features(snapshots, entity, entity_df=entity_df, features=refs,
                        repo=repo).to_pandas()
    theirs = feature_store(snapshots).get_historical_features(entity_df=entity_df,
                                                              features=refs).to_df()
    columns = [key, "event_timestamp", *(r.split(":")[1] for r in refs)]
    assert len(ours) == len(entity_df)
    assert _rows(ours, columns, key) == _rows(theirs, columns, key)
    assert ours[columns[2]].notna().any() and ours[columns[2]].isna().any()


@pytest.mark.parametrize("days", [-45, -10, 0, 20, 500])
@pytest.mark.parametrize("entity, ids", [("customer", ["c1", "c2", "c3", "c4", "c5", "zz"]),
                                         ("account", ["A", "A1", "B", "nope"])])
def test_one_time_for_every_row_equals_feast(snapshots, entity, ids, days):
    """Every entity at the same time, as a whole-population retrieval asks: what Feast
    returns, before any snapshot, between, at, after and past the ttl."""
    repo = load_repo(snapshots)
    key = repo.join_key(entity)
    entity_df = pd.DataFrame({key: ids, "event_timestamp": [AS_OF + timedelta(days=days)]
                              * len(ids)})
    refs = [f"{v.name}:{f}" for v in repo.views_of(entity) for f in v.features]
    ours = get_features(snapshots, entity, entity_df=entity_df, features=refs,
                        repo=repo).to_pandas()
    theirs = feature_store(snapshots).get_historical_features(entity_df=entity_df,
                                                              features=refs).to_df()
    columns = [key, "event_timestamp", *(r.split(":")[1] for r in refs)]
    assert _rows(ours, columns, key) == _rows(theirs, columns, key)


def _rfm_as_feast_gives(settings, entity_df) -> pd.DataFrame:
    """Our customer_rfm features for ``entity_df``, after checking they are Feast's."""
    refs = ["customer_rfm:lifetime_orders", "customer_rfm:recency_days"]
    ours = get_features(settings, "customer", entity_df=entity_df, features=refs).to_pandas()
    theirs = feature_store(settings).get_historical_features(entity_df=entity_df,
                                                             features=refs).to_df()
    cols = ["customer_id", "event_timestamp", "lifetime_orders", "recency_days"]
    assert _rows(ours, cols, "customer_id") == _rows(theirs, cols, "customer_id")
    return ours


@pytest.mark.parametrize("one_time", [False, True])
def test_ties_on_event_timestamp_go_to_the_latest_created(snapshots, tmp_path, one_time):
    """A source written outside the builder may repeat (key, ts); both engines pick the row
    created last."""
    from dataclasses import replace

    other = replace(snapshots, home=tmp_path / "ws").ensure()
    write_world(other)
    build_features(other, AS_OF, views=["customer_rfm"])
    path = other.features_dir / "customer_rfm.parquet"
    table = pq.read_table(path)
    later = pa.compute.add(table["created_timestamp"], pa.scalar(timedelta(hours=1)))
    bumped = table.set_column(table.schema.get_field_index("created_timestamp"),
                              "created_timestamp", later)
    bumped = bumped.set_column(table.schema.get_field_index("lifetime_orders"),
                               "lifetime_orders", pa.compute.add(table["lifetime_orders"], 100))
    doubled = pa.concat_tables([table, bumped.cast(table.schema)]).replace_schema_metadata(None)
    pq.write_table(doubled, path)  # without the builder's one-row-per-(key, ts) flag
    entity_df = entity_frame("customer_id", ["c1", "c2"])
    if one_time:
        entity_df = entity_df[entity_df["event_timestamp"] == AS_OF]
    ours = _rfm_as_feast_gives(other, entity_df)
    assert ours["lifetime_orders"].max() >= 100


def test_online_store_equals_feast_materialize_and_online_read(snapshots):
    repo = load_repo(snapshots)
    store = feature_store(snapshots)
    for view in repo.views.values():
        store.materialize(start_date=AS_OF - view.feature_view.ttl, end_date=AS_OF,
                          feature_views=[view.name])
    load_online(snapshots, AS_OF)
    for entity, ids in (("customer", ["c4", "c1", "zz", "c2", "c3"]), ("account", ["B", "A"])):
        key = repo.join_key(entity)
        refs = [f"{v.name}:{f}" for v in repo.views_of(entity) for f in v.features]
        theirs = store.get_online_features(features=refs,
                                           entity_rows=[{key: i} for i in ids]).to_dict()
        ours = lookup(snapshots, entity, ids).to_pydict()
        assert ours[key] == ids
        for ref in refs:
            name = ref.split(":")[1]
            assert [_plain(v) for v in ours[name]] == [_plain(v) for v in theirs[name]], name


def test_lookup_of_one_id_and_of_a_feature_subset(snapshots):
    load_online(snapshots, AS_OF)
    one = lookup(snapshots, "customer", "c1", features=["recency_days", "active_14d"])
    assert one.column_names == ["customer_id", "recency_days", "active_14d"]
    assert one.to_pylist() == [{"customer_id": "c1", "recency_days": 9, "active_14d": True}]


@pytest.mark.parametrize("entity, ids", [("customer", ["c1", "c2", "c3", "c4", "c5", "zz"]),
                                         ("account", ["A", "A1", "B", "nope"])])
def test_the_spark_form_of_retrieval_picks_what_the_asof_joins_pick(snapshots, entity, ids):
    """Spark has no ASOF JOIN: segflow.dialects writes each as an interval join. Run on
    DuckDB beside the ASOF original, over entity rows before, between, at, after and past
    the ttl of the snapshots, it returns the same table; its Spark SQL has no ASOF left."""
    import sqlglot

    from segflow import dialects
    from segflow.featurestore.engine import connect
    from segflow.featurestore.retrieval import _entity_table, join_sql, resolve

    repo = load_repo(snapshots)
    key = repo.join_key(entity)
    entities = _entity_table(pa.Table.from_pandas(entity_frame(key, ids), preserve_index=False),
                             key)
    con = connect(snapshots)
    sql, params = join_sql(con, entities, resolve(repo, entity), key)
    interval = dialects.asof_as_interval_join(sqlglot.parse_one(sql, read="duckdb"))
    asof = con.sql(sql, params=params).to_arrow_table()
    assert asof.num_rows == len(ids) * 8 and asof.column(asof.num_columns - 1).null_count
    assert con.sql(interval.sql("duckdb"), params=params).to_arrow_table().equals(asof)
    spark = dialects.to_spark(sql)
    assert "ASOF" not in spark.replace("__asof", "") and spark.count("LEAD(") == len(
        resolve(repo, entity))


@pytest.mark.parametrize("days", [0, 20])
def test_a_key_missing_from_the_latest_snapshot_gets_its_earlier_row(snapshots, tmp_path, days):
    """A whole-population retrieval joins each view's latest snapshot by key; a customer
    absent from that snapshot (dropped by the view's SQL, or a file written outside the
    builder) still gets the latest earlier row within the ttl (30 days: the earlier
    snapshot is exactly that old at AS_OF, past it 20 days later), as Feast gives."""
    from dataclasses import replace

    other = replace(snapshots, home=tmp_path / "ws").ensure()
    write_world(other)
    build_features(other, [EARLIER, AS_OF], views=["customer_rfm"])
    path = other.features_dir / "customer_rfm.parquet"
    table = pq.read_table(path)
    gone = pa.compute.and_(pa.compute.equal(table["customer_id"], "c1"),
                           pa.compute.equal(table["event_timestamp"], pa.scalar(
                               AS_OF, pa.timestamp("us", tz="UTC"))))
    assert pa.compute.sum(gone).as_py() == 1
    pq.write_table(table.filter(pa.compute.invert(gone)), path)
    entity_df = pd.DataFrame({"customer_id": ["c1", "c2", "c3", "zz"],
                              "event_timestamp": [AS_OF + timedelta(days=days)] * 4})
    ours = _rfm_as_feast_gives(other, entity_df)
    assert ours.loc[ours["customer_id"] == "c1", "recency_days"].notna().all() == (days == 0)
