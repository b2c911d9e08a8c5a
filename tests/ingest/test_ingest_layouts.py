"""Sources described without code (docs/sources.md): text layouts, date formats, constants,
defaults, computed columns, globs, derived tables, credentials from the environment."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segflow.errors import ConfigError, SchemaChangedError
from segflow.ingest.pipeline import run_ingest
from segflow.ingest.sources import read_sources
from segflow.settings import get_settings, set_home

STARTER = Path(__file__).resolve().parents[2] / "segflow" / "starters" / "blank"

# a CD shop's export: customer, YYYYMMDD date, quantity, amount; runs of blanks between
TRANSACTIONS = """\
00001 19970101  1   11.77
00002 19970112  1   12.00
   00002 19970112  5   77.00
00003 19970102  2   20.76
00003 19970330  2   20.76
00004 1997XX01  1   29.33
00005 19970101  1   29.33  extra
"""
ORDERS_FROM_TEXT = """
    sources:
      customers:
        kind: derived
        from: orders
        query: SELECT customer_id, min(order_ts) AS signup_ts FROM orders GROUP BY customer_id
      orders:
        kind: csv
        path: transactions.txt
        delimiter: whitespace
        header: false
        names: [customer, date, units, dollars]
        formats: {order_ts: "%Y%m%d"}
        columns: {customer_id: customer, order_ts: date, quantity: units, amount: dollars}
        constants: {channel: store, category: null}
        defaults: {status: completed}
        computed:
          order_id: >-
            customer || '-' || date || '-' ||
            row_number() OVER (PARTITION BY customer, date)
    """


@pytest.fixture
def shop(tmp_path, monkeypatch):
    """The blank starter's project (customers + orders, USD) and an empty workspace."""
    root = tmp_path / "shop"
    shutil.copytree(STARTER, root)
    monkeypatch.setenv("SEGFLOW_PROJECT", str(root))
    monkeypatch.setenv("SEGFLOW_HOME", str(tmp_path / "ws"))
    set_home(None)
    return get_settings().ensure()


def _rows(home, table):
    return pq.read_table(home.canonical_dir / f"{table}.parquet").to_pylist()


def _quarantine(home, table):
    return pq.read_table(home.quarantine_dir / f"{table}.parquet").to_pylist()


def test_whitespace_text_without_header_with_formats_constants_and_derived_customers(
        shop, sources):
    home = shop
    path = sources(ORDERS_FROM_TEXT, transactions__txt=TRANSACTIONS)
    report = run_ingest(home, path)
    orders = {o["order_id"]: o for o in _rows(home, "orders")}
    assert sorted(orders) == ["00001-19970101-1", "00002-19970112-1", "00002-19970112-2",
                              "00003-19970102-1", "00003-19970330-1"]
    first = orders["00001-19970101-1"]
    assert (first["customer_id"], first["quantity"], first["amount"], first["currency"],
            first["amount_base"], first["category"], first["channel"], first["status"]) == \
        ("00001", 1, 11.77, None, 11.77, None, "store", "completed")
    assert first["order_ts"].isoformat() == "1997-01-01T00:00:00+00:00"
    t = report.tables["orders"]
    # the line with an extra field is refused by the reader; 00004's only order has a date
    # nobody can read, so 00004 has no sign-up, and its order no customer (the first check
    # that fails names the row's reason)
    assert t.quarantined == {"orphan:customer_id": 1, "too_many_fields:line": 1}
    assert t.rows_in == 7 == t.accepted + t.quarantined_total
    # one line per reason says where its first row is and what to do
    assert "transactions.txt:7: '00005\\t19970101" in t.first["too_many_fields:line"]
    assert "fix the line, or the source's `delimiter:`" in t.first["too_many_fields:line"]
    assert "transactions.txt, data row 6: customer_id = '00004'" in t.first["orphan:customer_id"]
    refused = [q for q in _quarantine(home, "orders") if q["_line"] is not None]
    assert [(q["_line"], q["_source"].endswith("transactions.txt")) for q in refused] == \
        [(7, True)]
    # customers: one per buyer, signed up at the first order
    customers = {c["customer_id"]: c["signup_ts"].date().isoformat()
                 for c in _rows(home, "customers")}
    assert customers["00003"] == "1997-01-02"
    assert "00005" not in customers      # its only line was refused by the reader
    assert report.tables["customers"].quarantined == {"missing_value:signup_ts": 1}
    assert sorted(customers) == ["00001", "00002", "00003"]
    assert report.tables["customers"].source == "derived:from orders"


