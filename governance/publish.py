"""Approval and publication of a run's memberships: what is published is what was approved,
and a publication is in the audit log or did not happen.

``approve`` records who approved which content (the run's seal). ``publish_run``:

1. takes the workspace lock and finishes or undoes any publication a crash left
   (``segflow.governance.journal``);
2. asks the gate (``segflow.governance.gate.verdict``); a run already published is a no-op;
3. copies the memberships to ``published/<campaign>/vNNNNN.parquet`` (temporary file,
   fsync, rename), hashing as it copies: the copy must be the sealed content. A Spark run's
   memberships are a folder partitioned by cohort: each data file is copied under the same
   relative name into a staged folder (each hashed as copied, their digests combined as the
   seal combines them), which is renamed into place; the version is then that folder;
4. writes the intent record (run, version, seal, previous version, the audit entry);
5. in ONE DuckDB transaction inserts the rows into ``published_memberships``, the
   ``publications`` row, moves ``publication_pointer``, inserts the audit entry and moves
   the audit head (with ``SEGFLOW_PUBLISH_DB_URL`` that database is written and committed
   first, inside this step);
   the rows are read from the published copy by DuckDB (``read_parquet``, streamed), on
   either engine: on Spark nothing passes through the Spark driver, and the workspace
   database stays the one authority of what is published;
6. appends the entry to ``audit.jsonl``, switches ``current.json``, writes the version's
   manifest and deletes the intent.

A failure before step 5 commits leaves nothing visible and the command fails; after it the
publication stands and the command succeeds (``segflow doctor`` completes any file step
that could not be done).
"""

from __future__ import annotations

import errno
from datetime import UTC, datetime

from segflow.db import connect
from segflow.durable import read_chunks, remove_path, write_atomic, write_folder_atomic
from segflow.errors import ControlFailed, EnvironmentFailure, SegflowError
from segflow.faults import Hook, reach
from segflow.governance import audit
from segflow.governance.gate import verdict
from segflow.governance.journal import finish, intent_path, resolve, write_intent
from segflow.governance.owners import SYSTEM_ACTOR, require_approver, require_reason
from segflow.governance.publications import (  # noqa: F401 (re-exported read API)
    COLUMNS,
    DDL,
    current_publication,
    ensure_tables,
    read_current_parquet,
    version_path,
    version_sql,
)
from segflow.governance.store import ensure_schema
from segflow.lock import holds_workspace
from segflow.runstore import load_run, run_dir
from segflow.settings import Settings

# Named points a publication passes, in order (``segflow.faults``: a test stops a real
# process at each); the external database adds publish.external_before_switch and
# publish.external_committed before publish.txn_begun.
POINTS = ("publish.locked", "publish.checked", "publish.version_tmp_written",
          "publish.version_written", "publish.intent_written", "publish.txn_begun",
          "publish.rows_inserted", "publish.record_inserted", "publish.pointer_moved",
          "audit.before_commit", "audit.committed", "audit.file_torn", "audit.file_appended",
          "audit.file_synced", "publish.current_tmp_written", "publish.current_switched",
          "publish.manifest_tmp_written", "publish.manifest_written", "publish.intent_removed",
          "publish.done")


@holds_workspace("approve")
def approve(settings: Settings, run_id: str, by: str, reason: str) -> dict:
    """Record an approval of the run's current content (its seal) by a listed approver who
    wrote no override or review decision in it, with a reason that says something."""
    reason = require_reason(reason, "approval reason")
    run = load_run(settings, run_id)
    require_approver(settings, run_id, run.campaign, by, "approve")
    v = verdict(settings, run_id)
    if v.state == "published":
        raise SegflowError(f"run {run_id} is already published as version "
                           f"{v.published_version}; there is nothing to approve")
    duplicate = [r for r in v.reasons if r.code == "duplicate"]
    if duplicate:
        raise ControlFailed(f"cannot approve {run_id}: {duplicate[0].message} -> "
                            f"{duplicate[0].command}")
    if v.seal is None:
        raise ControlFailed(f"run {run_id} has not been governed: run `segflow govern "
                            f"{run_id}` before approving it")
    if not v.seal_intact:
        raise ControlFailed(f"cannot approve {run_id}: its memberships changed after "
                            f"governance (sealed {v.seal['memberships_sha256'][:16]}..., now "
                            f"{(v.memberships_sha256 or 'missing')[:16]}...); re-run "
                            f"`segflow govern {run_id}` first")
    seal_hash = v.seal["seal_hash"]
    entry = {"by": by, "reason": reason, "seal_hash": seal_hash,
             "memberships_sha256": v.seal["memberships_sha256"],
             "controls_off": v.switched_off}

    def writes(con):
        con.execute("INSERT INTO approvals (run_id, approved_by, reason, approved_at, "
                    "seal_hash, os_user) VALUES (?, ?, ?, now(), ?, ?)",
                    [run_id, by, reason, seal_hash, audit.os_user()])

    audit.record(settings, by, "approve", entry, run_id=run_id, writes=writes)
    _report_again(settings, run_id)
    return entry


