"""Identifier normalisation and duplicate merging: one person, one customer id."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from segflow.ingest.dedupe import component_labels
from segflow.ingest.identifiers import email_sql, to_e164
from segflow.ingest.pipeline import run_ingest


@pytest.mark.parametrize(("raw", "country", "expected"), [
    ("098765 43210", "IN", "+919876543210"),
    ("+91 98765-43210", "IN", "+919876543210"),
    ("9876543210", "IN", "+919876543210"),
    ("07700 900123", "GB", "+447700900123"),
    ("+44 7700 900123", "IN", "+447700900123"),    # an explicit country code wins
    ("(212) 555-0123", "US", "+12125550123"),
    ("12345", "IN", None),
    ("not a phone", "US", None),
])
def test_phones_to_e164_with_country_as_default_region(raw, country, expected):
    assert to_e164(raw, country) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("  Asha.Rao@Example.COM ", "asha.rao@example.com"),
    ("o'brien+tag@mail.co.uk", "o'brien+tag@mail.co.uk"),
    ("n/a", None), ("asha@", None), ("two@@x.com", None),
])
def test_emails_trimmed_lower_cased_and_validated(raw, expected):
    assert duckdb.sql(f"SELECT {email_sql('$e')}", params={"e": raw}).fetchall()[0][0] == expected


def test_components_are_transitive_over_both_keys():
    email = np.array([0, 0, -1, 1, -1])    # rows 0,1 share an email
    phone = np.array([-1, 5, 5, -1, 7])    # rows 1,2 share a phone
    assert component_labels(email, phone).tolist() == [0, 0, 0, 3, 4]


SOURCES = """
sources:
  customers: {kind: csv, path: customers.csv}
  orders: {kind: csv, path: orders.csv}
  survey_responses: {kind: csv, path: survey.csv}
"""


def test_duplicates_merged_into_earliest_signup_and_ids_rewritten(home, sources, customers_csv):
    customers = customers_csv(
        ("C1", "asha@x.com", "", "2025-03-01"),
        ("C2", " ASHA@X.com", "098765 43210", "2024-01-01"),   # earliest: the survivor
        ("C3", "other@x.com", "+91 98765-43210", "2025-06-01"),  # same phone as C2
        ("C4", "bob@x.co.uk", "07700 900123", "2025-01-01", "GB"),
        ("C5", "n/a", "", "2025-01-01"),
    )
    orders = ("order_id,customer_id,order_ts,amount,currency,quantity,category,festival,"
              "channel,status\nO1,C1,2026-01-01,10,INR,1,sweets,,web,completed\n"
              "O2,C3,2026-01-01,10,INR,1,sweets,,web,completed\n"
              "O3,C4,2026-01-01,10,INR,1,sweets,,web,completed\n")
    survey = "response_id,customer_id,response_ts,nps,comment\nR1,C3,2026-01-01,9,good\n"
    report = run_ingest(home, sources(SOURCES, customers__csv=customers, orders__csv=orders,
                                      survey__csv=survey))

    merge = {r["merged_id"]: r for r in
             pq.read_table(home.canonical_dir / "customer_merge_map.parquet").to_pylist()}
    assert {k: (v["survivor_id"], v["matched_on"]) for k, v in merge.items()} == {
        "C1": ("C2", "email"), "C3": ("C2", "phone")}
    kept = pq.read_table(home.canonical_dir / "customers.parquet").to_pylist()
    assert sorted(c["customer_id"] for c in kept) == ["C2", "C4", "C5"]
    by_id = {c["customer_id"]: c for c in kept}
    assert by_id["C2"]["email"] == "asha@x.com" and by_id["C2"]["phone"] == "+919876543210"
    assert by_id["C4"]["phone"] == "+447700900123"
    assert by_id["C5"]["email"] is None                          # kept, email nulled
    assert report.tables["customers"].warnings["invalid_email"] == 1
    assert report.tables["customers"].merged == 2
    orders_out = pq.read_table(home.canonical_dir / "orders.parquet").to_pylist()
    assert {o["order_id"]: o["customer_id"] for o in orders_out} == {
        "O1": "C2", "O2": "C2", "O3": "C4"}
    survey_out = pq.read_table(home.canonical_dir / "survey_responses.parquet").to_pylist()
    assert survey_out[0]["customer_id"] == "C2"
