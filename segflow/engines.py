"""Which engine computes over customers: the project's ``engine`` setting, and the one gate
every computing stage passes.

segflow computes with DuckDB on one machine (``engine: duckdb``, the default). A project may
name Apache Spark instead (``engine: spark``) with the cluster it runs on::

    engine: spark
    spark:
      master: local[2]                 # or spark://host:7077, yarn, k8s://https://host:443
      # connect_url: sc://host:15002   # Spark Connect (Databricks, a Connect server): instead
      conf:                            # of master; any Spark configuration, as strings
        spark.executor.memory: 4g

What exists today (docs/scale-out.md): the setting is parsed strictly, recorded in each
run's manifest, and ``segflow templates check`` checks every template's Spark SQL
translation (``segflow.dialects``). Feature builds and the online load, point-in-time
retrieval (a refresh's, and with an entity frame: the DuckDB join's own SQL), scoring and
segments, governance (movers, controls, review, seal), exports, drift, publication,
``compare``, ``feedback`` and training's data run on Spark, and so do ``run --no-ingest``
and ``serve`` (``segflow.spark`` holds the session, ``segflow.sqlengine`` the seam that
runs DuckDB SQL on it). Training computes its rows on Spark and fits on the driver, the
rows brought over as Arrow and bounded by the model's ``split.max_rows`` (a stable md5
sample of keys, the same on both engines). The other stages are not built on Spark yet, so
with ``engine: spark`` each of them refuses to start (``require_duckdb``, naming the stage)
rather than quietly computing on this machine with DuckDB while the project says Spark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from segflow.errors import ConfigError, SegflowError

if TYPE_CHECKING:
    from segflow.settings import Settings

DUCKDB, SPARK = "duckdb", "spark"
ENGINES = (DUCKDB, SPARK)
SPARK_KEYS = ("master", "connect_url", "conf")
# local, local[4], local[*], local[4,2] (with retries), a standalone master, YARN, Kubernetes
MASTER = re.compile(r"^(local(\[(\d+|\*)(,\d+)?\])?|yarn|spark://\S+|k8s://\S+|mesos://\S+)$")
CONNECT_URL = re.compile(r"^sc://[^/\s:;]+(:\d+)?(/;\S*)?$")
# The translations (segflow.dialects) compare and shift timestamps in UTC, as DuckDB runs in
# UTC (segflow.featurestore.engine): Spark must too, or day windows move by the offset.
REQUIRED_CONF = {"spark.sql.session.timeZone": "UTC"}


@dataclass(frozen=True)
class SparkSettings:
    """Where Spark runs: a master URL or a Spark Connect URL (exactly one), and its
    configuration (name -> value, as Spark takes them: strings). Frozen and hashable, as
    ``Project`` is."""

    master: str | None = None
    connect_url: str | None = None
    conf: tuple[tuple[str, str], ...] = tuple(REQUIRED_CONF.items())

    @property
    def conf_dict(self) -> dict[str, str]:
        return dict(self.conf)


def parse_engine(file: Path, doc: dict) -> tuple[str, SparkSettings | None]:
    """The ``engine`` and ``spark`` keys of a segflow.yaml (a ``LineDict``), checked strictly:
    every error names the file and line. ``spark`` is allowed with ``engine: duckdb`` (a
    project switching back keeps its cluster settings) and checked all the same."""
    engine = doc.get("engine", DUCKDB)
    if engine not in ENGINES:
        raise ConfigError(file, doc.line("engine"), f"engine must be one of "
                          f"{', '.join(ENGINES)}, got {engine!r}")
    spark = _parse_spark(file, doc["spark"], doc.line("spark")) if "spark" in doc else None
    if engine == SPARK and spark is None:
        raise ConfigError(file, doc.line("engine"), "engine: spark needs a `spark:` section "
                          "with a master (e.g. local[2], spark://host:7077, yarn) or a "
                          "connect_url (sc://host:15002)")
    return engine, spark


def _parse_spark(file: Path, section, line: int) -> SparkSettings:
    from segflow.yamlio import LineDict

    if not isinstance(section, LineDict):
        raise ConfigError(file, line, "spark must be a mapping of "
                          f"{', '.join(SPARK_KEYS)}, got {section!r}")
    for key, value in section.items():
        if key not in SPARK_KEYS:
            raise ConfigError(file, section.line(key), f"unknown key 'spark.{key}'; spark has "
                              f"{', '.join(SPARK_KEYS)}")
        if key != "conf" and not isinstance(value, str):
            raise ConfigError(file, section.line(key), f"spark.{key} must be a string, got "
                              f"{value!r}")
    master, url = section.get("master"), section.get("connect_url")
    if (master is None) == (url is None):
        raise ConfigError(file, line, "spark needs exactly one of master (a cluster URL such "
                          "as local[2], spark://host:7077, yarn, k8s://https://host:443) or "
                          "connect_url (Spark Connect: sc://host:15002)")
    if master is not None and not MASTER.match(master):
        raise ConfigError(file, section.line("master"), f"spark.master {master!r} is not a "
                          "master URL: local, local[N], local[*], spark://host:port, yarn, "
                          "k8s://https://host:port or mesos://host:port")
    if url is not None and not CONNECT_URL.match(url):
        raise ConfigError(file, section.line("connect_url"), f"spark.connect_url {url!r} is "
                          "not a Spark Connect URL such as sc://host:15002 or "
                          "sc://host:443/;token=...")
    return SparkSettings(master=master, connect_url=url,
                         conf=_parse_conf(file, section.get("conf"), section.line("conf")))


def _parse_conf(file: Path, conf, line: int) -> tuple[tuple[str, str], ...]:
    from segflow.yamlio import LineDict

    if conf is None:
        return tuple(REQUIRED_CONF.items())
    if not isinstance(conf, LineDict):
        raise ConfigError(file, line, f"spark.conf must be a mapping of Spark settings "
                          f"(spark.executor.memory: 4g, ...), got {conf!r}")
    out = dict(REQUIRED_CONF)
    for key, value in conf.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z][\w.-]*", key):
            raise ConfigError(file, conf.line(key), f"spark.conf key {key!r} is not a Spark "
                              "setting name (such as spark.executor.memory)")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int | float | str):
            value = str(value)
        else:
            raise ConfigError(file, conf.line(key), f"spark.conf.{key} must be a single "
                              f"value (text, number or true/false), got {value!r}")
        want = REQUIRED_CONF.get(key)
        if want is not None and value != want:
            raise ConfigError(file, conf.line(key), f"spark.conf.{key} must be {want}: "
                              "segflow's SQL compares and shifts times in UTC, on both "
                              "engines (set the business's time zone with `timezone:`)")
        out[key] = value
    return tuple(sorted(out.items()))


def require_duckdb(settings: Settings, what: str, instead: str | None = None) -> None:
    """Refuse to compute ``what`` when the project names another engine than DuckDB.

    Every stage that computes over customers and does not run on Spark yet calls this
    before it reads or writes anything: computing on this machine while the project says
    Spark would be a silent lie about where the data was processed. One line naming the
    stage, exit 2 (a setting the user chose). The stages built on Spark do not call it."""
    why = not_built(settings, what, instead)
    if why:
        raise SegflowError(why)


def not_built(settings: Settings, what: str, instead: str | None = None) -> str | None:
    """Why ``what`` does not run on the project's engine (None: it does, on DuckDB): the
    one wording of ``require_duckdb``'s refusal, also what ``serve`` says of a schedule it
    leaves out. ``instead``: what the user can do besides switching engines."""
    engine = settings.engine
    if engine == DUCKDB:
        return None
    other = f"; or {instead}" if instead else ""
    return (f"{what}: this project runs on engine: {engine} ({settings.project.file}), and "
            f"running {what} on Spark is not built yet (docs/scale-out.md says what runs on "
            f"Spark today); give `--engine duckdb` to run it on this machine with DuckDB "
            f"(the project file unchanged){other}")
