"""One real Prefect server for the whole test session, shared by every test that runs a flow.

Without a configured API each process that runs a flow starts Prefect's temporary server
(its own process: tens of seconds of imports and database migrations on two cores); the
demo's subprocess, the served-deployment test and the in-process flow tests each paid for
one. This server is started on first use, on a port the OS hands out, with its database in
the session's temporary folder, and stopped when the last process using it ends.

Under pytest-xdist the workers share one: the first to need it starts it under a file lock
in the folder the workers' temporary folders share, the others read its address there; a
count of the processes using it decides who stops it (should that count reach zero while
another worker has not asked yet, that worker starts a fresh one).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
from contextlib import contextmanager
from pathlib import Path

STATE = "prefect-server.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _locked(root: Path):
    with open(root / "prefect-server.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _start(root: Path) -> dict:
    from segflow.flows.server import server_command, wait_healthy

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    home = root / "prefect-home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_UI_API_URL=api, PREFECT_LOGGING_LEVEL="WARNING",
               # no browser looks at it: skip building the UI's static files at start
               PREFECT_SERVER_UI_ENABLED="false")
    log = open(root / "prefect-server.log", "ab")  # noqa: SIM115 (owned by the process)
    proc = subprocess.Popen(server_command("127.0.0.1", port), env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(api, proc, timeout=300)
    except BaseException:
        _kill(proc.pid)
        raise
    return {"api": api, "pid": proc.pid, "users": 0}


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)       # our child when this process started it
    except ChildProcessError:
        pass


def acquire(root: Path) -> str:
    """The shared server's API URL, starting it if no process in the session has."""
    path = root / STATE
    with _locked(root):
        state = json.loads(path.read_text()) if path.exists() else _start(root)
        state["users"] += 1
        path.write_text(json.dumps(state))
    return state["api"]


def release(root: Path) -> None:
    """This process is done with the server; the last one out stops it."""
    path = root / STATE
    with _locked(root):
        state = json.loads(path.read_text())
        state["users"] -= 1
        if state["users"] > 0:
            path.write_text(json.dumps(state))
            return
        path.unlink()
        _kill(state["pid"])
