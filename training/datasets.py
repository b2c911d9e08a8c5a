"""Point-in-time training sets.

A supervised model learns from a past campaign: the entity frame is (customer, campaign
start) from the campaign outcomes table the model's ``label.table`` names; features come
from the feature store's point-in-time retrieval at that start, so nothing the customer did
after the start can leak in; labels (converted, arm) come from the campaign outcomes. Truth
columns of a synthetic world are attached for evaluation only, never among the features.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from segflow import canonical
from segflow.errors import SegflowError
from segflow.settings import Settings
from segflow.training.config import ModelConfig

TS = "event_timestamp"


def model_features(settings: Settings, cfg: ModelConfig) -> list[str]:
    """The config's feature list, or its feature service's features, in order."""
    if cfg.features:
        return list(cfg.features)
    from segflow.featurestore.repo import load_repo
    from segflow.featurestore.retrieval import resolve

    groups = resolve(load_repo(settings), cfg.entity, service=cfg.feature_service)
    return [f for _, feats in groups for f in feats]


def _read_canonical(settings: Settings, table: str, sql: str, params: dict) -> pd.DataFrame:
    import duckdb

    for folder in (settings.canonical_dir, settings.truth_dir):
        path = folder / f"{table}.parquet"
        if path.exists():
            con = duckdb.connect()
            try:
                con.execute(f"CREATE VIEW t AS {canonical.sql(path)}")
                return con.execute(sql, params).df()
            finally:
                con.close()
    raise SegflowError(f"no {table} table in {settings.canonical_dir}; run `segflow ingest`")


def campaign_entities(settings: Settings, cfg: ModelConfig) -> pd.DataFrame:
    """customer_id, event_timestamp (= campaign start), label (0/1), treatment (0/1)."""
    label = cfg.label
    outcome = label["outcome"]
    frame = _read_canonical(
        settings, label["table"],
        f'SELECT customer_id, campaign_start AS {TS}, CAST("{outcome}" AS INTEGER) AS label, '
        "CAST(arm = 'treatment' AS INTEGER) AS treatment FROM t "
        "WHERE campaign_id = $campaign ORDER BY customer_id",
        {"campaign": label["campaign"]})
    if frame.empty:
        raise SegflowError(f"{cfg.path}: campaign '{label['campaign']}' has no outcomes in "
                           f"{label['table']}")
    return frame


def ensure_features(settings: Settings, as_ofs: list[datetime], entity: str) -> list[str]:
    """Build the entity's views as of each time that has no snapshot yet; returns the views
    built. Training never reads a snapshot taken later than its entity rows."""
    import duckdb

    from segflow.featurestore.repo import load_repo

    repo = load_repo(settings)
    stale = []
    for view in repo.views_of(entity):
        path = settings.features_dir / f"{view.name}.parquet"
        have = set()
        if path.exists():
            have = {r[0] for r in duckdb.sql(
                f"SELECT DISTINCT {TS} FROM read_parquet('{path}')").fetchall()}
        if any(pd.Timestamp(t) not in {pd.Timestamp(h) for h in have} for t in as_ofs):
            stale.append(view.name)
    if stale:
        from segflow.featurestore.build import build_features

        build_features(settings, list(as_ofs), views=stale, repo=repo)
    return stale


def with_truth(settings: Settings, frame: pd.DataFrame, campaign: str) -> pd.DataFrame:
    """Attach true_p0/true_tau of a synthetic world (for evaluation) when they exist."""
    path = settings.truth_dir / f"{campaign}_truth.parquet"
    if not path.exists():
        return frame
    truth = pd.read_parquet(path, columns=["customer_id", "true_p0", "true_tau"])
    return frame.merge(truth, on="customer_id", how="left")


def campaign_training_frame(settings: Settings, cfg: ModelConfig,
                            features: list[str]) -> pd.DataFrame:
    """Entity rows of the label campaign with point-in-time features, labels and truth."""
    from segflow.featurestore.retrieval import get_features

    entities = campaign_entities(settings, cfg)
    ensure_features(settings, sorted(entities[TS].drop_duplicates()), cfg.entity)
    table = get_features(settings, cfg.entity, entity_df=entities, features=features)
    frame = table.to_pandas()
    return with_truth(settings, frame, cfg.label["campaign"])


def snapshot_frame(settings: Settings, cfg: ModelConfig, features: list[str],
                   as_of: datetime) -> pd.DataFrame:
    """Every entity's features as of ``as_of`` (unsupervised models)."""
    from segflow.featurestore.retrieval import get_features

    ensure_features(settings, [as_of], cfg.entity)
    frame = get_features(settings, cfg.entity, as_of=as_of, features=features).to_pandas()
    return with_planted(settings, cfg, frame)


def with_planted(settings: Settings, cfg: ModelConfig, frame: pd.DataFrame) -> pd.DataFrame:
    """Attach ``true_anomaly`` (what a synthetic world planted, null elsewhere) from the
    config's ``label.truth`` table, for evaluation only, when that table exists."""
    table = cfg.label.get("truth")
    path = settings.truth_dir / f"{table}.parquet" if table else None
    if path is None or not path.exists():
        return frame
    truth = pd.read_parquet(path).rename(columns={"anomaly": "true_anomaly"})
    return frame.merge(truth[[cfg.join_key, "true_anomaly"]], on=cfg.join_key, how="left")


def notes_frame(settings: Settings, cfg: ModelConfig) -> pd.DataFrame:
    """Every account note: note_id, account_id, note_ts, text, ``label`` (the topic a
    reviewer confirmed, null where none did) and, on a synthetic world, ``true_topic`` (the
    generator's, for evaluation only)."""
    notes = _read_canonical(settings, cfg.notes_table,
                            "SELECT note_id, account_id, note_ts, text FROM t", {})
    label = cfg.label
    for table, column in ((label["table"], "label"), (label.get("truth"), "true_topic")):
        found = table and any((d / f"{table}.parquet").exists()
                              for d in (settings.canonical_dir, settings.truth_dir))
        if found:
            labels = _read_canonical(settings, table,
                                     f'SELECT note_id, "{label["outcome"]}" AS {column} '
                                     "FROM t", {})
            notes = notes.merge(labels.drop_duplicates("note_id", keep="last"),
                                on="note_id", how="left")
        else:
            notes[column] = pd.Series(pd.NA, index=notes.index, dtype="string")
    return notes.sort_values("note_id").reset_index(drop=True)
