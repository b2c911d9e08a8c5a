"""Model reasons computed by Spark's executors (``engine: spark``): the explained movers'
features go through ``mapInArrow`` to ``segflow.governance.reason_text.reason_texts``, the
same function DuckDB runs on the driver, so both engines make the same text.

Each task loads the model once, where it has an explained mover
(``segflow.training.on_executors``). What comes back is a lazy DataFrame of
(entity_id, text) named ``contrib``; no row reaches the driver.
"""

from __future__ import annotations

from segflow.settings import Settings
from segflow.training.on_executors import per_task

COLUMNS = ("entity_id", "text")  # what each task yields, all text
SCHEMA = ", ".join(f"{c} string" for c in COLUMNS)  # the same, as mapInArrow takes it


def reason_table(models: list, table):
    """One batch's (entity_id, text) rows, from the one model ``per_task`` loaded."""
    import pyarrow as pa

    from segflow.governance.reason_text import as_pandas, reason_texts

    texts = reason_texts(models[0], as_pandas(table))
    return pa.Table.from_pandas(texts, schema=pa.schema([(c, pa.string()) for c in COLUMNS]),
                                preserve_index=False)


def texts_on_executors(settings: Settings, con, model, rows: str) -> None:
    """View ``contrib`` on ``con`` (a ``segflow.sqlengine.SparkConnection``): the reason
    text of each row of query ``rows`` (entity_id and the model's features), computed
    where the features lie."""
    frame = con.execute(rows).frame
    frame.mapInArrow(per_task(settings, [model], reason_table), SCHEMA) \
        .createOrReplaceTempView("contrib")
