"""Incremental loads by watermark: only new rows are read, merged by key (upserts, deletes by
tombstone), and the canonical tables then equal a full rebuild's; the watermark is committed
only with the data, so a kill -9 anywhere in a load loses and doubles nothing."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import textwrap
from pathlib import Path

import duckdb
import pytest

from segflow import canonical
from segflow.errors import ConfigError, SegflowError
from segflow.ingest import connectors
from segflow.ingest.incremental import WATERMARKS, state_path
from segflow.ingest.pipeline import ShrinkRefused, run_ingest
from segflow.ingest.sources import read_sources
from segflow.receipts import JOURNAL, proved
from segflow.settings import get_settings, set_home

CUSTOMER_COLUMNS = ("customer_id, email, phone, name, signup_ts, region, country, city, "
                    "preferred_language, consent_email, consent_sms, consent_push, "
                    "consent_ads, onboarding_completed, updated_at, deleted")
ORDER_COLUMNS = ("order_id, customer_id, order_ts, amount, currency, quantity, category, "
                 "festival, channel, status, updated_at, deleted")
SOURCES = """\
    as_of: 2027-01-01
    max_shrink: 0.5
    compact_after: {share: 10, loads: 3}
    sources:
      customers: {kind: sql, url: "sqlite:///crm.db", table: customers,
                  cursor: {column: updated_at}, tombstone: deleted}
      orders: {kind: sql, url: "sqlite:///crm.db", table: orders,
               cursor: {column: updated_at}, tombstone: deleted}
    """
TABLES = ("customers", "orders", "customer_merge_map")


def customer(i: int, at: str, email: str | None = None, name: str | None = None,
             signup: str = "2025-01-01", deleted: int = 0) -> tuple:
    return (f"C{i}", email or f"c{i}@x.com", None, name or f"Name {i}", signup, "Maharashtra",
            "IN", "Pune", "hindi", "true", "true", "true", "true", "true", at, deleted)


def order(i: int, cid: int, at: str, amount: float = 100.0, currency: str = "INR",
          deleted: int = 0) -> tuple:
    return (f"O{i}", f"C{cid}", "2026-03-01T10:00:00Z", amount, currency, 1, "sweets", None,
            "web", "completed", at, deleted)


class Crm:
    """A SQLite CRM whose rows are inserted, updated in place and soft-deleted."""

    def __init__(self, folder: Path):
        self.path = folder / "crm.db"
        with sqlite3.connect(self.path) as db:
            db.execute(f"CREATE TABLE customers ({CUSTOMER_COLUMNS})")
            db.execute(f"CREATE TABLE orders ({ORDER_COLUMNS})")
        (folder / "sources.yaml").write_text(textwrap.dedent(SOURCES))
        self.sources = folder / "sources.yaml"

    def upsert(self, table: str, rows: list[tuple]) -> None:
        key = "customer_id" if table == "customers" else "order_id"
        with sqlite3.connect(self.path) as db:
            db.executemany(f"DELETE FROM {table} WHERE {key} = ?", [(r[0],) for r in rows])
            db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})",
                           rows)


def first_load(crm: Crm) -> None:
    """20 customers; 30 orders of customers 0-9 bar C4 (who is deleted later)."""
    crm.upsert("customers", [customer(i, "2026-01-01 00:00:00") for i in range(20)])
    crm.upsert("orders", [order(i, [0, 1, 2, 3, 5, 6, 7, 8, 9][i % 9], "2026-01-01 00:00:00")
                          for i in range(30)])


def changes(crm: Crm, at: str, n: int) -> None:
    """Batch ``n`` of changes: new and changed customers, a new duplicate, a deletion; new,
    changed, deleted and badly changed orders, and an order of an unknown customer."""
    base = 100 * n
    crm.upsert("customers", [customer(base + i, at) for i in range(3)] +
               [customer(3, at, name=f"Renamed {n}"),
                customer(base + 50, at, email="c2@x.com", signup="2025-06-01")])
    crm.upsert("orders", [order(base + i, [base, 1, 5][i % 3], at) for i in range(4)] +
               [order(n, 1, at, amount=200.0 + n),            # changed
                order(10 + n, 6, at, deleted=1),              # deleted
                order(20 + n, 7, at, currency="XXX"),         # changed, now quarantined
                order(base + 99, 404, at)])                   # unknown customer


def rebuilt(crm: Crm, tmp_path: Path):
    """A full ingest of the same sources into a fresh workspace."""
    set_home(tmp_path / "full")
    try:
        settings = get_settings().ensure()
        run_ingest(settings, crm.sources, full=True)
        return settings
    finally:
        set_home(None)


def tables(settings) -> dict[str, list]:
    """Each table as its readers see it: the base and its deltas merged (segflow.canonical)."""
    return {t: duckdb.sql(f"{canonical.sql(settings.canonical_dir / f'{t}.parquet')} "
                          "ORDER BY ALL").fetchall() for t in TABLES}


@pytest.fixture
def crm(tmp_path) -> Crm:
    folder = tmp_path / "sources"
    folder.mkdir()
    return Crm(folder)


def test_incremental_load_reads_only_changes_and_equals_a_full_rebuild(home, crm, tmp_path):
    first_load(crm)
    first = run_ingest(home, crm.sources)
    assert first.tables["orders"].written == 30
    changes(crm, "2026-01-02 00:00:00", 1)
    crm.upsert("customers", [customer(4, "2026-01-02 00:00:00", deleted=1)])

    report = run_ingest(home, crm.sources)

    assert report.full_because is None
    orders = report.tables["orders"]
    # read: 8 changed rows, and the 27 unchanged ones at the last watermark, read again
    # (>=: a row written in the same instant as the last one read is not skipped)
    assert (orders.load, orders.rows_in) == ("incremental", 8 + 27)
    assert (orders.deleted, orders.quarantined) == (1, {"unknown_currency:currency": 1,
                                                        "orphan:customer_id": 1})
    assert orders.rows_in == orders.accepted + orders.quarantined_total
    assert orders.written == 30 + 4 - 1 - 1   # new, minus deleted, minus the withdrawn one
    customers = report.tables["customers"]
    # 18 unchanged at the watermark, read again, and 5 changed
    assert (customers.upserted, customers.deleted, customers.merged) == (18 + 5, 1, 1)
    assert tables(home) == tables(rebuilt(crm, tmp_path))


@pytest.mark.parametrize("key, reasons", [
    # the merge key is the contract's: the earlier version is superseded, not quarantined
    ("[order_id]", {}),
    # a merge key wider than the contract's keeps both versions: the later copy of the
    # contract key is a duplicate, whichever load reads it
    ("[order_id, customer_id]", {"duplicate_key:order_id": 1}),
])
def test_a_key_twice_in_one_load_is_superseded_or_a_duplicate_by_the_merge_key(
        home, crm, key, reasons):
    crm.sources.write_text(crm.sources.read_text().replace(
        "table: orders,", f"table: orders, key: {key},"))
    first_load(crm)
    with sqlite3.connect(crm.path) as db:   # O0 again, under another customer
        db.execute(f"INSERT INTO orders VALUES ({', '.join('?' * 12)})",
                   order(0, 2, "2026-01-02 00:00:00"))
    report = run_ingest(home, crm.sources, full=True)
    assert report.tables["orders"].quarantined == reasons
    assert report.tables["orders"].written == 30


def test_nothing_new_reads_only_the_boundary_and_changes_nothing(home, crm):
    first_load(crm)
    run_ingest(home, crm.sources)
    before = (home.canonical_dir / "orders.parquet").read_bytes()
    crm.upsert("orders", [order(99, 1, "2025-12-31 00:00:00")])   # older than the watermark
    report = run_ingest(home, crm.sources)
    assert report.tables["orders"].rows_in == 30    # only the rows at the watermark itself
    assert report.tables["orders"].written == 30
    assert duckdb.sql(f"SELECT count(*) FROM '{home.canonical_dir}/orders.parquet' "
                      "WHERE order_id = 'O99'").fetchall() == [(0,)]
    assert before != b""


def test_a_deleted_customer_with_orders_makes_the_load_full(home, crm, tmp_path):
    first_load(crm)
    crm.upsert("orders", [order(99, 0, "2026-01-01 12:00:00")])   # the watermark moves past
    run_ingest(home, crm.sources)
    crm.upsert("customers", [customer(1, "2026-01-02 00:00:00", deleted=1)])
    report = run_ingest(home, crm.sources)
    assert report.full_because == "orders.customer_id refers to customers 'C1', removed"
    assert report.tables["orders"].quarantined == {"orphan:customer_id": 4}
    assert tables(home) == tables(rebuilt(crm, tmp_path))


def test_a_customer_whose_survivor_moves_makes_the_load_full(home, crm, customers_csv):
    """Customers read whole, orders by cursor: an earlier sign-up with C2's email makes C2's
    orders, already rewritten to C2, belong to C0; only a full load can rewrite them."""
    crm.upsert("orders", [order(1, 2, "2026-01-01 00:00:00")])
    folder = crm.sources.parent
    crm.sources.write_text(textwrap.dedent("""\
        as_of: 2027-01-01
        sources:
          customers: {kind: csv, path: customers.csv}
          orders: {kind: sql, url: "sqlite:///crm.db", table: orders,
                   cursor: {column: updated_at}}
        """))
    (folder / "customers.csv").write_text(customers_csv(("C1", "a@x.com"), ("C2", "b@x.com")))
    run_ingest(home, crm.sources)
    (folder / "customers.csv").write_text(customers_csv(
        ("C1", "a@x.com"), ("C2", "b@x.com"), ("C0", "b@x.com", "", "2024-01-01")))
    report = run_ingest(home, crm.sources)
    assert report.full_because == "1 customer(s) changed survivor"
    assert duckdb.sql(f"SELECT customer_id FROM '{home.canonical_dir}/orders.parquet'"
                      ).fetchall() == [("C0",)]


def test_a_changed_source_voids_its_watermark(home, crm):
    first_load(crm)
    run_ingest(home, crm.sources)
    crm.sources.write_text(crm.sources.read_text().replace(", tombstone: deleted}", "}", 1))
    report = run_ingest(home, crm.sources)
    assert report.full_because == ("customers's source, cursor, key or tombstone changed "
                                   "since its watermark was taken")


def test_full_rebuild_ignores_the_watermark(home, crm):
    first_load(crm)
    run_ingest(home, crm.sources)
    report = run_ingest(home, crm.sources, full=True)
    assert (report.full_because, report.tables["orders"].rows_in) == ("--full", 30)


@pytest.mark.parametrize("order_by", ["name", "mtime"])
def test_files_cursor_reads_only_new_files(home, sources, customers_csv, tmp_path, order_by):
    header = ("order_id,customer_id,order_ts,amount,currency,quantity,category,festival,"
              "channel,status,gone\n")
    line = "O{0},C1,2026-03-01T10:00:00Z,{1},INR,1,sweets,,web,completed,{2}\n"
    path = sources(f"""
        as_of: 2027-01-01
        sources:
          customers: {{kind: csv, path: customers.csv}}
          orders: {{kind: csv, path: "orders_*.csv", cursor: {{files: {order_by}}},
                   tombstone: gone}}
        """, customers__csv=customers_csv(("C1", "a@x.com")),
        orders_1__csv=header + "".join(line.format(i, 10, "") for i in range(5)))
    run_ingest(home, path)
    (path.parent / "orders_2.csv").write_text(
        header + line.format(1, 99, "") + line.format(2, 0, "true") + line.format(7, 5, "")
        + line.format(7, 6, ""))
    report = run_ingest(home, path).tables["orders"]
    assert (report.rows_in, report.upserted, report.deleted, report.superseded) == (4, 2, 1, 1)
    amounts = dict(duckdb.sql(f"SELECT order_id, amount FROM "
                              f"'{home.canonical_dir}/orders.parquet'").fetchall())
    assert amounts == {"O0": 10, "O1": 99, "O3": 10, "O4": 10, "O7": 6}
    again = run_ingest(home, path)
    assert again.tables["orders"].load == "unchanged"
    full = run_ingest(home, path, full=True).tables["orders"]
    assert (full.rows_in, full.written, full.superseded) == (9, 5, 3)


def test_a_load_of_new_keys_only_keeps_the_old_rows_whole_and_equals_a_full_rebuild(
        home, sources, customers_csv, tmp_path):
    """New customers and orders only (no key the tables hold): the old rows are kept as
    they are, every row read counts as changed, and the tables equal a full rebuild's."""
    header = ("order_id,customer_id,order_ts,amount,currency,quantity,category,festival,"
              "channel,status\n")
    line = "O{0},C{1},2026-03-01T10:00:00Z,10,INR,1,sweets,,web,completed\n"
    path = sources("""
        as_of: 2027-01-01
        sources:
          customers: {kind: csv, path: "customers_*.csv", cursor: {files: name}}
          orders: {kind: csv, path: "orders_*.csv", cursor: {files: name}}
        """, customers_1__csv=customers_csv(("C1", "a@x.com"), ("C2", "b@x.com")),
        orders_1__csv=header + line.format(1, 1) + line.format(2, 2))
    run_ingest(home, path)
    (path.parent / "customers_2.csv").write_text(customers_csv(("C3", "c@x.com")))
    (path.parent / "orders_2.csv").write_text(header + line.format(3, 3) + line.format(4, 1))
    report = run_ingest(home, path)
    assert report.full_because is None
    assert [(t.load, t.rows_in, t.changed, t.written) for t in report.tables.values()] == [
        ("incremental", 1, 1, 3), ("incremental", 2, 2, 4)]
    set_home(tmp_path / "full")
    try:
        full = get_settings().ensure()
        run_ingest(full, path, full=True)
    finally:
        set_home(None)
    assert tables(home) == tables(full)