def test_glob_of_semicolon_files_day_first_and_a_bad_line_names_its_file(
        home, sources, customers_csv):
    header = "id;buyer;when;amount;cur;qty;cat;fest;chan;state"
    path = sources("""
        sources:
          customers: {kind: csv, path: customers.csv}
          orders:
            kind: csv
            path: "orders_*.csv"
            delimiter: ";"
            quote: "'"
            formats: {order_ts: "%d/%m/%Y %H:%M"}
            timezone: Asia/Kolkata
            columns: {order_id: id, customer_id: buyer, order_ts: when, currency: cur,
                      quantity: qty, category: cat, festival: fest, channel: chan,
                      status: state}
        """, customers__csv=customers_csv(("C1", "a@x.com")),
        orders_1__csv=f"{header}\nO1;C1;31/12/2025 10:00;'1;5';INR;1;gifts;;web;completed\n",
        orders_2__csv=f"{header}\nO2;C1;01/02/2026 09:30;20;INR;1;gifts;;web;completed\n"
                      "O3;C1;'01/02/2026\n")
    report = run_ingest(home, path)
    orders = {o["order_id"]: o for o in _rows(home, "orders")}
    assert sorted(orders) == ["O2"]      # O1's quoted '1;5' is not a number
    assert orders["O2"]["order_ts"].isoformat() == "2026-02-01T04:00:00+00:00"  # IST 09:30
    assert report.tables["orders"].quarantined == {"unparsable_number:amount": 1,
                                                   "stray_quote:order_ts": 1}
    refused = [q for q in _quarantine(home, "orders") if q["_line"] is not None]
    assert [(q["_line"], q["_source"].rsplit("/", 1)[-1]) for q in refused] == \
        [(3, "orders_2.csv")]


def test_epoch_seconds_from_a_parquet_glob_and_a_duckdb_query(shop, sources):
    home = shop
    folder = sources("sources: {}\n").parent
    for i, (oid, ts) in enumerate([("O1", 1767225600), ("O2", 1767312000)]):
        pq.write_table(pa.table({"order_id": [oid], "customer_id": ["C1"], "ts": [ts],
                                 "amount": [5.0], "quantity": [1]}),
                       folder / f"orders_{i}.parquet")
    (folder / "raw").mkdir()
    (folder / "raw" / "people.csv").write_text("id,joined\nC1,1700000000\n")
    path = sources("""
        sources:
          customers:
            kind: duckdb
            query: SELECT id AS customer_id, joined AS signup_ts FROM read_csv('raw/people.csv')
            formats: {signup_ts: epoch}
          orders:
            kind: parquet
            path: orders_*.parquet
            columns: {order_ts: ts}
            formats: {order_ts: epoch}
            constants: {currency: usd, status: completed}
        """)
    run_ingest(home, path)
    assert [(o["order_id"], o["order_ts"].isoformat()) for o in _rows(home, "orders")] == \
        [("O1", "2026-01-01T00:00:00+00:00"), ("O2", "2026-01-02T00:00:00+00:00")]
    assert _rows(home, "customers")[0]["signup_ts"].isoformat() == "2023-11-14T22:13:20+00:00"


def test_rows_of_a_parquet_glob_are_numbered_across_its_files(shop, sources):
    """A Parquet source's rows are numbered by their place in the files read in order
    (each file's offset from the footers plus the row's place in it, so the check pass
    runs in parallel): the quarantine's row numbers, the first copy of a key kept and the
    canonical order all count across the three files as one sequence."""
    home = shop
    folder = sources("sources: {}\n").parent
    files = [[("O1", 5.0), ("O2", 5.0)], [("O3", 5.0), ("O4", -1.0), ("O5", 5.0)],
             [("O2", 7.0), ("O6", 5.0)]]
    for i, rows in enumerate(files):
        pq.write_table(pa.table({"order_id": [o for o, _ in rows],
                                 "customer_id": ["C1"] * len(rows),
                                 "order_ts": [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)] * len(rows),
                                 "amount": [a for _, a in rows],
                                 "quantity": [1] * len(rows)}),
                       folder / f"orders_{i}.parquet")
    (folder / "people.csv").write_text("customer_id,signup_ts\nC1,2025-01-01\n")
    path = sources("""
        sources:
          customers: {kind: csv, path: people.csv}
          orders:
            kind: parquet
            path: orders_*.parquet
            constants: {currency: usd, status: completed}
        """)
    report = run_ingest(home, path)
    assert report.tables["orders"].rows_in == 7
    assert [o["order_id"] for o in _rows(home, "orders")] == ["O1", "O2", "O3", "O5", "O6"]
    assert [o["amount"] for o in _rows(home, "orders")][1] == 5.0   # the first O2 kept
    assert sorted((q["_row"], q["order_id"], q["_reason"]) for q in _quarantine(home, "orders")) \
        == [(4, "O4", "out_of_range:amount"), (6, "O2", "duplicate_key:order_id")]


