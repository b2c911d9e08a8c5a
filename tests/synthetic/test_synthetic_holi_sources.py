"""Messy source files: the planted mess is there, recorded, and removable without loss."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from segflow.ingest.contract import load_fx_rates
from segflow.ingest.identifiers import to_e164
from segflow.settings import get_settings


def _read_orders_csv(path):
    names = pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 20)).column_names
    types = dict.fromkeys(names, pa.string())
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))


def _planted(messy_world, table):
    planted = pq.read_table(messy_world["holi_planted"]).to_pylist()
    return [p for p in planted if p["table"] == table]


def _parses(ts: str | None) -> bool:
    try:
        datetime.fromisoformat(ts)
    except (TypeError, ValueError):
        return False
    return True


def test_bad_orders_are_planted_where_the_truth_says(messy_world, holi_world):
    orders = _read_orders_csv(messy_world["orders"]).to_pylist()
    planted = _planted(messy_world, "orders")
    fx = load_fx_rates(get_settings().fx_rates_path)
    kinds = {p["kind"] for p in planted}
    assert kinds == {"missing_key", "bad_date", "negative_quantity", "unknown_currency"}
    assert len(planted) <= 0.003 * len(orders)
    checks = {"missing_key": lambda r: not r["order_id"],
              "bad_date": lambda r: not _parses(r["order_ts"]),
              "negative_quantity": lambda r: int(r["quantity"]) < 0,
              "unknown_currency": lambda r: r["currency"] not in fx}
    for p in planted:
        assert checks[p["kind"]](orders[p["source_row"]]), p
    bad_rows = {p["source_row"] for p in planted}
    good = [r for i, r in enumerate(orders) if i not in bad_rows]
    assert all(r["order_id"] and _parses(r["order_ts"]) and int(r["quantity"]) >= 1
               and r["currency"] in fx for r in good)
    # the bad rows are extra copies: the clean orders are all still there
    assert sorted(r["order_id"] for r in good) == sorted(
        holi_world["orders"]["order_id"].to_pylist())


def test_customer_mess_duplicates_and_missing_keys(messy_world, holi_world):
    customers = pq.read_table(messy_world["customers"])
    rows = customers.to_pylist()
    planted = _planted(messy_world, "customers")
    missing = [p for p in planted if p["kind"] == "missing_key"]
    assert missing and all(rows[p["source_row"]]["customer_id"] is None for p in missing)
    assert customers["customer_id"].null_count == len(missing)
    emails = customers["email"].drop_null()
    assert pc.any(pc.not_equal(emails, pc.utf8_trim_whitespace(pc.utf8_lower(emails)))).as_py()
    local = [r for r in rows if r["phone"] and not r["phone"].startswith("+")]
    assert len(local) > 0.2 * len(rows)

    dup_map = pq.read_table(messy_world["holi_duplicates"]).to_pylist()
    assert 0.002 * len(rows) < len(dup_map) < 0.01 * len(rows)
    by_id = {r["customer_id"]: r for r in rows if r["customer_id"]}
    clean = {r["customer_id"]: r for r in holi_world["customers"].to_pylist()}
    dup_rows = {p["key"]: p["source_row"] for p in planted if p["kind"] == "duplicate"}
    for pair in dup_map:
        dup, orig = by_id[pair["duplicate_id"]], clean[pair["customer_id"]]
        assert dup_rows[pair["duplicate_id"]] == rows.index(dup)
        assert pair["duplicate_id"] not in clean
        assert dup["email"] != orig["email"]
        assert dup["email"].strip().lower() == orig["email"]
        assert to_e164(dup["phone"], dup["country"]) == orig["phone"]


def test_duplicates_own_some_orders_and_billing_follows(messy_world, holi_world):
    con = duckdb.connect()
    con.register("messy_orders", _read_orders_csv(messy_world["orders"]))
    con.register("billing", pq.read_table(messy_world["billing"]))
    con.register("dups", pq.read_table(messy_world["holi_duplicates"]))
    [(moved, billing_mismatch)] = con.sql("""
        select count(*) filter (where o.customer_id in (select duplicate_id from dups)),
               count(*) filter (where b.account_id <> o.customer_id)
        from messy_orders o join billing b on substr(b.invoice_id, 2) = substr(o.order_id, 2)
        """).fetchall()
    assert moved > 0 and billing_mismatch == 0
    billed = pc.sum(pq.read_table(messy_world["billing"])["revenue"]).as_py()
    assert abs(billed - pc.sum(holi_world["billing"]["revenue"]).as_py()) < 0.01


def test_event_rows_without_customer_are_planted(messy_world):
    events = pq.read_table(messy_world["engagement_events"], columns=["event_id", "customer_id"])
    planted = _planted(messy_world, "engagement_events")
    assert planted and events["customer_id"].null_count == len(planted)
    for p in planted:
        assert events["customer_id"][p["source_row"]].as_py() is None
        assert events["event_id"][p["source_row"]].as_py() == p["key"]


def test_cli_writes_sources_yaml_sources_and_truth(home):
    from segflow.cli import app
    from segflow.ingest.sources import load_sources
    from segflow.yamlio import load_yaml

    result = CliRunner().invoke(app, ["demo-data", "holi", "--customers", "300", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "orders" in result.output and "rows" in result.output
    raw = load_yaml(home.sources_dir / "sources.yaml")
    assert raw["sources"]["orders"] == {"kind": "csv", "path": "orders.csv", "columns": {}}
    assert raw["sources"]["customers"] == {"kind": "parquet", "path": "customers.parquet",
                                           "columns": {}}
    specs = load_sources(home.sources_dir / "sources.yaml", home.contracts_dir)
    assert {s.table for s in specs} == {"customers", "orders", "engagement_events", "billing",
                                        "campaign_outcomes", "survey_responses"}
    assert all(s.path.exists() for s in specs)
    for name in ("holi_2026_truth", "holi_2027_truth", "holi_planted", "holi_duplicates"):
        assert (home.truth_dir / f"{name}.parquet").exists()
    assert not (home.sources_dir / "truth").exists()


@pytest.mark.integration
def test_ingest_removes_exactly_the_planted_mess(home):
    """demo-data -> ingest gives back the clean world: nothing planted kept, nothing lost."""
    import duckdb

    from segflow.ingest.pipeline import run_ingest
    from segflow.ingest.synthetic.holi import generate_holi
    from segflow.ingest.synthetic.writer import write_holi_world, write_sources_yaml

    paths = write_holi_world(home.sources_dir, 400, seed=9, messy=True,
                             truth_dir=home.truth_dir)
    write_sources_yaml(home.sources_dir, {t: paths[t] for t in
                                          ("customers", "orders", "billing")})
    run_ingest(home)
    clean = generate_holi(400, seed=9)
    con = duckdb.connect()
    for name in ("customers", "orders", "billing"):
        con.register(f"clean_{name}", clean[name])
        canonical = pq.read_table(home.canonical_dir / f"{name}.parquet")
        con.register(f"canon_{name}", canonical)
        assert canonical.num_rows == clean[name].num_rows, name
    [(diff_orders, diff_customers, diff_billing)] = con.sql("""
        select (select count(*) from (select order_id, customer_id, order_ts, amount_inr
                                      from clean_orders except
                                      select order_id, customer_id, order_ts, amount_inr
                                      from canon_orders)),
               (select count(*) from (select customer_id, email, phone from clean_customers
                                      except select customer_id, email, phone
                                      from canon_customers)),
               (select count(*) from (select invoice_id, account_id from clean_billing except
                                      select invoice_id, account_id from canon_billing))
        """).fetchall()
    assert (diff_orders, diff_customers, diff_billing) == (0, 0, 0)


def test_cli_accounts_writes_sources_and_truth(home):
    from segflow.ingest.synthetic import accounts

    if not hasattr(accounts, "write_accounts_world"):
        pytest.skip("segflow.ingest.synthetic.accounts.write_accounts_world is not there yet")
    from segflow.cli import app

    result = CliRunner().invoke(app, ["demo-data", "accounts", "--accounts", "60", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert (home.sources_dir / "sources.yaml").exists()
    assert any(home.truth_dir.glob("*.parquet"))
