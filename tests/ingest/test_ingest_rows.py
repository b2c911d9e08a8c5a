"""Row-level checks: every bad row is quarantined with its reason, and no row goes missing."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segflow.errors import SchemaChangedError
from segflow.ingest.pipeline import run_ingest

ORDERS = {  # order_id -> (row, expected reason or None)
    "O1": ("O1,C1,2026-03-01 10:00:00+05:30,100.5,INR,1,sweets,holi,web,completed", None),
    "O2": ("O2,C1,2026-03-02,20,GBP,2,apparel,,app,completed", None),
    "O3": ("O3,C9,2026-03-02,20,USD,1,apparel,,app,completed", "orphan:customer_id"),
    "O4": ("O4,C1,31/02/2026,20,USD,1,apparel,,app,completed", "unparsable_date:order_ts"),
    "O5": ("O5,C1,2026-03-02,20,XYZ,1,apparel,,app,completed", "unknown_currency:currency"),
    "O6": ("O6,C1,2026-03-02,20,USD,0,apparel,,app,completed", "out_of_range:quantity"),
    "O7": ("O7,C1,2026-03-02,20,USD,-2,apparel,,app,completed", "out_of_range:quantity"),
    "O8": ("O8,C1,2026-03-02,20,USD,1,toys,,app,completed", "not_allowed:category"),
    "O9": ("O9,C1,2026-03-02,abc,USD,1,apparel,,app,completed", "unparsable_number:amount"),
    "": (",C1,2026-03-02,20,USD,1,apparel,,app,completed", "missing_key:order_id"),
}


@pytest.fixture
def world(orders_sources):
    """Write one good customer and the ORDERS (plus extra rows); return sources.yaml."""
    def write(extra_orders=()):
        return orders_sources(*(r for r, _ in ORDERS.values()), *extra_orders)

    return write


def test_bad_rows_are_quarantined_with_their_reason_and_rows_conserved(home, world):
    duplicate = "O1,C1,2026-03-05,1,INR,1,sweets,,web,completed"
    report = run_ingest(home, world([duplicate]))

    orders = report.tables["orders"]
    assert orders.rows_in == len(ORDERS) + 1
    assert orders.rows_in == orders.accepted + orders.quarantined_total
    quarantine = pq.read_table(home.quarantine_dir / "orders.parquet").to_pylist()
    got = {(r["order_id"] or "", r["_reason"]) for r in quarantine}
    expected = {(k, reason) for k, (_, reason) in ORDERS.items() if reason}
    assert got == expected | {("O1", "duplicate_key:order_id")}
    dup = next(r for r in quarantine if r["_reason"].startswith("duplicate"))
    assert dup["order_ts"] == "2026-03-05"          # the later copy, as original text
    assert all(r["_source"].endswith("orders.csv") for r in quarantine)
    o4 = next(r for r in quarantine if r["order_id"] == "O4")
    assert o4["order_ts"] == "31/02/2026"

    saved = json.loads((home.quarantine_dir / "report.json").read_text())
    assert saved["tables"]["orders"]["quarantined"]["out_of_range:quantity"] == 2


def test_canonical_orders_have_contract_types_and_inr_amounts(home, world):
    run_ingest(home, world())
    table = pq.read_table(home.canonical_dir / "orders.parquet")
    assert table.schema.field("order_ts").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("quantity").type == pa.int64()
    rows = {r["order_id"]: r for r in table.to_pylist()}
    assert set(rows) == {"O1", "O2"}
    assert rows["O2"]["amount_inr"] == pytest.approx(20 * 107.0)   # GBP rate in fx_rates.yaml
    assert rows["O2"]["festival"] is None
    assert rows["O1"]["order_ts"].isoformat() == "2026-03-01T04:30:00+00:00"  # its offset kept


def test_renamed_column_stops_ingest_naming_source_column_and_type(home, world):
    path = world()
    text = path.parent.joinpath("orders.csv").read_text().replace("order_ts", "ordered_at", 1)
    path.parent.joinpath("orders.csv").write_text(text)
    with pytest.raises(SchemaChangedError) as err:
        run_ingest(home, path)
    message = str(err.value)
    assert "orders" in message and "'order_ts'" in message and "timestamp" in message
    assert not (home.canonical_dir / "customers.parquet").exists()   # nothing half-written


def test_text_in_a_numeric_column_is_schema_drift(home, world):
    path = world()
    csv = path.parent / "orders.csv"
    lines = csv.read_text().splitlines()
    rows = [line.replace(",20,", ",twenty,").replace(",100.5,", ",lots,") for line in lines[1:]]
    csv.write_text("\n".join([lines[0], *rows]) + "\n")
    with pytest.raises(SchemaChangedError, match=r"'amount' \(expected float\).*text"):
        run_ingest(home, path)


def test_parquet_column_retyped_is_schema_drift(home, world, sources):
    import datetime as dt

    folder = world().parent
    pq.write_table(pa.table({"order_id": ["O1"], "customer_id": ["C1"],
                             "order_ts": [dt.datetime(2026, 3, 1)],
                             "amount": [dt.datetime(2026, 3, 1)], "currency": ["INR"],
                             "quantity": [1], "category": ["sweets"], "festival": [None],
                             "channel": ["web"], "status": ["completed"]}),
                   folder / "orders.parquet")
    path = sources("sources:\n  customers: {kind: csv, path: customers.csv}\n"
                   "  orders: {kind: parquet, path: orders.parquet}\n")
    drift = r"'amount' \(expected float\) arrives as TIMESTAMP"
    with pytest.raises(SchemaChangedError, match=drift):
        run_ingest(home, path)


def test_rows_doubled_after_the_source_is_read_stop_the_ingest(home, world, monkeypatch):
    """Rows in are the source's rows (its own numbering), not the checked rows recounted:
    a row doubled after the numbering (here one order copied into the checked table) must
    stop the ingest (rows not conserved), not be loaded or quarantined twice."""
    from segflow.errors import SegflowError
    from segflow.ingest import pipeline

    def doubling(con, typed, contract, *args, **kwargs):
        checked = check_rows(con, typed, contract, *args, **kwargs)
        if contract.table == "orders":
            con.execute(f"INSERT INTO {checked} SELECT * FROM {checked} LIMIT 1")
        return checked

    check_rows = pipeline.check_rows
    monkeypatch.setattr(pipeline, "check_rows", doubling)
    with pytest.raises(SegflowError, match=r"orders.*rows not conserved: 10 in"):
        run_ingest(home, world())


def test_a_merge_map_naming_a_customer_twice_doubles_no_row(home, world, monkeypatch):
    """Merged customer ids are replaced in place after the checks (an update, not a join
    in the pass), before the reference check: an order of merged customer C2 is loaded
    once, as its survivor C1's, even when the merge map names C2 twice."""
    from segflow.ingest import pipeline

    doubled = pa.table({"merged_id": ["C2", "C2"], "survivor_id": ["C1", "C1"],
                        "matched_on": ["email", "phone"]})
    monkeypatch.setattr(pipeline, "find_duplicates", lambda _customers: doubled)
    report = run_ingest(home, world(["O10,C2,2026-03-02,20,USD,1,apparel,,app,completed"]))
    orders = report.tables["orders"]
    assert orders.rows_in == len(ORDERS) + 1
    assert orders.rows_in == orders.accepted + orders.quarantined_total
    table = pq.read_table(home.canonical_dir / "orders.parquet").to_pylist()
    assert [r["customer_id"] for r in table if r["order_id"] == "O10"] == ["C1"]


