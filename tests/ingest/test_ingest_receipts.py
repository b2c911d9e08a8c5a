"""The contracts control trusts ingest's receipt only while the file is the one ingest
checked: a canonical table edited afterwards is scanned again and its faults are named."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from segflow.governance.controls import contracts_hold
from segflow.ingest.contract import load_contracts
from segflow.ingest.pipeline import run_ingest
from segflow.settings import get_settings

ORDERS = ("O1,C1,2026-03-01,100,INR,1,sweets,holi,web,completed",
          "O2,C1,2026-03-02,20,INR,2,apparel,,app,completed")


def _canonical(home) -> dict:
    return {t: home.canonical_dir / f"{t}.parquet" for t in ("customers", "orders")}


def _ingested(home, orders_sources) -> dict:
    run_ingest(home, orders_sources(*ORDERS))
    return _canonical(home)


def test_files_unchanged_since_ingest_are_proved_by_their_receipt(home, orders_sources):
    canonical = _ingested(home, orders_sources)
    result = contracts_hold(duckdb.connect(), canonical, _contracts())
    assert result.passed
    assert result.figures["rows_proved_at_ingest"] == ["customers", "orders"]


def test_a_file_edited_after_ingest_is_scanned_and_its_duplicate_named(home, orders_sources):
    canonical = _ingested(home, orders_sources)
    orders = pq.read_table(canonical["orders"])
    pq.write_table(pa.concat_tables([orders, orders.slice(0, 1)]), canonical["orders"])

    result = contracts_hold(duckdb.connect(), canonical, _contracts())
    assert not result.passed
    assert result.figures["rows_proved_at_ingest"] == ["customers"]
    assert "orders: 1 duplicate key(s) on order_id" in result.figures["problems"]


def test_recheck_scans_every_table_even_with_receipts(home, orders_sources):
    canonical = _ingested(home, orders_sources)
    result = contracts_hold(duckdb.connect(), canonical, _contracts(), recheck=True)
    assert result.passed and result.figures["rows_proved_at_ingest"] == []


def _edit_in_place(path, old: bytes, new: bytes) -> None:
    """Overwrite the first occurrence of ``old`` in the data pages (before the footer) and
    set the modification time back, as the attack in issue 13 did."""
    import os

    stat = path.stat()
    data = bytearray(path.read_bytes())
    footer_start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    at = data.index(old, 4, footer_start)
    data[at:at + len(old)] = new
    with path.open("r+b") as fh:   # in place: same inode, same size
        fh.write(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_an_in_place_edit_with_the_mtime_restored_is_caught(home, sources, customers_csv):
    from segflow.receipts import proved, read_receipts

    text = customers_csv(*((f"C{i}", f"c{i}@x.com") for i in range(40)))
    path = sources("sources:\n  customers: {kind: csv, path: customers.csv}\n",
                   customers__csv=text.replace(",english,", ",hindi,"))
    run_ingest(home, path)
    customers = home.canonical_dir / "customers.parquet"
    before = customers.stat()
    footer = pq.ParquetFile(customers).metadata.serialized_size
    assert proved(home.canonical_dir, "customers", customers) is not None

    _edit_in_place(customers, b"hindi", b"HINDI")          # 5 bytes of the dictionary page
    after = customers.stat()
    # what the old fingerprint compared is unchanged: size, mtime, footer
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert pq.ParquetFile(customers).metadata.serialized_size == footer
    assert "sha256" in read_receipts(home.canonical_dir)["customers"]
    assert proved(home.canonical_dir, "customers", customers) is None

    result = contracts_hold(duckdb.connect(), {"customers": customers}, _contracts())
    assert not result.passed
    assert result.figures["rows_proved_at_ingest"] == []
    assert "customers.preferred_language: 40 not allowed value(s)" in result.figures["problems"]


def test_doctor_names_a_changed_and_a_truncated_canonical_table(home, orders_sources):
    from segflow.doctor import examine

    canonical = _ingested(home, orders_sources)
    _edit_in_place(canonical["orders"], b"sweets", b"SWEETS")
    canonical["customers"].write_bytes(canonical["customers"].read_bytes()[:100])
    found = {f.subject: f for f in examine(home, repair=True) if f.area == "canonical"}
    changed, cut = found["canonical/orders.parquet"], found["canonical/customers.parquet"]
    assert "changed since ingest checked it" in changed.problem and not changed.repaired
    assert "re-run `segflow ingest`" in changed.fix
    assert "not a readable Parquet file" in cut.problem and not cut.repaired
    assert canonical["customers"].stat().st_size == 100     # never "repaired" by doctor


def _contracts():
    return load_contracts(get_settings().contracts_dir)
