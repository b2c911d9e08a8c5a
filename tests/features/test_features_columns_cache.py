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


def _check_in_a_fresh_process(project, home, output: list | None = None
                              ) -> tuple[int, list[str]]:
    code = ("import json, sys; from segflow.cli import run; "
            f"code = run(['--home', {str(home)!r}, 'templates', 'check']); "
            f"print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))")
    env = {**os.environ, "SEGFLOW_PROJECT": str(project)}
    lines = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True).stdout.strip().splitlines()
    if output is not None:
        output += lines[:-1]
    status, heavy = json.loads(lines[-1])
    return status, heavy


def test_templates_check_imports_no_feast_once_the_columns_are_known(tmp_path):
    project = init_project(tmp_path / "shop", "holi").root
    settings = Settings(home=(tmp_path / "ws").resolve(), project=load_project(project)).ensure()
    columns = feature_types(settings)  # loads the repo (Feast) and remembers its columns
    assert {"entity": "customer", "feature": "recency_days", "type": "Int64"} in columns
    assert (settings.feast_dir / CACHE).is_file()
    output: list[str] = []
    assert _check_in_a_fresh_process(project, settings.home, output) == (0, [])
    assert not [line for line in output if line.startswith("warning:")]

    # a feature null for every customer (its source never loaded): a warning naming the
    # template and column, still without Feast or pandas, and still exit 0 (a warning)
    import duckdb

    settings.features_dir.mkdir(exist_ok=True)
    duckdb.sql(f"""COPY (SELECT 'C' || i AS customer_id, NULL::DOUBLE AS engagement_score,
                               i::BIGINT AS recency_days, TIMESTAMPTZ '2027-03-01' AS
                               event_timestamp FROM range(300) t(i))
                   TO '{settings.features_dir / "customer_engagement.parquet"}'""")
    output.clear()
    assert _check_in_a_fresh_process(project, settings.home, output) == (0, [])
    warned = [line for line in output if line.startswith("warning:")]
    assert warned and all("engagement_score, which is null for every customer" in line
                          for line in warned)
    # the templates whose rule reads it (app_engaged only ranks by it: no warning)
    assert {line.split(" template ")[1].split()[0] for line in warned} == {
        "engaged_region_language", "language_group_engaged", "lapsed_high_value",
        "never_purchased_engaged"}
    lapsed = project / "segment_templates" / "lapsed_high_value.yaml"
    where = 1 + next(n for n, text in enumerate(lapsed.read_text().splitlines(), start=1)
                     if text.startswith("where:"))   # the rule's first line
    assert any(line.startswith(f"warning: {lapsed}:{where}: ") for line in warned)
    assert not [line for line in warned if "recency_days" in line]


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