def test_an_unknown_customer_is_the_reason_where_its_check_comes_first(home, world):
    """The reference check runs after the pass but keeps its place among the checks: an
    unknown customer outranks a bad category (a later column) and is outranked by a
    missing key (checked first); the quarantined row keeps its original text."""
    report = run_ingest(home, world(["O11,C9,2026-03-02,20,USD,1,toys,,app,completed",
                                     ",C9,2026-03-02,20,USD,1,toys,,app,completed"]))
    quarantine = pq.read_table(home.quarantine_dir / "orders.parquet").to_pylist()
    reasons = {(r["order_id"], r["_reason"]) for r in quarantine if r["customer_id"] == "C9"}
    assert ("O11", "orphan:customer_id") in reasons
    assert (None, "missing_key:order_id") in reasons
    o11 = next(r for r in quarantine if r["order_id"] == "O11")
    assert o11["category"] == "toys" and o11["order_ts"] == "2026-03-02"
    assert report.tables["orders"].quarantined["orphan:customer_id"] == 2   # O3 and O11


def test_typed_parquet_columns_are_quarantined_as_their_text(home, world, sources):
    """A Parquet source's timestamps and numbers are staged as they are and turned into
    text only for the rows the quarantine keeps: a row a check failed (its text kept by
    the check pass) and a later copy of a key (read again from the staged view) both
    carry every value as text."""
    import datetime as dt

    folder = world().parent
    at = [dt.datetime(2026, 3, d, 10, 30, tzinfo=dt.UTC) for d in (1, 2, 3)]
    pq.write_table(pa.table({"order_id": ["O1", "O2", "O1"], "customer_id": ["C1"] * 3,
                             "order_ts": pa.array(at, pa.timestamp("us", tz="UTC")),
                             "amount": [100.5, 20.0, 7.25], "currency": ["INR"] * 3,
                             "quantity": [1, 0, 3], "category": ["sweets"] * 3,
                             "festival": [None] * 3, "channel": ["web"] * 3,
                             "status": ["completed"] * 3}), folder / "orders.parquet")
    path = sources("sources:\n  customers: {kind: csv, path: customers.csv}\n"
                   "  orders: {kind: parquet, path: orders.parquet}\n")
    report = run_ingest(home, path)

    assert report.tables["orders"].rows_in == 3 == report.tables["orders"].accepted + 2
    quarantine = pq.read_table(home.quarantine_dir / "orders.parquet")
    assert quarantine.schema.field("order_ts").type == pa.string()
    got = {r["_reason"]: (r["order_ts"], r["amount"], r["quantity"])
           for r in quarantine.to_pylist()}
    assert got == {"out_of_range:quantity": ("2026-03-02 10:30:00+00", "20.0", "0"),
                   "duplicate_key:order_id": ("2026-03-03 10:30:00+00", "7.25", "3")}
