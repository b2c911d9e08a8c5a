"""Bad rows are quarantined one by one, with a reason, while the rest of the file loads:
lines the CSV reader cannot parse (stray quotes, a line cut short), dates no business could
have (1900, 9999, years after the as-of), times without a zone, negative completed orders.
Rows in = rows accepted + rows quarantined, always."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from segflow.errors import SchemaChangedError, SegflowError
from segflow.ingest.pipeline import run_ingest

AS_OF = datetime(2027, 3, 1, tzinfo=UTC)
GOOD = [f"O{i},C1,2026-0{1 + i % 9}-1{i % 10}T10:00:00Z,{100 + i},INR,1,sweets,,web,completed"
        for i in range(20)]
BAD = {  # order id -> (CSV line, reason)
    "Q1": ('Q1,C1,2026-03-01T10:00:00Z,100,INR,1,"swe"ets,,web,completed', "stray_quote"),
    "Q2": ('Q2,C1,2026-03-01T10:00:00Z,100,INR,1,sweets,,"we"b,completed', "stray_quote"),
    "Q3": ('Q3,C1,2026-03-01T10:00:00Z,100,INR,1,sweets,,web,"comp"leted', "stray_quote"),
    "D1": ("D1,C1,1900-01-01,100,INR,1,sweets,,web,completed", "too_early:order_ts"),
    "D2": ("D2,C1,9999-12-31,100,INR,1,sweets,,web,completed", "in_future:order_ts"),
    "D3": ("D3,C1,2030-01-01,100,INR,1,sweets,,web,completed", "in_future:order_ts"),
    "N1": ("N1,C1,2026-03-01 10:00:00,100,INR,1,sweets,,web,completed",
           "naive_timestamp:order_ts"),
    "M1": ("M1,C1,2026-03-01T10:00:00Z,-250,INR,1,sweets,,web,completed",
           "out_of_range:amount"),
}
REFUND = "R1,C1,2026-03-02T10:00:00Z,-250,INR,1,sweets,,web,refunded"


def _project_zone(settings, zone: str | None):
    """The same workspace under a project whose segflow.yaml declares ``zone`` (None: the
    project declares no timezone)."""
    project = dataclasses.replace(settings.project, declared_timezone=zone)
    return dataclasses.replace(settings, project=project)


@pytest.fixture
def messy_orders(orders_sources):
    """Good orders with the BAD lines spread between them, and one negative refund."""
    lines = GOOD[:5] + [BAD["Q1"][0]] + GOOD[5:10] + [b for k, (b, _) in BAD.items()
                                                      if k != "Q1"] + [REFUND] + GOOD[10:]
    return orders_sources(*lines), lines


def test_bad_rows_are_quarantined_with_reasons_and_rows_conserved(home, messy_orders):
    path, lines = messy_orders
    report = run_ingest(_project_zone(home, None), path, as_of=AS_OF)

    orders = report.tables["orders"]
    assert orders.rows_in == len(lines) == len(GOOD) + len(BAD) + 1
    assert orders.rows_in == orders.accepted + orders.quarantined_total
    assert orders.accepted == len(GOOD) + 1                    # the refund is allowed
    quarantine = pq.read_table(home.quarantine_dir / "orders.parquet").to_pylist()
    by_id = {r["order_id"]: r["_reason"] for r in quarantine if r["order_id"]}
    assert by_id == {k: reason for k, (_, reason) in BAD.items() if not k.startswith("Q")}
    unparsed = [r for r in quarantine if r["_line"] is not None]
    file_lines = {line: n for n, line in enumerate(["header", *lines], start=1)}
    assert sorted((r["_line"], r["_reason"]) for r in unparsed) == sorted(
        (file_lines[BAD[k][0]], f"stray_quote:{col}")
        for k, col in (("Q1", "category"), ("Q2", "channel"), ("Q3", "status")))
    assert all(r["_raw_line"].startswith("Q") for r in unparsed)
    assert orders.quarantined["stray_quote:category"] == 1
    canonical = pq.read_table(home.canonical_dir / "orders.parquet").to_pylist()
    assert {r["order_id"] for r in canonical} == {f"O{i}" for i in range(20)} | {"R1"}


def test_a_declared_zone_reads_zone_less_times_in_it(home, orders_sources):
    path = orders_sources(BAD["N1"][0])
    path.write_text(path.read_text().replace("{kind: csv, path: orders.csv}",
                                             "{kind: csv, path: orders.csv, "
                                             "timezone: Asia/Kolkata}"))
    report = run_ingest(home, path, as_of=AS_OF)
    assert report.tables["orders"].quarantined == {}
    (row,) = pq.read_table(home.canonical_dir / "orders.parquet").to_pylist()
    assert row["order_ts"].isoformat() == "2026-03-01T04:30:00+00:00"


def test_a_column_mostly_without_zones_asks_for_one(home, orders_sources):
    rows = [f"O{i},C1,2026-03-01 10:00:0{i},1,INR,1,sweets,,web,completed" for i in range(4)]
    with pytest.raises(SchemaChangedError, match=r"'order_ts'.*without a time zone in "
                                                 r"'order_ts' in 4 of 4 rows.*"
                                                 r"timezone: Asia/Kolkata"):
        run_ingest(_project_zone(home, None), orders_sources(*rows), as_of=AS_OF)


def test_a_zone_less_time_is_read_in_the_projects_zone_unless_the_source_declares_one(
        home, orders_sources):
    """segflow.yaml's timezone is the last fallback: 10:00 in New York (EST, UTC-5) is stored
    as 15:00 UTC, in microseconds; a date alone is midnight there; the source's own zone wins."""
    rows = ["N1,C1,2026-03-01 10:00:00,100,INR,1,sweets,,web,completed",
            "N2,C1,2026-02-01,100,INR,1,sweets,,web,completed",
            "Z1,C1,2026-03-01T10:00:00Z,100,INR,1,sweets,,web,completed"]
    path = orders_sources(*rows)
    report = run_ingest(_project_zone(home, "America/New_York"), path, as_of=AS_OF)
    assert report.tables["orders"].quarantined == {}
    table = pq.read_table(home.canonical_dir / "orders.parquet")
    assert str(table.schema.field("order_ts").type) == "timestamp[us, tz=UTC]"
    got = {r["order_id"]: r["order_ts"].isoformat() for r in table.to_pylist()}
    assert got == {"N1": "2026-03-01T15:00:00+00:00", "N2": "2026-02-01T05:00:00+00:00",
                   "Z1": "2026-03-01T10:00:00+00:00"}
    path.write_text(path.read_text().replace("{kind: csv, path: orders.csv}",
                                             "{kind: csv, path: orders.csv, "
                                             "timezone: Asia/Kolkata}"))
    run_ingest(_project_zone(home, "America/New_York"), path, as_of=AS_OF)
    (n1,) = [r for r in pq.read_table(home.canonical_dir / "orders.parquet").to_pylist()
             if r["order_id"] == "N1"]
    assert n1["order_ts"].isoformat() == "2026-03-01T04:30:00+00:00"


