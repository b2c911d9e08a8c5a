"""The review queue's storage: a run's items stored within DuckDB's memory limit, one row per
item (entity and rule), decided items kept, ids unique within a run, old workspaces
migrated. On a workspace database file, as governance writes it."""

from __future__ import annotations

import duckdb
import pytest

from segflow.errors import SegflowError
from segflow.governance.review import QUEUE_COLS, get_items, store_exceptions
from segflow.governance.store import ensure_schema

RUN = "holi-20270301"


def _items(con, n: int, ids: str = "'R' || substr(sha1(i::VARCHAR), 1, 16)",
           entities: str = "'C' || lpad(i::VARCHAR, 9, '0')", run: str = RUN) -> None:
    """Temp table ``new_items`` of n boundary items of a run (RUN), as
    review.find_exceptions fills it."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE new_items AS SELECT {ids} AS review_id,
        '{run}' AS run_id, 'holi' AS campaign, {entities} AS entity_id,
        'boundary:flash.uplift' AS rule,
        'predicted_uplift = 0.0512 is within 10% of the threshold' AS detail,
        'flash__mh_hi' AS cohort_before, 'flash__mh_hi' AS proposed_cohort,
        'flash' AS template, 'open' AS status FROM range({n}) t(i)""")


def _workspace(tmp_path, memory: str = "1GB"):
    con = duckdb.connect(str(tmp_path / "segflow.duckdb"), config={"memory_limit": memory})
    ensure_schema(con)
    return con


def test_a_million_items_are_stored_within_64_mb(tmp_path):
    """The queue once had a primary key, whose index DuckDB holds in memory whole: at 1M
    items under a 64 MB limit its commit failed (2 GB of driver memory for the 2M items of a
    10M-customer run on Spark). Without it the insert spills and completes."""
    con = _workspace(tmp_path, "64MB")
    _items(con, 1_000_000)
    con.execute("BEGIN")
    assert store_exceptions(con, RUN) == 1_000_000
    con.execute("COMMIT")
    assert con.execute("SELECT count(DISTINCT review_id) FROM review_queue").fetchone()[0] \
        == 1_000_000


def test_two_items_under_one_id_refuse_the_run(tmp_path):
    """A collision of the id hash once dropped an item without a word (3 of a 10M run's
    1,953,516): now the run is refused."""
    con = _workspace(tmp_path)
    _items(con, 3, ids="'Rsame'")
    with pytest.raises(SegflowError, match=r"3 review items of run holi-20270301 share the id "
                                           r"Rsame; nothing was stored"):
        store_exceptions(con, RUN)


def test_a_decided_item_stays_decided_when_found_again_under_a_new_id(tmp_path):
    """Items found again are not queued twice, whatever id an earlier version gave them
    (ids grew from 10 to 16 hex digits); the run's open items are replaced."""
    con = _workspace(tmp_path)
    con.execute(f"""INSERT INTO review_rows ({QUEUE_COLS}, decided_by) VALUES
        ('Rold0000001', '{RUN}', 'holi', 'C000000000', 'boundary:flash.uplift', 'x',
         'flash__mh_hi', 'flash__mh_hi', 'flash', 'confirmed', 'asha'),
        ('Rold0000002', '{RUN}', 'holi', 'C999', 'boundary:flash.uplift', 'x',
         'flash__mh_hi', 'flash__mh_hi', 'flash', 'open', NULL)""")
    _items(con, 2)
    assert store_exceptions(con, RUN) == 1
    rows = con.execute("SELECT review_id, entity_id, status FROM review_queue "
                       "ORDER BY entity_id").fetchall()
    assert [(r[1], r[2]) for r in rows] == [("C000000000", "confirmed"),
                                            ("C000000001", "open")]
    assert rows[0][0] == "Rold0000001" and len(rows[1][0]) == 17


def _written(con, folder, n: int, run: str = RUN):
    """``n`` items written as a Spark run's executors write them: a folder of Parquet."""
    _items(con, n, run=run)
    folder.mkdir(parents=True)
    con.execute(f"COPY new_items TO '{folder / 'part-00000.parquet'}' (FORMAT parquet)")
    return folder


