"""Model reasons computed by Spark's executors (``engine: spark``): the explained movers'
features go through ``mapInArrow`` to ``segflow.governance.reason_text.reason_texts``, the
same function DuckDB runs on the driver, so both engines make the same text.

Each task loads the model once, from the artifacts of the registered version the run
recorded (resolved here to its artifact URI, so the executors read the model files, not the
tracking database: on a cluster that URI must be readable from the executors, as object
storage or DBFS is). A task with no explained mover loads nothing. What comes back is a
lazy DataFrame of (entity_id, text) named ``contrib``; no row reaches the driver.
"""

from __future__ import annotations

from dataclasses import replace

from segflow.settings import Settings

COLUMNS = ("entity_id", "text")  # what each task yields, all text
SCHEMA = ", ".join(f"{c} string" for c in COLUMNS)  # the same, as mapInArrow takes it


def model_uri(settings: Settings, model) -> str:
    """Where the registered version's files are (``models:/`` resolved on the driver)."""
    from segflow.training import tracking

    client = tracking.configure(settings)
    return client.get_model_version_download_uri(model.name, model.version)


def reason_task(spec, uri: str):
    """The function each task runs over its Arrow batches: (entity_id, text) batches."""

    def run(batches):
        import mlflow.pyfunc
        import pyarrow as pa

        from segflow.governance.reason_text import as_pandas, reason_texts

        model = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if model is None:  # once per task, only where there is something to explain
                model = replace(spec, model=mlflow.pyfunc.load_model(uri)
                                .unwrap_python_model())
            texts = reason_texts(model, as_pandas(batch))
            yield pa.RecordBatch.from_pandas(texts, schema=pa.schema(
                [(c, pa.string()) for c in COLUMNS]), preserve_index=False)

    return run


def texts_on_executors(settings: Settings, con, model, rows: str) -> None:
    """View ``contrib`` on ``con`` (a ``segflow.sqlengine.SparkConnection``): the reason
    text of each row of query ``rows`` (entity_id and the model's features), computed
    where the features lie."""
    spec = replace(model, model=None)  # name, outputs, features: the model is loaded there
    frame = con.execute(rows).frame
    frame.mapInArrow(reason_task(spec, model_uri(settings, model)), SCHEMA) \
        .createOrReplaceTempView("contrib")
