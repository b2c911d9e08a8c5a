"""The one place segflow reads environment variables.

Two folders decide a run. The **project** (``segflow.project``) holds what the business
decides: sources, contracts, feature views, templates, model configurations, owners; it is
found from ``--project``, ``SEGFLOW_PROJECT`` or the working directory upwards. The
**workspace** holds everything a run writes (data, Feast registry, MLflow database, run
outputs) so that a deployment can be moved, backed up or wiped as a unit; it is ``--home``,
else ``SEGFLOW_HOME``, else the project's ``workspace`` setting, else ``./workspace``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from segflow.project import Project, discover_project, require_project


@dataclass(frozen=True)
class Settings:
    """Resolved paths and endpoints of one workspace and its project; every path absolute."""

    home: Path
    project: Project | None = field(default_factory=discover_project)
    prefect_api_url: str | None = None
    alert_webhook_url: str | None = None
    publish_db_url: str | None = None
    # another templates folder than the project's: a run's frozen copy (its owners.yaml
    # beside it, as in a project) or SEGFLOW_TEMPLATES for trials
    templates_root: Path | None = None
    audit_key: str | None = None  # SEGFLOW_AUDIT_KEY; else the key file under keys/
    faults: str | None = None     # SEGFLOW_FAULTS: test hook, see segflow.faults

    # --- where the data lives -------------------------------------------------------
    @property
    def sources_dir(self) -> Path:
        """Raw source files (what demo-data writes, what a user drops in)."""
        return self.home / "sources"

    @property
    def canonical_dir(self) -> Path:
        """Canonical tables written by ingest, one Parquet file per table."""
        return self.home / "canonical"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def truth_dir(self) -> Path:
        """Ground truth of synthetic worlds, kept apart from the canonical tables."""
        return self.home / "truth"

    @property
    def features_dir(self) -> Path:
        """Feature view source tables (Parquet) that Feast's offline store reads."""
        return self.home / "features"

    @property
    def feast_dir(self) -> Path:
        """Generated feature_store.yaml, registry and online store of this workspace."""
        return self.home / "feast"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def publish_dir(self) -> Path:
        return self.home / "published"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def database_path(self) -> Path:
        """The workspace DuckDB database: run store, memberships, review queue."""
        return self.home / "segflow.duckdb"

    @property
    def mlflow_db_path(self) -> Path:
        return self.home / "mlflow.db"

    @property
    def mlflow_tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_db_path}"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def audit_log_path(self) -> Path:
        return self.home / "audit" / "audit.jsonl"

    @property
    def keys_dir(self) -> Path:
        """Secrets of the workspace (mode 0700): the audit log's signing key."""
        return self.home / "keys"

    @property
    def audit_key_path(self) -> Path:
        """The audit key file, created on first use (mode 0600) unless SEGFLOW_AUDIT_KEY is
        set; kept outside the log, so whoever can edit the log cannot re-sign it."""
        return self.keys_dir / "audit.key"

    @property
    def journal_dir(self) -> Path:
        """Intent records of publications in progress (what doctor rolls forward or back)."""
        return self.home / "journal"

    # --- what computes ----------------------------------------------------------------
    @property
    def engine(self) -> str:
        """The project's engine: ``duckdb`` (default, and without a project) or ``spark``
        (segflow.engines; recorded in each run's manifest)."""
        return self.project.engine if self.project is not None else "duckdb"

    @property
    def spark(self):
        """Where Spark runs (``segflow.engines.SparkSettings``), or None."""
        return self.project.spark if self.project is not None else None

    # --- where the project's own configuration lives --------------------------------
    @property
    def project_root(self) -> Path:
        return require_project(self.project).root

    def _part(self, part: str) -> Path:
        return require_project(self.project).path(part)

    @property
    def feature_repo_dir(self) -> Path:
        return self._part("feature_repo")

    @property
    def templates_dir(self) -> Path:
        return self.templates_root or self._part("segment_templates")

    @property
    def campaigns_dir(self) -> Path:
        return self.templates_dir / "campaigns"

    @property
    def owners_path(self) -> Path:
        """Who may review, approve, publish: the project's owners file, or the one beside
        another templates folder (a run's frozen copy keeps the project's layout)."""
        if self.templates_root is not None:
            return self.templates_root.parent / "owners.yaml"
        return self._part("owners")

    @property
    def realtime_path(self) -> Path:
        """Which incoming event changes which live suppression or streaming feature
        (docs/realtime.md): the project's ``realtime.yaml``, or the one beside another
        templates folder (as ``owners_path``)."""
        if self.templates_root is not None:
            return self.templates_root.parent / "realtime.yaml"
        return self._part("realtime")

    @property
    def events_dir(self) -> Path:
        """The real-time inbox (SQLite, WAL): received events, quarantine, live changes."""
        return self.home / "events"

    @property
    def events_offline_dir(self) -> Path:
        """Applied events as daily Parquet, one folder per canonical table
        (``<table>/<YYYY-MM-DD>/batch-<seq>.parquet``), read by the feature build with
        that table (docs/realtime.md)."""
        return self.events_dir / "offline"

    @property
    def models_config_dir(self) -> Path:
        return self._part("models")

    @property
    def contracts_dir(self) -> Path:
        """The project's table contracts, one YAML file per canonical table."""
        return self._part("contracts")

    @property
    def fx_rates_path(self) -> Path:
        """The project's exchange rates to its base currency (optional)."""
        return self._part("fx_rates")

    @property
    def project_sources_path(self) -> Path:
        """The project's own ``sources.yaml`` (a demo writes its sources into the workspace)."""
        return self._part("sources")

    @property
    def source_timezone(self) -> str | None:
        """The project's ``timezone`` in segflow.yaml, the zone of source times written
        without one when neither the source nor the contract declares a zone; None when the
        project declares none (ingest then asks for one instead of guessing)."""
        return self.project.declared_timezone if self.project is not None else None

    @property
    def store_contributions(self) -> bool:
        """segflow.yaml's ``explain: {store_contributions: true}``: a refresh stores every
        scored customer's top model contributions, so ``segflow explain`` reads them instead
        of loading the models (1.6 s instead of ~8 s CPU at 100k), at the price of LightGBM's
        pred_contrib over the whole population at every refresh (~2 CPU s per 1,000
        customers per 300-tree model: minutes at 100k, hours at 10M). Off by default."""
        return self.project is not None and self.project.store_contributions

    def table_name(self, role: str) -> str | None:
        """The canonical table the project names for a role in segflow.yaml's ``tables:``
        (``outcomes``, ``surveys``, ``events``; ``segflow.project.TABLE_ROLES``), or None
        when it names none: the stage that reads it then says so or leaves that part off."""
        return self.project.table(role) if self.project is not None else None

    def table_path(self, role: str) -> Path | None:
        """Where that table's canonical Parquet file is (it may not exist yet), or None."""
        name = self.table_name(role)
        return self.canonical_dir / f"{name}.parquet" if name else None

    def ensure(self) -> Settings:
        """Create the workspace folders; cheap and idempotent."""
        for path in (self.home, self.canonical_dir, self.features_dir, self.feast_dir,
                     self.runs_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self


_override: Path | None = None


def set_home(home: str | Path | None) -> None:
    """Point every later ``get_settings()`` at another workspace (the CLI's --home)."""
    global _override
    _override = Path(home).expanduser().resolve() if home else None


def get_settings() -> Settings:
    """Settings of the current project and workspace (see the module's docstring)."""
    project = discover_project()
    default = project.workspace if project is not None else Path("workspace")
    home = _override or Path(os.environ.get("SEGFLOW_HOME") or default).expanduser().resolve()
    templates = os.environ.get("SEGFLOW_TEMPLATES")
    return Settings(
        home=home,
        project=project,
        prefect_api_url=os.environ.get("PREFECT_API_URL") or None,
        alert_webhook_url=os.environ.get("SEGFLOW_ALERT_WEBHOOK") or None,
        publish_db_url=os.environ.get("SEGFLOW_PUBLISH_DB_URL") or None,
        templates_root=Path(templates).expanduser().resolve() if templates else None,
        audit_key=os.environ.get("SEGFLOW_AUDIT_KEY") or None,
        faults=os.environ.get("SEGFLOW_FAULTS") or None,
    )
