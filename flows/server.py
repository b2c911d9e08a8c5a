"""Start a Prefect server on loopback with its database in the workspace."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

from flows.prefect_env import configure_prefect
from segflow.settings import Settings


def server_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "prefect", "server", "start", "--host", host,
            "--port", str(port), "--analytics-off"]


def start_server(settings: Settings, host: str = "127.0.0.1", port: int = 4200,
                 background: bool = False) -> subprocess.Popen | int:
    """Run ``prefect server start``; in the background, return the process once healthy."""
    env = {**os.environ, **configure_prefect(settings)}
    env.pop("PREFECT_API_URL", None)  # the server itself must not point at another server
    cmd = server_command(host, port)
    if not background:
        return subprocess.call(cmd, env=env)
    log = open(settings.home / "prefect" / "server.log", "ab")  # noqa: SIM115 (owned by proc)
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    wait_healthy(f"http://{host}:{port}/api", proc)
    return proc


def wait_healthy(api_url: str, proc: subprocess.Popen | None = None,
                 timeout: float = 120.0) -> None:
    """Poll the server's health endpoint until it answers (or the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"Prefect server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"Prefect server at {api_url} not healthy after {timeout:.0f}s")
