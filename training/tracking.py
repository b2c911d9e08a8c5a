"""MLflow tracking on the workspace's SQLite database (never the deprecated file store)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from segflow.settings import Settings

PIP_REQUIREMENTS = ["segflow", "lightgbm", "scikit-learn", "pandas", "numpy"]


def configure(settings: Settings):
    """Point MLflow at this workspace and return a client; cheap, safe to call per run."""
    import mlflow
    from mlflow import MlflowClient

    # artifacts are local files, copied in milliseconds: MLflow's download bars would only
    # clutter the command's output (a user may still turn them on in the environment)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.mlflow_artifacts_dir.mkdir(parents=True, exist_ok=True)
    rehome(settings)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    return MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)


# the columns of MLflow's SQLite schema that hold an artifact location
ARTIFACT_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                    ("logged_models", "artifact_location"),
                    ("model_versions", "storage_location"), ("model_versions", "source"))


def rehome(settings: Settings) -> int:
    """Point the artifact locations MLflow recorded at this workspace; returns rows changed.

    MLflow's SQLite store keeps every artifact location as an absolute URI (it resolves a
    relative one when the experiment is created; its Default experiment's is the working
    directory's ``mlruns``), so a workspace copied or moved elsewhere would load its models
    from the old folder, or from nothing once that is deleted. Each experiment belongs at
    ``<mlartifacts>/<name>`` (``experiment_id``): one found elsewhere is moved there, and every
    location recorded under its old one (runs, logged models, model versions) with it. One
    transaction, old text overwritten (``secure_delete``): a reader sees the old locations or
    the new, and the file keeps no trace of the old place."""
    import sqlite3
    from contextlib import closing

    if not settings.mlflow_db_path.is_file():
        return 0
    here = settings.mlflow_artifacts_dir
    with closing(sqlite3.connect(settings.mlflow_db_path, timeout=60)) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "experiments" not in tables:
            return 0
        moves = {loc: (here / name).as_uri() for name, loc in con.execute(
            "SELECT name, artifact_location FROM experiments") if loc
            and loc != (here / name).as_uri()}
        if not moves:
            return 0
        con.execute("PRAGMA secure_delete = ON")
        changed = 0
        with con:
            for old, new in moves.items():
                for table, column in ARTIFACT_COLUMNS:
                    if table in tables:
                        changed += con.execute(
                            f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                            f"WHERE {column} = ? OR substr({column}, 1, ?) = ?",
                            (new, len(old) + 1, old, len(old) + 1, old + "/")).rowcount
        return changed


def experiment_id(settings: Settings, client, name: str) -> str:
    """One experiment per model, its artifacts under the workspace's mlartifacts/."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = (settings.mlflow_artifacts_dir / name).as_uri()
    return client.create_experiment(name, artifact_location=location)


def flat_params(params: dict, prefix: str = "") -> dict[str, str]:
    """Nested hyper-parameters as MLflow params (``lightgbm.num_leaves`` = 15)."""
    out = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_params(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


def log_figures(figures: dict) -> list[str]:
    """Log matplotlib figures as PNG; returns the names logged."""
    import mlflow

    for name, fig in figures.items():
        mlflow.log_figure(fig, f"plots/{name}.png")
        _close(fig)
    return list(figures)


def log_tables(tables: dict) -> None:
    """Log small tables (calibration, lift by decile, cluster profiles) as JSON artifacts."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        for name, table in tables.items():
            path = Path(tmp) / f"{name}.json"
            path.write_text(table.to_json(orient="records", indent=1))
            mlflow.log_artifact(str(path), "tables")


def log_model(model, sample, registered_name: str):
    """Log the pyfunc with its signature and register a new version; returns ModelInfo."""
    import mlflow

    from segflow.training.pyfunc import model_signature

    return mlflow.pyfunc.log_model(
        name="model", python_model=model, signature=model_signature(model, sample),
        registered_model_name=registered_name, pip_requirements=PIP_REQUIREMENTS,
        metadata={"features": json.dumps(model.features), "outputs": json.dumps(model.outputs),
                  "kind": model.kind},
    )


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


def git_commit(settings) -> str | None:
    """The project's git commit (MLflow's ``mlflow.source.git.commit``), or None outside a
    git checkout: a model version then names the code and configuration it came from."""
    from segflow.runstore import git_commit as commit_of

    try:
        root = settings.project_root
    except Exception:  # noqa: BLE001 - no project folder: no commit to name
        return None
    return commit_of(root)


def log_datasets(frame, test, snapshot: str, name: str) -> None:
    """The training frame and the held-out test rows as the run's dataset inputs
    (``mlflow.log_input``): schema, row count and digest, named with the data snapshot (the
    frame is built in memory: MLflow records it as made by code)."""
    import mlflow

    for part, context in ((frame, "training"), (test, "evaluation")):
        dataset = mlflow.data.from_pandas(part, name=f"{name}-{context}-{snapshot}")
        mlflow.log_input(dataset, context=context)
