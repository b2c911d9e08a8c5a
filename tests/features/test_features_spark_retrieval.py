"""Point-in-time retrieval on Spark gives DuckDB's table: the DuckDB join's own SQL (ASOF
joins as interval joins, segflow.dialects) run by Spark over the tiny hand-made world of
features_world, for entity frames asking before, between, at and after the snapshots."""

from __future__ import annotations

from dataclasses import replace

import pytest
from features_world import entity_frame
from values import cell_diffs

from segflow.featurestore.repo import load_repo
from segflow.featurestore.retrieval import get_features

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_point_in_time_retrieval_on_spark_equals_duckdb(snapshots, spark_project):
    """get_features with an entity frame on engine: spark: the same table as DuckDB's, row
    for row in the entity frame's order, for rows before, between, at and after the
    snapshots and past each view's ttl, customers and accounts (whose views have no ttl)
    alike."""
    spark = replace(snapshots, project=spark_project)
    repo = load_repo(snapshots)
    for entity, ids in (("customer", ["c3", "c1", "zz", "c5", "c2", "c4"]),
                        ("account", ["B", "nope", "A", "A1"])):
        key = repo.join_key(entity)
        entity_df = entity_frame(key, ids).assign(note=lambda f: f.index.astype(str))
        want = get_features(snapshots, entity, entity_df=entity_df, repo=repo)
        got = get_features(spark, entity, entity_df=entity_df, repo=repo)
        assert got.schema.names == want.schema.names and want.num_rows == len(entity_df)
        assert [f.type for f in got.schema] == [f.type for f in want.schema]
        rows = [tuple(r.values()) for r in want.to_pylist()]
        assert cell_diffs(want.schema.names, rows,
                          [tuple(r.values()) for r in got.to_pylist()]) == []
        last = want.column(want.num_columns - 1)
        assert 0 < last.null_count < want.num_rows  # found and not found both compared
