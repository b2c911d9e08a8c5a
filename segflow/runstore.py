"""The run store: every refresh gets a run id, a folder and a recorded set of inputs.

A later step (controls, movement, publish, drift) finds everything it needs from the run id
alone, which is what lets any step be re-run by itself and a past run be reproduced.
Layout of a run folder (``<home>/runs/<run_id>/``):

- ``manifest.json``   inputs: campaign, as_of, file hashes, params, model versions, code;
                      ``engine``: what computed the run (duckdb or spark, segflow.engines)
- ``features.parquet`` the scored frame: entity id, every feature and score used
- ``memberships.parquet`` one row per (entity, cohort) decision, see docs/architecture.md;
                      on Spark a folder partitioned by cohort (``cohort=<name>/``), read
                      through ``segflow.scoring.runfiles``
- ``contributions.parquet`` each entity's five largest model contributions behind every
                      score the campaign's cohorts threshold or rank on (what explain shows);
                      absent when no such score was added; on Spark a folder of part
                      files, read through ``segflow.scoring.runfiles``
- ``frozen/``         the campaign file, every template it uses and the owners file, copied
                      at refresh time: every later step of the run reads these, never today's
                      files (``frozen_settings``)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from segflow import __version__
from segflow.errors import SegflowError
from segflow.settings import Settings

FROZEN = "frozen"
UNFINISHED = ("created",)  # a refresh that died here never wrote its memberships
FAILED = "failed"


@dataclass
class RunRecord:
    run_id: str
    campaign: str
    as_of: str
    created_at: str
    status: str = "created"
    inputs: dict = field(default_factory=dict)
    # what computed the run; manifests written before the setting existed were DuckDB's
    engine: str = "duckdb"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str)


def file_sha256(path: Path) -> str:
    """Hashed in 8 MB reads: a 10M-customer feature file is gigabytes. A folder of part
    files (what a Spark run writes as ``memberships.parquet/``) is hashed as
    ``folder_sha256`` combines its data files' own SHA-256s, so the executors can hash the
    parts where they lie (``segflow.sqlengine.file_sha256``) and the gate, on this machine,
    gets the same digest; Spark's markers (``_SUCCESS``, ``.crc`` files) are not the data
    and are left out."""
    path = Path(path)
    if path.is_dir():
        return folder_sha256((part.relative_to(path).as_posix(), _bytes_sha256(part))
                             for part in _data_files(path))
    return _bytes_sha256(path)


def folder_sha256(parts) -> str:
    """The digest of a folder from ``(relative name, sha256 of its bytes)`` per data file:
    each name and digest in name order, whoever computed the parts' digests. The one
    convention for a folder's hash (``file_sha256`` here, the executors on Spark)."""
    digest = hashlib.sha256()
    for name, sha in sorted(parts):
        digest.update(f"{name}\0{sha}\n".encode())
    return digest.hexdigest()


def _bytes_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _data_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not any(
        name.startswith(("_", ".")) for name in p.relative_to(path).parts))


def git_commit(path: Path) -> str | None:
    """The commit of the repository holding ``path``, or None outside a repository."""
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def new_run_id(campaign: str, as_of: datetime, now: datetime | None = None) -> str:
    """Readable and sortable: campaign, as-of date, creation time (to the microsecond)."""
    now = now or datetime.now(UTC)
    return f"{campaign}-{as_of:%Y%m%d}-{now:%Y%m%dT%H%M%S%f}"


def run_dir(settings: Settings, run_id: str) -> Path:
    return settings.runs_dir / run_id


def create_run(settings: Settings, campaign: str, as_of: datetime, inputs: dict) -> RunRecord:
    """Allocate a run id and folder and write its manifest."""
    record = RunRecord(
        run_id=new_run_id(campaign, as_of),
        campaign=campaign,
        as_of=as_of.isoformat(),
        created_at=datetime.now(UTC).isoformat(),
        engine=settings.engine,
        inputs={"code_version": __version__, "git_commit": git_commit(settings.project_root),
                **inputs},
    )
    folder = run_dir(settings, record.run_id)
    folder.mkdir(parents=True, exist_ok=False)
    save_run(settings, record)
    return record


