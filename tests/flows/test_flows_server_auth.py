"""`segflow server` listens on loopback; any other address needs Prefect's basic auth, and
the UI is pointed at the API of the port it was started on."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from segflow.errors import SegflowError
from segflow.flows.server import check_listen, is_loopback, ui_api_url


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_auth(host):
    assert is_loopback(host)
    check_listen(host, auth=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])  # noqa: S104
def test_another_address_is_refused_without_auth_and_says_how(host):
    assert not is_loopback(host)
    with pytest.raises(SegflowError) as err:
        check_listen(host, auth=False)
    message = str(err.value)
    assert "refusing to listen" in message and "without authentication" in message
    assert "PREFECT_SERVER_API_AUTH_STRING='user:password'" in message
    assert "PREFECT_API_AUTH_STRING" in message and "--host 127.0.0.1" in message
    check_listen(host, auth=True)


def test_the_ui_is_told_where_the_api_is():
    assert ui_api_url("127.0.0.1", 4242) == "http://127.0.0.1:4242/api"
    assert ui_api_url("::1", 4242) == "http://[::1]:4242/api"
    assert ui_api_url("0.0.0.0", 4242) == f"http://{socket.getfqdn()}:4242/api"  # noqa: S104


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, auth: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.mark.integration
def test_a_server_with_an_auth_string_refuses_anonymous_requests(home, monkeypatch):
    from segflow.flows.server import start_server

    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", "admin:s3cret")
    monkeypatch.delenv("PREFECT_UI_API_URL", raising=False)
    port = _free_port()
    server = start_server(home, port=port, background=True)
    try:
        api = f"http://127.0.0.1:{port}/api"
        assert _get(f"{api}/health")[0] == 200                       # probes stay open
        assert _get(f"{api}/admin/version")[0] == 401                # nobody else gets in
        assert _get(f"{api}/admin/version", "admin:wrong")[0] == 401
        assert _get(f"{api}/admin/version", "admin:s3cret")[0] == 200
        status, body = _get(f"http://127.0.0.1:{port}/ui-settings")
        assert status == 200 and json.loads(body)["api_url"] == api
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
