"""Registered models run by Spark's executors (``engine: spark``) over Arrow batches, for
the steps whose result is not a model output ``mlflow.pyfunc.spark_udf`` can return: the
contributions a refresh stores for explain (``segflow.scoring.score_spark``) and the
reason texts governance writes for score movers (``segflow.governance.model_reasons_spark``).

Each task loads its models once, from the artifacts of the registered versions (resolved
on the driver to their artifact URIs, so the executors read the model files, not the
tracking database: on a cluster those URIs must be readable from the executors, as object
storage or DBFS is), and only when it has a row to work on. The step itself is the function
DuckDB runs on the driver, so both engines compute the same thing.
"""

from __future__ import annotations

from dataclasses import replace

from segflow.settings import Settings


def model_uri(settings: Settings, model) -> str:
    """Where the registered version's files are (``models:/`` resolved on the driver)."""
    from segflow.training import tracking

    client = tracking.configure(settings)
    return client.get_model_version_download_uri(model.name, model.version)


def per_task(settings: Settings, models: list, step):
    """The function each ``mapInArrow`` task runs: ``step(loaded, table)`` over each
    non-empty batch (as an Arrow table), ``loaded`` being ``models`` (champions, their
    ``model`` not sent) with their models loaded on the executor, once per task. ``step``
    returns an Arrow table whose columns are the task's output schema."""
    specs = [(replace(m, model=None), model_uri(settings, m)) for m in models]

    def run(batches):
        import mlflow.pyfunc
        import pyarrow as pa

        loaded = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if loaded is None:  # once per task, only where there is something to do
                loaded = [replace(spec, model=mlflow.pyfunc.load_model(uri)
                                  .unwrap_python_model()) for spec, uri in specs]
            yield from step(loaded, pa.Table.from_batches([batch])).to_batches()

    return run
