"""Training runs: data -> held-out split -> fit -> evaluate -> MLflow run + registered
version -> champion comparison on the same held-out rows -> promotion decision."""

from __future__ import annotations

import getpass
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from segflow.errors import SegflowError
from segflow.lock import holds_workspace
from segflow.progress import stage
from segflow.settings import Settings
from segflow.training import datasets, registry, tracking
from segflow.training.config import ModelConfig, load_model_configs
from segflow.training.encoding import frame_snapshot_id, holdout_mask
from segflow.training.kinds import ENTITY_TABLE, KINDS
from segflow.training.pyfunc import SegflowModel, signature_frame

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    name: str
    status: str                       # trained | skipped
    version: str | None = None
    run_id: str | None = None
    metrics: dict = field(default_factory=dict)
    decision: registry.Decision | None = None
    note: str = ""

    def __str__(self) -> str:
        if self.status != "trained":
            return f"{self.name}: skipped ({self.note})"
        d = self.decision
        line = (f"{self.name} v{self.version}: {d.metric}={d.challenger:.4f} "
                f"-> {d.label.replace('_', ' ')} ({d.reason})")
        oracle = against_oracle(self.metrics)
        return f"{line}\n  {oracle}" if oracle else line


def against_oracle(metrics: dict) -> str:
    """Model against the oracle, in one line, on a synthetic world (whose truth files give
    the true probabilities and effects); empty elsewhere."""
    if "oracle_auc" in metrics:
        return (f"against the oracle: AUC {metrics['auc']:.4f} vs {metrics['oracle_auc']:.4f} "
                f"(gap {metrics['oracle_auc'] - metrics['auc']:.4f}); Spearman with the true "
                f"probability {metrics['spearman_true_p']:.3f}")
    if "oracle_qini_auc" in metrics:
        share = metrics["qini_auc"] / metrics["oracle_qini_auc"]
        gain = 1 - metrics["rmse_true_tau"] / metrics["rmse_constant"]
        return (f"against the oracle: Qini {metrics['qini_auc']:.4f} vs "
                f"{metrics['oracle_qini_auc']:.4f} ({share:.0%} of it); RMSE vs true effects "
                f"{metrics['rmse_true_tau']:.4f} vs {metrics['rmse_constant']:.4f} for the "
                f"best constant ({abs(gain):.0%} {'lower' if gain >= 0 else 'higher'}); "
                f"correlation {metrics['corr_true_tau']:.3f}")
    return ""


def missing_inputs(settings: Settings, cfg: ModelConfig) -> list[str]:
    """Canonical tables and built feature views the model needs but the workspace lacks.

    A B2B workspace has customer records (contacts) but no customer features, so the B2C
    models are skipped there with this reason instead of failing the whole training run.
    """
    tables = [ENTITY_TABLE[cfg.entity], *cfg.tables]
    missing = [t for t in tables if not (settings.canonical_dir / f"{t}.parquet").exists()]
    if missing or KINDS[cfg.kind].data == "notes":
        return missing
    from segflow.featurestore.repo import load_repo
    from segflow.featurestore.retrieval import resolve

    groups = resolve(load_repo(settings), cfg.entity, service=cfg.feature_service,
                     features=list(cfg.features) if cfg.features else None)
    return [f"{view.name} features" for view, _ in groups
            if not (settings.features_dir / f"{view.name}.parquet").exists()]


def latest_snapshot(settings: Settings) -> datetime:
    """The latest snapshot time of any feature view, computed on the project's engine."""
    from segflow.featurestore.engine import sql_literal

    files = sorted(settings.features_dir.glob("*.parquet"))
    if not files:
        raise SegflowError("no feature snapshots yet; run `segflow features build` or pass "
                           "--as-of")
    union = " UNION ALL ".join(f"SELECT max(event_timestamp) AS t FROM "
                               f"read_parquet({sql_literal(p)})" for p in files)
    with datasets.connection(settings) as con:
        value = datasets.fetch(con, f"SELECT max(t) AS t FROM ({union})")["t"][0].as_py()
    return pd.Timestamp(value).to_pydatetime()


def load_frame(settings, cfg, features, as_of) -> tuple[datasets.Prepared, str]:
    """The model's training rows, prepared on the project's engine, and their as-of."""
    data = KINDS[cfg.kind].data
    if data == "campaign":
        prepared = datasets.campaign_training_frame(settings, cfg, features)
        return prepared, str(prepared.frame[datasets.TS].max())
    if data == "notes":
        return datasets.notes_frame(settings, cfg), "all notes"
    return datasets.snapshot_frame(settings, cfg, features, as_of), as_of.isoformat()


