"""The scored frame on Spark: the campaign's features as of the run time
(``segflow.featurestore.retrieval_spark``) with the registered champions' outputs, scored by
the executors through ``mlflow.pyfunc.spark_udf`` and written as a folder of Parquet files.

Each champion is one ``spark_udf`` over the registered version the run records
(``models:/<name>/<version>``): its input a struct of the model's features typed as its
signature says (numbers and booleans as doubles, anything else as text, as
``segflow.training.pyfunc.signature_frame`` does for DuckDB), its result a struct of the
model's outputs typed by the signature's outputs, so a model with several outputs (uplift's
score and its two response probabilities) is still one call per batch. Nothing is collected
to the driver.

With explain's stored contributions, the scored folder's rows then go through
``mapInArrow`` to ``segflow.scoring.score.contribution_batch``, the function DuckDB runs on
each scored batch, and are written as a folder of Parquet files beside it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from segflow.errors import SegflowError
from segflow.scoring.resolve import Resolved
from segflow.scoring.score import (
    Scored,
    _models,
    contribution_batch,
    explained_models,
    fresh_features,
    require_columns,
    usable_models,
)
from segflow.settings import Settings

NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double", "boolean")
OUT = "__segflow_model_out"
log = logging.getLogger(__name__)


def model_inputs(frame, features: list[str]):
    """The model's input struct: each feature cast as the logged signature types it."""
    from pyspark.sql import functions as F

    types = dict(frame.dtypes)
    cols = [F.col(f"`{f}`").cast("double" if types[f] in NUMERIC or
                                 types[f].startswith("decimal") else "string").alias(f)
            for f in features]
    return F.struct(*cols)


def with_model(spark, frame, model):
    """``frame`` with the model's outputs added (or replaced, in place), scored by
    ``mlflow.pyfunc.spark_udf`` from the registered version."""
    import mlflow
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    uri = f"models:/{model.name}/{model.version}"
    signature = mlflow.models.get_model_info(uri).signature
    if signature is None or signature.outputs is None:
        raise SegflowError(f"model {model.name} version {model.version} was registered "
                           "without an output signature; train it again to score on Spark")
    from pyspark.sql.types import StructField, StructType

    # every output nullable: a model may return a missing score for a row (the signature
    # marks its columns required, which Arrow then checks against the batches)
    result = StructType([StructField(f.name, f.dataType, True)
                         for f in signature.outputs.as_spark_schema().fields])
    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type=result, env_manager="local")
    frame = frame.withColumn(OUT, udf(model_inputs(frame, model.features)))
    text = {f.name for f in result.fields if f.dataType.typeName() == "string"}
    for col in model.outputs:
        value = F.col(f"{OUT}.`{col}`")
        if col in text:  # spark_udf casts a text output with numpy's str: a missing value
            value = F.when(value != "None", value)  # arrives as 'None'; DuckDB keeps NULL
        frame = frame.withColumn(col, value)
    return frame.drop(OUT)


def score_on_spark(settings: Settings, resolved: Resolved, as_of, path, features=None,
                   model_versions: dict[str, str] | None = None,
                   contributions_path=None) -> Scored:
    """``score_to_file`` on Spark: the scored frame written as the Parquet folder ``path``
    by the executors. ``Scored.rows`` counts what was written (one Spark job); the frame
    itself never reaches the driver. ``features`` (an Arrow table) replaces the retrieval,
    as on DuckDB; ``contributions_path``, as on DuckDB, gets the stored contributions (a
    folder here, ``write_contributions``)."""
    from segflow import spark as sp
    from segflow.featurestore.retrieval_spark import features_frame
    from segflow.training import tracking

    spark = sp.session_of(settings)
    entity = resolved.campaign.entity
    models, warnings = _models(settings, entity, model_versions)
    if features is None:
        warnings += fresh_features(settings, entity, as_of)
        frame = features_frame(settings, entity, as_of)
    else:  # a caller's table (a re-run from features.parquet, a test): already in memory
        frame = spark.createDataFrame(features.to_pandas())
    usable = usable_models(frame.columns, models)
    notes = [m.name for m in usable if "text" in m.features and m.notes_table]
    if notes:
        raise SegflowError(f"model {notes[0]} reads account notes, which are not joined on "
                           "Spark yet (docs/scale-out.md); set `engine: duckdb` to score it")
    if usable:
        tracking.configure(settings)  # spark_udf resolves models:/ in the project's registry
    for model in usable:
        frame = with_model(spark, frame, model)
    require_columns(settings, frame.columns, resolved)
    sp.write_parquet(frame, path)
    explained = explained_models(settings, resolved, usable) if contributions_path else []
    if explained:
        write_contributions(settings, spark, path, contributions_path, explained)
    for w in warnings:
        log.warning(w)
    return Scored(None, {m.name: str(m.version) for m in usable}, warnings,
                  rows=written_rows(path), explained=[m.name for m in explained])


def write_contributions(settings: Settings, spark, scored, path, models: list) -> None:
    """The folder ``path``: ``contribution_batch`` of each row of the scored folder
    ``scored``, computed by the executors (``segflow.training.on_executors``: each task
    loads the models once). The scored folder is read back rather than scored again (the
    models' outputs are not needed, the features are as written). The output's columns are
    those ``contribution_batch`` makes of one row, on the driver (a model with fewer
    features than ``CONTRIBUTIONS_TOP_K`` has fewer columns); a run with no row stores
    none, as it has no one to explain."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from segflow import spark as sp
    from segflow.training.on_executors import per_task

    # the part files, not the folder: Spark warns of a folder whose name starts with a dot
    frame = spark.read.parquet(str(Path(scored) / "*.parquet"))
    key = frame.columns[0]
    frame = frame.select(*[f"`{c}`" for c in dict.fromkeys(
        [key, *(f for m in models for f in m.features)])])
    one = frame.limit(1).toArrow()  # one row, whatever the number of customers
    if one.num_rows == 0:
        return
    schema = from_arrow_schema(contribution_batch(one, key, models).schema)
    sp.write_parquet(frame.mapInArrow(per_task(settings, models, _contributions(key)),
                                      schema), path)


def _contributions(key: str):
    """The step each task runs: one batch's contributions, keyed by ``key``."""
    def step(models: list, table):
        return contribution_batch(table, key, models)

    return step


def written_rows(folder) -> int:
    """Rows in a folder of Parquet part files, from their footers: Spark skips a path whose
    name starts with a dot (a refresh stages its output as ``.staged-scoring-<id>.parquet``), and
    the footers say it without reading a row."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(p).num_rows for p in sorted(Path(folder).glob("*.parquet")))
