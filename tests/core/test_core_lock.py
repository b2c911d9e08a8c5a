"""The workspace lock: a second writer stops with who holds it; a dead holder is noticed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from segflow.errors import WorkspaceBusy
from segflow.lock import holds_workspace, read_holder, workspace_lock

HOLDER = """
import sys
from segflow.settings import get_settings
from segflow.lock import workspace_lock
with workspace_lock(get_settings(), "publish"):
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def holder(home):
    """Another process holding the lock until its stdin is closed or it is killed."""
    env = {**os.environ, "SEGFLOW_HOME": str(home.home)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_second_writer_is_told_who_holds_the_workspace(home, holder):
    with pytest.raises(WorkspaceBusy) as err, workspace_lock(home, "refresh", wait=0):
        pass
    message = str(err.value)
    assert f"process {holder.pid}" in message and "(publish)" in message
    assert "wait for it to finish" in message and err.value.exit_code == 3


def test_lock_is_free_once_the_holder_ends(home, holder):
    holder.stdin.close()
    holder.wait()
    with workspace_lock(home, "refresh", wait=0) as previous:
        assert previous is None  # it released cleanly
        assert read_holder(home)["operation"] == "refresh"
    assert read_holder(home) is None


def test_a_killed_holder_is_reported_as_the_previous_holder(home, holder):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with workspace_lock(home, "doctor", wait=0) as previous:
        assert previous["pid"] == holder.pid and previous["operation"] == "publish"


def test_lock_is_reentrant_within_a_process(home):
    @holds_workspace("inner")
    def inner(settings):
        return read_holder(settings)["operation"]

    with workspace_lock(home, "outer", wait=0):
        assert inner(home) == "outer"
        assert inner(settings=home) == "outer"
