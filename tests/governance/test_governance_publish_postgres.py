"""Publication into a real PostgreSQL server (the ``postgres_url`` cluster of conftest).

Each test gets its own fresh database in the session's cluster. Skipped when no PostgreSQL
server is installed (``apt-get install postgresql``).
"""

from __future__ import annotations

import dataclasses
import sys
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from govworld import (
    ACCEPTANCE,
    AS_OF_1,
    AS_OF_2,
    base_features,
    governed,
    write_canonical,
)
from paused import stopped_at

sa = pytest.importorskip("sqlalchemy")
pytest.importorskip("psycopg")


@pytest.fixture
def fresh_db(postgres_url):
    """(URL, engine) of a new, empty database in the session's cluster."""
    name = f"pub_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    engine = sa.create_engine(url)
    yield url, engine
    engine.dispose()


@pytest.fixture
def pg_world(world, fresh_db):
    url, engine = fresh_db
    f = base_features()
    write_canonical(world, list(f.customer_id))
    return dataclasses.replace(world, publish_db_url=url), f, engine


def _governed_run(settings, features, as_of) -> str:
    from segflow.governance.gate import verdict
    from segflow.governance.publish import approve

    run = governed(settings, features, as_of)
    if verdict(settings, run).needs_approval:
        approve(settings, run, "lead.analyst", "reviewed the figures with finance")
    return run


def _publish(settings, run, hook=None):
    from segflow.governance.gate import verdict
    from segflow.governance.publish import publish_run

    n = verdict(settings, run).open_exceptions
    return publish_run(settings, run, by="lead.analyst", accept_open=n or None,
                       reason=ACCEPTANCE if n else None, _hook=hook)


def _query(engine, sql: str) -> list[tuple]:
    with engine.connect() as con:
        return [tuple(r) for r in con.execute(sa.text(sql))]


