"""Account notes classifier: TF-IDF word and bigram features with a linear model, so a
note's topic (pricing complaint, churn risk, ...) becomes a column rules can use."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_recall_fscore_support

from training.config import ModelConfig


class NotesEstimator:
    def __init__(self, output: str, params: dict):
        self.output, self.params = output, params

    def fit(self, texts: pd.Series, labels: pd.Series) -> NotesEstimator:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        self.pipeline = make_pipeline(
            TfidfVectorizer(max_features=int(self.params.get("max_features", 20000)),
                            ngram_range=(1, int(self.params.get("ngram_max", 2))),
                            sublinear_tf=True, min_df=2),
            LogisticRegression(C=float(self.params.get("C", 4.0)), max_iter=1000))
        self.pipeline.fit(texts.fillna("").astype(str), labels.astype(str))
        return self

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        topics = self.pipeline.predict(frame["text"].fillna("").astype(str))
        return pd.DataFrame({self.output: topics.astype(object)}, index=frame.index)


def fit(cfg: ModelConfig, features: list[str], train: pd.DataFrame) -> NotesEstimator:
    return NotesEstimator(cfg.outputs[0], cfg.params).fit(train["text"], train["label"])


def evaluate(cfg: ModelConfig, test: pd.DataFrame, pred: pd.DataFrame,
             features: list[str]) -> dict:
    """Accuracy, macro F1 and precision/recall per topic on the held-out notes."""
    y, p = test["label"].astype(str).to_numpy(), pred[cfg.outputs[0]].astype(str).to_numpy()
    topics = sorted(set(y))
    precision, recall, _, _ = precision_recall_fscore_support(y, p, labels=topics,
                                                              zero_division=0)
    result = {"accuracy": float(np.mean(y == p)),
              "macro_f1": float(f1_score(y, p, labels=topics, average="macro"))}
    for topic, pr, rc in zip(topics, precision, recall, strict=True):
        result[f"precision.{topic}"] = float(pr)
        result[f"recall.{topic}"] = float(rc)
    return result


def report(cfg, estimator, test, pred) -> tuple[dict, dict]:
    table = pd.crosstab(test["label"].astype(str), pred[cfg.outputs[0]].astype(str))
    return {}, {"confusion": table.rename_axis("true").reset_index()}