def test_sql_source_is_streamed_in_batches(tmp_path, monkeypatch, crm):
    crm.upsert("orders", [order(i, 1, "2026-01-01") for i in range(10)])
    spec = next(s for s in read_sources(crm.sources, get_settings().contracts_dir).specs
                if s.table == "orders")
    monkeypatch.setattr(connectors, "SQL_BATCH", 3)
    glob = connectors._read_sql(spec, tmp_path / "spill")
    assert len(list(Path(glob).parent.glob("*.parquet"))) == 4   # 3 + 3 + 3 + 1 rows
    since = connectors.Since("order_id", "O7", "VARCHAR")        # the database filters
    glob = connectors._read_sql(dataclasses.replace(spec, table="o2"), tmp_path / "s2", since)
    assert duckdb.sql(f"SELECT count(*) FROM '{glob}'").fetchall() == [(3,)]


def test_cursor_must_be_a_column_or_files(home, sources, customers_csv):
    path = sources("""
        sources:
          customers: {kind: csv, path: customers.csv, cursor: updated_at}
        """, customers__csv=customers_csv(("C1", "a@x.com")))
    with pytest.raises(ConfigError, match=r"sources.yaml:2.*cursor is \{column"):
        read_sources(path, home.contracts_dir)


POINTS = ("ingest.checked", "ingest.write", "ingest.staged", "ingest.commit", "ingest.renaming")