def test_the_as_of_comes_from_sources_yaml_when_not_given(home, orders_sources):
    path = orders_sources(BAD["D3"][0], *GOOD[:1])
    path.write_text("as_of: 2030-06-01\n" + path.read_text())
    report = run_ingest(home, path)
    assert report.as_of.startswith("2030-06-01") and report.tables["orders"].quarantined == {}


@pytest.mark.parametrize(("encoding", "declared"), [("latin-1", "latin-1"),
                                                     ("cp1252", "cp1252"),
                                                     ("utf-16", "utf-16")])
def test_encoding_option_reads_the_file_in_its_encoding(home, sources, customers_csv,
                                                        encoding, declared):
    text = customers_csv(("C1", "a@x.com"), ("C2", "b@x.com")).replace("Name C2", "José’s"
                                                                        if encoding == "cp1252"
                                                                        else "José")
    path = sources(f"sources:\n  customers: {{kind: csv, path: customers.csv, "
                   f"encoding: {declared}}}\n")
    (path.parent / "customers.csv").write_bytes(text.encode(encoding))
    run_ingest(home, path, as_of=AS_OF)
    names = pq.read_table(home.canonical_dir / "customers.parquet")["name"].to_pylist()
    assert names[1] == ("José’s" if encoding == "cp1252" else "José")


@pytest.mark.parametrize("declared", [None, "cp1252"])
def test_a_file_not_in_its_declared_encoding_names_file_line_and_option(
        home, sources, customers_csv, declared):
    text = customers_csv(("C1", "a@x.com"), ("C2", "b@x.com"), ("C3", "c@x.com"))
    option = f", encoding: {declared}" if declared else ""
    path = sources(f"sources:\n  customers: {{kind: csv, path: customers.csv{option}}}\n")
    body = text.replace("Name C3", "Zo\u00eb").encode("latin-1") if declared is None else \
        text.replace("Name C3", "\u201c").encode("utf-8").replace(b"\x9c", b"\x81")
    (path.parent / "customers.csv").write_bytes(body)
    with pytest.raises(SegflowError) as err:
        run_ingest(home, path, as_of=AS_OF)
    message = str(err.value)
    assert message.startswith(f"{path.parent / 'customers.csv'}:4: not valid "
                              f"{declared or 'utf-8'} text")
    assert "`encoding:`" in message
    assert not (home.canonical_dir / "customers.parquet").exists()


def test_delimiter_option(home, sources, customers_csv):
    text = customers_csv(("C1", "a@x.com")).replace(",", ";")
    path = sources("sources:\n  customers: {kind: csv, path: customers.csv, delimiter: ';'}\n",
                   customers__csv=text)
    report = run_ingest(home, path, as_of=AS_OF)
    assert report.tables["customers"].accepted == 1
