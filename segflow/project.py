"""A segflow project: the folder a team keeps in version control, apart from the platform.

A project is a folder with a ``segflow.yaml`` at its top (like dbt's ``dbt_project.yml`` or
Feast's ``feature_store.yaml``). It holds everything the business decides: its sources,
contracts, feature views, segment templates and campaigns, model configurations, owners,
currency and time zone. The platform (the installed ``segflow`` package) reads them from
there and never from its own installation folder, so one installation serves any number of
projects and a project never edits platform code.

segflow finds the project from ``--project DIR``, else ``SEGFLOW_PROJECT``, else the working
directory or the nearest folder above it holding a ``segflow.yaml``.

``segflow.yaml``, every key described::

    name: holi                    # the project's name (letters, digits, _ and -)
    description: ...              # one line for people
    base_currency: INR            # the currency money is reported and reconciled in (ISO-4217)
    timezone: Asia/Kolkata        # the business's time zone: reports, and source times
                                  # written without a zone (unless the source or contract
                                  # declares one)
    fiscal_year_start: 4          # month the fiscal year starts (1 = January)
    workspace: workspace          # where runs, data and registries live (relative to here)
    paths:                        # where each part lives, relative to here (defaults shown)
      sources: sources.yaml
      contracts: contracts
      fx_rates: fx_rates.yaml     # optional: rates to base_currency
      feature_repo: feature_repo
      segment_templates: segment_templates
      models: training/models
      owners: owners.yaml
      realtime: realtime.yaml     # what webhook and Kafka events change (docs/realtime.md)
    tables:                       # canonical tables the platform reads by role (optional)
      outcomes: campaign_outcomes # campaign results per customer: feedback, offer bandit
      surveys: survey_responses   # answers to post-campaign surveys: feedback
      events: engagement_events   # unsubscribes and complaints: channel exports
    review_desk:                  # how people sign in to the review desk: password (default),
      sign_in: password           # oidc or both; oidc's keys in segflow.signin
    engine: duckdb                # what computes: duckdb (default) or spark (docs/scale-out.md)
    spark:                        # with engine: spark: where Spark runs (segflow.engines)
      master: local[2]            # or connect_url: sc://host:15002 (Spark Connect)
      conf: {spark.executor.memory: 4g}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from segflow.engines import DUCKDB, ENGINES, SPARK, SparkSettings, parse_engine
from segflow.errors import ConfigError, SegflowError
from segflow.signin import OidcSettings, parse_review_desk

PROJECT_FILE = "segflow.yaml"
DEFAULT_PATHS = {
    "sources": "sources.yaml",
    "contracts": "contracts",
    "fx_rates": "fx_rates.yaml",
    "feature_repo": "feature_repo",
    "segment_templates": "segment_templates",
    "models": "training/models",
    "owners": "owners.yaml",
    "realtime": "realtime.yaml",
}
#: the roles of ``tables:``: which stage reads the table, and what leaving it out means
TABLE_ROLES = {
    "outcomes": "campaign results per customer (campaign_id, customer_id, arm, converted, "
                "revenue, ...) that feedback and the offer bandit read; without it they "
                "cannot run",
    "surveys": "answers to post-campaign surveys that feedback reads; without it feedback "
               "reports no survey results",
    "events": "engagement events (customer_id, channel, event_type) whose unsubscribes and "
              "complaints keep customers out of exports; without it exports apply none",
}
KEYS = {"name": str, "description": str, "base_currency": str, "timezone": str,
        "fiscal_year_start": int, "workspace": str, "paths": dict, "review_desk": dict,
        "tables": dict, "explain": dict, "engine": str,
        "spark": dict}  # engine and spark: checked further by segflow.engines.parse_engine
REQUIRED = ("name", "base_currency")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Project:
    """A project folder's settings, every path absolute."""

    root: Path
    name: str
    base_currency: str
    timezone: str = "UTC"
    fiscal_year_start: int = 1
    description: str = ""
    workspace: Path | None = None
    paths: tuple[tuple[str, Path], ...] = ()  # (part, folder or file): hashable, frozen
    desk_sign_in: tuple[str, ...] = ("password",)  # review_desk.sign_in: password, oidc
    desk_oidc: OidcSettings | None = None  # review_desk.oidc: the identity provider
    store_contributions: bool = False  # explain.store_contributions: kept at every refresh
    tables: tuple[tuple[str, str], ...] = ()  # (role, canonical table name), see TABLE_ROLES
    # the ``timezone`` as written, None when segflow.yaml has none: the zone of source times
    # written without one (a project that declares none gets UTC reports, but ambiguous
    # source times still stop ingest rather than be read in a zone nobody chose)
    declared_timezone: str | None = None
    engine: str = DUCKDB                      # what computes over customers (segflow.engines)
    spark: SparkSettings | None = None        # where Spark runs, when the project names it

    @property
    def file(self) -> Path:
        return self.root / PROJECT_FILE

    def path(self, part: str) -> Path:
        """Where a part of the project lives (``sources``, ``contracts``, ...)."""
        return dict(self.paths)[part]

    def table(self, role: str) -> str | None:
        """The canonical table the project names for a role (``outcomes``, ``surveys``,
        ``events``), or None when it has none."""
        return dict(self.tables).get(role)


