"""The audit log: every governance action, signed, chained and anchored in the database.

``record`` is the one way a governance action is committed. In one DuckDB transaction it
performs the action's own database writes (``writes(con)``), inserts the entry into
``audit_entries`` and moves ``audit_head`` (sequence and hash); only then is the entry
appended to ``audit/audit.jsonl``. So no action is committed without its entry, and the
file is a copy of the database that anyone can read.

Each entry carries ``hash`` (SHA-256 of its canonical JSON, previous hash included) and
``mac``, an HMAC-SHA256 of the same JSON with the workspace key, kept outside the log
(``SEGFLOW_AUDIT_KEY``, or ``<home>/keys/audit.key`` created on first use with mode 0600).
Whoever can edit the file cannot re-sign it; cutting its tail is seen against the head in
the database, and cutting both is seen against the head recorded in every publication
manifest. ``verify`` names the entry of every problem.

A crash between the database commit and the file append leaves the file one entry behind,
or with a torn last line; the next ``record`` (and ``segflow doctor``) completes it from
the database copy. ``audit_head.file_seq`` is the last entry known to be in the file, which
tells a crash (entries after it missing) from a cut (entries before it missing).
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from segflow.errors import EnvironmentFailure
from segflow.faults import Hook, reach
from segflow.settings import Settings

log = logging.getLogger("segflow.audit")
GENESIS = "0" * 64
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_entries (seq BIGINT PRIMARY KEY, hash VARCHAR,
  line VARCHAR, end_offset BIGINT);
CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY, seq BIGINT, hash VARCHAR,
  file_seq BIGINT);
"""


def ensure_schema(con) -> None:
    from segflow.db import has_schema

    if not has_schema(con, "audit_head", "file_seq"):
        con.execute(SCHEMA)


def canonical(obj) -> str:
    """The one JSON text of an entry: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def plain_hash(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k not in ("hash", "mac")}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def signature(key: bytes, entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "mac"}
    return hmac.new(key, canonical(body).encode("utf-8"), hashlib.sha256).hexdigest()


def os_user() -> str:
    """The operating-system user running the command, recorded beside the name given."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


# --- the key ---------------------------------------------------------------------------
def load_key(settings: Settings, create: bool = False) -> bytes | None:
    """The workspace's audit key; created (mode 0600) only when ``create`` and none exists."""
    if settings.audit_key:
        return settings.audit_key.encode("utf-8")
    path = settings.audit_key_path
    if path.exists():
        return path.read_text(encoding="ascii").strip().encode("ascii")
    if not create:
        return None
    settings.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return load_key(settings)


def _key_for_append(settings: Settings, con, seq: int, prev_line: str | None) -> bytes:
    """The key to sign the next entry; refuses a missing or different key once entries
    exist (they would no longer verify)."""
    key = load_key(settings, create=seq == 0)
    if key is None:
        raise EnvironmentFailure(
            f"the audit key is missing ({settings.audit_key_path}, or SEGFLOW_AUDIT_KEY): "
            f"the log's {seq} entries cannot be continued; restore the key from your backup")
    if prev_line is not None:
        prev = json.loads(prev_line)
        if not hmac.compare_digest(prev.get("mac", ""), signature(key, prev)):
            raise EnvironmentFailure(
                "the audit key does not sign the log's last entry (a different "
                "SEGFLOW_AUDIT_KEY or keys/audit.key?): restore the workspace's own key")
    return key


# --- the database copy -------------------------------------------------------------------
@contextmanager
def _connection(settings: Settings, con=None, read_only: bool = False):
    if con is not None:
        yield con
        return
    from segflow.db import connect

    with connect(settings, read_only=read_only) as own:
        yield own


@dataclass
class Head:
    seq: int = 0
    hash: str = GENESIS
    file_seq: int = 0


def db_head(con) -> Head:
    row = con.execute("SELECT seq, hash, file_seq FROM audit_head WHERE id = 1").fetchone()
    return Head(*row) if row else Head()


