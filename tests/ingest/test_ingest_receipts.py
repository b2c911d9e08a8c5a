"""The contracts control trusts ingest's receipt only while the file is the one ingest
checked: a canonical table edited afterwards is scanned again and its faults are named."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from governance.controls import contracts_hold
from ingest.contract import load_contracts
from ingest.pipeline import run_ingest

ORDERS = ("O1,C1,2026-03-01,100,INR,1,sweets,holi,web,completed",
          "O2,C1,2026-03-02,20,INR,2,apparel,,app,completed")


def _canonical(home) -> dict:
    return {t: home.canonical_dir / f"{t}.parquet" for t in ("customers", "orders")}


def _ingested(home, orders_sources) -> dict:
    run_ingest(home, orders_sources(*ORDERS))
    return _canonical(home)


def test_files_unchanged_since_ingest_are_proved_by_their_receipt(home, orders_sources):
    canonical = _ingested(home, orders_sources)
    result = contracts_hold(duckdb.connect(), canonical, load_contracts())
    assert result.passed
    assert result.figures["rows_proved_at_ingest"] == ["customers", "orders"]


def test_a_file_edited_after_ingest_is_scanned_and_its_duplicate_named(home, orders_sources):
    canonical = _ingested(home, orders_sources)
    orders = pq.read_table(canonical["orders"])
    pq.write_table(pa.concat_tables([orders, orders.slice(0, 1)]), canonical["orders"])

    result = contracts_hold(duckdb.connect(), canonical, load_contracts())
    assert not result.passed
    assert result.figures["rows_proved_at_ingest"] == ["customers"]
    assert "orders: 1 duplicate key(s) on order_id" in result.figures["problems"]


def test_recheck_scans_every_table_even_with_receipts(home, orders_sources):
    canonical = _ingested(home, orders_sources)
    result = contracts_hold(duckdb.connect(), canonical, load_contracts(), recheck=True)
    assert result.passed and result.figures["rows_proved_at_ingest"] == []