def recover(settings: Settings, con=None) -> list[str]:
    """Finish or undo every publication a crash left (intent records); returns what it
    did. Called at the start of each publication and by ``segflow doctor``."""
    from segflow.governance.journal import pending

    done = []
    if not pending(settings):
        return done
    if con is None:
        with connect(settings) as own:
            return recover(settings, own)
    ensure_schema(con)
    for path in pending(settings):
        done.append(f"{path.name}: {resolve(settings, path, con)}")
    return done


@holds_workspace("publish")
def publish_run(settings: Settings, run_id: str, by: str | None = None,
                accept_open: int | None = None, reason: str | None = None,
                _hook: Hook = None) -> dict:
    """Publish a governed run if the gate allows; returns what was published.

    ``by`` must be a listed approver (four eyes applies); without it the system actor
    ``segflow`` publishes, which the gate allows only when the run needs no approval. Open
    review items need ``accept_open`` equal to their count and a ``reason``.
    """
    reach(settings, "publish.locked", _hook)
    recover(settings)
    run = load_run(settings, run_id)
    if by is not None:
        require_approver(settings, run_id, run.campaign, by, "publish")
    v = verdict(settings, run_id, accept_open)
    if v.state == "published":
        return {"campaign": run.campaign, "version": v.published_version, "run_id": run_id,
                "already": True, "message": f"run {run_id} is already published as version "
                f"{v.published_version} of {run.campaign}; nothing to do"}
    if by is None and (v.needs_approval or v.open_exceptions):
        raise ControlFailed(f"cannot publish {run_id} without an approver: it needs an "
                            "approval; give --by APPROVER (a listed approver of "
                            f"{run.campaign})")
    if not v.may_publish:
        raise ControlFailed(f"cannot publish {run_id} ({v.state}): " + "; ".join(
            f"{r.message} -> {r.command}" for r in v.reasons))
    accepted = None
    if v.open_exceptions:
        accepted = {"open": v.open_exceptions,
                    "reason": require_reason(reason, "reason for accepting open items")}
    reach(settings, "publish.checked", _hook)
    return _publish(settings, run.campaign, run_id, v, by or SYSTEM_ACTOR, accepted, _hook)


def _publish(settings: Settings, campaign: str, run_id: str, v, actor: str,
             accepted: dict | None, hook: Hook) -> dict:
    with connect(settings) as con:
        ensure_schema(con)
        ensure_tables(con)
        previous = current_publication(settings, campaign, con)
        version = con.execute("SELECT coalesce(max(version), 0) + 1 FROM publications WHERE "
                              "campaign = ?", [campaign]).fetchone()[0]
    target = version_path(settings, campaign, version)
    intent = {"campaign": campaign, "version": version, "run_id": run_id, "by": actor,
              "seal_hash": v.seal["seal_hash"], "sha256": v.seal["memberships_sha256"],
              "rows": v.seal["rows"], "previous_version": previous and previous["version"],
              "external": bool(settings.publish_db_url)}
    payload = {"campaign": campaign, "version": version, "by": actor,
               "seal_hash": intent["seal_hash"], "sha256": intent["sha256"],
               "rows": intent["rows"], "previous_version": intent["previous_version"],
               "accepted_open": accepted, "controls_off": v.switched_off,
               "target": "sqlalchemy" if settings.publish_db_url else "duckdb"}
    try:
        sha = copy_version(run_dir(settings, run_id) / "memberships.parquet", target,
                           lambda _s: reach(settings, "publish.version_tmp_written", hook))
        reach(settings, "publish.version_written", hook)
        if sha != intent["sha256"]:
            raise ControlFailed(f"the memberships of {run_id} changed while being published "
                                f"(sealed {intent['sha256'][:16]}..., copied {sha[:16]}...); "
                                "nothing was published")

        def prepared(entry: dict) -> None:
            intent["audit_seq"] = entry["seq"]
            write_intent(settings, {**intent, "audit_entry": entry}, hook)

        recorded = audit.record(settings, actor, "publish", payload, run_id=run_id,
                                writes=lambda con: _write_rows(settings, con, intent, hook),
                                prepared=prepared, hook=hook)
    except BaseException as err:
        return _after_failure(settings, intent, err)
    notes = [recorded.note] if recorded.note else []
    try:
        with connect(settings) as con:
            finish(settings, {**intent, "audit_entry": recorded.entry}, con, hook)
    except OSError as err:
        notes.append(f"the publication is committed, but its file steps could not all be "
                     f"done ({err}); `segflow doctor` completes them")
    reach(settings, "publish.done", hook)
    _report_again(settings, run_id)
    return {**payload, "run_id": run_id, "note": "; ".join(notes) or None}


