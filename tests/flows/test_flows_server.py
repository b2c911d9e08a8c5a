"""A real Prefect server on loopback (the session's), the Holi campaign deployed on its
schedule, one run triggered through the server and executed by `segflow serve`, its
memberships published."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
import yaml

pytestmark = pytest.mark.integration

AS_OF = datetime(2027, 3, 1, tzinfo=UTC)


def _auto_publish_templates(tmp_path):
    """The shipped templates, with holi_2027 set to publish by itself when nothing is open:
    no approval required, no boundary band and no size bounds (this world is tiny)."""
    import shutil

    from holi_project import ROOT as PROJECT_ROOT

    root = tmp_path / "segment_templates"
    shutil.copytree(PROJECT_ROOT / "segment_templates", root)
    path = root / "campaigns" / "holi_2027.yaml"
    campaign = yaml.safe_load(path.read_text())
    campaign["approval_required"] = False
    campaign["review"]["band"] = 0.0
    for cohort in campaign["cohorts"]:
        cohort.pop("expected_size", None)
    path.write_text(yaml.safe_dump(campaign, sort_keys=False))
    return root


def _prepare_world(settings):
    import pyarrow.parquet as pq

    from segflow.featurestore.build import build_features
    from segflow.ingest.synthetic.holi import TABLES, generate_holi
    from segflow.training.train import train_models

    world = generate_holi(1500, seed=3)
    for name in TABLES:
        pq.write_table(world[name], settings.canonical_dir / f"{name}.parquet")
    build_features(settings, [datetime(2026, 2, 18, tzinfo=UTC), AS_OF])
    train_models(settings, "holi_2027", models=["holi_propensity", "flash_sale_uplift"])


def _stop(proc):
    if proc and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _wait_for_deployment(client_call, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client_call()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_served_deployment_runs_and_publishes(home, tmp_path, monkeypatch, prefect_api):
    from segflow.flows.prefect_env import configure_prefect
    from segflow.settings import get_settings

    templates = _auto_publish_templates(tmp_path)
    monkeypatch.setenv("SEGFLOW_TEMPLATES", str(templates))
    settings = get_settings()
    _prepare_world(settings)
    # the session's real Prefect server (conftest: prefect_server); `segflow server`'s own
    # start is tested in test_flows_server_auth
    for key, value in configure_prefect(settings, prefect_api, apply=False).items():
        monkeypatch.setenv(key, value)
    serve = None
    try:
        log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
        serve = subprocess.Popen(
            [sys.executable, "-m", "segflow.cli", "serve", "--campaign", "holi_2027"],
            env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        from prefect import get_client
        from prefect.deployments import run_deployment

        def deployment():
            with get_client(sync_client=True) as client:
                return client.read_deployment_by_name("campaign-refresh/holi_2027")

        deployed = _wait_for_deployment(deployment)
        (schedule,) = deployed.schedules
        assert schedule.schedule.cron == "0 4 * * *"
        assert schedule.schedule.timezone == "Asia/Kolkata"
        run = run_deployment("campaign-refresh/holi_2027", timeout=300, poll_interval=2,
                             parameters={"campaign": "holi_2027",
                                         "as_of": AS_OF.isoformat(), "ingest": False})
        assert run.state.is_completed(), (run.state, (tmp_path / "serve.log").read_text())
    finally:
        _stop(serve)

    from segflow.governance.publish import current_publication, read_current_parquet

    publication = current_publication(settings, "holi_2027")
    assert publication is not None and publication["run_id"].startswith("holi_2027-20270301")
    published = read_current_parquet(settings, "holi_2027")
    assert published.num_rows == 1500