def killed_ingest(settings, sources: Path, point: str) -> int:
    """Run an ingest in a forked child that SIGKILLs itself at ``point`` (segflow.faults):
    a real kill -9 of a real process, without paying a fresh interpreter's imports."""
    pid = os.fork()
    if pid == 0:   # the child: never returns into pytest
        try:
            run_ingest(dataclasses.replace(settings, faults=f"{point}=kill"), sources)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status)


def test_kill_9_during_incremental_loads_loses_and_doubles_nothing(home, crm, tmp_path):
    """Killed at five points of five incremental loads, each followed by a rerun: the tables
    always equal a full rebuild of the sources as they are."""
    first_load(crm)
    run_ingest(home, crm.sources)
    for n, point in enumerate(POINTS, start=1):
        changes(crm, f"2026-01-{n + 1:02d} 00:00:00", n)
        mark = state_path(home, WATERMARKS).read_text()
        assert killed_ingest(home, crm.sources, point) == signal.SIGKILL
        # the watermark has not moved; from the journal on (commit, renaming), the next run
        # rolls the commit forward and the watermark moves with the tables
        assert state_path(home, WATERMARKS).read_text() == mark
        assert (home.canonical_dir / JOURNAL).exists() == (point in POINTS[3:])
        rerun = run_ingest(home, crm.sources)
        assert rerun.full_because is None
        got = tables(home)
        assert got == tables(rebuilt(crm, tmp_path / point))
        ids = [r[0] for r in got["orders"]]
        assert len(ids) == len(set(ids))
        # delta files numbered without a gap; the third load compacts (compact_after
        # loads: 3); a load killed during its commit is rolled forward by the rerun, so
        # it counts (points 4 and 5: two loads each); nothing staged is left behind
        seqs = sorted({int(n[:6]) for n in delta_files(home, "orders")})
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == [1, 2, 0, 2, 1][n - 1]
        assert not [n for n in delta_files(home, "orders") if n.endswith(".staged")]
        assert indexes_hold_their_files(home, "orders") and counted_right(home, "orders")


