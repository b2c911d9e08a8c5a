"""What the streaming, spilling ingest must keep: source order, first-good-copy rule, cleanup."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segflow.errors import SchemaChangedError
from segflow.ingest.pipeline import run_ingest


def _order(oid, ts="2026-03-01", amount="10"):
    return f"{oid},C1,{ts},{amount},INR,1,sweets,,web,completed"


def test_first_good_copy_of_a_key_wins_even_after_a_bad_copy(home, orders_sources):
    rows = [_order("O9"), _order("O1", ts="not a date"), _order("O1", amount="11"),
            _order("O1", amount="12"), _order("O2"), _order("O0")]
    report = run_ingest(home, orders_sources(*rows))

    canonical = pq.read_table(home.canonical_dir / "orders.parquet").to_pylist()
    assert [r["order_id"] for r in canonical] == ["O9", "O1", "O2", "O0"]   # source order
    assert next(r for r in canonical if r["order_id"] == "O1")["amount"] == 11
    quarantine = pq.read_table(home.quarantine_dir / "orders.parquet").to_pylist()
    assert [(r["_row"], r["_reason"]) for r in quarantine] == [
        (2, "unparsable_date:order_ts"), (4, "duplicate_key:order_id")]
    assert report.tables["orders"].rows_in == len(rows)


def test_spill_folder_is_removed_after_success_and_after_failure(home, orders_sources):
    path = orders_sources(_order("O1"))
    run_ingest(home, path)
    assert not list(home.home.glob(".ingest-spill-*"))

    csv = path.parent / "orders.csv"
    csv.write_text(csv.read_text().replace("order_ts", "ordered_at", 1))
    with pytest.raises(SchemaChangedError):
        run_ingest(home, path)
    assert not list(home.home.glob(".ingest-spill-*"))


def test_a_checked_table_is_read_as_it_lies_only_when_stored_in_source_order():
    """The write skips the sort by _row only for a table whose row n holds _row n: one
    created from a numbered scan (several row groups, several threads) is; a reordered one
    is not (the write then sorts it)."""
    import duckdb

    from segflow.ingest.checks import in_source_order

    con = duckdb.connect(config={"threads": 4})
    con.execute("CREATE TABLE checked_t AS SELECT * FROM (SELECT row_number() OVER () "
                "AS _row, i, NULL::VARCHAR AS _reason FROM range(300000) r(i))")
    assert in_source_order(con, "checked_t")
    con.execute("CREATE TABLE shuffled AS SELECT * FROM checked_t ORDER BY hash(_row)")
    assert not in_source_order(con, "shuffled")
    con.execute("CREATE TABLE empty AS SELECT * FROM checked_t LIMIT 0")
    assert in_source_order(con, "empty")


@pytest.mark.slow
def test_a_world_far_larger_than_the_memory_limit_is_ingested_within_it(tmp_path,
                                                                         monkeypatch):
    """The checked tables are ordinary tables of a DuckDB file, which DuckDB writes out and
    evicts, so the ingest finishes within its memory limit however large the sources are.
    As in-memory temporary tables part of them stayed resident: the 10M-customer world
    failed out of memory on a 3 GB limit, and this 200,000-customer world (about 0.6 GB of
    checked rows) on 128 and 192 MB limits. 160 MB here: room both ways."""
    from segflow.ingest import pipeline
    from segflow.ingest.synthetic.writer import write_holi_sources
    from segflow.settings import Settings

    settings = Settings(home=tmp_path / "ws").ensure()
    sources_yaml, _ = write_holi_sources(tmp_path / "sources", tmp_path / "truth", 200_000)
    monkeypatch.setattr(pipeline, "MEMORY_CAP_MB", 160)
    report = run_ingest(settings, sources_yaml)
    events = report.tables["engagement_events"]
    assert events.rows_in > 9_000_000 and events.written > 0.99 * events.rows_in
    assert pq.read_metadata(settings.canonical_dir / "engagement_events.parquet").num_rows \
        == events.written
    assert not list(settings.home.glob(".ingest-spill-*"))


def test_a_streamed_table_gets_the_same_row_groups_however_its_batches_arrive(tmp_path):
    """A parallel scan hands the writer batches whose sizes vary from run to run; the file
    must not: every row group but the last holds exactly the batch size, so the same rows
    give the same bytes (receipts hash the files)."""
    import duckdb

    from segflow.ingest import output

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS n FROM range(10)")
    schema = pa.schema([("n", pa.int64())])
    sizes = []
    for cut in ([3, 3, 4], [1, 9], [10], [2, 2, 2, 2, 2]):
        starts = [sum(cut[:i]) for i in range(len(cut))]
        batches = [pa.record_batch([pa.array(range(s, s + n), pa.int64())], schema=schema)
                   for s, n in zip(starts, cut, strict=True)]
        parts = list(output._even(iter(batches), 4, schema))
        assert pa.concat_tables(parts).column("n").to_pylist() == list(range(10))
        sizes.append([t.num_rows for t in parts])
    assert sizes == [[4, 4, 2]] * 4

    path = tmp_path / "t.parquet"
    output.StagedWriter(tmp_path / "journal").parquet_query(con, "SELECT * FROM t", path)
    assert pq.ParquetFile(path.with_name(path.name + output.STAGED)).metadata.num_rows == 10


def test_a_streamed_table_dictionary_encodes_only_its_few_valued_columns(tmp_path):
    """Ids and times are written plain, a column of a few values (a channel) as a
    dictionary: pyarrow's default tries a dictionary for every column and falls back for
    the distinct ones, 40% of the write's time at 50M events. The rows read back equal."""
    import duckdb

    from segflow.ingest import output

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'id-' || range AS event_id, "
                "['email', 'sms', 'push'][range % 3 + 1] AS channel, "
                "TIMESTAMP '2026-01-01' + INTERVAL (range) SECOND AS at, range % 2 = 0 AS even, "
                "NULL AS nothing FROM range(50000)")
    path = tmp_path / "t.parquet"
    assert output.StagedWriter(tmp_path / "journal").parquet_query(
        con, "SELECT * FROM t", path) == 50_000
    staged = path.with_name(path.name + output.STAGED)
    group = pq.ParquetFile(staged).metadata.row_group(0)
    dictionary = {group.column(i).path_in_schema: group.column(i).has_dictionary_page
                  for i in range(group.num_columns)}
    assert dictionary == {"event_id": False, "channel": True, "at": False, "even": False,
                          "nothing": False}
    assert pq.read_table(staged).equals(con.sql("SELECT * FROM t").to_arrow_table())


def test_a_query_that_fails_mid_stream_stops_the_write_with_its_error(tmp_path):
    """Batches are computed one step ahead on a thread of their own; an error there
    (here a cast that fails past the first batch) still reaches the caller, as pyarrow's
    reader gives it (an OSError carrying DuckDB's message)."""
    import duckdb

    from segflow.ingest import output

    con = duckdb.connect()
    sql = ("SELECT CAST(CASE WHEN range < 3000000 THEN '1' ELSE 'x' END AS INTEGER) AS n "
           "FROM range(3000001)")
    with pytest.raises(OSError, match="Could not convert string 'x'"):
        output.StagedWriter(tmp_path / "journal").parquet_query(con, sql, tmp_path / "t.parquet")