def _in_database(con) -> list[tuple]:
    return con.execute("SELECT entity_id, status FROM review_rows ORDER BY 1").fetchall()


def test_a_run_s_parquet_items_are_its_queue_and_a_decision_outlives_the_next_set(tmp_path):
    """A Spark run's items are registered where they lie (``governance.review_sets``), none
    stored in the database; a decision copies its one item, which stays decided when the
    run is governed again (a new set replaces the old one); the set's path is relative to
    the database, so a copied workspace reads its own copy."""
    import shutil

    from segflow.governance.review import _planned, decision_writes
    from segflow.governance.review_sets import define_view

    ws = tmp_path / "ws"
    ws.mkdir()
    con = _workspace(ws)
    runs = ws / "runs" / RUN / "review_items"
    assert store_exceptions(con, RUN, _written(con, runs / "a", 3)) == 3
    assert _in_database(con) == []
    item = next(i for i in get_items(con, RUN, [r for (r,) in con.execute(
        "SELECT review_id FROM review_queue").fetchall()]) if i["entity_id"] == "C000000001")
    decision_writes([_planned(item, "asha.rao", "checked", None, None)])(con)
    assert _in_database(con) == [("C000000001", "confirmed")]
    assert store_exceptions(con, RUN, _written(con, runs / "b", 5)) == 4
    assert dict(con.execute("SELECT status, count(*) FROM review_queue GROUP BY 1")
                .fetchall()) == {"confirmed": 1, "open": 4}
    con.close()
    from segflow.governance.review_sets import discard
    from segflow.settings import Settings

    stray = _written(duckdb.connect(), runs / "stray", 1)  # a governance that failed
    for folder in (runs / "b", stray):  # after its commit: kept; before: removed
        discard(Settings(home=ws), RUN, folder)
    assert sorted(p.name for p in runs.iterdir()) == ["a", "b"]
    shutil.copytree(ws, tmp_path / "copy")
    shutil.rmtree(runs)
    copy = duckdb.connect(str(tmp_path / "copy" / "segflow.duckdb"))
    define_view(copy)
    assert copy.execute("SELECT count(*) FROM review_queue").fetchone()[0] == 5


def test_a_run_whose_items_are_damaged_or_gone_is_refused_and_no_other(tmp_path):
    """One run's part file damaged, another's folder gone: the workspace still opens, each
    of the two runs' queue is refused with one line naming it, doctor reports both, and a
    third run's items are still counted and decided."""
    from segflow.db import connect
    from segflow.governance.doctor import review_items
    from segflow.governance.review import _planned, decision_writes
    from segflow.governance.review_cli import list_items
    from segflow.settings import Settings

    ws = tmp_path / "ws"
    ws.mkdir()
    con = _workspace(ws)
    folders = {run: _written(con, ws / "runs" / run / "review_items" / "a", 3, run)
               for run in ("r1", "r2", "r3")}
    for run, folder in folders.items():
        assert store_exceptions(con, run, folder) == 3
    con.close()
    (folders["r1"] / "part-00000.parquet").write_bytes(b"not parquet")
    import shutil

    shutil.rmtree(folders["r2"])
    settings = Settings(home=ws)
    for run, problem in (("r1", r"unreadable \(File '[^']+' too small to be a Parquet file\)"),
                         ("r2", r"missing \(")):
        with pytest.raises(SegflowError, match=rf"^the review items of run {run} are "
                                               rf"{problem}.*`segflow govern {run}`\)$"):
            list_items(settings, run, "open")
    with connect(settings) as c:
        assert [(f.subject, f.ok) for f in review_items(c)] == [("r1", False), ("r2", False)]
        (item_id,) = c.execute("SELECT review_id FROM review_queue WHERE run_id = 'r3' "
                               "ORDER BY 1 LIMIT 1").fetchone()
        item = get_items(c, "r3", [item_id])[0]
        decision_writes([_planned(item, "asha.rao", "checked", None, None)])(c)
        assert dict(c.execute("SELECT status, count(*) FROM review_queue WHERE run_id = 'r3' "
                              "GROUP BY 1").fetchall()) == {"confirmed": 1, "open": 2}


