"""The review desk's test world: the governance test world with 600 customers, governed and
drift-checked (about a hundred review items), desk accounts for its owners, and the real
app under uvicorn on a free loopback port (a thread of the test process)."""

from __future__ import annotations

import socket
import threading
import time

from govworld import AS_OF_1, base_features, governed, make_world, write_canonical

PASSWORD = "correct horse battery"
ACCOUNTS = {"second.approver": ["approver", "reviewer"], "lead.analyst": ["approver"],
            "asha.rao": ["reviewer"], "ravi.k": ["reviewer"], "mallory": ["viewer"]}


def desk_world(root):
    """(settings, run id): a governed run of 600 customers with desk accounts."""
    from segflow.governance.desk.users import add_user

    settings = make_world(root)
    f = base_features(600)
    write_canonical(settings, list(f.customer_id))
    run = governed(settings, f, AS_OF_1)
    for name, roles in ACCOUNTS.items():
        add_user(settings, name, roles, PASSWORD)
    return settings, run


class Server:
    """uvicorn serving the desk of ``settings`` (or another ASGI ``app``, such as the
    stand-in identity provider) in a thread, stopped on exit."""

    def __init__(self, settings=None, app=None):
        import uvicorn

        from segflow.governance.desk.app import create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        app = app if app is not None else create_app(settings)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1",
                                                    port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:  # polls readiness, not a timing assumption
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the desk did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def login(client, url: str, name: str, password: str = PASSWORD):
    """Sign ``client`` (an httpx.Client) in through the form, as a browser does."""
    import re

    page = client.get(f"{url}/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post(f"{url}/login", data={"name": name, "password": password,
                                             "csrf_token": token, "next": "/"})


def csrf_of(client, url: str, path: str = "/") -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"',
                     client.get(f"{url}{path}").text).group(1)