def _normalised(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    frame = frame[columns].sort_values("entity_id").reset_index(drop=True).astype(object)
    return frame.where(frame.notna(), None)


def test_publication_creates_versioned_table_record_and_view(pg_world):
    from segflow.governance.publish import COLUMNS

    settings, f, engine = pg_world
    run = _governed_run(settings, f, AS_OF_1)
    entry = _publish(settings, run)
    inspector = sa.inspect(engine)
    assert {"published_memberships", "publications", "publication_pointer"} <= set(
        inspector.get_table_names())
    assert "current_memberships" in inspector.get_view_names()
    types = dict(_query(engine, "SELECT column_name, data_type FROM information_schema.columns "
                                "WHERE table_name = 'published_memberships'"))
    assert (types["score"], types["priority"], types["rank"], types["entity_id"]) == (
        "double precision", "integer", "integer", "character varying")
    source = pd.read_parquet(settings.runs_dir / run / "memberships.parquet")
    [record] = _query(engine, "SELECT campaign, version, run_id, published_by, rows, "
                              "published_at IS NOT NULL FROM publications")
    assert record == ("holi_test", entry["version"], run, "lead.analyst", len(source), True)
    published = pd.read_sql("SELECT * FROM current_memberships", engine)
    columns = [c for c in COLUMNS if c in source.columns]
    pd.testing.assert_frame_equal(_normalised(published, columns), _normalised(source, columns))


def _first_published_second_governed(settings, f) -> tuple[str, str]:
    """A published run, then a governed one a week later in which every recency changed."""
    first = _governed_run(settings, f, AS_OF_1)
    _publish(settings, first)
    g = f.copy()
    g["recency_days"] = 3.0
    return first, _governed_run(settings, g, AS_OF_2)


def test_second_publication_switches_the_view_all_at_once(pg_world):
    settings, f, engine = pg_world
    first, second = _first_published_second_governed(settings, f)
    seen = []

    def look(stage):  # another session's view while the new rows are in, pointer not moved
        if stage == "publish.external_before_switch":
            seen.append(_query(engine, "SELECT run_id, count(*) FROM current_memberships "
                                       "GROUP BY run_id"))

    _publish(settings, second, hook=look)
    assert seen[0] == [(first, len(f))]
    assert _query(engine, "SELECT run_id, count(*) FROM current_memberships "
                          "GROUP BY run_id") == [(second, len(f))]
    assert _query(engine, "SELECT version, run_id FROM publications ORDER BY version") == [
        (1, first), (2, second)]
    assert _query(engine, "SELECT version, count(*) FROM published_memberships GROUP BY "
                          "version ORDER BY version") == [(1, len(f)), (2, len(f))]


@pytest.mark.parametrize("point", ["publish.external_before_switch",
                                   "publish.external_committed", "publish.txn_begun",
                                   "audit.committed"])
def test_killed_publication_is_brought_back_in_line_with_duckdb(pg_world, point):
    """Killed before or after the external commit, before or after DuckDB's: doctor leaves
    both databases on the same version (DuckDB's) and the retry publishes version 2."""
    import os
    import signal

    from segflow.doctor import examine
    from segflow.governance.gate import verdict
    from segflow.governance.publications import current_publication

    settings, f, engine = pg_world
    first, second = _first_published_second_governed(settings, f)
    n = verdict(settings, second).open_exceptions
    env = {**os.environ, "SEGFLOW_HOME": str(settings.home),
           "SEGFLOW_TEMPLATES": str(settings.templates_root),
           "SEGFLOW_PUBLISH_DB_URL": settings.publish_db_url}
    proc = stopped_at([sys.executable, "-m", "segflow.cli", "publish", second, "--by",
                       "lead.analyst", "--accept-open", str(n), "--reason", ACCEPTANCE],
                      env, point)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert all(x.ok for x in examine(settings, repair=True))
    duck = current_publication(settings, "holi_test")
    assert _query(engine, "SELECT p.version, r.run_id FROM publication_pointer p JOIN "
                          "publications r USING (campaign, version)") == [
        (duck["version"], duck["run_id"])]
    assert _query(engine, "SELECT max(version) FROM publications") == [(duck["version"],)]
    _publish(settings, second)
    assert _query(engine, "SELECT p.version, r.run_id FROM publication_pointer p JOIN "
                          "publications r USING (campaign, version)") == [(2, second)]
    assert _query(engine, "SELECT version, count(*) FROM published_memberships GROUP BY "
                          "version ORDER BY version") == [(1, len(f)), (2, len(f))]


def test_copy_keeps_nulls_empty_strings_and_awkward_text_apart(fresh_db, tmp_path):
    """The COPY path must not turn '' into NULL (or back), nor split on commas, quotes or
    newlines; a column the run lacks (override_id) arrives as NULL."""
    from segflow.governance.publish_sql import publish_sqlalchemy

    url, engine = fresh_db
    cohorts = ["", None, 'a,"b"', "line\nbreak", "होली"]
    source = tmp_path / "memberships.parquet"
    pq.write_table(pa.table({
        "run_id": ["r1"] * 5, "campaign": ["c"] * 5, "entity_id": list("12345"),
        "cohort": cohorts, "status": ["assigned"] * 5,
        "priority": pa.array([1, None, 3, 4, 5], pa.int64()),
        "score": [0.1, None, 1 / 3, float("nan"), -2.5]}), source)
    assert publish_sqlalchemy(url, "c", "r1", source, "tester") == 1
    got = _query(engine, "SELECT cohort, priority, score, override_id FROM current_memberships "
                         "ORDER BY entity_id")
    assert [r[0] for r in got] == cohorts
    assert [r[1] for r in got] == [1, None, 3, 4, 5]
    scores = [r[2] for r in got]
    assert scores[:3] == [0.1, None, 1 / 3] and scores[3] != scores[3] and scores[4] == -2.5
    assert {r[3] for r in got} == {None}
