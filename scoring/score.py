"""The scored frame: features as of the run time plus the champion models' outputs.

Models are optional per run: a model without a champion is skipped with a warning, and only
a campaign that reads one of its score columns fails, naming the column and the model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from scoring.columns import model_of_column
from scoring.predicate import columns_used
from scoring.resolve import Resolved
from segflow.errors import SegflowError
from segflow.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Scored:
    frame: object  # pyarrow.Table: <entity>_id, event_timestamp, features, scores
    model_versions: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def load_features(settings: Settings, entity: str, as_of):
    """Every feature of ``entity`` for every entity as of ``as_of`` (point in time), in id
    order: a parallel join returns rows in any order, and a run must be byte-for-byte
    reproducible (re-runs, idempotent refreshes and the data-snapshot hash depend on it)."""
    from segflow.featurestore.retrieval import get_features

    frame = get_features(settings, entity, as_of=as_of)
    return frame.sort_by(frame.column_names[0])


def champions(settings: Settings, entity: str) -> tuple[list, list[str]]:
    """The champion models of an entity; none (with a warning) if the models stage is absent."""
    try:
        from training.champion import load_champions
    except ImportError:
        return [], ["models stage not installed (training.champion): no scores added"]
    return list(load_champions(settings, entity)), []


BATCH_ROWS = 500_000  # rows converted to pandas at a time; bounds scoring memory at 10M


def apply_models(frame, models: list) -> tuple[object, dict[str, str]]:
    """Add (or replace) each champion's output columns.

    Predictions are vectorised per batch of BATCH_ROWS rows, and each batch converts only
    the columns its models read: a whole 10M-row frame in pandas (strings as Python
    objects) took more memory than the machine has.
    """
    import pyarrow as pa

    usable = []
    for model in models:
        missing = [f for f in model.features if f not in frame.column_names]
        if missing:
            log.warning("model '%s' needs %s, absent from the feature frame: its scores are "
                        "not added", model.name, ", ".join(missing))
            continue
        usable.append(model)
    if not usable:
        return frame, {}
    needed = list(dict.fromkeys(f for m in usable for f in m.features))
    outputs: dict[str, list] = {col: [] for m in usable for col in m.outputs}
    for start in range(0, max(frame.num_rows, 1), BATCH_ROWS):  # an empty frame: one batch
        pdf = frame.select(needed).slice(start, BATCH_ROWS).to_pandas()
        for model in usable:
            out = model.predict(pdf)
            for col in model.outputs:
                outputs[col].append(pa.array(out[col].to_numpy(), from_pandas=True))
    for col, chunks in outputs.items():
        values = pa.chunked_array(chunks)
        idx = frame.schema.get_field_index(col)
        frame = (frame.set_column(idx, col, values) if idx >= 0
                 else frame.append_column(col, values))
    return frame, {m.name: str(m.version) for m in usable}


def note_texts(settings: Settings, frame, as_of):
    """The frame plus ``text``: each account's latest note before ``as_of``, child accounts'
    notes rolled up to their top account, for the notes topic model (text is not kept)."""
    import duckdb

    notes = settings.canonical_dir / "account_notes.parquet"
    hierarchy = settings.canonical_dir / "account_hierarchy.parquet"
    if "account_id" not in frame.column_names or not notes.exists():
        return None
    top = (f"LEFT JOIN read_parquet('{hierarchy}') h USING (account_id)"
           if hierarchy.exists() else "")
    owner = "coalesce(h.top_account_id, n.account_id)" if top else "n.account_id"
    con = duckdb.connect()
    try:
        con.register("f", frame)
        return con.sql(f"""
            WITH latest AS (SELECT {owner} AS account_id, n.text FROM read_parquet('{notes}') n
                            {top} WHERE n.note_ts < $as_of
                            QUALIFY row_number() OVER (PARTITION BY {owner}
                                                       ORDER BY n.note_ts DESC) = 1)
            SELECT f.*, coalesce(latest.text, '') AS text FROM f
            LEFT JOIN latest USING (account_id) ORDER BY f.account_id""",
                       params={"as_of": as_of}).to_arrow_table()
    finally:
        con.close()


def score(settings: Settings, resolved: Resolved, as_of, features=None) -> Scored:
    """Features (retrieved, or the given table) scored by every champion of the entity."""
    entity = resolved.campaign.entity
    frame = load_features(settings, entity, as_of) if features is None else features
    models, warnings = champions(settings, entity)
    owners = model_of_column(settings)
    configured = {owners[c] for c in owners} - {m.name for m in models}
    warnings += [f"model '{name}' has no champion: its scores are not added" for name in
                 sorted(configured) if _entity_of(settings, name) == entity]
    texts = note_texts(settings, frame, as_of) if any(
        "text" in m.features for m in models) else None
    scored, versions = apply_models(frame if texts is None else texts, models)
    frame = scored.drop_columns(["text"]) if texts is not None else scored
    for w in warnings:
        log.warning(w)
    require_columns(settings, frame, resolved)
    return Scored(frame, versions, warnings)


def require_columns(settings: Settings, frame, resolved: Resolved) -> None:
    """Every column the campaign reads is in the frame, else say which model or view."""
    have = set(frame.column_names)
    owners = model_of_column(settings)
    missing: dict[str, set[str]] = {}
    for b in (*resolved.cohorts, *resolved.suppressions):
        needed = {*columns_used(b.tree), *getattr(b.spec, "split_by", ()),
                  b.template.score_column, b.template.rank_by} - {None}
        for col in needed - have:
            missing.setdefault(col, set()).add(b.key)
    if missing:
        lines = []
        for col, users in sorted(missing.items()):
            why = (f"model '{owners[col]}' has no champion (train and promote it)"
                   if col in owners else "not in the feature frame (build the features)")
            lines.append(f"column '{col}' used by {', '.join(sorted(users))}: {why}")
        raise SegflowError("cannot evaluate campaign '" + resolved.campaign.name + "':\n  "
                           + "\n  ".join(lines))


def _entity_of(settings: Settings, model: str) -> str | None:
    from segflow.yamlio import load_yaml

    path = settings.models_config_dir / f"{model}.yaml"
    return load_yaml(path).get("entity") if path.exists() else None
