"""The contracts control trusts ingest's receipt only while the file is the one ingest
checked: a canonical table edited afterwards is scanned again and its faults are named."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from governance.controls import contracts_hold
from ingest.contract import load_contracts
from ingest.pipeline import run_ingest

SOURCES = """
sources:
  customers: {kind: csv, path: customers.csv}
  orders: {kind: csv, path: orders.csv}
"""
ORDERS = ("order_id,customer_id,order_ts,amount,currency,quantity,category,festival,channel,"
          "status\nO1,C1,2026-03-01,100,INR,1,sweets,holi,web,completed\n"
          "O2,C1,2026-03-02,20,INR,2,apparel,,app,completed\n")


def _canonical(home) -> dict:
    return {t: home.canonical_dir / f"{t}.parquet" for t in ("customers", "orders")}


def _ingested(home, sources, customers_csv) -> dict:
    run_ingest(home, sources(SOURCES, customers__csv=customers_csv(("C1", "a@x.com")),
                             orders__csv=ORDERS))
    return _canonical(home)


def test_files_unchanged_since_ingest_are_proved_by_their_receipt(home, sources,
                                                                  customers_csv):
    canonical = _ingested(home, sources, customers_csv)
    result = contracts_hold(duckdb.connect(), canonical, load_contracts())
    assert result.passed
    assert result.figures["rows_proved_at_ingest"] == ["customers", "orders"]


def test_a_file_edited_after_ingest_is_scanned_and_its_duplicate_named(home, sources,
                                                                       customers_csv):
    canonical = _ingested(home, sources, customers_csv)
    orders = pq.read_table(canonical["orders"])
    pq.write_table(pa.concat_tables([orders, orders.slice(0, 1)]), canonical["orders"])

    result = contracts_hold(duckdb.connect(), canonical, load_contracts())
    assert not result.passed
    assert result.figures["rows_proved_at_ingest"] == ["customers"]
    assert "orders: 1 duplicate key(s) on order_id" in result.figures["problems"]


def test_recheck_scans_every_table_even_with_receipts(home, sources, customers_csv):
    canonical = _ingested(home, sources, customers_csv)
    result = contracts_hold(duckdb.connect(), canonical, load_contracts(), recheck=True)
    assert result.passed and result.figures["rows_proved_at_ingest"] == []
