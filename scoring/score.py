"""The scored frame: features as of the run time plus the champion models' outputs.

Models are optional per run: a model without a champion is skipped with a warning, and only
a campaign that reads one of its score columns fails, naming the column and the model.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass, field

from segflow.engines import require_duckdb
from segflow.errors import SegflowError
from segflow.failures import writing
from segflow.faults import reach
from segflow.scoring.columns import model_of_column
from segflow.scoring.predicate import columns_used
from segflow.scoring.resolve import Resolved
from segflow.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Scored:
    frame: object  # pyarrow.Table: <entity>_id, event_timestamp, features, scores
    model_versions: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    rows: int | None = None  # score_to_file: rows written (frame is None there)
    explained: list[str] = field(default_factory=list)  # models whose reasons were stored


CONTRIBUTIONS = "contributions.parquet"  # a run's top contributions per entity (Spark: a folder)
CONTRIBUTIONS_TOP_K = 5  # reasons stored per model and entity (explain --top up to this)


def fresh_features(settings: Settings, entity: str, as_of) -> list[str]:
    """Features built for exactly ``as_of`` (built now when missing, or a stop naming the
    view and both times: ``segflow.featurestore.freshness``); returns what was built."""
    from segflow.featurestore.freshness import ensure_features

    return ensure_features(settings, entity, as_of)


def load_features(settings: Settings, entity: str, as_of):
    """Every feature of ``entity`` for every entity as of ``as_of`` (point in time), in id
    order: a parallel join returns rows in any order, and a run must be byte-for-byte
    reproducible (re-runs, idempotent refreshes and the data-snapshot hash depend on it)."""
    from segflow.featurestore.retrieval import get_features

    frame = get_features(settings, entity, as_of=as_of)
    return frame.sort_by(frame.column_names[0])


def champions(settings: Settings, entity: str,
              versions: dict[str, str] | None = None) -> tuple[list, list[str]]:
    """The champion models of an entity (or exactly ``versions``, a past run's); none (with
    a warning) if the models stage is absent. A workspace without a model registry
    (``mlflow.db``: nothing was ever trained there) has no champion, which is known without
    importing MLflow or creating its database (seconds per refresh of a rules-only campaign)."""
    if not versions and not settings.mlflow_db_path.exists():
        return [], []
    try:
        from segflow.training.champion import load_champions
    except ImportError:
        return [], ["models stage not installed (segflow.training.champion): no scores added"]
    return list(load_champions(settings, entity, versions)), []


BATCH_ROWS = 500_000  # rows converted to pandas at a time; bounds scoring memory at 10M


def usable_models(columns: list[str], models: list) -> list:
    """The models whose features are all in ``columns`` (others warned about, skipped)."""
    usable = []
    for model in models:
        missing = [f for f in model.features if f not in columns]
        if missing:
            log.warning("model '%s' needs %s, absent from the feature frame: its scores are "
                        "not added", model.name, ", ".join(missing))
            continue
        usable.append(model)
    return usable


def score_batch(table, usable: list):
    """``table`` with each model's output columns added (or replaced), predicted in one
    vectorised call per model over only the columns the models read: converting a whole
    10M-row frame to pandas (strings as Python objects) took more memory than the machine
    has, so callers pass at most BATCH_ROWS rows."""
    import pyarrow as pa

    if not usable:
        return table
    needed = list(dict.fromkeys(f for m in usable for f in m.features))
    pdf = table.select(needed).to_pandas()
    for model in usable:
        out = model.predict(pdf)
        for col in model.outputs:
            values = pa.array(out[col].to_numpy(), from_pandas=True)
            idx = table.schema.get_field_index(col)
            table = (table.set_column(idx, col, values) if idx >= 0
                     else table.append_column(col, values))
    return table


def apply_models(frame, models: list) -> tuple[object, dict[str, str]]:
    """Add (or replace) each champion's output columns, BATCH_ROWS rows at a time."""
    import pyarrow as pa

    usable = usable_models(frame.column_names, models)
    if not usable:
        return frame, {}
    parts = [score_batch(frame.slice(start, BATCH_ROWS), usable)
             for start in range(0, max(frame.num_rows, 1), BATCH_ROWS)]  # empty: one batch
    return pa.concat_tables(parts), {m.name: str(m.version) for m in usable}


def explained_models(settings: Settings, resolved: Resolved, models: list) -> list:
    """The models whose score a cohort of the campaign thresholds or ranks on and that can
    say why (``contribution_matrix``): the scores ``segflow explain`` shows reasons for."""
    owners = model_of_column(settings)
    read = {owners[col] for b in resolved.cohorts
            for col in {*columns_used(b.tree), b.template.rank_by} - {None} if col in owners}
    return [m for m in models if m.name in read and getattr(m, "can_explain", False)]


def contribution_batch(table, key: str, models: list):
    """Per entity of ``table``: each model's ``CONTRIBUTIONS_TOP_K`` largest contributions
    (``<model>:reason_<i>_feature`` / ``_contribution``), one vectorised call per model over
    the whole batch (LightGBM pred_contrib; never a loop over entities). The values are not
    stored: they are the run's features."""
    import pyarrow as pa

    from segflow.training.explain import top_contribution_columns

    out = {key: table.column(key)}
    have = set(table.column_names)
    for model in models:
        if not set(model.features) <= have:
            continue
        pdf = table.select(model.features).to_pandas()
        matrix, features = model.contribution_matrix(pdf)
        for name, values in top_contribution_columns(matrix, features,
                                                     CONTRIBUTIONS_TOP_K).items():
            typ = pa.float32() if name.endswith("_contribution") else pa.string()
            out[f"{model.name}:{name}"] = pa.array(values, typ)
    return pa.table(out)


