"""Governance's part of ``segflow doctor``: publications and the audit log agree.

Repaired (what a crash leaves): a publication intent (rolled forward when its database
transaction committed, back when it did not), ``current.json`` or a version manifest behind
the database, a version file no publication owns, an external publication database that
disagrees with DuckDB, an audit file one append behind or with a torn last line, applied
live changes a stopped receiver had not yet recorded in the audit log.
Reported for a person (never repaired): an audit log that fails ``audit verify`` in any
other way, a missing audit key, a published file whose hash is not the one published, a
Spark run's review items whose part files are gone or unreadable.
"""

from __future__ import annotations

import json
import re

from segflow.doctor import Finding
from segflow.durable import remove_path
from segflow.governance import audit
from segflow.governance.journal import pending, resolve, switch_current, write_manifest
from segflow.governance.publications import ensure_tables, publication_history, version_path
from segflow.governance.store import ensure_schema
from segflow.runstore import file_sha256
from segflow.settings import Settings


def findings(settings: Settings, repair: bool) -> list[Finding]:
    if not settings.database_path.exists():
        # nothing to repair without the database, but publications left behind say what
        # it recorded: a database deleted with the log is named (audit verify's checks)
        return audit_verify(settings)
    from segflow.db import connect

    with connect(settings) as con:
        ensure_schema(con)
        ensure_tables(con)
        out = intents(settings, con, repair)
        for campaign in campaigns(settings, con):
            out += publication(settings, con, campaign, repair)
        out += audit_file(settings, con, repair)
        out += review_items(con)
    out += live_changes(settings, repair)
    out += audit_verify(settings)
    return out


def review_items(con) -> list[Finding]:
    """A Spark run's review items whose registered files are gone or unreadable
    (``governance.review_sets``): reported, never repaired, since only governing the run
    again writes them."""
    return [Finding("review", run_id, f"the run's review items are {problem}",
                    f"restore them, or run `segflow govern {run_id}`")
            for run_id, problem in con.execute("SELECT run_id, problem FROM "
                                               "review_sets_missing ORDER BY 1").fetchall()]


def live_changes(settings: Settings, repair: bool) -> list[Finding]:
    """Applied micro-batches of live changes missing from the audit log (a receiver or
    Kafka applier killed before its recorder's pass): repair records them."""
    from segflow.governance.live_audit import audit_pending
    from segflow.ingest.events.inbox import connect_inbox, inbox_path, unaudited

    if not inbox_path(settings).exists():
        return []
    con = connect_inbox(settings)
    try:
        missing = len(unaudited(con))
        if not missing:
            return [Finding("audit", "live changes")]
        f = Finding("audit", "live changes", f"{missing} applied batch(es) of live changes "
                    "are not in the audit log (the applier stopped before recording them)",
                    "run `segflow doctor` to record them")
        if repair:
            audit_pending(settings, con)
            f.fix, f.repaired = f"recorded {missing} batch(es) in the audit log", True
        return [f]
    finally:
        con.close()


def campaigns(settings: Settings, con) -> list[str]:
    names = {c for (c,) in con.execute("SELECT DISTINCT campaign FROM publications")
             .fetchall()}
    if settings.publish_dir.exists():
        names |= {p.name for p in settings.publish_dir.iterdir() if p.is_dir()}
    return sorted(names)


def intents(settings: Settings, con, repair: bool) -> list[Finding]:
    out = []
    for path in pending(settings):
        f = Finding("publication", path.name, "a publication was interrupted (its intent "
                    "record is still in the journal)", "run `segflow doctor` to finish or "
                    "undo it")
        if repair:
            f.fix, f.repaired = resolve(settings, path, con), True
        out.append(f)
    return out