def head(settings: Settings) -> Head:
    """The chain head recorded in the workspace database (seq 0 when nothing is logged)."""
    if not settings.database_path.exists():
        return Head()
    with _connection(settings) as con:
        ensure_schema(con)
        return db_head(con)


def _db_line(con, seq: int) -> tuple[str, int] | None:
    row = con.execute("SELECT line, end_offset FROM audit_entries WHERE seq = ?",
                      [seq]).fetchone()
    return (row[0], row[1]) if row else None


def _entry(key: bytes, seq: int, prev_hash: str, actor: str, action: str, payload,
           run_id: str | None) -> dict:
    entry = {"seq": seq, "ts": datetime.now(UTC).isoformat(), "actor": actor,
             "os_user": os_user(), "action": action, "run_id": run_id,
             "payload": payload or {}, "prev_hash": prev_hash}
    entry = json.loads(canonical(entry))  # exactly what a reader of the line gets back
    entry["hash"] = plain_hash(entry)
    entry["mac"] = signature(key, entry)
    return entry


@dataclass
class Recorded:
    """A committed entry; ``note`` says when its file append was left to doctor."""

    entry: dict
    note: str | None = None


def record(settings: Settings, actor: str, action: str, payload: dict | None = None,
           run_id: str | None = None, *, writes: Callable | None = None,
           prepared: Callable[[dict], None] | None = None, con=None,
           hook: Hook = None) -> Recorded:
    """Commit a governance action and its audit entry in one transaction, then append the
    entry to the file.

    ``writes(con)`` performs the action's database writes inside the transaction;
    ``prepared(entry)`` sees the fully formed entry before any write (publication writes
    its intent record there). An exception anywhere before COMMIT rolls everything back.
    """
    from segflow.lock import workspace_lock

    with workspace_lock(settings, f"audit {action}"), _connection(settings, con) as c:
        ensure_schema(c)
        sync_file(settings, c)
        c.execute("BEGIN TRANSACTION")
        try:
            top = db_head(c)
            prev = _db_line(c, top.seq)
            key = _key_for_append(settings, c, top.seq, prev[0] if prev else None)
            entry = _entry(key, top.seq + 1, top.hash, actor, action, payload, run_id)
            if prepared is not None:
                prepared(entry)
            if writes is not None:
                writes(c)
            line = canonical(entry)
            end = (prev[1] if prev else 0) + len(line.encode("utf-8")) + 1
            c.execute("INSERT INTO audit_entries VALUES (?, ?, ?, ?)",
                      [entry["seq"], entry["hash"], line, end])
            c.execute("INSERT OR REPLACE INTO audit_head VALUES (1, ?, ?, ?)",
                      [entry["seq"], entry["hash"], top.file_seq])
            reach(settings, "audit.before_commit", hook)
            c.execute("COMMIT")
        except BaseException:
            _rollback(c)
            raise
        reach(settings, "audit.committed", hook)
        note = None
        try:
            state = sync_file(settings, c, hook=hook)
            if state not in ("ok", "behind", "torn"):
                note = (f"audit entry {entry['seq']} is committed in the database, but "
                        f"{settings.audit_log_path} does not match the database copy "
                        f"({state}); run `segflow audit verify`")
        except OSError as err:
            note = (f"audit entry {entry['seq']} is committed in the database but could not "
                    f"be appended to {settings.audit_log_path} ({err}); `segflow doctor` "
                    "appends it")
            log.warning(note)
    return Recorded(entry, note)


def _rollback(con) -> None:
    try:
        con.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - the transaction may already be gone
        pass


# --- the file copy -------------------------------------------------------------------------
def _tail(path, size: int) -> bytes:
    """The last ``size`` bytes of a file (the whole file when smaller)."""
    with open(path, "rb") as fh:
        fh.seek(max(0, os.path.getsize(path) - size))
        return fh.read()


