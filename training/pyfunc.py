"""The MLflow pyfunc every segflow model is logged as.

One wrapper for all kinds: ``predict(df)`` returns a DataFrame with exactly the model's
output columns (the score columns templates use), so scoring treats every model alike.
The estimator inside is one of training's own classes and is pickled with the model.
"""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd

from segflow.errors import SegflowError
from segflow.training.encoding import float_column


def signature_frame(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The model input as logged in the signature: numbers and booleans as float64 (so a
    column that is integer today and has nulls tomorrow still fits), anything else as
    string. ``Champion.predict`` coerces scoring frames the same way."""
    out = {}
    for col in features:
        series = frame[col]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            out[col] = float_column(series)
        else:
            out[col] = series.astype("string").astype(object).where(series.notna(), None)
    return pd.DataFrame(out, index=frame.index)


class SegflowModel(mlflow.pyfunc.PythonModel):
    """name/kind/features/outputs plus a fitted estimator with ``predict_frame``."""

    def __init__(self, name: str, kind: str, features: list[str], outputs: list[str],
                 estimator) -> None:
        self.name, self.kind = name, kind
        self.features, self.outputs = list(features), list(outputs)
        self.estimator = estimator

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(
            model_input)
        result = self.estimator.predict_frame(frame)
        missing = [c for c in self.outputs if c not in result.columns]
        if missing:
            raise SegflowError(f"model {self.name} did not produce {missing}")
        return result[self.outputs]

    def contributions(self, frame: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
        """Top-k features behind each row's score (see the estimator's docstring)."""
        if not hasattr(self.estimator, "contributions"):
            raise SegflowError(f"model {self.name} ({self.kind}) has no contributions")
        return self.estimator.contributions(frame, top_k=top_k)

    def contribution_matrix(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]] | None:
        """Every feature's contribution to each row's score (rows x features, and the
        features' names); None for a kind that has none."""
        if not hasattr(self.estimator, "contribution_matrix"):
            return None
        return self.estimator.contribution_matrix(frame)

    def output_example(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.predict(None, frame.head(50))


def model_signature(model: SegflowModel, sample: pd.DataFrame):
    from mlflow.models import infer_signature

    inputs = signature_frame(sample.head(200), model.features)
    outputs = model.predict(None, inputs)
    outputs = outputs.astype({c: float for c in outputs.columns
                              if pd.api.types.is_numeric_dtype(outputs[c])
                              and not pd.api.types.is_bool_dtype(outputs[c])})
    return infer_signature(inputs, outputs)


def as_float(values) -> np.ndarray:
    return np.asarray(values, dtype=float)