def test_a_schema_error_names_every_missing_and_mistyped_column_at_once(home, sources):
    path = sources("""
        sources:
          customers: {kind: csv, path: customers.csv}
          orders: {kind: csv, path: orders.csv}
        """, customers__csv="customer_id,signup_ts\nC1,2025-01-01\n",
        orders__csv="order_id,customer_id,order_ts,amount\nO1,C1,2026-01-01,lots\n")
    with pytest.raises(SchemaChangedError) as err:
        run_ingest(home, path)
    message = str(err.value)
    for column in ("currency", "quantity", "category", "channel", "status"):
        assert f"column '{column}'" in message
    assert "column 'amount' (expected float) arrives as text" in message
    assert "\n" not in message


def test_an_optional_column_mapped_to_a_name_the_source_lacks_is_an_error(shop, sources):
    """Left out, an optional column is null; mapped by name, a typo would empty it in every
    row without a word (every customer without e-mail consent), so it fails like a required
    one, naming the mapping's line and the source's nearest column."""
    customers = "id,joined,newsletter\nC1,2025-01-01,true\n"
    orders = "order_id,customer_id,order_ts,amount\nO1,C1,2026-01-01,5\n"
    layout = """
        sources:
          customers:
            kind: csv
            path: customers.csv
            columns: {{customer_id: id, signup_ts: joined{extra}}}
          orders:
            kind: csv
            path: orders.csv
            defaults: {{quantity: 1, status: completed}}
        """
    path = sources(layout.format(extra=", consent_email: newsleter"),
                   customers__csv=customers, orders__csv=orders)
    with pytest.raises(SchemaChangedError) as err:
        run_ingest(shop, path)
    assert (f"column 'consent_email' (expected bool) is missing (mapped from 'newsleter' "
            f"under columns: at {path}:5; did you mean newsletter?)") in str(err.value)
    assert not (shop.canonical_dir / "customers.parquet").exists()
    path = sources(layout.format(extra=""), customers__csv=customers, orders__csv=orders)
    run_ingest(shop, path)
    assert [c["consent_email"] for c in _rows(shop, "customers")] == [None]


def test_inline_password_is_an_error_and_credentials_come_from_the_environment(
        sources, monkeypatch):
    path = sources("""
        sources:
          billing:
            kind: sql
            url: postgresql+psycopg://finance:hunter2@db.example/ledger
            table: invoices
        """)
    with pytest.raises(ConfigError) as err:
        read_sources(path, home_contracts())
    assert f"{path}:4:" in str(err.value) and "hunter2" not in str(err.value)
    path = sources("""
        sources:
          billing:
            kind: sql
            url: postgresql+psycopg://finance:${LEDGER_PASSWORD}@db.example/ledger
            table: invoices
        """)
    monkeypatch.delenv("LEDGER_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match=r":4: .*LEDGER_PASSWORD, which is not set"):
        read_sources(path, home_contracts())
    monkeypatch.setenv("LEDGER_PASSWORD", "s3cret")
    spec = read_sources(path, home_contracts()).specs[0]
    assert spec.url.endswith("finance:s3cret@db.example/ledger")
    assert "s3cret" not in spec.label


def test_a_computed_column_that_does_not_bind_names_its_line(home, sources, customers_csv):
    path = sources("""
        sources:
          customers:
            kind: csv
            path: customers.csv
            computed:
              name: "first_name || ' ' || surname"
        """, customers__csv=customers_csv(("C1", "a@x.com")))
    with pytest.raises(ConfigError, match=r"sources.yaml:6: 'customers': computed column "
                                          r"'name': .*first_name"):
        run_ingest(home, path)


@pytest.mark.parametrize(("orders", "error"), [
    ('{kind: csv, path: "none_*.csv"}', r":2: 'orders': no file matches"),
    ("{kind: csv, path: orders.csv, header: false}", r":2: .*needs 'names:'"),
    ("{kind: csv, path: orders.csv, constants: {currency: USD}, columns: {currency: cur}}",
     r"'currency' is given by both constants and columns"),
    ("{kind: csv, path: orders.csv, delimiter: '::'}", r"delimiter must be one character"),
    ("{kind: csv, path: orders.csv, formats: {amount: '%Y'}}",
     r"formats applies to timestamp columns"),
    ("{kind: csv, path: orders.csv, formats: {order_ts: 'yyyymmdd'}}",
     r"neither a strptime pattern"),
])
def test_bad_layout_keys_are_config_errors_with_lines(sources, orders, error):
    path = sources(f"sources:\n  orders: {orders}\n", orders__csv="x\n")
    with pytest.raises(ConfigError, match=error):
        read_sources(path, home_contracts())


def test_duckdb_query_reads_files_relative_to_sources_yaml(shop, sources):
    home = shop
    folder = sources("sources: {}\n").parent
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT 'C1' AS customer_id, DATE '2025-01-01' AS signup_ts) "
                    f"TO '{folder / 'people.parquet'}'")
    path = sources("""
        sources:
          customers: {kind: duckdb, query: "SELECT * FROM 'people.parquet'"}
        """)
    run_ingest(home, path)
    assert [c["customer_id"] for c in _rows(home, "customers")] == ["C1"]