def test_a_keyed_queue_of_an_older_workspace_is_rebuilt_without_its_key(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("""CREATE TABLE review_queue (review_id VARCHAR PRIMARY KEY, run_id VARCHAR,
        campaign VARCHAR, entity_id VARCHAR, rule VARCHAR, detail VARCHAR,
        cohort_before VARCHAR, proposed_cohort VARCHAR, template VARCHAR, status VARCHAR,
        decided_by VARCHAR, decided_at TIMESTAMPTZ, reason VARCHAR, override_to VARCHAR,
        move INTEGER, base_before VARCHAR, base_proposed VARCHAR)""")
    con.execute("INSERT INTO review_queue (review_id, run_id, entity_id, status, move) "
                "VALUES ('Ra', 'r1', 'C1', 'open', 2), ('Rb', 'r1', 'C2', 'confirmed', 0)")
    before = con.execute("SELECT * FROM review_queue ORDER BY review_id").fetchall()
    ensure_schema(con)
    keys = con.execute("SELECT count(*) FROM information_schema.table_constraints WHERE "
                       "table_name = 'review_queue'").fetchone()[0]
    assert keys == 0
    assert con.execute("SELECT * FROM review_queue ORDER BY review_id").fetchall() == before
    assert con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = "
                       "'review_queue'").fetchall() == [("VIEW",)]  # over review_rows now
    con.execute("INSERT INTO review_rows (review_id, run_id) VALUES ('Ra', 'r2')")


class _FailsAt:
    """A workspace connection whose statement containing ``text`` fails, as a crash or a
    full disk would there."""

    def __init__(self, con, text: str):
        self.con, self.text = con, text

    def execute(self, sql, *args):
        if self.text in sql:
            raise duckdb.IOException("disk full")
        return self.con.execute(sql, *args)


def test_a_migration_that_fails_midway_leaves_the_keyed_queue_whole(tmp_path):
    """The rebuild drops the old table before renaming the new one: a failure between them
    rolls the whole rebuild back, rows and key as they were, to be tried again."""
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("CREATE TABLE review_queue (review_id VARCHAR PRIMARY KEY, run_id VARCHAR)")
    con.execute("INSERT INTO review_queue VALUES ('Ra', 'r1'), ('Rb', 'r1')")
    with pytest.raises(duckdb.IOException, match="disk full"):
        ensure_schema(_FailsAt(con, "RENAME TO review_queue"))
    assert con.execute("SELECT review_id, run_id FROM review_queue ORDER BY 1").fetchall() == [
        ("Ra", "r1"), ("Rb", "r1")]
    assert con.execute("SELECT count(*) FROM information_schema.table_constraints WHERE "
                       "table_name = 'review_queue' AND constraint_type = 'PRIMARY KEY'"
                       ).fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                       "table_name = 'review_queue_unkeyed'").fetchone()[0] == 0


def test_items_are_fetched_in_the_order_asked_with_a_clear_error_for_a_wrong_one(tmp_path):
    con = _workspace(tmp_path)
    con.execute(f"""INSERT INTO review_rows ({QUEUE_COLS}) VALUES
        ('Ra', 'r1', 'holi', 'C1', 'big_mover', '', NULL, 'a', 'a', 'open'),
        ('Rb', 'r1', 'holi', 'C2', 'big_mover', '', NULL, 'a', 'a', 'open'),
        ('Rc', 'r2', 'holi', 'C3', 'big_mover', '', NULL, 'a', 'a', 'open'),
        ('Rd', 'r1', 'holi', 'C4', 'big_mover', '', NULL, 'a', 'a', 'open'),
        ('Rd', 'r2', 'holi', 'C5', 'big_mover', '', NULL, 'a', 'a', 'open')""")
    assert [i["entity_id"] for i in get_items(con, "r1", ["Rb", "Ra", "Rd"])] \
        == ["C2", "C1", "C4"]
    with pytest.raises(SegflowError, match="review item Rc belongs to run r2, not r1"):
        get_items(con, "r1", ["Ra", "Rc"])
    with pytest.raises(SegflowError, match="no review item 'Rz'"):
        get_items(con, "r1", ["Rz"])
    with pytest.raises(SegflowError, match="'Rd' is in runs r1, r2"):
        get_items(con, None, ["Rd"])
