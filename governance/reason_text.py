"""The text of a mover's model reasons, made from a batch of its features: one function,
run by the driver on DuckDB and by Spark's executors (``segflow.governance.model_reasons``,
``segflow.governance.model_reasons_spark``), so both engines write the same text."""

from __future__ import annotations

import numpy as np
import pandas as pd

TOP_K = 3


def as_pandas(table) -> pd.DataFrame:
    """An Arrow table or batch of features as pandas, integers and booleans nullable (as
    DuckDB's ``df()`` gives them), so the model sees the same frame on either engine: a
    boolean with a null would otherwise arrive as Python objects, read as text."""
    import pyarrow as pa

    def nullable(t):
        if pa.types.is_boolean(t):
            return pd.BooleanDtype()
        if pa.types.is_integer(t):
            return pd.Int64Dtype()
        return None

    return table.to_pandas(types_mapper=nullable)


def reason_texts(model, frame: pd.DataFrame) -> pd.DataFrame:
    """(entity_id, text) per row of ``frame`` (``entity_id`` and the model's features):
    "<score>: <feature>=<value> (<contribution>), ..." for the ``TOP_K`` largest absolute
    contributions, largest first (``segflow.training.explain.top_contributions``). Run by
    the driver on DuckDB and by the executors on Spark: the one place the text is made."""
    wide = model.contributions(frame, TOP_K)
    text = pd.Series(model.outputs[0] + ": ", index=wide.index, dtype=object)
    for i in range(1, TOP_K + 1):
        if f"reason_{i}_feature" not in wide.columns:
            continue
        share = np.char.mod("%+.3f", wide[f"reason_{i}_contribution"].to_numpy(dtype=float))
        text = (text + ("" if i == 1 else ", ") + wide[f"reason_{i}_feature"].astype(str)
                + "=" + wide[f"reason_{i}_value"].astype(str) + " ("
                + pd.Series(share, index=wide.index, dtype=object) + ")")
    return pd.DataFrame({"entity_id": frame["entity_id"].to_numpy(dtype=object),
                         "text": text.to_numpy(dtype=object)})