def test_kill_9_while_a_compaction_removes_deltas_rolls_forward(home, crm, tmp_path):
    """A compaction killed between its renames and its removals: readers refuse the half
    switched table (new base, old deltas) until the next run completes it (11 s at load 15)."""
    first_load(crm)
    run_ingest(home, crm.sources)
    for n in (1, 2):
        changes(crm, f"2026-01-0{n + 1} 00:00:00", n)
        run_ingest(home, crm.sources)
    changes(crm, "2026-01-04 00:00:00", 3)
    assert killed_ingest(home, crm.sources, "ingest.renaming") == signal.SIGKILL
    assert (home.canonical_dir / JOURNAL).exists()
    with pytest.raises(SegflowError, match="segflow doctor"):
        canonical.sql(home.canonical_dir / "orders.parquet")
    assert run_ingest(home, crm.sources).full_because is None
    # deltas 1 and 2 went with the compaction; the rerun (re-reading the rows at the
    # watermark) wrote a new first delta
    assert delta_files(home, "orders") == ["000001.keyhash", "000001.keys.parquet",
                                          "000001.parquet"]
    assert tables(home) == tables(rebuilt(crm, tmp_path))


def test_whole_file_source_left_be_until_its_files_change_or_an_orphan_may_resolve(
        home, sources, customers_csv):
    """A file source without a cursor is read again only when the last read quarantined
    an orphan (its customer may have arrived) or its file changed."""
    header = "order_id,customer_id,order_ts,amount,currency,quantity,category,festival,"\
             "channel,status\n"
    line = "O{0},C{1},2026-03-01T10:00:00Z,10,INR,1,sweets,,web,completed\n"
    path = sources("""
        as_of: 2027-01-01
        sources:
          customers: {kind: csv, path: "customers_*.csv", cursor: {files: name}}
          orders: {kind: csv, path: orders.csv}
        """, customers_1__csv=customers_csv(("C1", "a@x.com")),
        orders__csv=header + line.format(1, 1) + line.format(2, 2))
    assert run_ingest(home, path).tables["orders"].written == 1       # O2: orphan

    def load(customer: int) -> object:
        (path.parent / f"customers_{customer}.csv").write_text(
            customers_csv((f"C{customer}", f"c{customer}@x.com")))
        return run_ingest(home, path).tables["orders"]

    orders = load(2)                     # C2 arrives: the orphan must be judged again
    assert (orders.load, orders.rows_in, orders.written) == ("full", 2, 2)
    assert load(3).load == "unchanged"   # no orphan left, the same file: not read
    (path.parent / "orders.csv").write_text(header + "".join(line.format(i, i)
                                                             for i in (1, 2, 3)))
    orders = load(4)
    assert (orders.load, orders.written) == ("full", 3)


