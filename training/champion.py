"""What scoring uses: the champion of each model of an entity, loaded from
``models:/<name>@champion`` only. Models with no champion are skipped."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pandas as pd

from segflow.settings import Settings
from segflow.training import registry, tracking
from segflow.training.config import load_model_configs
from segflow.training.pyfunc import signature_frame

log = logging.getLogger(__name__)


@dataclass
class Champion:
    name: str
    version: str
    kind: str
    outputs: list[str]
    features: list[str]
    model: object  # segflow.training.pyfunc.SegflowModel
    notes_table: str | None = None  # a notes model's table of notes (its config's)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's output columns for each row of ``frame`` (index kept)."""
        return self.model.predict(None, signature_frame(frame, self.features))

    def contributions(self, frame: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
        """reason_<i>_feature / _value / _contribution per row, i = 1..top_k: LightGBM
        pred_contrib for propensity and uplift (see segflow.training.uplift), robust z-scores
        against the peer group for anomalies."""
        return self.model.contributions(signature_frame(frame, self.features), top_k)

    @property
    def can_explain(self) -> bool:
        """Whether the model says which features drove each score (not every kind does)."""
        return hasattr(getattr(self.model, "estimator", None), "contribution_matrix")

    def contribution_matrix(self, frame: pd.DataFrame):
        """(rows x features contributions, feature names), or None for a kind without."""
        return self.model.contribution_matrix(signature_frame(frame, self.features))


def load_champions(settings: Settings, entity: str,
                   versions: dict[str, str] | None = None,
                   only: set[str] | None = None) -> list[Champion]:
    """Champions of every configured model of ``entity``, in config order. ``versions``
    (a run's ``model_versions``) loads exactly those versions instead: explaining a past
    run must use the models that scored it, not whatever is champion today. ``only``
    names the models wanted (loading a model costs seconds; explain needs few)."""
    import mlflow.pyfunc

    client = tracking.configure(settings)
    champions = []
    for cfg in load_model_configs(settings.models_config_dir):
        if cfg.entity != entity or (versions is not None and cfg.name not in versions) or (
                only is not None and cfg.name not in only):
            continue
        if versions is not None:
            mv = client.get_model_version(cfg.name, str(versions[cfg.name]))
            uri = f"models:/{cfg.name}/{mv.version}"
        else:
            mv = registry.champion_version(client, cfg.name)
            if mv is None:
                log.info("model %s has no champion yet; skipped", cfg.name)
                continue
            uri = f"models:/{cfg.name}@{registry.CHAMPION}"
        wrapped = mlflow.pyfunc.load_model(uri).unwrap_python_model()
        champions.append(Champion(
            name=cfg.name, version=str(mv.version), kind=wrapped.kind,
            outputs=json.loads(mv.tags.get("outputs") or json.dumps(wrapped.outputs)),
            features=list(wrapped.features), model=wrapped, notes_table=cfg.notes_table))
    return champions
