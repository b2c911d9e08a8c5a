"""The engine setting: `engine: duckdb` by default, `engine: spark` with where Spark runs;
parsed strictly (file and line), on Settings, in each run's manifest; and every computing
stage not built on Spark yet refuses in one line naming it, with exit 2."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from segflow.cli import run
from segflow.engines import SparkSettings, require_duckdb
from segflow.errors import ConfigError, SegflowError
from segflow.project import load_project
from segflow.runstore import create_run, run_dir
from segflow.settings import Settings

MINIMAL = "name: shop\nbase_currency: USD\n"
SPARK = MINIMAL + "engine: spark\nspark:\n  master: local[2]\n"


def _project(tmp_path, text):
    (tmp_path / "segflow.yaml").write_text(text)
    return load_project(tmp_path)


def test_duckdb_is_the_default_and_spark_takes_a_master_or_a_connect_url(tmp_path):
    assert _project(tmp_path, MINIMAL).engine == "duckdb"
    assert _project(tmp_path, MINIMAL).spark is None
    project = _project(tmp_path, SPARK + "  conf:\n    spark.executor.memory: 4g\n"
                       "    spark.sql.shuffle.partitions: 8\n    spark.sql.ansi.enabled: false\n")
    assert project.engine == "spark"
    assert project.spark.master == "local[2]" and project.spark.connect_url is None
    assert project.spark.conf_dict == {"spark.executor.memory": "4g",
                                       "spark.sql.shuffle.partitions": "8",
                                       "spark.sql.ansi.enabled": "false",
                                       "spark.sql.session.timeZone": "UTC"}
    connect = _project(tmp_path, MINIMAL + "engine: spark\nspark: {connect_url: "
                       "'sc://cluster.example.com:15002'}\n")
    assert connect.spark == SparkSettings(connect_url="sc://cluster.example.com:15002")
    settings = Settings(home=tmp_path / "ws", project=connect)
    assert (settings.engine, settings.spark) == ("spark", connect.spark)


@pytest.mark.parametrize("text, line, words", [
    (MINIMAL + "engine: snowflake\n", 3, "engine must be one of duckdb, spark"),
    (MINIMAL + "engine: spark\n", 3, "needs a `spark:` section"),
    (SPARK.replace("master", "mastr"), 5, "unknown key 'spark.mastr'"),
    (SPARK + "  connect_url: sc://h:15002\n", 4, "exactly one of master"),
    (SPARK.replace("local[2]", "local[two]"), 5, "not a master URL"),
    (MINIMAL + "engine: spark\nspark:\n  connect_url: http://h\n", 5, "not a Spark Connect"),
    (SPARK + "  conf:\n    spark.executor.memory: [4g]\n", 7, "must be a single value"),
    (SPARK + "  conf:\n    spark.sql.session.timeZone: Asia/Kolkata\n", 7, "must be UTC"),
    (MINIMAL + "spark: yes\n", 3, "'spark' must be a dict"),
])
def test_a_bad_engine_setting_names_file_line_and_the_fix(tmp_path, text, line, words):
    with pytest.raises(ConfigError) as err:
        _project(tmp_path, text)
    assert f"segflow.yaml:{line}:" in str(err.value) and words in str(err.value)


def test_each_run_manifest_says_which_engine_ran(tmp_path):
    for text, engine in ((MINIMAL, "duckdb"), (SPARK, "spark")):
        folder = tmp_path / engine
        folder.mkdir()
        settings = Settings(home=folder / "ws", project=_project(folder, text)).ensure()
        record = create_run(settings, "c1", datetime(2027, 3, 1, tzinfo=UTC), {})
        manifest = json.loads((run_dir(settings, record.run_id) / "manifest.json").read_text())
        assert manifest["engine"] == engine


def test_computing_on_spark_is_refused_until_it_is_built(tmp_path, cli, capsys):
    settings = Settings(home=tmp_path / "ws", project=_project(tmp_path, SPARK))
    with pytest.raises(SegflowError, match="scoring: .*engine: spark.*running scoring on "
                       "Spark is not built yet"):
        require_duckdb(settings, "scoring")
    (tmp_path / "plain").mkdir()
    require_duckdb(Settings(home=tmp_path / "ws", project=_project(tmp_path / "plain",
                                                                   MINIMAL)), "build")
    # from the CLI (a process, and in-process as main runs it): one line, exit 2, no file
    done = cli(tmp_path / "ws", "--project", tmp_path, "ingest")
    assert (done.code, done.err.count("\n")) == (2, 1), done.err
    assert done.line.startswith("error: ingest: this project runs on engine: spark "
                                f"({tmp_path / 'segflow.yaml'}), and running ingest on Spark "
                                "is not built yet (docs/scale-out.md"), done.err
    assert run(["--home", str(tmp_path / "ws"), "--project", str(tmp_path), "demo",
                "accounts"]) == 2
    assert capsys.readouterr().err.startswith("error: demo: this project runs on engine: spark")
    # a run asks for ingest unless told not to: refused before Prefect starts, naming how
    # to run without it
    assert run(["--home", str(tmp_path / "ws"), "--project", str(tmp_path), "run",
                "--campaign", "holi_2027"]) == 2
    said = capsys.readouterr().err
    assert said.startswith("error: ingest: this project runs on engine: spark") and \
        said.rstrip().endswith("; or run with --no-ingest to refresh from the canonical "
                               "tables as they are"), said
    written = [p.name for p in (tmp_path / "ws").rglob("*") if p.is_file()]
    assert written in ([], [".segflow.lock"])  # ingest takes the workspace lock first


def _holi_on_spark(folder):
    """The Holi project (its parts linked) with `engine: spark` added to its segflow.yaml."""
    from holi_project import ROOT

    folder.mkdir()
    for _, path in load_project(ROOT).paths:
        link = folder / path.relative_to(ROOT)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path)
    (folder / "segflow.yaml").write_text((ROOT / "segflow.yaml").read_text()
                                         + "engine: spark\nspark:\n  master: local[2]\n")
    return folder


def test_engine_option_runs_one_command_on_duckdb_for_a_project_on_spark(tmp_path, cli):
    """`--engine duckdb` (or SEGFLOW_ENGINE) computes one command with DuckDB whatever the
    file says, so a Spark project loads its sources with its file unchanged; the refusal
    says so; a run records the engine that ran; a bad value or Spark without its section is
    one line, exit 2."""
    from segflow.project import with_engine

    project, home = _holi_on_spark(tmp_path / "shop"), tmp_path / "ws"
    (home / "sources").mkdir(parents=True)
    (home / "sources" / "customers.csv").write_text(
        "customer_id,email,phone,name,signup_ts,region,country,city,preferred_language,"
        "consent_email,consent_sms,consent_push,consent_ads,onboarding_completed\n"
        "C1,a@x.com,,Asha,2025-01-01,Maharashtra,IN,Pune,hindi,true,true,true,true,true\n")
    (home / "sources" / "sources.yaml").write_text(
        "as_of: 2027-03-01\nsources:\n  customers: {kind: csv, path: customers.csv}\n")
    refused = cli(home, "--project", project, "ingest")
    assert refused.code == 2 and "give `--engine duckdb` to run it on this machine" in \
        refused.line, refused.err
    assert not (home / "canonical" / "customers.parquet").exists()
    done = cli(home, "ingest", "--project", project, "--engine", "duckdb")  # after the command
    assert done.code == 0, done.err
    assert (home / "canonical" / "customers.parquet").is_file()
    assert cli(home, "--project", project, "ingest", env={"SEGFLOW_ENGINE": "duckdb"}).code == 0
    bad = cli(home, "--project", project, "--engine", "sparkk", "ingest")
    assert (bad.code, bad.line) == (2, "error: --engine must be one of duckdb, spark, got "
                                       "'sparkk'"), bad.err
    (tmp_path / "plain").mkdir()
    _project(tmp_path / "plain", MINIMAL)
    nowhere = cli(home, "--project", tmp_path / "plain", "--engine", "spark", "ingest")
    assert nowhere.code == 2 and nowhere.line.startswith(
        f"error: --engine spark: {tmp_path / 'plain' / 'segflow.yaml'} has no `spark:` "
        "section"), nowhere.err
    on_duckdb = Settings(home=home, project=with_engine(load_project(project), "duckdb"))
    run_id = create_run(on_duckdb, "holi_2027", datetime(2027, 3, 1, tzinfo=UTC), {}).run_id
    manifest = json.loads((run_dir(on_duckdb, run_id) / "manifest.json").read_text())
    assert (load_project(project).engine, manifest["engine"]) == ("spark", "duckdb")


def test_spark_without_a_java_runtime_is_one_line_naming_what_to_install(tmp_path,
                                                                          monkeypatch):
    from segflow import spark as sp
    from segflow.errors import EnvironmentFailure

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    with pytest.raises(EnvironmentFailure, match="needs a Java runtime .* install one "
                       r"\(Debian/Ubuntu: apt-get install default-jre-headless\) or set "
                       "JAVA_HOME") as err:
        sp.session(SparkSettings(master="local[2]"))
    assert err.value.exit_code == 3 and "\n" not in str(err.value)
    java = tmp_path / "jre" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.touch()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jre"))
    assert sp.java_missing() is None


def test_spark_keeps_its_warehouse_in_the_workspace_unless_the_project_says(tmp_path,
                                                                            monkeypatch):
    """Spark's default warehouse is ./spark-warehouse: a command run from any folder left
    one there. The session's settings put it in the workspace; a project's conf wins."""
    from segflow import spark as sp

    project = _project(tmp_path, SPARK)
    settings = Settings(home=tmp_path / "ws", project=project)
    asked = []
    monkeypatch.setattr(sp, "session", lambda spark, warehouse=None: asked.append(warehouse))
    sp.session_of(settings)  # what every stage calls: the workspace's folder is passed
    assert asked == [tmp_path / "ws" / "spark-warehouse"]
    conf = sp.session_conf(settings.spark, asked[0])
    assert conf["spark.sql.warehouse.dir"] == str(tmp_path / "ws" / "spark-warehouse")
    assert conf["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"
    assert conf["spark.sql.constraintPropagation.enabled"] == "false"
    own = _project(tmp_path, SPARK + "  conf:\n    spark.sql.warehouse.dir: s3a://lake/wh\n")
    assert sp.session_conf(own.spark, tmp_path)["spark.sql.warehouse.dir"] == "s3a://lake/wh"


QUIET_SPARK = """
import sys
from segflow import spark as sp
from segflow.engines import SparkSettings
from segflow.logs import quiet_third_party

