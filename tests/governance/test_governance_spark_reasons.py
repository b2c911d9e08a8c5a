"""Model reasons on Spark are DuckDB's: on a tiny Holi world with trained champions, the
movers of a real holi_2027 run (its clause changes, from DuckDB's movement step) get the
same ``model_reasons`` on both engines (the top TreeSHAP contributions behind each score,
computed by Spark's executors), the same text in the same row order, and the limit picks
the same movers to explain. The movers and their clause changes are handed to both engines
as they are, so what is compared is the model reasons step alone: a whole ``govern`` of the
campaign's 40 rules on Spark takes minutes in local mode (test_governance_spark.py runs
that on a smaller world)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import duckdb
import pytest

from segflow.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
AS_OF = datetime(2027, 3, 1, tzinfo=UTC)
MODELS = {"holi_propensity", "flash_sale_uplift"}


@pytest.fixture(scope="module")
def world(tmp_path_factory, spark_project, holi_trained):
    """(DuckDB settings, the same workspace on Spark, run id, its model versions, its
    movers and their clause changes as Arrow tables): the session's trained world
    (``holi_trained``) copied, refreshed and moved on DuckDB (no publication before: every
    member is a mover, joined for its clauses)."""
    import shutil

    from segflow.governance.context import RunContext
    from segflow.governance.movement import movement_table, register_views
    from segflow.scoring.refresh import refresh_campaign

    home = tmp_path_factory.mktemp("spark_reasons") / "ws"
    shutil.copytree(holi_trained.home, home)
    duck = Settings(home=home)
    run = refresh_campaign(duck, "holi_2027", AS_OF)
    con = duckdb.connect()
    register_views(duck, con, run.run_id, None)
    movement_table(con, RunContext.of(duck, run.run_id).rules, run.run_id, None)
    changes = con.sql("SELECT entity_id, clause_text FROM clause_changes").to_arrow_table()
    movers = con.sql("SELECT entity_id, movement, cohort_before, cohort_after FROM movement "
                     "ORDER BY entity_id DESC").to_arrow_table()  # not movement's order
    con.close()
    spark = replace(duck, project=spark_project)
    return duck, spark, run.run_id, run.inputs["model_versions"], changes, movers


def _table(con, name: str, table) -> None:
    """An Arrow table of text columns as a view (on Spark typed as text: a column that is
    all NULL, as cohort_before is without a previous run, has no type to infer)."""
    from segflow.sqlengine import is_spark

    if not is_spark(con):
        con.register(name, table)
        return
    schema = ", ".join(f"`{c}` string" for c in table.column_names)
    con.spark.createDataFrame(table.to_pandas(), schema).createOrReplaceTempView(name)


def _reasons(world, engine: str, limit: int):
    """(movement's entity_id and model_reasons in table order, the counts) on ``engine``."""
    from segflow.governance.model_reasons import add_model_reasons
    from segflow.governance.movement import ORDER, register_views
    from segflow.sqlengine import connection

    duck, spark, run_id, versions, changes, movers = world
    settings = spark if engine == "spark" else duck
    with connection(settings) as con:
        register_views(settings, con, run_id, None)
        _table(con, "changes_in", changes)
        _table(con, "movers_in", movers)
        con.execute("CREATE OR REPLACE TEMP TABLE clause_changes AS SELECT * FROM changes_in")
        con.execute("CREATE OR REPLACE TEMP TABLE movement AS SELECT *, "
                    "CAST(NULL AS VARCHAR) AS model_reasons FROM movers_in")
        counts = add_model_reasons(settings, con, "customer", versions, limit, ORDER)
        rows = con.execute("SELECT entity_id, model_reasons FROM movement").fetchall()
    return rows, counts


def test_movers_model_reasons_are_the_same_text_on_both_engines(world):
    """Same rows in movement's order, same text; every score mover explained."""
    rows, counts = _reasons(world, "duckdb", 20_000)
    assert _reasons(world, "spark", 20_000) == (rows, counts)
    assert set(counts) == MODELS and all(n["explained"] == n["score_movers"] > 0
                                         for n in counts.values())
    explained = [text for _, text in rows if text is not None]
    assert len(explained) >= 20
    pattern = re.compile(r"^(holi_propensity|flash_sale_uplift): \w+=[^ ]+ \([+-]\d\.\d{3}\)"
                         r", \w+=")
    assert all(pattern.match(part) for text in explained for part in text.split("; "))
    ids = [entity for entity, _ in rows]
    assert ids != sorted(ids, reverse=True)  # put back in movement's order, not as given


def test_the_limit_explains_the_same_movers_on_both_engines(world):
    """With a limit of 3 per model, the same three largest score changes are explained and
    every other score mover points to `segflow explain`, on both engines."""
    rows, counts = _reasons(world, "duckdb", 3)
    assert _reasons(world, "spark", 3) == (rows, counts)
    assert set(counts) == MODELS
    texts = [part for _, text in rows if text is not None for part in text.split("; ")]
    for model, n in counts.items():
        assert n["explained"] == 3 < n["score_movers"]
        mine = [t for t in texts if t.startswith(f"{model}: ")]
        pointed = [t for t in mine if t.endswith("(beyond the 3 largest score changes), "
                                                 "see segflow explain")]
        assert (len(mine), len(pointed)) == (n["score_movers"], n["score_movers"] - 3)
