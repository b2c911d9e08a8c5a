"""``segflow doctor``: is this workspace consistent, and what did a crash leave behind?

Each stage that keeps state contributes its own checks in a module named ``doctor`` with a
``findings(settings, repair) -> list[Finding]`` function (``segflow.doctor`` for the core,
``segflow.ingest.doctor`` for canonical tables and receipts, ``segflow.governance.doctor``
for publications and the audit log). The command discovers those modules, so a stage adds
checks without a central list, and runs them all under the workspace lock: nothing else
changes the workspace while it looks.

With ``repair`` a check undoes or completes what an interrupted command left (a temporary
file, an unfinished run, a half-done publication) and says so; it never repairs what a
person must decide (an edited audit log, a canonical file changed by hand): those stay
problems and make the command exit 1.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from segflow.db import SPILL_FOLDER
from segflow.settings import Settings
from segflow.staging import PATTERN as STAGED

STAGES = ("segflow", "segflow.ingest", "segflow.training", "segflow.scoring",
          "segflow.governance", "segflow.monitoring", "segflow.flows")
TEMP_PATTERNS = ("**/*.tmp", STAGED, ".ingest-spill-*", SPILL_FOLDER)


@dataclass
class Finding:
    """One thing doctor looked at: ``problem`` is empty when it is fine."""

    area: str               # publication, audit, runs, receipts, files, ...
    subject: str            # what was looked at: a file, a run id, a campaign
    problem: str = ""       # what is wrong, in one line ("" = consistent)
    fix: str = ""           # what to do about it (or what repair did)
    repaired: bool = False  # repair fixed it: the workspace is consistent again

    @property
    def ok(self) -> bool:
        return not self.problem or self.repaired

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def providers() -> list:
    """``findings`` of every stage that has a ``doctor`` module, in stage order."""
    found = []
    for stage in STAGES:
        name = f"{stage}.doctor"
        if importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name).findings)
    return found


def examine(settings: Settings, repair: bool = True) -> list[Finding]:
    """Every stage's findings, under the workspace lock."""
    from segflow.errors import SegflowError
    from segflow.lock import workspace_lock

    if not settings.home.is_dir():
        raise SegflowError(f"no workspace at {settings.home} (give --home or SEGFLOW_HOME)")
    with workspace_lock(settings, "doctor"):
        return [f for provider in providers() for f in provider(settings, repair)]


def findings(settings: Settings, repair: bool) -> list[Finding]:
    """The core's checks: leftover temporary files and runs their command never finished."""
    return [*temp_files(settings, repair), *unfinished_runs(settings, repair)]


def leftovers(home: Path) -> Iterable[Path]:
    """Temporary files in the workspace; Prefect's own folder is Prefect's business. The
    shared spill folder of in-memory DuckDB connections (``segflow.db.spill_dir``) stays
    between commands: it is a leftover only when something is left in it."""
    for pattern in TEMP_PATTERNS:
        yield from (p for p in sorted(home.glob(pattern))
                    if p.relative_to(home).parts[0] != "prefect"
                    and not (p.name == SPILL_FOLDER and not any(p.iterdir())))


def temp_files(settings: Settings, repair: bool) -> list[Finding]:
    """Temporary files and spill folders of commands that ended without cleaning up (the
    lock is held, so no running command owns them)."""
    out = []
    for path in leftovers(settings.home):
        finding = Finding("files", str(path.relative_to(settings.home)),
                          "temporary file left by an interrupted command",
                          "removed" if repair else "run `segflow doctor` to remove it")
        if repair:
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            finding.repaired = True
        out.append(finding)
    return out


def unfinished_runs(settings: Settings, repair: bool) -> list[Finding]:
    """Runs whose refresh died before it finished (state ``created``): marked failed."""
    from segflow.runstore import UNFINISHED, list_runs, mark_failed

    out = []
    for record in list_runs(settings):
        if record.status not in UNFINISHED:
            continue
        finding = Finding("runs", record.run_id, f"run left in state '{record.status}': the "
                          "command that made it ended before it finished",
                          "marked failed" if repair else "run `segflow doctor` to mark it failed")
        if repair:
            mark_failed(settings, record, "interrupted: the command that made this run ended "
                        "before it finished (found by segflow doctor)")
            finding.repaired = True
        out.append(finding)
    return out