def delta_files(settings, table: str) -> list[str]:
    return sorted(p.name for p in (settings.canonical_dir / "_delta" / table).glob("*"))


def test_incremental_loads_write_deltas_never_rewrite_the_base_and_compact(
        home, crm, tmp_path):
    """Each load adds its rows and keys as delta files (the base's bytes stay); the merged
    view equals a full rebuild after each load and after compact_after's third load folds
    the deltas into the base (4 s quiet, 15 s at load 15)."""
    first_load(crm)
    run_ingest(home, crm.sources)
    base = (home.canonical_dir / "orders.parquet").read_bytes()
    for n in (1, 2):
        changes(crm, f"2026-01-0{n + 1} 00:00:00", n)
        report = run_ingest(home, crm.sources)
        assert report.tables["orders"].delta == n
        assert (home.canonical_dir / "orders.parquet").read_bytes() == base
        assert delta_files(home, "orders") == [f"{s:06d}{x}" for s in range(1, n + 1)
                                               for x in (".keyhash", ".keys.parquet", ".parquet")]
        assert tables(home) == tables(rebuilt(crm, tmp_path / f"load{n}"))
        assert proved(home.canonical_dir, "orders", home.canonical_dir / "orders.parquet")
    changes(crm, "2026-01-04 00:00:00", 3)   # compact_after loads: 3 -> folded into the base
    third = run_ingest(home, crm.sources).tables["orders"]
    assert (third.delta, third.folded) == (None, 2)   # the report says what it folded
    assert delta_files(home, "orders") == []
    assert (home.canonical_dir / "orders.parquet").read_bytes() != base
    assert tables(home) == tables(rebuilt(crm, tmp_path / "load3"))