def file_state(settings: Settings, con) -> tuple[str, int]:
    """How the file stands against the database: ('ok'|'behind'|'torn'|'differs'|'missing'
    |'legacy', first seq to append). 'behind' and 'torn' are what a crash leaves and are
    repaired from the database; 'differs' and 'missing' are for a person."""
    path = settings.audit_log_path
    top = db_head(con)
    if not path.exists():
        if top.seq == 0:
            return "ok", 1
        return ("behind", 1) if top.file_seq == 0 else ("missing", 0)
    size = path.stat().st_size
    if top.seq == 0:
        return ("legacy", 0) if size else ("ok", 1)
    known = _db_line(con, top.file_seq) if top.file_seq else None
    known_end = known[1] if known else 0
    if size < known_end:
        return "differs", 0
    with open(path, "rb") as fh:
        if known is not None:
            line = known[0].encode("utf-8") + b"\n"
            fh.seek(known_end - len(line))
            if fh.read(len(line)) != line:
                return "differs", 0
        rest = fh.read()  # what follows the last entry known to be in the file
    seq = top.file_seq
    while rest:
        nxt = _db_line(con, seq + 1)
        if nxt is None:
            return "differs", 0
        line = nxt[0].encode("utf-8") + b"\n"
        if rest.startswith(line):
            rest, seq = rest[len(line):], seq + 1
        elif line.startswith(rest):
            return "torn", seq + 1
        else:
            return "differs", 0
    return ("behind", seq + 1) if seq < top.seq else ("ok", seq + 1)


def sync_file(settings: Settings, con, hook: Hook = None) -> str:
    """Bring the file up to the database after a crash: cut a torn last line and append the
    entries it lacks. Returns the state found; a file that differs otherwise is left alone
    for a person (``verify`` names the problem) and the entries stay in the database."""
    state, first = file_state(settings, con)
    if state == "legacy":
        _retire_legacy(settings, con)
        return "ok"
    if state not in ("behind", "torn", "ok"):
        return state
    top = db_head(con)
    path = settings.audit_log_path
    if state == "torn":
        start = _db_line(con, first - 1)[1] if first > 1 else 0
        os.truncate(path, start)
    for seq in range(first, top.seq + 1):
        _append_line(settings, _db_line(con, seq)[0], hook)
    if top.file_seq != top.seq:
        con.execute("UPDATE audit_head SET file_seq = seq WHERE id = 1")
    return state


def _append_line(settings: Settings, line: str, hook: Hook = None) -> None:
    """Append one entry; the named points let a test stop it half-way (a torn line)."""
    from segflow.durable import fsync_dir

    path = settings.audit_log_path
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    data = line.encode("utf-8") + b"\n"
    with open(path, "ab") as fh:
        half = len(data) // 2
        fh.write(data[:half])
        fh.flush()
        reach(settings, "audit.file_torn", hook)
        fh.write(data[half:])
        fh.flush()
        reach(settings, "audit.file_appended", hook)
        os.fsync(fh.fileno())
    if new:
        fsync_dir(path.parent)
    reach(settings, "audit.file_synced", hook)


def _retire_legacy(settings: Settings, con) -> None:
    """A log written before entries were signed moves aside; the new log starts with an
    entry that records the old file's hash, size and last hash (so it stays checkable)."""
    path = settings.audit_log_path
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    legacy = path.with_name(f"audit.unsigned-{stamp}.jsonl")
    data = path.read_bytes()
    lines = [x for x in data.decode("utf-8", "replace").splitlines() if x.strip()]
    last = None
    try:
        last = json.loads(lines[-1]).get("hash") if lines else None
    except ValueError:
        pass
    os.replace(path, legacy)
    record(settings, "segflow", "audit_log_started", {
        "previous_unsigned_log": legacy.name, "sha256": hashlib.sha256(data).hexdigest(),
        "entries": len(lines), "last_hash": last}, con=con)


# --- reading and verifying --------------------------------------------------------------
def read(settings: Settings, run_id: str | None = None) -> list[dict]:
    """Entries from the database copy (the authoritative one), oldest first."""
    if not settings.database_path.exists():
        return []
    with _connection(settings) as con:
        ensure_schema(con)
        lines = con.execute("SELECT line FROM audit_entries ORDER BY seq").fetchall()
    entries = [json.loads(line) for (line,) in lines]
    return [e for e in entries if run_id is None or e.get("run_id") == run_id]


