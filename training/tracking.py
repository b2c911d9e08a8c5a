"""MLflow tracking on the workspace's SQLite database (never the deprecated file store)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from segflow.settings import Settings

PIP_REQUIREMENTS = ["segflow", "lightgbm", "scikit-learn", "pandas", "numpy"]


def configure(settings: Settings):
    """Point MLflow at this workspace and return a client; cheap, safe to call per run."""
    import mlflow
    from mlflow import MlflowClient

    settings.home.mkdir(parents=True, exist_ok=True)
    settings.mlflow_artifacts_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    return MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)


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
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(settings.project_root), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def log_datasets(frame, test, snapshot: str, name: str) -> None:
    """The training frame and the held-out test rows as the run's dataset inputs
    (``mlflow.log_input``): schema, row count and digest, named with the data snapshot (the
    frame is built in memory: MLflow records it as made by code)."""
    import mlflow

    for part, context in ((frame, "training"), (test, "evaluation")):
        dataset = mlflow.data.from_pandas(part, name=f"{name}-{context}-{snapshot}")
        mlflow.log_input(dataset, context=context)
