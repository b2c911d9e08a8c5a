"""One refresh of a campaign: resolve, score, evaluate, and record everything by run id.

``refresh_campaign`` is composable: it returns the run record after writing the scored
frame and memberships, so the caller (the CLI, a Prefect flow) can go on with controls,
review and publication on the same run id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from segflow.engines import SPARK
from segflow.errors import SegflowError
from segflow.faults import reach
from segflow.progress import stage
from segflow.runstore import RunRecord, create_run, file_sha256, run_dir, save_run
from segflow.scoring.arms import ALLOCATION_FILE, allocation_path, experiment_inputs
from segflow.scoring.evaluate import evaluate_memberships
from segflow.scoring.resolve import Resolved, resolve_campaign
from segflow.scoring.score import CONTRIBUTIONS, score_to_file
from segflow.settings import Settings
from segflow.staging import staged_path
from segflow.timeutil import parse_as_of


def run_as_of(resolved: Resolved, as_of: str | datetime | None) -> datetime:
    """The time features are taken at: the argument, else the campaign file's, else now."""
    return parse_as_of(as_of if as_of is not None else resolved.campaign.as_of)


def campaign_inputs(resolved: Resolved, overrides: dict[str, Any] | None) -> dict:
    """What makes the run reproducible: file hashes, final params, overrides."""
    c = resolved.campaign
    templates = {b.template.name: b.template.path for b in (*resolved.cohorts,
                                                            *resolved.suppressions)}
    return {
        "campaign_file": {"path": str(c.path), "sha256": file_sha256(c.path)},
        "templates": {name: file_sha256(path) for name, path in sorted(templates.items())},
        "params": {b.key: {k: _jsonable(v) for k, v in b.params.items()}
                   for b in resolved.cohorts},
        "suppression_params": [{"template": b.key, "channels": list(b.channels),
                                "params": {k: _jsonable(v) for k, v in b.params.items()}}
                               for b in resolved.suppressions],
        "overrides": {k: _jsonable(v) for k, v in (overrides or {}).items()},
        "entity": c.entity, "exclusive": c.exclusive, "holdout_fraction": c.holdout_fraction,
        "salt": c.salt,
        **({"experiment": experiment_inputs(c, resolved.offers, resolved.allocation)}
           if c.experiment else {}),
    }


def frozen_files(settings: Settings, resolved: Resolved) -> dict[str, bytes]:
    """The files that decide a run, as they are now: the campaign file, every template it
    uses, the owners file and, when a template is ``live: true``, realtime.yaml (paths
    relative to the run's ``frozen/`` folder)."""
    c = resolved.campaign
    files = {f"segment_templates/campaigns/{c.path.name}": c.path.read_bytes()}
    for b in (*resolved.cohorts, *resolved.suppressions):
        files[f"segment_templates/{b.template.path.name}"] = b.template.path.read_bytes()
    if settings.owners_path.exists():
        files["owners.yaml"] = settings.owners_path.read_bytes()
    if any(b.template.live for b in resolved.cohorts) and settings.realtime_path.exists():
        # a live template's live columns are realtime.yaml's: part of the rules of the run
        files["realtime.yaml"] = settings.realtime_path.read_bytes()
    if resolved.allocation is not None:  # the bandit's offer shares this run drew with
        files[ALLOCATION_FILE] = allocation_path(settings, c.name).read_bytes()
    return files


def prior_memberships(settings: Settings, resolved: Resolved):
    """The memberships of the campaign's latest run that drew offers under the same
    experiment salt: its customers keep their offers. None when there is none (a new salt
    re-draws everyone)."""
    from segflow.runstore import list_runs

    exp = resolved.campaign.experiment
    if exp is None or not resolved.offers:
        return None
    for record in reversed(list_runs(settings, resolved.campaign.name)):
        path = run_dir(settings, record.run_id) / "memberships.parquet"
        if (record.inputs.get("experiment") or {}).get("salt") == exp.salt and path.exists():
            return path
    return None


def _freeze(settings: Settings, record: RunRecord, files: dict[str, bytes]) -> None:
    """Copy the run's rules into its folder; a file edited while the run was being scored
    (its copy differs from the hash the run recorded) fails the refresh."""
    from segflow.runstore import freeze

    hashes = freeze(settings, record.run_id, files)
    recorded = {f"segment_templates/campaigns/{record.campaign}.yaml":
                record.inputs["campaign_file"]["sha256"]}
    for rel, sha in hashes.items():
        want = recorded.get(rel)
        if want is not None and want != sha:
            raise SegflowError(f"{rel} changed while run {record.run_id} was being made; "
                               "run the refresh again")
    # governance records them with the run (its govern audit entry) and checks the frozen
    # owners file against them before anyone approves or reviews under it; they are part of
    # the run's key, so a refresh after an owners edit is a new run, not a duplicate
    record.inputs["frozen"] = hashes