def test_a_tables_rows_are_counted_from_footers_and_what_each_delta_replaced(home, crm):
    """With deltas, a table's rows are the base's footer count plus each delta's, less the
    rows each keys file records its keys replaced: equal to counting the merged view, with
    no read of the table (a wrong record gives a wrong count); a keys file without the
    record (written before it was kept) is counted by reading the merged view."""
    import pyarrow.parquet as pq

    first_load(crm)
    run_ingest(home, crm.sources)
    base = home.canonical_dir / "orders.parquet"
    for n in (1, 2):
        changes(crm, f"2026-01-0{n + 1} 00:00:00", n)
        written = run_ingest(home, crm.sources).tables["orders"].written
        merged = duckdb.sql(f"SELECT count(*) FROM {canonical.source(base)}").fetchall()[0][0]
        assert canonical.count(base) == written == merged
    keys = canonical.deltas(base)[-1][2]
    recorded = pq.read_table(keys)
    replaced = int(recorded.schema.metadata[canonical.REPLACED])
    pq.write_table(recorded.replace_schema_metadata({canonical.REPLACED: b"%d" % (replaced + 1)}),
                   keys)
    assert canonical.count(base) == merged - 1
    pq.write_table(recorded.replace_schema_metadata(None), keys)
    assert canonical.count(base) == merged


def test_compact_and_full_fold_the_deltas_in_and_keep_the_merged_view(home, crm):
    """`segflow ingest --compact` (nothing new: every table) and `--full` leave no delta
    and the same tables as the merged view before them (4 s quiet, 10 s at load 15)."""
    first_load(crm)
    run_ingest(home, crm.sources)
    for n in (1, 2):
        changes(crm, f"2026-01-0{n + 1} 00:00:00", n)
        run_ingest(home, crm.sources)
        assert delta_files(home, "customers") and delta_files(home, "orders")
        merged = tables(home)
        report = run_ingest(home, crm.sources, compact=n == 1, full=n == 2)
        assert delta_files(home, "customers") == delta_files(home, "orders") == []
        assert tables(home) == merged
        assert report.tables["customers"].folded == report.tables["orders"].folded == 1


def test_compact_says_what_it_folded_and_when_there_was_nothing(home, crm, cli):
    """`segflow ingest --compact` names each table whose deltas it folded, and says so in
    one line when no table had any (it ran the load and the summary alone before; 8 s)."""
    first_load(crm)
    run_ingest(home, crm.sources)
    changes(crm, "2026-01-02 00:00:00", 1)
    run_ingest(home, crm.sources)
    folded = cli(home.home, "ingest", "--sources", crm.sources, "--compact")
    assert folded.code == 0, folded.err
    lines = [x for x in folded.out.splitlines() if "compacted:" in x]
    assert sorted(x.split()[0] for x in lines) == ["customers", "orders"]
    assert all("1 delta file(s) folded into a new base" in x for x in lines)
    again = cli(home.home, "ingest", "--sources", crm.sources, "--compact")
    assert again.code == 0, again.err
    assert "compacted:" not in again.out
    assert "--compact: no table had delta files to fold" in again.out


