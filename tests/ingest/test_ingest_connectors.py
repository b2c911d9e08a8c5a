"""SQL databases (through SQLAlchemy) and DuckDB files feed canonical tables like files do."""

from __future__ import annotations

import dataclasses
import sqlite3

import duckdb
import pyarrow.parquet as pq
import pytest

from segflow.errors import SchemaChangedError
from segflow.ingest.pipeline import run_ingest

BILLING = [("INV1", "C1", "2026-01-15", 1000.0, 400.0, "core"),
           ("INV2", "C1", "2026-02-15", -100.0, -40.0, "core"),
           ("INV3", "C404", "2026-02-15", 50.0, 10.0, "core")]


def test_sqlite_table_through_sqlalchemy_with_column_mapping(home, sources, customers_csv):
    folder = sources("sources: {}\n").parent
    with sqlite3.connect(folder / "billing.db") as db:
        db.execute("CREATE TABLE invoices (invoice_no TEXT, acct TEXT, invoice_date TEXT, "
                   "revenue REAL, margin REAL, product_line TEXT)")
        db.executemany("INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?)", BILLING)
    path = sources("""
        sources:
          customers: {kind: csv, path: customers.csv}
          billing:
            kind: sql
            url: sqlite:///billing.db
            table: invoices
            columns: {invoice_id: invoice_no, account_id: acct}
        """, customers__csv=customers_csv(("C1", "a@x.com")))
    report = run_ingest(home, path)
    billing = pq.read_table(home.canonical_dir / "billing.parquet").to_pylist()
    assert [r["invoice_id"] for r in billing] == ["INV1", "INV2"]
    assert sum(r["revenue"] for r in billing) == 900.0
    assert report.tables["billing"].quarantined == {"orphan:account_id": 1}
    assert report.tables["billing"].source.startswith("sql:sqlite:///")


def test_sqlite_query_source(home, sources, customers_csv):
    folder = sources("sources: {}\n").parent
    with sqlite3.connect(folder / "billing.db") as db:
        db.execute("CREATE TABLE inv (id TEXT, acct TEXT, d TEXT, rev REAL, m REAL, pl TEXT)")
        db.executemany("INSERT INTO inv VALUES (?, ?, ?, ?, ?, ?)", BILLING)
    path = sources("""
        sources:
          customers: {kind: csv, path: customers.csv}
          billing:
            kind: sql
            url: sqlite:///billing.db
            query: "select id as invoice_id, acct as account_id, d as invoice_date, rev as revenue,
                    m as margin, pl as product_line from inv where rev > 0"
        """, customers__csv=customers_csv(("C1", "a@x.com")))
    run_ingest(home, path)
    billing = pq.read_table(home.canonical_dir / "billing.parquet").to_pylist()
    assert [r["invoice_id"] for r in billing] == ["INV1"]


def test_duckdb_file_source(home, sources, customers_csv):
    folder = sources("sources: {}\n").parent
    with duckdb.connect(str(folder / "events.duckdb")) as db:
        db.execute("CREATE TABLE ev AS SELECT * FROM (VALUES "
                   "('E1', 'C1', TIMESTAMP '2026-01-01 10:00:00', 'EMAIL', 'open'), "
                   "('E2', 'C1', TIMESTAMP '2026-01-02 10:00:00', 'sms', 'teleport')) "
                   "t(event_id, customer_id, event_ts, channel, event_type)")
    path = sources("""
        sources:
          customers: {kind: csv, path: customers.csv}
          engagement_events: {kind: duckdb, path: events.duckdb, table: ev,
                              timezone: Asia/Kolkata}
        """, customers__csv=customers_csv(("C1", "a@x.com")))
    report = run_ingest(home, path)
    events = pq.read_table(home.canonical_dir / "engagement_events.parquet").to_pylist()
    assert [(e["event_id"], e["channel"]) for e in events] == [("E1", "email")]
    # a TIMESTAMP without zone is read in the declared zone: 10:00 in Kolkata is 04:30 UTC
    assert events[0]["event_ts"].isoformat() == "2026-01-01T04:30:00+00:00"
    assert report.tables["engagement_events"].quarantined == {"not_allowed:event_type": 1}


def test_a_typed_timestamp_without_zone_needs_a_declared_zone(home, sources, customers_csv):
    folder = sources("sources: {}\n").parent
    with duckdb.connect(str(folder / "events.duckdb")) as db:
        db.execute("CREATE TABLE ev AS SELECT 'E1' AS event_id, 'C1' AS customer_id, "
                   "TIMESTAMP '2026-01-01 10:00:00' AS event_ts, 'email' AS channel, "
                   "'open' AS event_type")
    path = sources("""
        sources:
          customers: {kind: csv, path: customers.csv}
          engagement_events: {kind: duckdb, path: events.duckdb, table: ev}
        """, customers__csv=customers_csv(("C1", "a@x.com")))
    project = dataclasses.replace(home.project, declared_timezone=None)  # segflow.yaml has none
    with pytest.raises(SchemaChangedError, match=r"'event_ts'.*without a zone.*timezone: .*"
                                                 r"or the project's in segflow.yaml"):
        run_ingest(dataclasses.replace(home, project=project), path)
    assert not (home.canonical_dir / "customers.parquet").exists()
