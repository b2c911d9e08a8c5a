"""The acceptance of `segflow init`: the holi starter, written into an empty folder outside
the repository, runs the demo there; the folder, workspace included, then moves elsewhere,
the original is gone, and the models still explain a customer from the new place."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from holi_project import ROOT


def _segflow(cwd, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SEGFLOW_PROJECT", "SEGFLOW_HOME"}}
    return subprocess.run([sys.executable, "-m", "segflow.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1200)


@pytest.mark.slow
def test_an_initialised_holi_project_runs_the_demo_and_moves(tmp_path):
    shop = tmp_path / "first" / "shop"
    done = _segflow(tmp_path, "init", shop, "--starter", "holi")
    assert done.returncode == 0, done.stderr

    demo = _segflow(shop, "demo", "holi", "--customers", "1000")
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert f"in workspace {shop / 'workspace'}" in demo.stdout
    assert "published as version 1" in demo.stdout and "[7/7] Feedback" in demo.stdout
    runs = sorted((shop / "workspace" / "runs").iterdir())
    assert len(runs) == 2
    frozen = runs[-1] / "frozen" / "segment_templates"
    assert (frozen / "campaigns" / "holi_2027.yaml").read_bytes() == (
        ROOT / "segment_templates" / "campaigns" / "holi_2027.yaml").read_bytes()
    assert not (ROOT / "workspace" / "runs" / runs[-1].name).exists()

    moved = tmp_path / "second" / "shop"
    shutil.move(shop.parent, moved.parent)
    assert not shop.exists()
    manifest = moved / "workspace" / "runs" / runs[-1].name / "manifest.json"
    assert json.loads(manifest.read_text())["campaign"] == "holi_2027"
    why = _segflow(moved, "explain", "--campaign", "holi_2027", "--customer", "C00000006")
    assert why.returncode == 0, why.stderr
    assert "top contributions to holi_propensity" in why.stdout
    assert str(shop) not in (moved / "workspace" / "feast" / "feature_store.yaml").read_text()
    assert str(shop).encode() not in (moved / "workspace" / "mlflow.db").read_bytes()


@pytest.mark.slow
def test_an_initialised_accounts_project_runs_its_demo(tmp_path):
    """The accounts starter's own next step (`segflow demo accounts`) runs in its folder: the
    B2B world writes its contacts' e-mail events, so the starter carries their contract and
    names the events table that exports apply."""
    b2b = tmp_path / "b2b"
    done = _segflow(tmp_path, "init", b2b, "--starter", "accounts")
    assert done.returncode == 0, done.stderr
    assert f"next: cd {b2b} && segflow demo accounts" in done.stdout

    demo = _segflow(b2b, "demo", "accounts", "--accounts", "100")
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "waiting for" in demo.stdout and "Where to look:" in demo.stdout
    assert (b2b / "workspace" / "canonical" / "engagement_events.parquet").exists()
