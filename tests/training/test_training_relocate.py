"""A workspace moved elsewhere loads its models from its own folder: MLflow's SQLite store
records absolute artifact locations, which segflow points at the workspace it opens."""

from __future__ import annotations

import shutil
import sqlite3

from segflow.settings import Settings
from segflow.training.champion import load_champions
from segflow.training.train import train_models


def _locations(db) -> str:
    with sqlite3.connect(db) as con:
        rows = [*con.execute("SELECT artifact_location FROM experiments"),
                *con.execute("SELECT artifact_uri FROM runs"),
                *con.execute("SELECT storage_location FROM model_versions")]
    return "\n".join(r[0] for r in rows)


def test_a_moved_workspace_loads_its_models_after_the_original_is_deleted(world, tmp_path):
    first = Settings(home=tmp_path / "first" / "ws", project=world.settings.project)
    shutil.copytree(world.settings.home, first.home)
    [trained] = train_models(first, "holi_2027", ["customer_anomaly"])
    assert str(first.home) in _locations(first.mlflow_db_path)

    moved = Settings(home=tmp_path / "elsewhere" / "ws", project=world.settings.project)
    shutil.copytree(first.home, moved.home)
    shutil.rmtree(first.home)
    [champion] = load_champions(moved, "customer", {"customer_anomaly": trained.version})
    assert champion.version == str(trained.version)
    recorded = _locations(moved.mlflow_db_path)
    assert str(first.home) not in recorded and str(world.settings.home) not in recorded
    assert moved.mlflow_artifacts_dir.as_uri() in recorded