def publication(settings: Settings, con, campaign: str, repair: bool) -> list[Finding]:
    """current.json, version files and manifests against the database's publications."""
    history = publication_history(settings, campaign, con)
    out = []
    versions = {p["version"]: p for p in history}
    current = next((p for p in history if p["current"]), None)
    folder = settings.publish_dir / campaign
    for path in sorted(folder.glob("v*.parquet")) if folder.exists() else []:
        match = re.fullmatch(r"v(\d+)\.parquet", path.name)
        if match and int(match.group(1)) not in versions:
            f = Finding("publication", f"{campaign}/{path.name}", "version file with no "
                        "publication (left by an interrupted publication)", "removed" if
                        repair else "run `segflow doctor` to remove it")
            if repair:
                remove_path(path)  # a file, or a Spark run's folder
                f.repaired = True
            out.append(f)
    for p in history:
        path = version_path(settings, campaign, p["version"])
        if p["sha256"] and (not path.exists() or file_sha256(path) != p["sha256"]):
            out.append(Finding("publication", f"{campaign}/{path.name}", "the published file "
                               "is missing or is not the content published (sha256 "
                               f"{p['sha256'][:16]}...)", "restore it from a backup; "
                               "current_memberships in the database holds the rows"))
        elif p["audit_seq"] is not None:
            out += _manifest(settings, con, p, repair)
    if current is not None:
        out += _pointer(settings, campaign, current, repair)
    out += _external(settings, con, campaign, repair)
    if not out:
        out.append(Finding("publication", campaign))
    return out


def _manifest(settings: Settings, con, p: dict, repair: bool) -> list[Finding]:
    path = version_path(settings, p["campaign"], p["version"], ".json")
    if path.exists():
        return []
    f = Finding("publication", f"{p['campaign']}/{path.name}", "version manifest missing "
                "(the publication's last step did not run)", "written from the database" if
                repair else "run `segflow doctor` to write it")
    if repair:
        line = con.execute("SELECT line FROM audit_entries WHERE seq = ?",
                           [p["audit_seq"]]).fetchone()
        entry = json.loads(line[0])
        write_manifest(settings, {**entry["payload"], "run_id": p["run_id"],
                                  "audit_entry": entry})
        f.repaired = True
    return [f]


def _pointer(settings: Settings, campaign: str, current: dict, repair: bool) -> list[Finding]:
    pointer = settings.publish_dir / campaign / "current.json"
    try:
        shown = json.loads(pointer.read_text()).get("version") if pointer.exists() else None
    except ValueError:
        shown = None
    if shown == current["version"]:
        return []
    f = Finding("publication", f"{campaign}/current.json", f"current.json shows version "
                f"{shown}, the database's current version is {current['version']}",
                "switched to the database's version" if repair else "run `segflow doctor`")
    if repair and version_path(settings, campaign, current["version"]).exists():
        switch_current(settings, campaign, current["version"], current["run_id"])
        f.repaired = True
    return [f]


def _external(settings: Settings, con, campaign: str, repair: bool) -> list[Finding]:
    if not settings.publish_db_url:
        return []
    from segflow.governance.journal import align_external
    from segflow.governance.publish_sql import external_state

    history = publication_history(settings, campaign, con)
    want = next((p["version"] for p in history if p["current"]), None)
    have, versions = external_state(settings.publish_db_url, campaign)
    extra = sorted(set(versions) - {p["version"] for p in history})
    if have == want and not extra:
        return []
    f = Finding("publication", f"{campaign} (external database)", f"the external database "
                f"shows version {have} (extra versions {extra}), DuckDB's current is {want}",
                "brought back to DuckDB's versions" if repair else "run `segflow doctor`")
    if repair:
        align_external(settings, con, campaign)
        f.repaired = True
    return [f]


def audit_file(settings: Settings, con, repair: bool) -> list[Finding]:
    """The file copy of the audit log one append behind, or torn, is completed from the
    database; anything else is left for ``audit verify`` to name."""
    state, _ = audit.file_state(settings, con)
    if state not in ("behind", "torn"):
        return []
    f = Finding("audit", settings.audit_log_path.name,
                "the last entries are in the database but not in the file (an append was "
                "interrupted)" if state == "behind" else "torn last line (an append was "
                "interrupted)", "completed from the database copy" if repair else
                "run `segflow doctor`")
    if repair:
        audit.sync_file(settings, con)
        f.repaired = True
    return [f]


def audit_verify(settings: Settings) -> list[Finding]:
    verdict = audit.verify(settings)
    if verdict.ok:
        return [Finding("audit", settings.audit_log_path.name)]
    return [Finding("audit", settings.audit_log_path.name, problem,
                    "a person must look: `segflow audit verify`") for problem in
            verdict.problems]