def run_entries(con, run_id: str, actions: tuple[str, ...]) -> list[dict]:
    """The run's entries of ``actions`` (database copy), oldest first, selected in SQL:
    reading the whole log per call would grow with every review decision of every run."""
    ensure_schema(con)
    lines = con.execute("SELECT line FROM audit_entries WHERE json_extract_string(line, "
                        "'$.run_id') = ? AND list_contains(?, json_extract_string(line, "
                        "'$.action')) ORDER BY seq", [run_id, list(actions)]).fetchall()
    return [json.loads(line) for (line,) in lines]


def first_of_run(settings: Settings, run_id: str, action: str) -> dict | None:
    """The run's first entry of ``action`` (None in a workspace without a database)."""
    if not settings.database_path.exists():
        return None
    with _connection(settings) as con:
        found = run_entries(con, run_id, (action,))
    return found[0] if found else None


@dataclass
class Verdict:
    ok: bool
    entries: int
    problems: list[str] = field(default_factory=list)
    head: Head = field(default_factory=Head)


def verify(settings: Settings) -> Verdict:
    """Check the file against itself, the key, the database copy and the publication
    manifests; every problem names its line and entry."""
    from segflow.db import connect

    key = load_key(settings)
    problems: list[str] = []
    db: dict[int, str] = {}
    top = Head()
    if settings.database_path.exists():
        with connect(settings) as con:
            ensure_schema(con)
            top = db_head(con)
            db = dict(con.execute("SELECT seq, line FROM audit_entries").fetchall())
    if key is None and (top.seq or settings.audit_log_path.exists()):
        problems.append(f"cannot verify signatures: the audit key is missing "
                        f"({settings.audit_key_path}, or SEGFLOW_AUDIT_KEY)")
    problems += _check_database(db, top, key)
    path = settings.audit_log_path
    entries = 0
    if not path.exists():
        if top.seq:
            problems.append(f"{path.name} is missing: the database records {top.seq} "
                            "entries")
    else:
        found, entries = _check_file(path.read_bytes(), db, key)
        problems += found
        last = _last_seq(path.read_bytes())
        if top.seq and last < top.seq and not any("torn" in p for p in found):
            problems.append(f"truncated: the file ends at seq {last}, the database head is "
                            f"seq {top.seq} (entries {last + 1}..{top.seq} are missing from "
                            "the file)")
    problems += _check_manifests(settings, db, top)
    return Verdict(ok=not problems, entries=entries, problems=problems, head=top)


def _last_seq(data: bytes) -> int:
    for line in reversed(data.split(b"\n")):
        try:
            seq = json.loads(line).get("seq")
            return seq if isinstance(seq, int) else 0
        except ValueError:
            continue
    return 0


def _check_database(db: dict[int, str], top: Head, key: bytes | None) -> list[str]:
    """The database copy must itself be a signed chain ending at the head."""
    problems, prev = [], GENESIS
    for seq in range(1, top.seq + 1):
        line = db.get(seq)
        if line is None:
            problems.append(f"database copy: entry seq {seq} is missing")
            prev = None
            continue
        entry = json.loads(line)
        if entry.get("hash") != plain_hash(entry):
            problems.append(f"database copy: seq {seq} edited (content does not match its "
                            "hash)")
        elif key is not None and entry.get("mac") != signature(key, entry):
            problems.append(f"database copy: seq {seq} signature invalid")
        if prev is not None and entry.get("prev_hash") != prev:
            problems.append(f"database copy: seq {seq} previous-hash link broken")
        prev = entry.get("hash")
    if top.seq and db.get(top.seq) and json.loads(db[top.seq]).get("hash") != top.hash:
        problems.append(f"database copy: the head (seq {top.seq}) does not match its entry")
    if set(db) - set(range(1, top.seq + 1)):
        extra = sorted(set(db) - set(range(1, top.seq + 1)))
        problems.append(f"database copy: entries after the head: seq {extra[0]}..{extra[-1]}")
    return problems


