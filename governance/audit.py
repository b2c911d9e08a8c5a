"""The audit log: append-only JSONL where each entry carries the hash of the one before.

Editing, inserting or deleting a line breaks the chain at that point, so ``verify`` can say
which entry was tampered with. Appends take an exclusive file lock so two processes never
interleave or reuse a sequence number.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from segflow.settings import Settings

GENESIS = "0" * 64


def _digest(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def append(settings: Settings, actor: str, action: str, payload: dict | None = None,
           run_id: str | None = None) -> dict:
    """Append one entry (seq, ts, actor, action, run_id, payload, prev_hash, hash)."""
    path = settings.audit_log_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        last = None
        for line in fh:
            if line.strip():
                last = line
        prev = json.loads(last) if last else None
        entry = {"seq": prev["seq"] + 1 if prev else 1,
                 "ts": datetime.now(UTC).isoformat(), "actor": actor, "action": action,
                 "run_id": run_id, "payload": payload or {},
                 "prev_hash": prev["hash"] if prev else GENESIS}
        entry["hash"] = _digest(entry)
        fh.seek(0, 2)
        fh.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
        fh.flush()
    return entry


def read(settings: Settings, run_id: str | None = None) -> list[dict]:
    path = settings.audit_log_path
    if not path.exists():
        return []
    entries = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [e for e in entries if run_id is None or e.get("run_id") == run_id]


@dataclass
class Verdict:
    ok: bool
    entries: int
    problems: list[str]


def verify(settings: Settings) -> Verdict:
    """Walk the chain; every break is reported with its line and entry number."""
    path = settings.audit_log_path
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    problems, prev_hash, expected_seq = [], GENESIS, 1
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"line {number}: not valid JSON (entry edited by hand?)")
            continue
        seq = entry.get("seq")
        if entry.get("hash") != _digest(entry):
            problems.append(f"line {number} (seq {seq}): content does not match its hash "
                            "(entry edited)")
        if entry.get("prev_hash") != prev_hash:
            problems.append(f"line {number} (seq {seq}): previous-hash link broken (an entry "
                            "before it was edited, inserted or deleted)")
        if seq != expected_seq:
            what = "deleted" if isinstance(seq, int) and seq > expected_seq else "inserted"
            problems.append(f"line {number}: sequence {seq}, expected {expected_seq} (entry "
                            f"{what})")
        prev_hash = entry.get("hash")
        expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
    return Verdict(ok=not problems, entries=len(lines), problems=problems)
