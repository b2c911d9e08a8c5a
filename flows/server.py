"""Start a Prefect server with its database in the workspace: on loopback by default.

Prefect's open-source server has no users: whoever reaches its port can create, change and
run flows and read variables. It therefore listens on loopback unless told otherwise, and
refuses any other address unless Prefect's basic authentication is configured
(``PREFECT_SERVER_API_AUTH_STRING`` for the server, ``PREFECT_API_AUTH_STRING`` with the
same value for every client). The UI is told where the API is (``PREFECT_UI_API_URL``) for
the host and port it is started on, so ``segflow server --port 4242`` gives a working UI.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
import urllib.request

from segflow.errors import SegflowError
from segflow.flows.prefect_env import configure_prefect
from segflow.settings import Settings

WILDCARDS = {"0.0.0.0", "::", ""}  # noqa: S104 (named to be refused without auth)


def is_loopback(host: str) -> bool:
    """The address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback
                   for info in socket.getaddrinfo(host, None))
    except (socket.gaierror, ValueError):
        return False


def auth_configured() -> bool:
    """Prefect's server API auth string is set (environment, profile or .env: Prefect's
    own settings decide, read after the workspace's Prefect home is configured)."""
    from prefect.settings import get_current_settings

    return get_current_settings().server.api.auth_string is not None


def check_listen(host: str, auth: bool) -> None:
    """Refuse a non-loopback address without authentication; say how to configure it."""
    if is_loopback(host) or auth:
        return
    raise SegflowError(
        f"refusing to listen on {host or 'every interface'} without authentication: anyone "
        "who can reach this machine could create and run flows. Set "
        "PREFECT_SERVER_API_AUTH_STRING='user:password' for the server (and "
        "PREFECT_API_AUTH_STRING to the same value for `segflow serve` and other clients), or "
        "keep the default --host 127.0.0.1 and reach it through an SSH tunnel")


def ui_api_url(host: str, port: int) -> str:
    """Where a browser finds the API: the host it listens on (this machine's name when it
    listens on every interface)."""
    shown = socket.getfqdn() if host in WILDCARDS else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/api"


def server_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "prefect", "server", "start", "--host", host,
            "--port", str(port), "--analytics-off"]


def start_server(settings: Settings, host: str = "127.0.0.1", port: int = 4200,
                 background: bool = False, announce=None) -> subprocess.Popen | int:
    """Run ``prefect server start``; in the background, return the process once healthy.

    Refuses a non-loopback ``host`` unless Prefect's server auth string is configured."""
    env = {**os.environ, **configure_prefect(settings)}
    if not is_loopback(host):
        check_listen(host, auth_configured())
    env.pop("PREFECT_API_URL", None)  # the server itself must not point at another server
    env.setdefault("PREFECT_UI_API_URL", ui_api_url(host, port))
    cmd = server_command(host, port)
    if announce is not None:
        announce()
    if not background:
        return subprocess.call(cmd, env=env)
    log = open(settings.home / "prefect" / "server.log", "ab")  # noqa: SIM115 (owned by proc)
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    wait_healthy(f"http://{'127.0.0.1' if host in WILDCARDS else host}:{port}/api", proc)
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
