"""What differs between model kinds: where the rows come from, how a model is fitted, how
predictions are scored and reported. train.py drives them all the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from segflow.training import anomaly, clustering, notes, supervised


@dataclass(frozen=True)
class Kind:
    data: str                 # "campaign" | "snapshot" | "notes"
    id_column: str | None     # column hashed for the held-out split (None: the join key)
    fit: Callable             # (cfg, features, train) -> estimator
    evaluate: Callable        # (cfg, test, pred, features) -> metrics
    report: Callable          # (cfg, estimator, test, pred) -> (figures, tables)


def _ignore_features(fn):
    return lambda cfg, test, pred, features: fn(cfg, test, pred)


KINDS = {
    "propensity": Kind("campaign", None, supervised.fit_propensity,
                       _ignore_features(supervised.evaluate_propensity),
                       supervised.report_propensity),
    "uplift": Kind("campaign", None, supervised.fit_uplift,
                   _ignore_features(supervised.evaluate_uplift), supervised.report_uplift),
    "cluster": Kind("snapshot", None, clustering.fit, clustering.evaluate, clustering.report),
    "anomaly": Kind("snapshot", None, anomaly.fit, anomaly.evaluate, anomaly.report),
    "notes": Kind("notes", "note_id", notes.fit, notes.evaluate, notes.report),
}
ENTITY_TABLE = {"customer": "customers", "account": "accounts"}
