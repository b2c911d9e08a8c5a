"""Commands that only read configuration do not import Feast: the repo's feature columns are
kept in the workspace under a fingerprint of the repo's files, and reloaded when one changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from segflow.featurestore.columns import CACHE, feature_types
from segflow.project import load_project
from segflow.settings import Settings
from segflow.starters import init_project

HEAVY = ("feast", "mlflow", "pandas", "sklearn", "lightgbm", "evidently", "prefect")


def _check_in_a_fresh_process(project, home) -> tuple[int, list[str]]:
    code = ("import json, sys; from segflow.cli import run; "
            f"code = run(['--home', {str(home)!r}, 'templates', 'check']); "
            f"print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))")
    env = {**os.environ, "SEGFLOW_PROJECT": str(project)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()[-1]
    status, heavy = json.loads(out)
    return status, heavy


def test_templates_check_imports_no_feast_once_the_columns_are_known(tmp_path):
    project = init_project(tmp_path / "shop", "holi").root
    settings = Settings(home=(tmp_path / "ws").resolve(), project=load_project(project)).ensure()
    columns = feature_types(settings)  # loads the repo (Feast) and remembers its columns
    assert {"entity": "customer", "feature": "recency_days", "type": "Int64"} in columns
    assert (settings.feast_dir / CACHE).is_file()
    assert _check_in_a_fresh_process(project, settings.home) == (0, [])


def test_a_changed_view_file_is_loaded_again(tmp_path):
    project = init_project(tmp_path / "shop", "holi").root
    settings = Settings(home=(tmp_path / "ws").resolve(), project=load_project(project)).ensure()
    feature_types(settings)
    view = project / "feature_repo" / "customer_rfm.py"
    view.write_text(view.read_text().replace(
        'Field(name="aov"', 'Field(name="aov_doubled", dtype=Float64),\n        Field(name="aov"'))
    assert "aov_doubled" in {c["feature"] for c in feature_types(settings)}
    cached = json.loads((settings.feast_dir / CACHE).read_text())
    assert "aov_doubled" in {c["feature"] for c in cached["columns"]}