def test_a_changed_delta_file_voids_its_receipt_and_doctor_names_it(home, crm):
    """One receipt per delta file: the contracts control re-checks a table whose delta
    changed, and doctor names the file (3 s)."""
    from segflow.ingest.doctor import tables as doctor_tables

    first_load(crm)
    run_ingest(home, crm.sources)
    changes(crm, "2026-01-02 00:00:00", 1)
    run_ingest(home, crm.sources)
    base = home.canonical_dir / "orders.parquet"
    assert proved(home.canonical_dir, "orders", base)
    assert all(f.ok for f in doctor_tables(home))
    delta = home.canonical_dir / "_delta" / "orders" / "000001.parquet"
    delta.write_bytes(delta.read_bytes())     # same bytes: still proved
    assert proved(home.canonical_dir, "orders", base)
    (delta.parent / "000001.keys.parquet").write_bytes(base.read_bytes())
    assert proved(home.canonical_dir, "orders", base) is None
    bad = [f.subject for f in doctor_tables(home) if not f.ok]
    assert bad == ["canonical/_delta/orders/000001.keys.parquet"]


def test_every_reader_of_a_canonical_table_sees_its_deltas(home, crm):
    """Each reader's output on a workspace with deltas equals its output once they are
    compacted: a reader that read the base alone would miss the loads (13 s at load 15)."""
    first_load(crm)
    run_ingest(home, crm.sources)
    for n in (1, 2):
        changes(crm, f"2026-01-0{n + 1} 00:00:00", n)
        crm.upsert("customers", [customer(10 + n, f"2026-01-0{n + 1} 00:00:00", deleted=1)])
        run_ingest(home, crm.sources)
    assert delta_files(home, "customers") and delta_files(home, "orders")
    with_deltas = reader_outputs(home)
    run_ingest(home, crm.sources, compact=True)
    assert delta_files(home, "customers") == delta_files(home, "orders") == []
    compacted = reader_outputs(home)
    assert with_deltas == compacted
    assert len(compacted["engine"]["orders"]) == 30 + 2 * 4 - 2 * 2


def reader_outputs(settings) -> dict:
    """What each reader of canonical tables gives for customers and orders."""
    from segflow.featurestore.engine import canonical_connection
    from segflow.governance.controls import contracts_hold
    from segflow.governance.exports import people
    from segflow.governance.pipeline import canonical_tables
    from segflow.governance.revenue import _src
    from segflow.ingest.contract import load_contracts
    from segflow.training.datasets import _read_canonical

    out: dict = {}
    con, _ = canonical_connection(settings)
    out["engine"] = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                     for t in ("customers", "orders")}
    con.close()
    out["training"] = {t: _read_canonical(settings, t, "SELECT * FROM t ORDER BY ALL", {})
                       .astype(str).values.tolist() for t in ("customers", "orders")}
    paths = canonical_tables(settings)
    out["revenue"] = duckdb.sql(f"SELECT sum(amount), count(*) FROM {_src(paths['orders'])}"
                                ).fetchall()
    out["exports"] = duckdb.sql(f"SELECT * FROM {people(None, paths).source} ORDER BY ALL"
                                ).fetchall()
    control = contracts_hold(duckdb.connect(), paths, load_contracts(settings.contracts_dir),
                             recheck=True)
    out["control"] = (control.passed, control.figures["problems"])
    return out


def test_a_delta_load_that_would_shrink_a_table_past_max_shrink_is_refused(home, crm):
    """The shrink check counts the table as its readers see it, base and deltas: tombstones
    for 20 of 30 orders (more than max_shrink 0.5) are refused, no delta written (3 s)."""
    first_load(crm)
    run_ingest(home, crm.sources)
    changes(crm, "2026-01-02 00:00:00", 1)
    run_ingest(home, crm.sources)
    assert delta_files(home, "orders")
    before = tables(home)
    crm.upsert("orders", [order(i, 1, "2026-01-03 00:00:00", deleted=1) for i in range(20)])
    with pytest.raises(ShrinkRefused, match="orders would go from 32 to 13 rows"):
        run_ingest(home, crm.sources)
    assert delta_files(home, "orders") == ["000001.keyhash", "000001.keys.parquet",
                                          "000001.parquet"]
    assert tables(home) == before


