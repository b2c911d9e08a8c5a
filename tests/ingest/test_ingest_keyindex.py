"""The key index of a canonical table's files (segflow.keyindex): an incremental load's
lookup of its keys among the table's reads the index, not the table's key column, and an
index that is not its file's is never used."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segflow import keyindex
from segflow.ingest.output import StagedWriter
from segflow.ingest.pipeline import _write_index, old_rows_sql

ROWS = 200_000


@pytest.fixture
def table(tmp_path):
    """A committed base of 200,000 events (string ids, in row groups of 20,000, as a full
    ingest leaves it) with its key index."""
    canonical = tmp_path / "canonical"
    canonical.mkdir()
    base = canonical / "events.parquet"
    ids = pa.array([f"E{i:09d}" for i in range(ROWS)])
    pq.write_table(pa.table({"event_id": ids, "n": pa.array(range(ROWS))}), base,
                   row_group_size=20_000)
    with duckdb.connect() as con:
        writer = StagedWriter(canonical / "_journal.json")
        _write_index(con, writer, base, ["event_id"])
        writer.commit()
    return base


def bytes_read(con, sql: str, profile) -> int:
    """What DuckDB read from files to run ``sql`` (its JSON profile)."""
    con.execute("PRAGMA enable_profiling='json'")
    con.execute(f"PRAGMA profiling_output='{profile}'")
    con.execute(f"CREATE OR REPLACE TABLE result AS {sql}")
    con.execute("PRAGMA disable_profiling")
    return json.loads(profile.read_text())["io"]["total_bytes_read"]


def lookup(con, base, new: int, old: list[int], tmp_path) -> tuple[int, list]:
    """The old rows of a load of ``new`` new keys and the ``old`` ones, and the bytes read."""
    keys = [f"E{i:09d}-new" for i in range(new)] + [f"E{i:09d}" for i in old]
    con.register("load", pa.table({"event_id": keys}))
    con.execute("CREATE OR REPLACE TABLE delta_keys_events AS SELECT * FROM load")
    writer = StagedWriter(base.parent / "_journal.json")
    sql = old_rows_sql(con, writer, base, "events", ["event_id"])
    read = bytes_read(con, sql, tmp_path / "profile.json")
    assert not writer.targets   # the index was trusted: nothing rebuilt
    return read, con.execute("SELECT n FROM result ORDER BY n").fetchall()


def test_a_load_of_new_keys_reads_none_of_the_tables_key_column(table, tmp_path):
    """10,000 new keys: none of the table's row groups is read, only its footer (the plain
    semi-join reads its whole key column); with three old keys among them, exactly their
    rows come back."""
    key_column = pq.ParquetFile(table).metadata
    column_bytes = sum(key_column.row_group(g).column(0).total_compressed_size
                       for g in range(key_column.num_row_groups))
    with duckdb.connect() as con:
        read, rows = lookup(con, table, 10_000, [], tmp_path)
        assert rows == [] and read < column_bytes / 50   # the footer, no row group
        plain = bytes_read(con, f"SELECT t.* FROM read_parquet('{table}') t SEMI JOIN "
                           "delta_keys_events USING (event_id)", tmp_path / "plain.json")
        assert plain >= column_bytes
        _, rows = lookup(con, table, 10_000, [5, 70_000, ROWS - 1], tmp_path)
        assert rows == [(5,), (70_000,), (ROWS - 1,)]


@pytest.mark.parametrize("spoil", ["truncated", "other keys", "other types", "other hash",
                                   "other file", "not an index"])
def test_an_index_not_of_its_file_is_not_used(table, spoil):
    """Its header must name its file's fingerprint, the key columns and types, and the hash
    function; a cut short or foreign file is no index."""
    index = keyindex.path_of(table)
    with duckdb.connect() as con:
        assert keyindex.load(table, ["event_id"], ["VARCHAR"]) is not None
        keys, types = ["event_id"], ["VARCHAR"]
        if spoil == "truncated":
            index.write_bytes(index.read_bytes()[:-8])
        elif spoil == "other keys":
            keys = ["n"]
        elif spoil == "other types":
            types = ["BIGINT"]
        elif spoil == "other hash":
            head = index.read_bytes()
            index.write_bytes(head.replace(b'"duckdb ', b'"duckdX '))
        elif spoil == "other file":
            con.execute(f"COPY (SELECT * FROM read_parquet('{table}') WHERE n > 0) "
                        f"TO '{table}'")
        else:
            index.write_bytes(b"PAR1" + b"\0" * 64)
    assert keyindex.load(table, keys, types) is None


def test_found_is_exact_on_hashes():
    """A binary search per query: found where the sorted index holds the hash, past both
    ends included."""
    import numpy as np

    index = np.array([3, 9, 27], dtype="<u8")
    queries = np.array([0, 3, 4, 27, 28, 9], dtype="<u8")
    assert keyindex.found(index, queries).tolist() == [False, True, False, True, False, True]
    assert keyindex.found(np.zeros(0, dtype="<u8"), queries).tolist() == [False] * 6


def test_found_by_blocks_equals_membership(monkeypatch):
    """Searched block by block (blocks of 7 here, so that many queries fall on a block's
    first or last hash, before the first block or past the last), sorted and unsorted
    queries give exact membership."""
    import numpy as np

    monkeypatch.setattr(keyindex, "SEARCH_BLOCK", 7)
    rng = np.random.default_rng(0)
    index = np.unique(rng.integers(0, 2**64, 1000, dtype="<u8"))
    queries = np.concatenate([index[::3], index[:1] - 1, index[-1:] + 1,
                              rng.integers(0, 2**64, 500, dtype="<u8")])
    want = np.isin(queries, index)
    assert 300 < want.sum() < len(queries)
    assert keyindex.found(index, np.sort(queries)).tolist() == np.isin(np.sort(queries),
                                                                         index).tolist()
    assert keyindex.found(index, queries).tolist() == want.tolist()


def test_distinct_sorts_and_drops_repeats():
    """Hashes sorted with repeats dropped (a load's keys, the keys several files hold)."""
    import numpy as np

    h = np.array([5, 3, 3, 9, 1, 5], dtype="<u8")
    assert keyindex.distinct(h).tolist() == [1, 3, 5, 9]
    assert keyindex.distinct(np.array([2, 1], dtype="<u8")).tolist() == [1, 2]
    assert keyindex.distinct(np.zeros(0, dtype="<u8")).tolist() == []


def test_hashes_are_every_distinct_key_hash_sorted():
    """The streamed index (hashes below 2^63 filled from the front, the rest from the end,
    the two parts sorted apart) equals the distinct hashes sorted whole, repeats dropped,
    over more rows than one batch."""
    import numpy as np

    with duckdb.connect() as con:
        con.execute("CREATE TABLE k AS SELECT 'K' || (i % 1500000) AS id "
                    "FROM range(2000000) t(i)")
        got = keyindex.hashes(con, "k", ["id"], ["VARCHAR"])
        want = np.unique(con.execute("SELECT hash(id) AS h FROM k").fetchnumpy()["h"])
    assert len(want) == 1_500_000 and (want < keyindex.HALF).any() and (want >= keyindex.HALF).any()
    assert got.dtype == np.dtype("<u8") and np.array_equal(got, want)


def test_repeated_is_each_hash_seen_more_than_once():
    """The repeated hashes of a selection (fewer rows than the slots given: the two sorted
    parts leave a gap between them) equal DuckDB's grouping of the same hashes."""
    import numpy as np

    with duckdb.connect() as con:
        con.execute("CREATE TABLE k AS SELECT 'K' || (i % 1200000) AS id, i "
                    "FROM range(2000000) t(i)")
        sql = "SELECT hash(id) AS h FROM k WHERE i % 5 <> 0"
        got = keyindex.repeated(*keyindex.sorted_parts(con, sql, 2_000_000))
        want = np.sort(con.execute(f"SELECT h FROM ({sql}) GROUP BY h HAVING count(*) > 1"
                                   ).fetchnumpy()["h"])
    assert len(want) > 100_000 and np.array_equal(got, want)
