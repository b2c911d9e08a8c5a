"""The seam that runs a stage's DuckDB SQL on Spark refuses, by construct and before Spark
is reached, a statement the translation cannot carry (the equality of what it does run is
tested in tests/governance/test_governance_spark.py)."""

from __future__ import annotations

import pytest

from segflow.errors import SegflowError
from segflow.sqlengine import SparkConnection


@pytest.mark.parametrize("sql, construct", [
    ("SELECT list_aggregate(xs, 'sum') FROM t", "list_aggregate"),
    ("CREATE OR REPLACE TEMP TABLE x AS SELECT DISTINCT ON (k) k FROM t", "DISTINCT ON"),
])
def test_a_statement_without_spark_translation_names_the_construct(sql, construct):
    with pytest.raises(SegflowError, match=f"Spark engine: this SQL has no Spark "
                                           f"translation: .*`{construct}"):
        SparkConnection(session=None).execute(sql)


def test_a_statement_kind_spark_does_not_run_is_named():
    with pytest.raises(SegflowError, match="`DELETE` statements do not run on Spark"):
        SparkConnection(session=None).execute("DELETE FROM t WHERE k = 1")
