"""Identifier normalisation and duplicate merging: one person, one customer id."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segflow.ingest import dedupe, identifiers
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


def test_phones_seen_before_come_from_the_workspace_cache(tmp_path, monkeypatch):
    """The second normalisation parses no number (all are in the cache) and gives what an
    uncached one gives; a number of another region is parsed again; past 16 files one load
    folds them into one and the rest are removed after its commit."""
    parsed = []
    real = identifiers._map_phones
    monkeypatch.setattr(identifiers, "_map_phones",
                        lambda phones, regions: parsed.append(len(phones)) or real(phones,
                                                                                   regions))
    rows = [("098200 12345", "IN"), ("(020) 7946 0958", "GB"), ("+91 98200 12345", "IN"),
            ("not a phone", None), (None, "IN"), ("098200 12345", "IN")]
    folder = tmp_path / "phones"
    folder.mkdir()

    def normalised():
        con = duckdb.connect()
        con.execute("CREATE TABLE t AS SELECT * FROM (VALUES "
                    + ", ".join(f"({i}, 'a@b.co', {_sql(p)}, {_sql(c)}, 'a@b.co', {_sql(p)})"
                                for i, (p, c) in enumerate(rows))
                    + ") v(_row, email, phone, country, __raw_email, __raw_phone)")
        con.execute("ALTER TABLE t ADD COLUMN _reason VARCHAR")
        cached = identifiers.cache_files(folder)
        warnings, new = identifiers.normalise_identifiers(con, "t", cached)
        if new.num_rows:     # what the ingest's commit does
            target, compact = identifiers.next_cache_file(folder, cached)
            pq.write_table(identifiers.cache_contents(con, cached, new) if compact else new,
                           target)
            identifiers.prune_cache(folder)
        return warnings, con.execute("SELECT phone FROM t ORDER BY _row").fetchall()

    first, second = normalised(), normalised()
    assert parsed == [3, 0]     # 3 distinct numbers not in E.164: parsed once, then cached
    assert first == second and first[0] == {"invalid_email": 0, "invalid_phone": 1}
    assert first[1][0] == ("+919820012345",) and first[1][2] == ("+919820012345",)
    for i in range(16):          # 16 loads, each with one new number (the last: GB's)
        rows[0] = (f"0982001{i:04d}", "GB" if i == 15 else "IN")
        normalised()
    files = sorted(p.name for p in folder.iterdir())
    assert len(files) == 1 and files[0].endswith("_000016_all.parquet")
    assert pq.read_table(folder / files[0]).num_rows == 3 + 16
    rows[0] = ("098200 12345", "IN")
    assert normalised() == second and parsed[-17:] == [1] * 16 + [0]


def _sql(value):
    return "NULL" if value is None else "'" + value + "'"


def test_duplicates_searched_near_the_change_equal_a_search_of_everyone():
    """Random customers sharing emails and phones from small pools (long chains); a change
    of some and new ones: the blocked search's map equals the map of a search over all."""
    rng = np.random.default_rng(3)
    n = 400

    def frame(ids, start):
        return pa.table({
            "customer_id": [f"C{i}" for i in ids],
            "signup_ts": pa.array(rng.integers(start, start + 1000, len(ids)),
                                  pa.int64()).cast(pa.timestamp("us")),
            "email": [f"e{k}" if k < 150 else None for k in rng.integers(0, 300, len(ids))],
            "phone": [f"p{k}" if k < 120 else None for k in rng.integers(0, 300, len(ids))]})

    old = frame(range(n), 0)
    delta = pa.concat_tables([frame(range(0, n, 17), 0), frame(range(n, n + 30), 500)])
    con = duckdb.connect()
    con.register("old", old)
    con.register("delta", delta)
    con.register("old_map", dedupe.find_duplicates(old))
    kept = "SELECT * FROM old WHERE customer_id NOT IN (SELECT customer_id FROM delta)"
    got = dedupe.touched_duplicates(con, "SELECT * FROM delta",
                                    "SELECT customer_id FROM delta", kept, "SELECT * FROM old_map")
    everyone = pa.concat_tables([con.sql(kept).to_arrow_table(), delta])
    assert 0 < got.num_rows and sorted(got.to_pylist(), key=str) == sorted(
        dedupe.find_duplicates(everyone).to_pylist(), key=str)