quiet_third_party()  # what a command run without --verbose does first
session = sp.session(SparkSettings(master="local[1]", conf=(
    ("spark.sql.session.timeZone", "UTC"), ("spark.ui.enabled", "false"))), sys.argv[1])
# a window with no partition: Spark's default profile logs a WARN line for it
rows = session.sql("SELECT row_number() OVER (ORDER BY id) AS n FROM range(5)").collect()
print(sum(r.n for r in rows))
"""


def test_a_command_s_spark_logs_errors_only(tmp_path, monkeypatch):
    """Without --verbose a command's Spark JVM logs errors only (segflow's log4j2 file):
    Spark's default profile prints WARN lines between segflow's progress lines (dozens a
    refresh). A project's own logging option is kept, and --verbose keeps Spark's own."""
    import subprocess
    import sys

    from segflow import spark as sp

    if sp.java_missing():
        pytest.skip(sp.java_missing())
    done = subprocess.run([sys.executable, "-c", QUIET_SPARK, str(tmp_path / "wh")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "15", done.stderr
    for said in (" WARN ", "log4j profile", "Setting default log level"):
        assert said not in done.stderr, done.stderr
    option = "spark.driver.extraJavaOptions"
    own = {option: "-Dlog4j2.configurationFile=file:/etc/mine"}
    assert sp.quiet_conf(own)[option] == own[option]
    ours = f"-Dlog4j2.configurationFile=file:{sp.LOG_CONFIG}"
    assert sp.quiet_conf({option: "-Xss4m"})[option] == f"-Xss4m {ours}"
    for verbose in (True, False):  # what the command line asked of this process
        monkeypatch.setattr(sp, "quieted", lambda v=verbose: not v)
        conf = sp.session_conf(SparkSettings(master="local[1]"))
        assert (option in conf) is (not verbose)


def test_on_spark_the_workspace_database_in_the_driver_has_a_fixed_memory_cap(tmp_path):
    """On Spark the driver's DuckDB holds the review queue and the audit log, not the
    computing: capped at SPARK_WORKSPACE_MB, not 40% of the machine as on DuckDB, so the
    driver's size does not follow the customers' number (it did: 1.5 GB at 10M)."""
    import duckdb

    from segflow.db import SPARK_WORKSPACE_MB, connect, memory_limit

    def limit(text: str, folder: str) -> str:
        (tmp_path / folder).mkdir()
        settings = Settings(home=tmp_path / folder / "ws",
                            project=_project(tmp_path / folder, text))
        with connect(settings) as con:
            return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]

    def expected(size: str) -> str:
        return duckdb.connect(config={"memory_limit": size}).execute(
            "SELECT current_setting('memory_limit')").fetchone()[0]

    assert limit(SPARK, "spark") == expected(memory_limit(0.4, SPARK_WORKSPACE_MB))
    assert limit(MINIMAL, "duckdb") == expected(memory_limit(0.4))
    assert memory_limit(0.4, SPARK_WORKSPACE_MB) != memory_limit(0.4)