def _champion_features(client, cfg) -> tuple[object, list[str]]:
    champ = registry.champion_version(client, cfg.name)
    return champ, (registry.features_of(champ) or []) if champ else []


def champion_metrics(cfg, champ, champ_features, test) -> dict | None:
    """Every metric of the champion on the challenger's held-out rows (None if the
    champion cannot be loaded or needs features this frame lacks)."""
    if champ is None:
        return None
    import mlflow.pyfunc

    try:
        model = mlflow.pyfunc.load_model(f"models:/{cfg.name}@{registry.CHAMPION}")
        pred = model.predict(signature_frame(test, champ_features))
    except Exception as err:  # a broken or incompatible champion is reported, not fatal
        log.warning("champion of %s could not be evaluated: %s", cfg.name, err)
        return None
    return KINDS[cfg.kind].evaluate(cfg, test, pred, champ_features)


def train_one(settings: Settings, client, cfg: ModelConfig, campaign: str,
              as_of: datetime | None) -> TrainResult:
    missing = missing_inputs(settings, cfg)
    if missing:
        return TrainResult(cfg.name, "skipped", note=f"no {', '.join(missing)} in workspace")
    kind = KINDS[cfg.kind]
    features = datasets.model_features(settings, cfg)
    champ, champ_features = _champion_features(client, cfg)
    wanted = list(dict.fromkeys(features + [f for f in champ_features if f != "text"]
                                + cfg.slice_by))
    as_of = as_of or (latest_snapshot(settings) if kind.data == "snapshot" else None)
    prepared, frame_as_of = load_frame(settings, cfg, wanted if kind.data != "notes" else [],
                                       as_of)
    frame = prepared.frame
    if kind.data == "campaign":
        keep_training_snapshot(settings, frame)
    held = holdout_mask(frame[kind.id_column or cfg.join_key], **_split(cfg))
    train, test = frame[~held], frame[held]
    # the MLflow run spans fitting, evaluation and logging: its duration is the training's
    with stage(f"trained {cfg.name} ({len(train):,} rows)"), _mlflow_run(settings, client, cfg,
                                                                         campaign) as run:
        started = time.perf_counter()
        estimator = kind.fit(cfg, features, train)
        fit_seconds = time.perf_counter() - started
        model = SegflowModel(cfg.name, cfg.kind, features, cfg.outputs, estimator)
        pred = model.predict(None, signature_frame(test, features))
        metrics = kind.evaluate(cfg, test, pred, features)
        metric = cfg.promotion["metric"]
        if metric not in metrics:
            raise SegflowError(f"{cfg.path}: promotion metric '{metric}' is not one of "
                               f"{sorted(metrics)}")
        champ_metrics = champion_metrics(cfg, champ, champ_features, test)
        decision = registry.decide(cfg.promotion, metrics[metric],
                                   (champ_metrics or {}).get(metric),
                                   str(champ.version) if champ else None)
        info = {"campaign": campaign, "as_of": frame_as_of, "fit_seconds": fit_seconds,
                "snapshot": frame_snapshot_id(frame, frame_as_of),
                "rows": (len(train), len(test)), "prepared": prepared.tags()}
        run_id, version = _log_run(client, cfg, model, frame, test, pred, metrics, info,
                                   run.info.run_id)
        registry.record(client, run_id, version, cfg.name, decision)
        _log_card(client, cfg, model, test, pred, metrics, champ_metrics, decision,
                  {**info, "run_id": run_id, "version": version,
                   "champion_version": str(champ.version) if champ else None})
    return TrainResult(cfg.name, "trained", version, run_id, metrics, decision)


def _mlflow_run(settings, client, cfg: ModelConfig, campaign: str):
    """The model's MLflow run, opened before fitting (ended, or marked failed, on leaving):
    its description, and the project's commit when the project is a git checkout."""
    import mlflow

    commit = tracking.git_commit(settings)
    return mlflow.start_run(experiment_id=tracking.experiment_id(settings, client, cfg.name),
                            run_name=f"{cfg.name}-{campaign}", description=cfg.description,
                            tags={"mlflow.source.git.commit": commit} if commit else None)