def refresh_campaign(settings: Settings, campaign: str, as_of=None,
                     overrides: dict | None = None, *, features=None,
                     adjust=None, model_versions: dict[str, str] | None = None) -> RunRecord:
    """Score and segment ``campaign`` as of a time into a new run; returns its record.

    ``features`` (an Arrow table like get_features' output) replaces the retrieval, for
    callers that already hold the frame (benchmarks, tests, a re-run from features.parquet).
    ``adjust(memberships, record) -> memberships`` lets a later stage amend the memberships
    before they are written (governance applies reviewers' overrides this way), so scoring
    never imports a later stage. ``model_versions`` scores with exactly those model
    versions instead of today's champions (a re-run of a past run).

    The campaign file, its templates and the owners file are copied into the run's
    ``frozen/`` folder: every later step of the run reads those copies.
    """
    import os

    resolved = resolve_campaign(settings, campaign, overrides)
    files = frozen_files(settings, resolved)
    prior = prior_memberships(settings, resolved)
    when = run_as_of(resolved, as_of)
    on_spark = settings.engine == SPARK
    staged = staged_path(settings, "scoring")
    reasons = staged.with_name(f"{staged.stem}-contributions.parquet")  # doctor's pattern too
    try:
        stored = reasons if settings.store_contributions else None
        with stage(f"scored {campaign} as of {when:%Y-%m-%d}"):
            if on_spark:
                from segflow.scoring.score_spark import score_on_spark

                scored = score_on_spark(settings, resolved, when, staged, features=features,
                                        model_versions=model_versions,
                                        contributions_path=stored)
            else:
                scored = score_to_file(settings, resolved, when, staged, features=features,
                                       model_versions=model_versions,
                                       contributions_path=stored)
        inputs = campaign_inputs(resolved, overrides)
        inputs.update(model_versions=scored.model_versions, warnings=scored.warnings)
        record = create_run(settings, campaign, when, inputs)
        folder = run_dir(settings, record.run_id)
        _freeze(settings, record, files)
        if scored.explained:
            os.replace(reasons, folder / CONTRIBUTIONS)
        os.replace(staged, folder / "features.parquet")
    finally:
        _remove(staged)
        _remove(reasons)
    with stage("evaluated cohorts and suppressions"):
        write = _memberships_on_spark if on_spark else _memberships_on_duckdb
        snapshot = write(settings, folder, resolved, record, prior, adjust)
    reach(settings, "refresh.recorded")  # fault tests: memberships stored, run not yet 'scored'
    record.inputs["data_snapshot"] = {**snapshot, "rows": scored.rows}
    record.inputs["run_key"] = run_key(record)
    record.status = "scored"
    save_run(settings, record)
    return record


def _memberships_on_duckdb(settings: Settings, folder, resolved: Resolved, record: RunRecord,
                           prior, adjust) -> dict:
    """Evaluate the run's scored file, amend (``adjust``), write ``memberships.parquet`` and
    append to the workspace table; returns what the run records of its features."""
    import pyarrow.parquet as pq

    memberships = evaluate_memberships(folder / "features.parquet", resolved,
                                       record.run_id, prior=prior)
    if adjust is not None:
        memberships = adjust(memberships, record)
    pq.write_table(memberships, folder / "memberships.parquet")
    append_memberships(settings, memberships)
    return {"features_sha256": file_sha256(folder / "features.parquet")}


def _memberships_on_spark(settings: Settings, folder, resolved: Resolved, record: RunRecord,
                          prior, adjust) -> dict:
    """The same on Spark: evaluated by the executors from the run's scored folder and
    written as the Parquet folder ``memberships.parquet``, partitioned by cohort
    (``segflow.scoring.runfiles``; ``adjust`` gets and returns a Spark DataFrame). The
    workspace's DuckDB table ``memberships`` is not appended to: a cluster's runs keep their
    memberships where the cluster writes them."""
    from segflow import spark as sp
    from segflow.scoring.evaluate_spark import evaluate_on_spark
    from segflow.scoring.runfiles import PARTITION

    spark = sp.session_of(settings)
    features = spark.read.parquet(str(folder / "features.parquet"))
    memberships = evaluate_on_spark(spark, features, resolved, record.run_id, prior=prior)
    if adjust is not None:
        try:
            memberships = adjust(memberships, record)
        except SegflowError:
            raise
        except Exception as err:  # a later stage's hook written for Arrow tables
            raise SegflowError(f"run {record.run_id}: amending the memberships on Spark "
                               "(curated lists, overrides) is not built yet "
                               f"(docs/scale-out.md): {type(err).__name__}; set `engine: "
                               "duckdb` to apply them") from None
    sp.write_partitioned(memberships, folder / "memberships.parquet", PARTITION)
    return {"features_hash": sp.fingerprint(features)}


def _remove(path) -> None:
    """A staged scoring output (the scored frame, the contributions): a file (DuckDB) or a
    folder of part files (Spark)."""
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def run_key(record: RunRecord) -> str:
    """What makes two runs the same decision: campaign, as-of, every recorded input and the
    exact feature frame; code version and commit are left out (they do not change results,
    and a re-run after a docs-only commit must still be recognised)."""
    import hashlib
    import json

    inputs = {k: v for k, v in record.inputs.items()
              if k not in ("git_commit", "code_version", "warnings", "run_key")}
    payload = json.dumps([record.campaign, record.as_of, inputs], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def append_memberships(settings: Settings, memberships) -> None:
    """Append a run's rows to the workspace table ``memberships`` (created on first use).

    Columns the table lacks are added first: a workspace whose table was created before a
    column existed (``override_id``) must still take the rows of a run that has it."""
    from segflow.db import connect

    with connect(settings) as con:
        con.register("m", memberships)
        con.execute("CREATE TABLE IF NOT EXISTS memberships AS SELECT * FROM m LIMIT 0")
        have = {r[0] for r in con.execute("DESCRIBE memberships").fetchall()}
        for name, kind, *_ in con.execute("DESCRIBE m").fetchall():
            if name not in have:
                con.execute(f'ALTER TABLE memberships ADD COLUMN "{name}" {kind}')
        con.execute("INSERT INTO memberships BY NAME SELECT * FROM m")


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
