"""A publication killed at any instant, or stopped by a full disk, leaves the workspace on
the old version or on the new one with its audit entry; `segflow doctor` finds it
consistent (repairing what the crash left) and the next publication succeeds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from govworld import (
    ACCEPTANCE,
    APPROVAL,
    AS_OF_1,
    AS_OF_2,
    base_features,
    copy_world,
    governed,
    make_world,
    write_canonical,
)
from govworld import approve_and_publish as publish
from paused import stopped_at

from segflow.governance.publish import POINTS


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Version 1 published; a second run governed, drift-checked and approved."""
    settings = make_world(tmp_path_factory.mktemp("crash"))
    f = base_features(n=400)
    write_canonical(settings, list(f.customer_id))
    publish(settings, governed(settings, f, AS_OF_1))
    g = f.copy()
    g["recency_days"] = 3.0
    second = governed(settings, g, AS_OF_2)
    from segflow.governance.gate import verdict
    from segflow.governance.publish import approve

    approve(settings, second, "lead.analyst", APPROVAL)
    return settings, second, verdict(settings, second).open_exceptions


def _env(settings, **extra) -> dict:
    return {**os.environ, "SEGFLOW_HOME": str(settings.home),
            "SEGFLOW_TEMPLATES": str(settings.templates_root), **extra}


def _publish_cmd(run: str, open_items: int) -> list[str]:
    return [sys.executable, "-m", "segflow.cli", "publish", run, "--by", "lead.analyst",
            "--accept-open", str(open_items), "--reason", ACCEPTANCE]


def state(settings) -> dict:
    """What each place says is current: DuckDB pointer, current.json, the audit log."""
    from segflow.governance import audit
    from segflow.governance.publications import current_publication

    pointer = settings.publish_dir / "holi_test" / "current.json"
    publishes = [e for e in audit.read(settings) if e["action"] == "publish"]
    return {"db": current_publication(settings, "holi_test")["version"],
            "file": json.loads(pointer.read_text())["version"],
            "audit": publishes[-1]["payload"]["version"],
            "verify": audit.verify(settings).problems}


def assert_consistent(settings) -> int:
    from segflow.doctor import examine

    found = examine(settings, repair=True)
    assert all(f.ok for f in found), [f for f in found if not f.ok]
    now = state(settings)
    assert now["db"] == now["file"] == now["audit"] and now["verify"] == [], now
    leftovers = [p for p in settings.home.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == [] and not list(settings.journal_dir.glob("*.json"))
    manifests = sorted(p.name for p in (settings.publish_dir / "holi_test").glob("v*.json"))
    assert manifests == [f"v{v:05d}.json" for v in range(1, now["db"] + 1)]
    return now["db"]


def test_there_are_at_least_twenty_named_instants():
    assert len(POINTS) >= 20 and len(set(POINTS)) == len(POINTS)


@pytest.mark.parametrize("point", POINTS)
def test_publish_killed_at_each_instant_is_recoverable(prepared, tmp_path, point):
    from segflow.governance.publish import publish_run

    base, run, open_items = prepared
    settings = copy_world(base, tmp_path / "w")
    proc = stopped_at(_publish_cmd(run, open_items), _env(settings), point)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert assert_consistent(settings) in (1, 2)
    entry = publish_run(settings, run, by="lead.analyst", accept_open=open_items,
                        reason=ACCEPTANCE)
    assert entry["version"] == 2
    assert assert_consistent(settings) == 2


@pytest.mark.parametrize("point", ["publish.version_tmp_written", "publish.intent_written",
                                   "publish.rows_inserted", "audit.before_commit"])
def test_disk_full_before_the_commit_changes_nothing(prepared, tmp_path, point):
    base, run, open_items = prepared
    settings = copy_world(base, tmp_path / "w")
    before = (settings.audit_log_path.read_bytes(), state(settings))
    out = subprocess.run(_publish_cmd(run, open_items), capture_output=True, text=True,
                         env=_env(settings, SEGFLOW_FAULTS=f"{point}=enospc"))
    assert out.returncode == 3, out.stderr
    assert out.stderr.startswith("error: the disk is full") and "nothing was published" \
        in out.stderr and "Traceback" not in out.stderr
    assert (settings.audit_log_path.read_bytes(), state(settings)) == before
    assert not (settings.publish_dir / "holi_test" / "v00002.parquet").exists()
    assert not list(settings.journal_dir.glob("*")) and not list(settings.home.rglob("*.tmp"))


@pytest.mark.parametrize("point", ["audit.file_torn", "publish.current_tmp_written",
                                   "publish.manifest_tmp_written"])
def test_disk_full_after_the_commit_reports_success_and_doctor_completes(prepared, tmp_path,
                                                                         point):
    base, run, open_items = prepared
    settings = copy_world(base, tmp_path / "w")
    out = subprocess.run(_publish_cmd(run, open_items), capture_output=True, text=True,
                         env=_env(settings, SEGFLOW_FAULTS=f"{point}=enospc"))
    assert out.returncode == 0, out.stderr
    assert "published holi_test version 2" in out.stdout and "doctor" in out.stdout
    assert assert_consistent(settings) == 2


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.skipif(not _can_mount(), reason="needs root to mount a small tmpfs")
def test_a_really_full_disk_leaves_the_old_version_current(prepared, tmp_path):
    """The workspace on a 16 MB tmpfs filled to 4 KB: the version file no longer fits."""
    base, run, open_items = prepared
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                   check=True)
    try:
        settings = copy_world(base, mount / "w")
        before = (settings.audit_log_path.read_bytes(), state(settings))
        version = settings.runs_dir / run / "memberships.parquet"
        free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
        with open(mount / "filler", "wb") as fh:
            fh.write(b"\0" * (free - 4 * 1024))
        assert os.path.getsize(version) > 8 * 1024
        out = subprocess.run(_publish_cmd(run, open_items), capture_output=True, text=True,
                             env=_env(settings))
        assert out.returncode == 3 and "error: the disk is full" in out.stderr, out.stderr
        assert (settings.audit_log_path.read_bytes(), state(settings)) == before
        assert not list(settings.home.rglob("*.tmp")) and not list(settings.journal_dir.glob("*"))
        (mount / "filler").unlink()
        out = subprocess.run(_publish_cmd(run, open_items), capture_output=True, text=True,
                             env=_env(settings))
        assert out.returncode == 0, out.stderr
        assert assert_consistent(settings) == 2
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