def save_run(settings: Settings, record: RunRecord) -> None:
    path = run_dir(settings, record.run_id) / "manifest.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(record.to_json(), encoding="utf-8")
    tmp.replace(path)


def load_run(settings: Settings, run_id: str) -> RunRecord:
    path = run_dir(settings, run_id) / "manifest.json"
    if not path.exists():
        raise SegflowError(f"no run '{run_id}' in {settings.runs_dir} (see `segflow runs list`)")
    return RunRecord(**json.loads(path.read_text(encoding="utf-8")))


def list_runs(settings: Settings, campaign: str | None = None) -> list[RunRecord]:
    """Runs, oldest first (run ids sort by as-of date then creation time)."""
    if not settings.runs_dir.exists():
        return []
    records = [load_run(settings, p.name) for p in settings.runs_dir.iterdir()
               if (p / "manifest.json").exists()]
    records = [r for r in records if campaign is None or r.campaign == campaign]
    return sorted(records, key=lambda r: r.created_at)


def find_equivalent(settings: Settings, record: RunRecord) -> RunRecord | None:
    """The earliest other run that made the same decision (same ``run_key``), if any.

    What makes re-running a scheduled refresh idempotent: the repeat is recognised, marked
    ``duplicate`` and pointed at the original, which keeps its review and publication.
    """
    key = record.inputs.get("run_key")
    if not key:
        return None
    for other in list_runs(settings, record.campaign):
        if (other.run_id != record.run_id and other.inputs.get("run_key") == key
                and other.status != "duplicate"):
            return other
    return None


def mark_duplicate(settings: Settings, record: RunRecord, original: RunRecord) -> None:
    record.status = "duplicate"
    record.inputs["duplicate_of"] = original.run_id
    save_run(settings, record)


def mark_failed(settings: Settings, record: RunRecord, reason: str) -> None:
    """A run that can never complete (its command died): kept for the record, never used."""
    record.status = FAILED
    record.inputs["failure"] = reason
    save_run(settings, record)


def mark_orphans(settings: Settings, reason: str) -> list[str]:
    """Mark every unfinished run failed; call only while holding the workspace lock, when no
    other command can be in the middle of one. Returns their ids."""
    marked = []
    for record in list_runs(settings):
        if record.status in UNFINISHED:
            mark_failed(settings, record, reason)
            marked.append(record.run_id)
    return marked


def frozen_dir(settings: Settings, run_id: str) -> Path:
    return run_dir(settings, run_id) / FROZEN


def freeze(settings: Settings, run_id: str, files: dict[str, bytes]) -> dict[str, str]:
    """Copy a run's rules into ``runs/<id>/frozen/`` (relative path -> bytes); returns the
    sha256 of each copy. The copies are made read-only: they are the record."""
    import hashlib

    from segflow.durable import write_atomic

    out = {}
    for rel, data in sorted(files.items()):
        path = frozen_dir(settings, run_id) / rel
        write_atomic(path, data)
        path.chmod(0o444)
        out[rel] = hashlib.sha256(data).hexdigest()
    return out


def frozen_settings(settings: Settings, run_id: str) -> Settings:
    """Settings whose templates, campaigns and owners file are the run's frozen copies (the
    workspace stays the same). A run made before runs were frozen has none: it is read with
    the project's current files, as it always was."""
    root = frozen_dir(settings, run_id) / "segment_templates"
    if not root.is_dir():
        return settings
    return dataclasses.replace(settings, templates_root=root)


def is_frozen(settings: Settings, run_id: str) -> bool:
    return (frozen_dir(settings, run_id) / "segment_templates").is_dir()
