"""Shared fixtures: every test gets its own workspace; nothing touches ./workspace. ``cli``
runs real `segflow` processes (and stops them at named points); ``small_disk`` mounts a tiny
filesystem to fill."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
from holi_project import ROOT

from segflow.project import set_engine, set_project
from segflow.settings import get_settings, set_home

# every test, and every process it starts, works on the Holi project (this repository)
# wherever pytest was started; tests of project discovery unset it
os.environ.setdefault("SEGFLOW_PROJECT", str(ROOT))


@pytest.fixture(autouse=True)
def _project_override():
    """An in-process `segflow --project` (or `--engine`) must not leak into the next test."""
    yield
    set_project(None)
    set_engine(None)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh, empty workspace for one test; returns its Settings."""
    monkeypatch.setenv("SEGFLOW_HOME", str(tmp_path / "ws"))
    set_home(None)
    settings = get_settings().ensure()
    yield settings
    set_home(None)


@dataclass
class CliResult:
    """What a `segflow` process did: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    @property
    def line(self) -> str:
        """The error line segflow printed (its last non-empty stderr line)."""
        lines = [x for x in self.err.splitlines() if x.strip()]
        return lines[-1] if lines else ""


def _environ(env: dict | None, unset: tuple) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in unset}
    return {**base, "SEGFLOW_LOCK_WAIT": "0", **(env or {})}


def _argv(home, args) -> list[str]:
    return [sys.executable, "-m", "segflow.cli", "--home", str(home), *map(str, args)]


class Cli:
    """Runs the installed CLI in its own process, as a user or a scheduler would."""

    def __call__(self, home, *args, env: dict | None = None, unset: tuple = (),
                 timeout: float = 300) -> CliResult:
        proc = subprocess.run(_argv(home, args), capture_output=True, text=True,
                              timeout=timeout, env=_environ(env, unset))
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def paused(self, home, point: str, *args, env: dict | None = None) -> subprocess.Popen:
        """Start a command and return once it has reached the named point
        (``segflow.faults``), where it waits to be killed."""
        from paused import stopped_at

        return stopped_at(_argv(home, args), _environ(env, ()), point)


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def small_disk(tmp_path):
    """A tiny filesystem to fill for real: mount(size) -> its folder, or None where this
    process may not mount one (not root); callers then inject ENOSPC (segflow.faults)."""
    mounted = []

    def mount(size: int):
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(folder)], capture_output=True)
        if done.returncode:
            return None
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _chromium() -> str | None:
    """The system Chromium (Debian's package), which Playwright drives: `playwright install`
    cannot download browsers here, and CI installs the package (.ci/run)."""
    import shutil

    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def refreshed_run(tmp_path_factory):
    """One governed refresh of the governance test world (tests/governance/govworld.py),
    made once per session: (settings, features, run id). Tests that change it copy it first
    (``govworld.copy_world``)."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "governance"))
    from govworld import refreshed_world

    return refreshed_world(tmp_path_factory.mktemp("refreshed") / "w")


@pytest.fixture(scope="session")
def holi_trained(tmp_path_factory):
    """A 300-customer Holi workspace (seed 5) with its features as of last year's campaign
    and this one, and both holi_2027 champions trained, made once per session on DuckDB:
    the Spark scoring and reasons tests start from it. Training is the slow part, and two
    modules trained the same world; each copies this one (``shutil.copytree``) before
    changing anything in it."""
    from datetime import UTC, datetime

    import pyarrow.parquet as pq

    from segflow.featurestore.build import build_features
    from segflow.ingest.synthetic.holi import TABLES, generate_holi
    from segflow.settings import Settings
    from segflow.training.train import train_models

    settings = Settings(home=tmp_path_factory.mktemp("holi_trained") / "ws").ensure()
    world = generate_holi(300, seed=5)
    for name in TABLES:
        pq.write_table(world[name], settings.canonical_dir / f"{name}.parquet")
    build_features(settings, [datetime(2026, 2, 18, tzinfo=UTC),
                              datetime(2027, 3, 1, tzinfo=UTC)])
    train_models(settings, "holi_2027", models=["holi_propensity", "flash_sale_uplift"])
    return settings


@pytest.fixture(scope="session")
def prefect_server(request, tmp_path_factory) -> str:
    """The API URL of the session's one real Prefect server (tests/prefect_shared.py),
    started on first use and shared with the other pytest-xdist workers."""
    import prefect_shared

    base = tmp_path_factory.getbasetemp()
    # xdist gives each worker a folder inside the controller's: the workers meet there
    root = base.parent if hasattr(request.config, "workerinput") else base
    api = prefect_shared.acquire(root)
    yield api
    prefect_shared.release(root)


@pytest.fixture
def prefect_api(prefect_server, monkeypatch) -> str:
    """Flows run by this test, in this process or in the processes it starts, go to the
    session's Prefect server instead of starting a temporary one each. Prefect reads its
    settings once per process, so this one is pointed there for the test's duration."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_API_URL", prefect_server)
    with temporary_settings(updates={PREFECT_API_URL: prefect_server}):
        yield prefect_server


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (pages are opened in fresh pages). Not one
    per session: while Playwright's sync API is open, its event loop counts as running in
    the test process, and Prefect's calls made by any later test (``State.result()``,
    ``run_deployment``) would then return coroutines instead of results."""
    path = _chromium()
    if path is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium runs the "
                    "browser tests of the pages)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=[
            "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield chromium
        chromium.close()


def pytest_collection_modifyitems(config, items):
    """The modules marked ``slow`` first (a stable sort: the rest keep their order).
    ``make test`` hands pytest-xdist's two workers whole files in this order
    (``--no-loadscope-reorder``); by its default, files with the most tests first, the
    Spark modules, few tests and minutes each, came last, and one worker ran them alone
    while the other had finished (largest first is the classic rule for the shortest
    finish)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: absent with -p no:xdist
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with every Spark test file in one work unit (tests/work_units.py)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from work_units import SparkTogether

    return SparkTogether(config, log)


@pytest.fixture(scope="session")
def spark_project():
    """The Holi project on ``engine: spark`` (local[2], two shuffle partitions, no UI), its
    SparkSession started once for every Spark test of the session. Skips, naming why, only
    where no Java runtime is installed (`.ci/run` installs one)."""
    from dataclasses import replace

    from segflow import spark as sp
    from segflow.engines import SPARK, SparkSettings
    from segflow.project import load_project

    missing = sp.java_missing()
    if missing:
        pytest.skip(missing)
    # tiny data: per-query overheads dominate, so no code generation (Janino compiles each
    # query), no adaptive re-planning, and a JVM that compiles for a short run
    conf = {"spark.sql.session.timeZone": "UTC", "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
            "spark.sql.codegen.wholeStage": "false", "spark.sql.adaptive.enabled": "false",
            "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
    settings = SparkSettings(master="local[2]", conf=tuple(sorted(conf.items())))
    session = sp.session(settings)
    session.sparkContext.setLogLevel("ERROR")
    yield replace(load_project(ROOT), engine=SPARK, spark=settings)
    session.stop()