def copy_version(source, target, hook) -> str:
    """Copy a run's memberships (a file, or a folder of part files) to ``target``
    atomically, in 8 MB reads (memory stays constant whatever the customers); returns the
    copy's SHA-256 as ``segflow.runstore.file_sha256`` defines it for that form, computed
    from the bytes written, so it is compared with the seal's digest."""
    from segflow.runstore import folder_sha256
    from segflow.scoring.runfiles import data_files

    if not source.is_dir():
        return write_atomic(target, read_chunks(source), hook=hook)
    files = ((p.relative_to(source).as_posix(), read_chunks(p)) for p in data_files(source))
    return folder_sha256(write_folder_atomic(target, files, hook=hook))


def _write_rows(settings: Settings, con, intent: dict, hook: Hook) -> None:
    """Inside the audit transaction: the external database first (committed there), then
    DuckDB's rows, publication record and pointer."""
    campaign, version, run_id = intent["campaign"], intent["version"], intent["run_id"]
    target = version_path(settings, campaign, version)
    if settings.publish_db_url:
        from segflow.governance.publish_sql import publish_sqlalchemy

        publish_sqlalchemy(settings.publish_db_url, campaign, run_id, target, intent["by"],
                           lambda point: reach(settings, point, hook), version=version)
        reach(settings, "publish.external_committed", hook)
    reach(settings, "publish.txn_begun", hook)
    src = version_sql(target)
    present = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
    con.execute(f"INSERT INTO published_memberships SELECT {version}, "
                f"{select_columns(present)} FROM {src}")
    reach(settings, "publish.rows_inserted", hook)
    con.execute("INSERT INTO publications (campaign, version, run_id, published_at, "
                "published_by, rows, seal_hash, sha256, audit_seq) VALUES (?, ?, ?, ?, ?, ?, "
                "?, ?, ?)", [campaign, version, run_id, datetime.now(UTC), intent["by"],
                             intent["rows"], intent["seal_hash"], intent["sha256"],
                             intent["audit_seq"]])
    reach(settings, "publish.record_inserted", hook)
    con.execute("INSERT OR REPLACE INTO publication_pointer VALUES (?, ?)", [campaign, version])
    reach(settings, "publish.pointer_moved", hook)


def _after_failure(settings: Settings, intent: dict, err: BaseException) -> dict:
    """A publication failed part-way: decide from the database whether it committed, finish
    or undo it, and report accordingly (success only when it committed)."""
    path = intent_path(settings, intent["campaign"], intent["version"])
    outcome = None
    try:
        if path.exists():
            with connect(settings) as con:
                outcome = resolve(settings, path, con)
        else:
            remove_path(version_path(settings, intent["campaign"], intent["version"]))
    except Exception:  # noqa: BLE001 - doctor finishes it; the original error matters more
        outcome = None
    if outcome == "rolled forward":
        return {**{k: intent[k] for k in ("campaign", "version", "run_id", "by", "seal_hash")},
                "note": f"the publication is committed; a later step failed ({err}) and was "
                        "completed by recovery"}
    if _disk_full(err):
        raise EnvironmentFailure(
            f"the disk is full ({err}): nothing was published, version "
            f"{intent['previous_version'] or 'none'} of {intent['campaign']} is still "
            f"current; free space in {settings.home} and publish again") from err
    raise err


def _disk_full(err: BaseException) -> bool:
    return (isinstance(err, OSError) and err.errno == errno.ENOSPC) or \
        "no space left" in str(err).lower()


def select_columns(present: list[str]) -> str:
    return ", ".join(c if c in present else f"NULL AS {c}" for c in COLUMNS)


def _report_again(settings: Settings, run_id: str) -> None:
    from segflow.governance.home import refresh_pages

    refresh_pages(settings, run_id)