def home_contracts():
    return get_settings().contracts_dir


ORDERS_CSV = """\
order_id,customer_id,order_ts,amount,currency
O1,C1,2025-03-01,10,usd
O2,C1,2025-03-02,10,EUR
O3,C1,2025-03-03,10,GBP
O4,C1,2025-03-04,10,
"""
CUSTOMERS_CSV = "customer_id,signup_ts\nC1,2025-01-01\n"


def test_the_projects_sources_yaml_and_money_in_its_base_currency(shop):
    root = shop.project_root
    (root / "data").mkdir()
    (root / "data" / "orders.csv").write_text(ORDERS_CSV)
    (root / "data" / "customers.csv").write_text(CUSTOMERS_CSV)
    (root / "sources.yaml").write_text(
        "sources:\n  customers: {kind: csv, path: data/customers.csv}\n"
        "  orders: {kind: csv, path: data/orders.csv, defaults: {status: completed}}\n")
    # no fx_rates.yaml: every amount must be in the base currency (USD), or have none
    report = run_ingest(shop)
    assert report.sources_yaml == str(root / "sources.yaml")
    assert report.tables["orders"].quarantined == {"unknown_currency:currency": 2}
    assert [(o["order_id"], o["amount_base"]) for o in _rows(shop, "orders")] == \
        [("O1", 10.0), ("O4", 10.0)]
    (root / "fx_rates.yaml").write_text("base: USD\nrates: {USD: 1.0, EUR: 1.1}\n")
    report = run_ingest(shop)
    assert report.tables["orders"].quarantined == {"unknown_currency:currency": 1}
    assert {o["order_id"]: o["amount_base"] for o in _rows(shop, "orders")}["O2"] == \
        pytest.approx(11.0)


def test_rates_to_another_currency_than_the_projects_are_an_error(shop):
    root = shop.project_root
    (root / "data").mkdir()
    (root / "data" / "customers.csv").write_text(CUSTOMERS_CSV)
    (root / "sources.yaml").write_text(
        "sources:\n  customers: {kind: csv, path: data/customers.csv}\n")
    (root / "fx_rates.yaml").write_text("base: INR\nrates: {INR: 1.0, USD: 84.5}\n")
    with pytest.raises(ConfigError, match=r"fx_rates.yaml:1: rates are to INR, but the "
                                          r"project's base_currency is USD"):
        run_ingest(shop)


def test_a_derived_column_says_how_it_is_derived(shop):
    contract = shop.contracts_dir / "orders.yaml"
    contract.write_text(contract.read_text().replace(
        "derived: {convert: amount, currency: currency}", "derived: true"))
    from segflow.ingest.contract import parse_contract

    with pytest.raises(ConfigError, match=r"orders.yaml:\d+: column 'amount_base': derived is "
                                          r"\{convert: <amount column>"):
        parse_contract(contract)


def test_allowed_written_without_brackets_is_an_error_at_its_line(shop):
    """`allowed: cd, vinyl` is one string to YAML; taken as the only allowed value, it would
    quarantine every row as not allowed, blaming the data for the contract's typo."""
    from segflow.ingest.contract import load_contracts

    folder = shop.contracts_dir
    path = folder / "orders.yaml"
    text = path.read_text()
    given = next(line for line in text.splitlines() if line.strip().startswith("allowed: ["))
    values = given.split("[", 1)[1].rstrip("]")
    path.write_text(text.replace(given, given.split("allowed:")[0] + f"allowed: {values}"))
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1)
                if t.strip() == f"allowed: {values}")
    with pytest.raises(ConfigError) as err:
        load_contracts(folder)
    assert str(err.value).startswith(f"{path}:{line}: column '")
    assert f"allowed must be a list in brackets, e.g. allowed: [{values}]" in str(err.value)