def _log_card(client, cfg, model, test, pred, metrics, champ_metrics, decision, info) -> None:
    """The model card (training/card.py) on the run: what a reviewer reads before
    promoting."""
    from segflow.training import card as card_mod

    kind, estimator = KINDS[cfg.kind], model.estimator
    importance = (estimator.feature_importance() if hasattr(estimator, "feature_importance")
                  else None)
    calibration = None
    if cfg.kind == "propensity":
        from segflow.training.metrics import calibration_table

        calibration = calibration_table(test["label"], pred[cfg.outputs[0]])
    slices = card_mod.by_slice(lambda t, p: kind.evaluate(cfg, t, p, model.features),
                               test, pred, cfg.slice_by)
    card = card_mod.build_card(
        name=cfg.name, version=info["version"], run_id=info["run_id"], kind=cfg.kind,
        metrics=metrics, champion=champ_metrics, champion_version=info["champion_version"],
        decision={**decision.tags(), "metric": decision.metric}, importance=importance,
        calibration=calibration, slices=slices, slice_by=cfg.slice_by, rows=info["rows"],
        as_of=info["as_of"])
    client.log_text(info["run_id"], json.dumps(card, indent=1, default=str),
                    "model_card.json")
    client.log_text(info["run_id"], card_mod.to_markdown(card), "model_card.md")


def keep_training_snapshot(settings: Settings, frame: pd.DataFrame) -> None:
    """Keep the campaign training frame where drift's ``reference: training`` looks for it
    (``<home>/training/snapshot.parquet``), so a refresh can be compared with what the
    models learned from. Written atomically; the latest training run wins."""
    folder = settings.home / "training"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "snapshot.parquet.tmp"
    frame.to_parquet(tmp, index=False)
    tmp.replace(folder / "snapshot.parquet")


def _split(cfg: ModelConfig) -> dict:
    return {"fraction": float(cfg.split["test_fraction"]), "seed": int(cfg.split["seed"])}


def _log_run(client, cfg, model, frame, test, pred, metrics, info,
             run_id: str) -> tuple[str, str]:
    """Log into the active run (``_mlflow_run``): tags, datasets, params, metrics, figures,
    the model (registered as a new version) and the descriptions."""
    import mlflow

    figures, tables = KINDS[cfg.kind].report(cfg, model.estimator, test, pred)
    tags = {"kind": cfg.kind, "entity": cfg.entity, "owner": cfg.owner,
            "feature_service": cfg.feature_service or "", "features": json.dumps(model.features),
            "outputs": json.dumps(cfg.outputs), "data_snapshot": info["snapshot"],
            "as_of": info["as_of"], "target_campaign": info["campaign"],
            "label_campaign": cfg.label.get("campaign", ""), "config": str(cfg.path.name),
            "train_rows": str(info["rows"][0]), "test_rows": str(info["rows"][1]),
            "plots": "logged" if figures else "skipped (matplotlib not installed)",
            **info["prepared"]}
    mlflow.set_tags(tags)
    tracking.log_datasets(frame, test, info["snapshot"], cfg.name)
    mlflow.log_params(tracking.flat_params({**cfg.params, "split": cfg.split}))
    mlflow.log_metrics({**{k: v for k, v in metrics.items() if v == v},
                        "fit_seconds": info["fit_seconds"]})
    tracking.log_figures(figures)
    tracking.log_tables(tables)
    info_model = tracking.log_model(model, frame, cfg.name)
    version = str(info_model.registered_model_version)
    for key in ("features", "outputs", "kind", "entity", "data_snapshot", "target_campaign"):
        client.set_model_version_tag(cfg.name, version, key, tags[key])
    client.update_registered_model(cfg.name, description=cfg.description)
    client.update_model_version(cfg.name, version, description=(
        f"{cfg.description} Trained for {info['campaign']} on data as of {info['as_of']} "
        f"(snapshot {info['snapshot']}), {info['rows'][0]:,} training and {info['rows'][1]:,} "
        "test rows."))
    return run_id, version


@holds_workspace("train")
def train_models(settings: Settings, campaign: str, models: list[str] | None = None,
                 as_of: datetime | None = None) -> list[TrainResult]:
    """Train every configured model (or the named ones) for a campaign; returns results in
    config order. Models whose inputs are absent from the workspace are skipped."""
    configs = load_model_configs(settings.models_config_dir, models)
    client = tracking.configure(settings)
    results = []
    for cfg in configs:
        results.append(train_one(settings, client, cfg, campaign, as_of))
        log.info("%s", results[-1])
    return results


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
