"""Publication intents: what makes a publication recoverable after a crash at any instant.

Before the database transaction that publishes a version, ``write_intent`` puts a record
in ``<home>/journal/`` (fsynced): run, campaign, version, seal, file hash, previous version
and the fully formed audit entry. The transaction then commits the rows, the pointer and the
audit entry together; after it, ``finish`` appends the entry to ``audit.jsonl``, switches
``published/<campaign>/current.json``, writes the version's manifest and deletes the intent.

``resolve`` decides what an intent left by a crash means, from the workspace DuckDB (the
authority): committed -> finish it (roll forward); not committed -> remove the version (a
file, or a Spark run's folder) and the intent (roll back), and bring the external
publication database (if any) back to DuckDB's version. ``segflow doctor`` and the start
of every publication call it.
"""

from __future__ import annotations

import json
from pathlib import Path

from segflow.durable import remove_path, write_atomic
from segflow.faults import Hook, reach
from segflow.governance.publications import ensure_tables, version_path
from segflow.settings import Settings


def intent_path(settings: Settings, campaign: str, version: int) -> Path:
    return settings.journal_dir / f"publish-{campaign}-v{version:05d}.json"


def pending(settings: Settings) -> list[Path]:
    return sorted(settings.journal_dir.glob("publish-*.json"))


def write_intent(settings: Settings, intent: dict, hook: Hook = None) -> Path:
    path = intent_path(settings, intent["campaign"], intent["version"])
    write_atomic(path, json.dumps(intent, indent=1, sort_keys=True).encode("utf-8"))
    reach(settings, "publish.intent_written", hook)
    return path


def read_intent(path: Path) -> dict | None:
    """The intent, or None for a file that is not one (an unreadable intent is never acted
    on: ``write_atomic`` makes a half-written one impossible, so it was edited)."""
    try:
        intent = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return intent if isinstance(intent, dict) and "version" in intent else None


def committed(con, intent: dict) -> bool:
    """Did the publication's DuckDB transaction commit?"""
    ensure_tables(con)
    return con.execute("SELECT count(*) FROM publications WHERE campaign = ? AND version = ? "
                       "AND run_id = ?", [intent["campaign"], intent["version"],
                                          intent["run_id"]]).fetchone()[0] > 0


def resolve(settings: Settings, path: Path, con, hook: Hook = None) -> str:
    """Roll a left-over intent forward or back; returns 'rolled forward' or 'rolled back'."""
    intent = read_intent(path)
    if intent is None:
        raise ValueError(f"{path} is not a publication intent")
    if committed(con, intent):
        finish(settings, intent, con, hook)
        return "rolled forward"
    roll_back(settings, intent, con)
    return "rolled back"


def roll_back(settings: Settings, intent: dict, con) -> None:
    """The transaction did not commit: nothing of this version may stay visible."""
    campaign, version = intent["campaign"], intent["version"]
    if intent.get("external"):
        align_external(settings, con, campaign)
    remove_path(version_path(settings, campaign, version))
    intent_path(settings, campaign, version).unlink(missing_ok=True)


def finish(settings: Settings, intent: dict, con, hook: Hook = None) -> None:
    """The transaction committed: complete the file steps (each idempotent)."""
    from segflow.governance import audit
    from segflow.governance.publications import current_publication

    campaign, version = intent["campaign"], intent["version"]
    if intent.get("external"):
        align_external(settings, con, campaign)
    audit.sync_file(settings, con, hook)
    current = current_publication(settings, campaign, con)
    if current is not None and current["version"] == version:
        switch_current(settings, campaign, version, intent["run_id"], hook)
    write_manifest(settings, intent, hook)
    intent_path(settings, campaign, version).unlink(missing_ok=True)
    reach(settings, "publish.intent_removed", hook)


def switch_current(settings: Settings, campaign: str, version: int, run_id: str,
                   hook: Hook = None) -> None:
    pointer = settings.publish_dir / campaign / "current.json"
    data = {"version": version, "run_id": run_id,
            "file": version_path(settings, campaign, version).name}
    write_atomic(pointer, json.dumps(data).encode("utf-8"),
                 hook=lambda _s: reach(settings, "publish.current_tmp_written", hook))
    reach(settings, "publish.current_switched", hook)


def write_manifest(settings: Settings, intent: dict, hook: Hook = None) -> None:
    """``published/<campaign>/vNNNNN.json``: what was published, its seal, the audit head
    at publication (``audit verify`` checks the log never falls behind it) and, for a
    version that is a folder, the columns it is partitioned by."""
    entry = intent["audit_entry"]
    manifest = {k: intent[k] for k in ("campaign", "version", "run_id", "seal_hash",
                                       "sha256", "rows", "previous_version", "by")}
    path = version_path(settings, intent["campaign"], intent["version"])
    manifest.update(file=path.name, published_at=entry["ts"],
                    audit_head={"seq": entry["seq"], "hash": entry["hash"]})
    if path.is_dir():  # a Spark run's version: a folder a cluster's readers list by cohort
        from segflow.scoring.runfiles import partition_columns

        manifest["partitioned_by"] = partition_columns(path)
    write_atomic(version_path(settings, intent["campaign"], intent["version"], ".json"),
                 json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"),
                 hook=lambda _s: reach(settings, "publish.manifest_tmp_written", hook))
    reach(settings, "publish.manifest_written", hook)


def align_external(settings: Settings, con, campaign: str) -> list[str]:
    """Bring the external publication database back to DuckDB's versions and pointer."""
    from segflow.errors import EnvironmentFailure
    from segflow.governance.publications import current_publication, publication_history
    from segflow.governance.publish_sql import align_external as align

    if not settings.publish_db_url:
        raise EnvironmentFailure("a publication to the external database was interrupted, "
                                 "but SEGFLOW_PUBLISH_DB_URL is not set: set it and run "
                                 "`segflow doctor` to bring that database back in line")
    keep = {p["version"] for p in publication_history(settings, campaign, con)}
    current = current_publication(settings, campaign, con)
    return align(settings.publish_db_url, campaign, keep, current and current["version"])