def note_texts(settings: Settings, frame, as_of, table: str):
    """The frame plus ``text``: each account's latest note before ``as_of`` in the notes
    model's ``table`` (``segflow.training.notes.latest_notes_sql``), for the notes topic
    model (text is not kept)."""
    import duckdb

    from segflow.training.notes import latest_notes_sql

    latest = latest_notes_sql(settings.canonical_dir, table)
    if "account_id" not in frame.column_names or latest is None:
        return None
    con = duckdb.connect()
    try:
        con.register("f", frame)
        return con.sql(f"""WITH latest AS ({latest})
            SELECT f.*, coalesce(latest.text, '') AS text FROM f
            LEFT JOIN latest USING (account_id) ORDER BY f.account_id""",
                       params={"as_of": as_of}).to_arrow_table()
    finally:
        con.close()


def _models(settings: Settings, entity: str,
            versions: dict[str, str] | None = None) -> tuple[list, list[str]]:
    """The entity's champions and the warnings a run records about missing ones."""
    models, warnings = champions(settings, entity, versions)
    owners = model_of_column(settings)
    configured = {owners[c] for c in owners} - {m.name for m in models}
    warnings += [f"model '{name}' has no champion: its scores are not added" for name in
                 sorted(configured) if _entity_of(settings, name) == entity]
    return models, warnings


def _scored(settings: Settings, table, models: list, as_of):
    """One frame (or batch) scored: the notes model's text joined in first, then dropped."""
    notes = [m.notes_table for m in models if "text" in m.features and m.notes_table]
    texts = note_texts(settings, table, as_of, notes[0]) if notes else None
    scored, versions = apply_models(table if texts is None else texts, models)
    return (scored.drop_columns(["text"]) if texts is not None else scored), versions


def score(settings: Settings, resolved: Resolved, as_of, features=None) -> Scored:
    """Features (retrieved, or the given table) scored by every champion of the entity."""
    require_duckdb(settings, "scoring")
    entity = resolved.campaign.entity
    models, warnings = _models(settings, entity)
    if features is None:
        warnings += fresh_features(settings, entity, as_of)
    frame = load_features(settings, entity, as_of) if features is None else features
    frame, versions = _scored(settings, frame, models, as_of)
    for w in warnings:
        log.warning(w)
    require_columns(settings, frame.column_names, resolved)
    return Scored(frame, versions, warnings)


def score_to_file(settings: Settings, resolved: Resolved, as_of, path,
                  features=None, model_versions: dict[str, str] | None = None,
                  contributions_path=None) -> Scored:
    """``score`` streamed: features batch by batch from the point-in-time join (or the given
    table), each batch scored and appended to the Parquet file ``path``. Python never holds
    more than a batch, so 10M customers score in flat memory. ``Scored.frame`` is None;
    ``Scored.rows`` counts what was written.

    With ``contributions_path``, the top contributions behind each score the campaign's
    cohorts read (``contribution_batch``) go to that Parquet file, row for row with
    ``path``: explain then reads one row instead of loading MLflow and the models."""
    require_duckdb(settings, "scoring")
    import pyarrow.parquet as pq

    from segflow.featurestore.retrieval import features_reader

    entity = resolved.campaign.entity
    models, warnings = _models(settings, entity, model_versions)
    if features is None:
        warnings += fresh_features(settings, entity, as_of)
    explained = explained_models(settings, resolved, models) if contributions_path else []
    versions: dict[str, str] = {}
    rows, writers = 0, {}
    source = (features_reader(settings, entity, as_of, BATCH_ROWS) if features is None
              else nullcontext(features.to_reader(BATCH_ROWS)))
    with writing(path):   # a full disk names the file being scored into
        try:
            with source as reader:
                for batch in _batches(reader):
                    scored, versions = _scored(settings, batch, models, as_of)
                    _append(writers, path, scored)
                    if explained:
                        _append(writers, contributions_path, contribution_batch(
                            scored, scored.column_names[0], explained))
                    rows += scored.num_rows
                    reach(settings, "refresh.scoring", path=path)
        finally:
            for writer in writers.values():
                writer.close()
    for w in warnings:
        log.warning(w)
    require_columns(settings, pq.read_schema(path).names, resolved)
    return Scored(None, versions, warnings, rows=rows, explained=[m.name for m in explained])


def _append(writers: dict, path, table) -> None:
    """Append ``table`` to the Parquet file ``path``, opening its writer on first use."""
    import pyarrow.parquet as pq

    if path not in writers:
        writers[path] = pq.ParquetWriter(path, table.schema)
    writers[path].write_table(table)


def _batches(reader):
    """The reader's batches as tables; an empty stream gives one empty table, so a run with
    no entities still writes a file with the full schema."""
    import pyarrow as pa

    empty = True
    for batch in reader:
        empty = False
        yield pa.Table.from_batches([batch])
    if empty:
        yield reader.schema.empty_table()


def needed_columns(resolved: Resolved) -> dict[str, set[str]]:
    """Every column the campaign reads -> the cohorts and suppressions that read it."""
    needed: dict[str, set[str]] = {}
    for b in (*resolved.cohorts, *resolved.suppressions):
        for col in {*columns_used(b.tree), *getattr(b.spec, "split_by", ()),
                    b.template.score_column, b.template.rank_by} - {None}:
            needed.setdefault(col, set()).add(b.key)
    return needed


def require_columns(settings: Settings, columns: list[str], resolved: Resolved) -> None:
    """Every column the campaign reads is in the frame, else say which model or view."""
    have = set(columns)
    owners = model_of_column(settings)
    missing = {c: users for c, users in needed_columns(resolved).items() if c not in have}
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
