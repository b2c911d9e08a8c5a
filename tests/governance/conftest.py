"""Fixtures of the governance tests (helpers live in govworld.py)."""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from govworld import base_features, make_world, write_canonical


@pytest.fixture
def world(home, tmp_path, monkeypatch):
    """Settings of a workspace whose templates folder holds the test templates, with the
    world's owners file beside it (the CLI finds them through SEGFLOW_TEMPLATES)."""
    settings = make_world(tmp_path)
    monkeypatch.setenv("SEGFLOW_TEMPLATES", str(settings.templates_root))
    return dataclasses.replace(home, templates_root=settings.templates_root)


@pytest.fixture
def world_data(world):
    """The world with its canonical tables for 40 customers: (settings, features)."""
    f = base_features()
    write_canonical(world, list(f.customer_id))
    return world, f


def _postgres_bin() -> Path | None:
    """The newest PostgreSQL server's bin folder (Debian layout), or initdb on the PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """SQLAlchemy URL of a database in a throwaway PostgreSQL cluster on a loopback port.

    initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` OS user
    (created by the Debian package) and lives in a temp dir chowned to it; trust auth on
    127.0.0.1 only. The cluster is stopped and deleted after the session.
    """
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server not installed (apt-get install postgresql enables "
                    "the PostgreSQL publication tests)")
    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
    user = ["runuser", "-u", "postgres", "--"] if as_root else []
    folder = Path(tempfile.mkdtemp(prefix="segflow-pg-"))
    if as_root:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()

    def run(*argv: str) -> None:
        proc = subprocess.run([*user, *argv], capture_output=True, text=True)
        if proc.returncode:
            log = folder / "server.log"
            pytest.fail(f"{' '.join(argv)} failed: {proc.stderr}"
                        f"{log.read_text() if log.exists() else ''}")

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--no-sync")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
            "-o", f"-p {port} -k {folder} -h 127.0.0.1 -F", "start")
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
            "segflow_test")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/segflow_test"
    finally:
        subprocess.run([*user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                        "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def desk_ready(tmp_path_factory):
    """The review desk's world (deskworld.desk_world), made once per session; tests that
    change it take a copy (``desk``)."""
    from deskworld import desk_world

    return desk_world(tmp_path_factory.mktemp("desk") / "w")


@pytest.fixture
def desk(desk_ready, tmp_path, monkeypatch):
    """(settings, run id, server) of a private copy of the desk world, served by uvicorn."""
    from deskworld import Server
    from govworld import copy_world

    settings, run = desk_ready
    settings = copy_world(settings, tmp_path / "w")
    monkeypatch.setenv("SEGFLOW_TEMPLATES", str(settings.templates_root))
    with Server(settings) as server:
        yield settings, run, server