def find_project(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding a segflow.yaml, or None."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def load_project(root: Path) -> Project:
    """Parse ``<root>/segflow.yaml`` strictly; errors name the file and line."""
    file = Path(root).resolve() / PROJECT_FILE
    if not file.is_file():
        raise SegflowError(f"no {PROJECT_FILE} in {file.parent}: a segflow project is a folder "
                           f"with a {PROJECT_FILE} at its top (`segflow init` writes one)")
    stat = file.stat()
    return _parse(file, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _parse(file: Path, _mtime: int, _size: int) -> Project:
    from zoneinfo import ZoneInfo

    from segflow.yamlio import LineDict, load_yaml

    doc = load_yaml(file)
    if not isinstance(doc, LineDict):
        raise ConfigError(file, 1, f"{PROJECT_FILE} must be a mapping of {', '.join(KEYS)}")
    for key, value in doc.items():
        if key not in KEYS:
            raise ConfigError(file, doc.line(key), f"unknown key '{key}'; a {PROJECT_FILE} "
                              f"has {', '.join(KEYS)}")
        want = KEYS[key]
        if not isinstance(value, want) or isinstance(value, bool):
            raise ConfigError(file, doc.line(key), f"'{key}' must be a {want.__name__}, got "
                              f"{value!r}")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise ConfigError(file, 1, f"missing '{missing[0]}' (required: {', '.join(REQUIRED)})")
    if not NAME.match(doc["name"]):
        raise ConfigError(file, doc.line("name"), f"name {doc['name']!r}: use letters, digits, "
                          "_ and - (it names the project in reports and registries)")
    if not re.fullmatch(r"[A-Z]{3}", doc["base_currency"]):
        raise ConfigError(file, doc.line("base_currency"), "base_currency is an ISO-4217 code "
                          f"such as INR, USD or EUR, got {doc['base_currency']!r}")
    timezone = doc.get("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except Exception:
        raise ConfigError(file, doc.line("timezone"), f"unknown time zone {timezone!r} (an "
                          "IANA name such as Asia/Kolkata or America/New_York)") from None
    month = doc.get("fiscal_year_start", 1)
    if not 1 <= month <= 12:
        raise ConfigError(file, doc.line("fiscal_year_start"), "fiscal_year_start is a month, "
                          f"1..12, got {month}")
    root = file.parent
    paths = dict(DEFAULT_PATHS)
    given = doc.get("paths") or LineDict()
    for key, value in given.items():
        if key not in DEFAULT_PATHS:
            raise ConfigError(file, given.line(key), f"unknown path '{key}'; paths are "
                              f"{', '.join(DEFAULT_PATHS)}")
        if not isinstance(value, str) or Path(value).is_absolute():
            raise ConfigError(file, given.line(key), f"paths.{key} is a path relative to the "
                              f"project folder, got {value!r}")
        paths[key] = value
    sign_in, oidc = parse_review_desk(file, doc.get("review_desk"), doc.line("review_desk"))
    tables = _tables(file, doc.get("tables") or LineDict())
    explain = doc.get("explain") or LineDict()
    for key, value in explain.items():
        if key != "store_contributions" or not isinstance(value, bool):
            raise ConfigError(file, explain.line(key), f"explain has 'store_contributions: "
                              f"true | false', got {key}: {value!r}")
    engine, spark = parse_engine(file, doc)
    return Project(root=root, name=doc["name"], base_currency=doc["base_currency"],
                   timezone=timezone, fiscal_year_start=month,
                   description=doc.get("description", ""),
                   workspace=(root / doc.get("workspace", "workspace")).resolve(),
                   paths=tuple((k, (root / v).resolve()) for k, v in paths.items()),
                   tables=tables, declared_timezone=doc.get("timezone"),
                   desk_sign_in=sign_in, desk_oidc=oidc,
                   store_contributions=explain.get("store_contributions", False),
                   engine=engine, spark=spark)


def _tables(file: Path, given) -> tuple[tuple[str, str], ...]:
    """The ``tables:`` mapping checked: known roles, each a canonical table's name."""
    from segflow.yamlio import LineDict

    lines = given if isinstance(given, LineDict) else LineDict(given)
    for role, name in given.items():
        if role not in TABLE_ROLES:
            raise ConfigError(file, lines.line(role), f"unknown table role '{role}'; roles "
                              f"are {', '.join(TABLE_ROLES)}")
        if not isinstance(name, str) or not TABLE.match(name):
            raise ConfigError(file, lines.line(role), f"tables.{role} names a canonical "
                              f"table (letters, digits and _), got {name!r}")
    return tuple(given.items())


ENV_VAR = "SEGFLOW_PROJECT"
ENGINE_VAR = "SEGFLOW_ENGINE"
_override: Path | None = None
_engine: str | None = None


def set_project(folder: str | Path | None) -> None:
    """Point every later discovery at this project folder (the CLI's ``--project``)."""
    global _override
    _override = Path(folder).expanduser().resolve() if folder else None


def discover_project() -> Project | None:
    """The project segflow works on: ``--project``, else ``SEGFLOW_PROJECT``, else the
    working directory or the nearest folder above it with a segflow.yaml; None when there
    is none (commands that need one say so through ``require_project``). A folder named
    explicitly must be a project: a typo is an error, not a silent fall-back to the working
    directory."""
    import os

    explicit = _override or (Path(os.environ[ENV_VAR]).expanduser().resolve()
                             if os.environ.get(ENV_VAR) else None)
    folder = explicit if explicit is not None else find_project(Path.cwd())
    if folder is None:
        return None
    engine = _engine or os.environ.get(ENGINE_VAR)
    return with_engine(load_project(folder), engine, "--engine" if _engine else ENGINE_VAR)


def set_engine(engine: str | None) -> None:
    """Compute with ``engine`` whatever the project file says (the CLI's ``--engine``; else
    ``SEGFLOW_ENGINE``, else the file's ``engine:``): a stage not built on Spark, ingest,
    runs on DuckDB for a Spark project without its file being edited, and each run's
    manifest records the engine that ran."""
    global _engine
    if engine is not None:
        _known_engine(engine, "--engine")
    _engine = engine


def _known_engine(engine: str, given_by: str) -> None:
    if engine not in ENGINES:
        raise SegflowError(f"{given_by} must be one of {', '.join(ENGINES)}, got {engine!r}")


def with_engine(project: Project, engine: str | None, given_by: str = "--engine") -> Project:
    """``project`` computing on ``engine`` (None or empty: as its file says), which
    ``given_by`` (the option or the variable) named; Spark needs the file's ``spark:``
    section, which says where Spark runs."""
    if not engine or engine == project.engine:
        return project
    _known_engine(engine, given_by)
    if engine == SPARK and project.spark is None:
        said = f"{given_by} spark" if given_by.startswith("--") else f"{given_by}=spark"
        raise SegflowError(f"{said}: {project.file} has no `spark:` section saying "
                           "where Spark runs (a master or a connect_url; docs/scale-out.md)")
    return replace(project, engine=engine)


def require_project(project: Project | None) -> Project:
    """The project, or one line saying how to get one."""
    if project is None:
        raise SegflowError(f"no segflow project here: no {PROJECT_FILE} in {Path.cwd()} or any "
                           "folder above it; cd into a project, run `segflow --project DIR "
                           "<command>` or set "
                           f"{ENV_VAR} (`segflow init DIR` creates one)")
    return project