def indexes_hold_their_files(settings, table: str) -> bool:
    """Every file of the table (base and deltas) has a key index that is its own (not
    stale) and holds exactly the hashes of its keys; no index lies beside no file."""
    from segflow import keyindex

    base = settings.canonical_dir / f"{table}.parquet"
    key = [f"{table[:-1]}_id"]
    files = canonical.files(base)
    with duckdb.connect() as con:
        for data in files:
            relation = f"read_parquet('{data}')"
            types = keyindex.key_types(con, relation, key)
            index = keyindex.load(data, key, types)
            if index is None or not (index == keyindex.hashes(con, relation, key, types)).all():
                return False
    found = {p for p in [keyindex.path_of(base), *canonical.delta_dir(base).glob("*.keyhash")]
             if p.exists()}
    return found == {keyindex.path_of(f) for f in files}


def counted_right(settings, table: str) -> bool:
    """The table's rows counted from its footers (each delta's replaced rows, which the key
    index finds) equal the merged view's: a key the index missed would overcount."""
    base = settings.canonical_dir / f"{table}.parquet"
    merged = duckdb.sql(f"SELECT count(*) FROM {canonical.source(base)}").fetchall()[0][0]
    return canonical.count(base) == merged


def test_key_indexes_follow_loads_deletes_merges_and_compaction(home, crm, tmp_path):
    """Each load writes the index of its delta; a deleted key, a changed one and a merged
    customer are found in it (the counts stay right); the compaction's new base gets its
    own index and the compacted deltas' indexes go with them."""
    first_load(crm)
    run_ingest(home, crm.sources)
    for n in (1, 2, 3):   # compact_after loads: 3, so the third folds the deltas in
        changes(crm, f"2026-01-0{n + 1} 00:00:00", n)
        # a key of the last load's delta changed again, one of the base deleted
        crm.upsert("orders", [order(100 * (n - 1) + 1, 1, f"2026-01-0{n + 1} 00:00:00",
                                    amount=7.0 + n), order(25, 8, f"2026-01-0{n + 1} 00:00:00",
                                                           deleted=1)])
        report = run_ingest(home, crm.sources)
        assert report.full_because is None
        assert report.tables["customers"].merged == n
        for table in ("customers", "orders"):
            assert indexes_hold_their_files(home, table)
            assert counted_right(home, table)
        assert tables(home) == tables(rebuilt(crm, tmp_path / f"load{n}"))
    assert report.tables["orders"].delta is None and report.tables["orders"].folded == 2
    assert not delta_files(home, "orders")


def test_a_stale_or_missing_key_index_is_rebuilt_never_trusted(home, crm, tmp_path):
    """An index that is not its file's (here the base's index from before a --full rebuild
    put back: it lacks the orders that rebuild added) is not trusted: the load finds a
    changed key of the new orders all the same, and writes the base a true index; a
    missing index likewise (one cut short or of other keys: test_ingest_keyindex)."""
    from segflow import keyindex

    first_load(crm)
    run_ingest(home, crm.sources)
    index = keyindex.path_of(home.canonical_dir / "orders.parquet")
    stale = index.read_bytes()
    changes(crm, "2026-01-02 00:00:00", 1)
    run_ingest(home, crm.sources, full=True)
    for n, spoil in enumerate((lambda: index.write_bytes(stale), index.unlink), start=2):
        spoil()
        crm.upsert("orders", [order(101, 1, f"2026-01-0{n + 1} 00:00:00", amount=50.0 + n)])
        orders = run_ingest(home, crm.sources).tables["orders"]
        assert orders.delta == n - 1
        assert orders.changed == 2   # the old row out, the new one in
        assert counted_right(home, "orders")
        assert indexes_hold_their_files(home, "orders")
    assert tables(home) == tables(rebuilt(crm, tmp_path))