def _check_file(data: bytes, db: dict[int, str], key: bytes | None) -> tuple[list[str], int]:
    """Line by line: JSON, order, gaps, duplicates, hash, signature, link, database copy."""
    problems: list[str] = []
    raw = data.split(b"\n")
    torn = raw[-1] if raw and raw[-1] else None
    lines = raw[:-1]
    seen: dict[int, int] = {}
    parsed: list[tuple[int, dict]] = []
    for number, text in enumerate(lines, start=1):
        try:
            entry = json.loads(text)
            if not isinstance(entry, dict) or not isinstance(entry.get("seq"), int):
                raise ValueError
        except ValueError:
            problems.append(f"line {number}: not an audit entry (not valid JSON or no seq)")
            continue
        parsed.append((number, entry))
    by_seq = {e["seq"]: e for _, e in parsed}
    highest = 0
    for number, entry in parsed:
        seq = entry["seq"]
        where = f"line {number} (seq {seq})"
        if seq in seen:
            problems.append(f"{where}: seq {seq} appears twice (also line {seen[seq]}): an "
                            "entry was copied or inserted")
        seen.setdefault(seq, number)
        if seq < highest:
            problems.append(f"{where}: out of order after seq {highest} (entries swapped "
                            "or moved)")
        highest = max(highest, seq)
        if entry.get("hash") != plain_hash(entry):
            problems.append(f"{where}: edited (its content does not match its hash)")
        elif key is not None and entry.get("mac") != signature(key, entry):
            problems.append(f"{where}: signature invalid: written without the workspace key "
                            "(an edit re-chained with recomputed hashes, or a forged entry)")
        before = by_seq.get(seq - 1)
        link = before.get("hash") if before else (GENESIS if seq == 1 else None)
        if link is None and (seq - 1) in db:
            link = json.loads(db[seq - 1]).get("hash")
        if link is not None and entry.get("prev_hash") != link:
            problems.append(f"{where}: previous-hash link broken (the entry before it was "
                            "changed)")
        if seq in db:
            if lines[number - 1].decode("utf-8", "replace") != db[seq]:
                problems.append(f"{where}: differs from the database copy")
        else:
            problems.append(f"{where}: not in the database (appended outside segflow)")
    missing = sorted(set(range(1, highest + 1)) - set(seen))
    if missing:
        shown = ", ".join(str(s) for s in missing[:10]) + (" ..." if len(missing) > 10 else "")
        problems.append(f"entries deleted from the file: seq {shown}")
    if torn is not None:
        expected = db.get(highest + 1, "")
        if expected.encode("utf-8").startswith(torn):
            problems.append(f"line {len(lines) + 1}: torn last line (seq {highest + 1}): an "
                            "append was interrupted; `segflow doctor` repairs it from the "
                            "database copy")
        else:
            problems.append(f"line {len(lines) + 1}: not an audit entry (unterminated text "
                            "at the end of the file)")
    return problems, len(parsed)


def _check_manifests(settings: Settings, db: dict[int, str], top: Head) -> list[str]:
    """Each publication manifest records the head at its publication; a log (file and
    database) cut back behind it is caught here."""
    problems = []
    for path in sorted(settings.publish_dir.glob("*/v*.json")):
        try:
            anchor = json.loads(path.read_text(encoding="utf-8")).get("audit_head") or {}
        except ValueError:
            problems.append(f"publication manifest {path.parent.name}/{path.name} is not "
                            "valid JSON")
            continue
        seq, digest = anchor.get("seq"), anchor.get("hash")
        if not isinstance(seq, int):
            continue
        line = db.get(seq)
        if seq > top.seq or line is None or json.loads(line).get("hash") != digest:
            problems.append(f"publication manifest {path.parent.name}/{path.name} records "
                            f"audit head seq {seq} ({str(digest)[:12]}...), but the log's "
                            f"head is seq {top.seq}: entries were cut from both the file "
                            "and the database")
    return problems
