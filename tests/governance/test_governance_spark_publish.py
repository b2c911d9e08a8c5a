"""Publication on Spark: a run whose memberships are Spark's folder partitioned by cohort is
governed, approved and published through the CLI on `engine: spark`; the published version
is a folder partitioned by cohort, the sealed content copied file by file, with the same
rows as the DuckDB publication of the same run, one audit entry whose chain verifies, and
the same records; publishing again is a no-op; a full disk before the commit changes
nothing; and a publication killed at a named instant leaves the old version or the new one
whole once `segflow doctor` has run.

The killed processes (and the full-disk publication) run on the DuckDB engine over the
Spark workspace: the folder form of the version is the run's, not the engine's (under
`engine: spark` only the gate's re-hash of the seal and the report's figures run on the
executors), and each process would otherwise start its own JVM (10-50 s on this shared
machine). Cost: dominated by the module's `govern` on Spark (its few dozen Spark jobs) and
the session's start; measured 2026-12-02 at load average 13-18 on the shared 2-core machine:
415 s wall, 38 s of CPU (setup 354 s, of which govern on Spark about 127 s; each killed
process 9-13 s)."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import sys

import pytest
from govworld import (
    ACCEPTANCE,
    APPROVAL,
    AS_OF_1,
    AS_OF_2,
    approve_and_publish,
    base_features,
    copy_world,
    drift_passed,
    governed,
    make_world,
    write_canonical,
    write_run,
)
from holi_project import ROOT
from paused import stopped_at

pytestmark = pytest.mark.integration
CAMPAIGN = "holi_test"


def _spark_project_folder(folder, spark_project):
    """A project folder on ``engine: spark`` (the session fixture's settings) whose parts
    are the Holi project's (symbolic links), for the CLI's ``--project``."""
    folder.mkdir()
    for _, path in spark_project.paths:
        link = folder / path.relative_to(ROOT)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path)
    conf = "".join(f"    {k}: '{v}'\n" for k, v in spark_project.spark.conf)
    (folder / "segflow.yaml").write_text(
        (ROOT / "segflow.yaml").read_text()
        + f"engine: spark\nspark:\n  master: {spark_project.spark.master}\n  conf:\n{conf}")
    return folder


def _as_spark_folder(settings, run_id: str, spark_project) -> None:
    """The run's memberships rewritten by Spark's executors as a refresh on Spark writes
    them: ``memberships.parquet/cohort=<name>/part-*.parquet``."""
    from segflow import spark as sp

    path = settings.runs_dir / run_id / "memberships.parquet"
    session = sp.session(spark_project.spark)
    sp.write_partitioned(session.read.parquet(str(path)), path, "cohort")


def _cli(project, settings, *args) -> int:
    """`segflow --project ... --home ... <args>` in this process (the session's JVM)."""
    from segflow.cli import run
    from segflow.project import set_project

    old = os.environ.get("SEGFLOW_TEMPLATES")
    os.environ["SEGFLOW_TEMPLATES"] = str(settings.templates_root)
    try:
        return run(["--home", str(settings.home), "--project", str(project), *map(str, args)])
    finally:
        set_project(None)
        os.environ.pop("SEGFLOW_TEMPLATES")
        if old is not None:
            os.environ["SEGFLOW_TEMPLATES"] = old


@pytest.fixture(scope="module")
def worlds(tmp_path_factory, spark_project):
    """(DuckDB settings, Spark settings, the Spark world approved but not published, the
    run, its open review items, CLI exit codes): version 1 published on DuckDB; the second
    run governed and published on each engine, on Spark through the CLI."""
    from segflow.governance.gate import verdict
    from segflow.governance.pipeline import govern_run
    from segflow.project import load_project

    root = tmp_path_factory.mktemp("spark_publish")
    base = make_world(root / "base")
    f1 = base_features(120)
    write_canonical(base, list(f1.customer_id))
    approve_and_publish(base, governed(base, f1, AS_OF_1))
    f2 = f1.copy()  # a month later: some movers, the same customers (revenue reconciles)
    f2.loc[f2.index[:20], "recency_days"] = 150.0
    f2["tenure_days"] = f2["tenure_days"] + 28
    run = write_run(base, f2, AS_OF_2)
    duck = copy_world(base, root / "duck")
    govern_run(duck, run)
    drift_passed(duck, run)
    approve_and_publish(duck, run)

    project = _spark_project_folder(root / "project", spark_project)
    spark = dataclasses.replace(copy_world(base, root / "spark"),
                                project=load_project(project))
    _as_spark_folder(spark, run, spark_project)
    codes = [_cli(project, spark, "govern", run)]
    drift_passed(spark, run)
    codes.append(_cli(project, spark, "approve", run, "--by", "lead.analyst", "--reason",
                      APPROVAL))
    open_items = verdict(spark, run).open_exceptions
    # the crash tests' processes publish it on DuckDB (see the module's docstring)
    approved = dataclasses.replace(copy_world(spark, root / "approved"), project=duck.project)
    codes.append(_cli(project, spark, "publish", run, "--by", "lead.analyst", "--accept-open",
                      open_items, "--reason", ACCEPTANCE))
    return duck, spark, approved, run, open_items, codes


def _rows(table) -> list[tuple]:
    """Rows of an Arrow table, order-free."""
    names = sorted(table.column_names)
    return sorted(tuple(str(r[c]) for c in names) for r in table.to_pylist())


def _published(settings, version: int):
    from segflow.db import connect

    with connect(settings) as con:
        return con.sql("SELECT * EXCLUDE (version) FROM published_memberships WHERE "
                       f"version = {version}").to_arrow_table()


def state(settings) -> dict:
    """What each place says is current: the database pointer, current.json, the audit log."""
    from segflow.governance import audit
    from segflow.governance.publications import current_publication

    publishes = [e for e in audit.read(settings) if e["action"] == "publish"]
    pointer = settings.publish_dir / CAMPAIGN / "current.json"
    return {"db": current_publication(settings, CAMPAIGN)["version"],
            "file": json.loads(pointer.read_text())["version"],
            "audit": publishes[-1]["payload"]["version"],
            "verify": audit.verify(settings).problems}


def test_a_spark_run_is_published_through_the_cli_as_on_duckdb(worlds):
    from segflow.governance.publications import current_publication, read_current_parquet
    from segflow.runstore import file_sha256
    from segflow.scoring.runfiles import partition_columns

    duck, spark, _, run, _, codes = worlds
    assert codes == [0, 0, 0]
    assert state(spark) == {"db": 2, "file": 2, "audit": 2, "verify": []}
    version = spark.publish_dir / CAMPAIGN / "v00002.parquet"
    assert version.is_dir() and partition_columns(version) == ["cohort"]
    cohorts = {r["cohort"] for r in read_current_parquet(duck, CAMPAIGN).to_pylist()}
    assert {p.name for p in version.iterdir()} == {  # rows with no cohort: Hive's NULL folder
        f"cohort={c or '__HIVE_DEFAULT_PARTITION__'}" for c in cohorts}
    record = current_publication(spark, CAMPAIGN)
    sealed = file_sha256(spark.runs_dir / run / "memberships.parquet")
    assert record["run_id"] == run and record["sha256"] == sealed == file_sha256(version)
    manifest = json.loads((spark.publish_dir / CAMPAIGN / "v00002.json").read_text())
    assert (manifest["file"], manifest["partitioned_by"], manifest["sha256"]) == \
        ("v00002.parquet", ["cohort"], sealed)
    want = read_current_parquet(duck, CAMPAIGN)
    got = read_current_parquet(spark, CAMPAIGN)
    assert got.column_names == want.column_names and got.num_rows == want.num_rows > 100
    assert _rows(got) == _rows(want)
    assert _rows(_published(spark, 2)) == _rows(_published(duck, 2))
    assert _published(spark, 2).num_rows == want.num_rows
    assert record["rows"] == current_publication(duck, CAMPAIGN)["rows"] == want.num_rows


def test_publishing_the_spark_run_again_is_a_no_op(worlds, capsys):
    from segflow.governance.publications import publication_history

    _, spark, _, run, _, _ = worlds
    log = spark.audit_log_path.read_bytes()
    code = _cli(spark.project.root, spark, "publish", run, "--by", "lead.analyst")
    assert code == 0 and f"already published as version 2 of {CAMPAIGN}" in \
        capsys.readouterr().out
    assert [p["version"] for p in publication_history(spark, CAMPAIGN)] == [1, 2]
    assert spark.audit_log_path.read_bytes() == log


def test_a_full_disk_while_copying_the_folder_changes_nothing(worlds, tmp_path):
    from segflow.errors import EnvironmentFailure
    from segflow.governance.publish import publish_run

    _, _, approved, run, open_items, _ = worlds
    settings = copy_world(approved, tmp_path / "w")
    before = (settings.audit_log_path.read_bytes(), state(settings))

    def full(point: str) -> None:
        if point == "publish.version_tmp_written":
            staged = settings.publish_dir / CAMPAIGN / "v00002.parquet.tmp"
            assert staged.is_dir() and list(staged.glob("cohort=*/*.parquet"))
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(EnvironmentFailure, match="the disk is full.*nothing was published"):
        publish_run(settings, run, by="lead.analyst", accept_open=open_items,
                    reason=ACCEPTANCE, _hook=full)
    assert (settings.audit_log_path.read_bytes(), state(settings)) == before
    assert not list((settings.publish_dir / CAMPAIGN).glob("v00002*"))
    assert not list(settings.journal_dir.glob("*"))


@pytest.mark.parametrize(("point", "after"), [
    ("publish.version_tmp_written", 1), ("publish.version_written", 1),
    ("publish.rows_inserted", 1), ("audit.committed", 2)])
def test_a_publication_killed_at_an_instant_is_whole_or_absent_after_doctor(
        worlds, tmp_path, point, after):
    from segflow.doctor import examine
    from segflow.governance.publish import publish_run
    from segflow.runstore import file_sha256

    _, _, approved, run, open_items, _ = worlds
    settings = copy_world(approved, tmp_path / "w")
    env = {**os.environ, "SEGFLOW_HOME": str(settings.home),
           "SEGFLOW_TEMPLATES": str(settings.templates_root)}
    proc = stopped_at([sys.executable, "-m", "segflow.cli", "publish", run, "--by",
                       "lead.analyst", "--accept-open", str(open_items), "--reason",
                       ACCEPTANCE], env, point)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    found = examine(settings, repair=True)
    assert all(f.ok for f in found), [f for f in found if not f.ok]
    assert state(settings) == {"db": after, "file": after, "audit": after, "verify": []}
    version = settings.publish_dir / CAMPAIGN / "v00002.parquet"
    sealed = file_sha256(settings.runs_dir / run / "memberships.parquet")
    assert (file_sha256(version) if version.exists() else None) == \
        (sealed if after == 2 else None)
    assert not list(settings.home.rglob("*.tmp")) and not list(settings.journal_dir.glob("*"))
    entry = publish_run(settings, run, by="lead.analyst", accept_open=open_items,
                        reason=ACCEPTANCE)
    assert entry["version"] == 2 and state(settings) == {"db": 2, "file": 2, "audit": 2,
                                                         "verify": []}
    assert file_sha256(version) == sealed and version.is_dir()


def test_the_external_database_takes_a_folder_version(worlds, tmp_path):
    """SEGFLOW_PUBLISH_DB_URL's load reads the folder through the same reader: the rows of
    the Spark publication, the cohort as text, the same as DuckDB's published rows."""
    import sqlalchemy as sa

    from segflow.governance.publish_sql import publish_sqlalchemy

    _, spark, _, run, _, _ = worlds
    url = f"sqlite:///{tmp_path / 'published.db'}"
    folder = spark.publish_dir / CAMPAIGN / "v00002.parquet"
    assert publish_sqlalchemy(url, CAMPAIGN, run, folder, "lead.analyst", version=2) == 2
    engine = sa.create_engine(url)
    with engine.connect() as con:
        got = con.execute(sa.text("SELECT cohort, count(*) FROM current_memberships GROUP BY "
                                  "cohort ORDER BY cohort")).all()
    engine.dispose()
    want = _published(spark, 2).group_by("cohort").aggregate([("entity_id", "count")])
    assert [tuple(r) for r in got] == sorted(
        zip(want["cohort"].to_pylist(), want["entity_id_count"].to_pylist(), strict=True),
        key=lambda r: (r[0] is not None, r[0] or ""))
