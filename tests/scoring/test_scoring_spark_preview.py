"""`segflow preview` on Spark shows what it shows on DuckDB: the same scored frame gives the
same sizes, suppressions, clause funnels, overlaps, offer balance and --set changes on both
engines (the counts are one SQL text, run by DuckDB or translated for Spark)."""

from __future__ import annotations

import pytest
from scoring_frames import customer_frame

from segflow.scoring.preview import preview
from segflow.scoring.resolve import resolve_campaign

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_preview_on_spark_equals_the_duckdb_preview(spark_project, home, columns):
    from segflow.scoring.preview_spark import preview_frame_on_spark
    from segflow.spark import session

    frame = customer_frame(3000, seed=2)
    changed = resolve_campaign(home, "holi_2027", {"lapsed_high_value.lapsed_days": "30"},
                               columns=columns)
    baseline = resolve_campaign(home, "holi_2027", columns=columns)
    on_duckdb = preview(frame, changed, baseline)
    spark = session(spark_project.spark)
    on_spark = preview_frame_on_spark(spark, spark.createDataFrame(frame.to_pandas()),
                                      changed, baseline)
    # every part has content, so the equality below compares something
    assert on_duckdb.entities == 3000 and on_duckdb.offers and on_duckdb.changes
    assert on_duckdb.suppressed_by and on_duckdb.overlaps
    assert all(steps for steps in on_duckdb.funnels.values())
    assert on_spark == on_duckdb
    for name in ("m", "m_before", "matches", "s"):  # nothing left registered
        assert not spark.catalog.tableExists(name)
