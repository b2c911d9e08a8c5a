"""Fault injection on a real `segflow ingest`: killed (SIGKILL) at each named instant, a full
disk, a truncated canonical table. Each leaves the last good tables readable and proved by
their receipts, nothing half-written counted as good, and a clear message; `segflow doctor`
finishes or cleans up what a kill left."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from segflow.receipts import JOURNAL, proved

CUSTOMER = ("C{0},c{0}@x.com,,Name {0},2025-01-01,Maharashtra,IN,Pune,hindi,"
            "true,true,true,true,true\n")
CUSTOMERS = ("customer_id,email,phone,name,signup_ts,region,country,city,preferred_language,"
             "consent_email,consent_sms,consent_push,consent_ads,onboarding_completed\n")
ORDERS = "order_id,customer_id,order_ts,amount,currency,quantity,category,festival,channel,status\n"
ORDER = "O{0},C{1},2026-03-01T10:00:00Z,{2},INR,1,sweets,,web,completed\n"
TABLES = ("customers", "orders")


def write_sources(folder: Path, customers: int, orders: int) -> Path:
    """customers.csv, orders.csv (orders spread over the customers) and sources.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "customers.csv").write_text(CUSTOMERS + "".join(CUSTOMER.format(i)
                                                              for i in range(customers)))
    (folder / "orders.csv").write_text(ORDERS + "".join(
        ORDER.format(i, i % customers, 10 + i % 997) for i in range(orders)))
    (folder / "sources.yaml").write_text(textwrap.dedent("""\
        as_of: 2027-03-01
        sources:
          customers: {kind: csv, path: customers.csv}
          orders: {kind: csv, path: orders.csv}
        """))
    return folder / "sources.yaml"


def digests(home: Path) -> dict[str, str]:
    """The canonical tables and their receipts (staged output is not part of them)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for pattern in ("*.parquet", "_receipts.json")
            for p in sorted((home / "canonical").glob(pattern))}


def rows(home: Path) -> dict[str, int]:
    return {t: pq.read_table(home / "canonical" / f"{t}.parquet").num_rows for t in TABLES}


def all_proved(home: Path) -> bool:
    """Every table is the one its receipt describes: one ingest's checked output."""
    return all(proved(home / "canonical", t, home / "canonical" / f"{t}.parquet")
               for t in TABLES)


def leftovers(home: Path) -> list[Path]:
    return [*home.glob("canonical/*.staged"), *home.glob("quarantine/*.staged"),
            *home.glob(".ingest-spill-*")]


@pytest.fixture
def ingested(cli, tmp_path):
    """A workspace after a good ingest (3 customers, 5 orders), and newer sources (4, 8)."""
    home = tmp_path / "ws"
    result = cli(home, "ingest", "--sources", write_sources(tmp_path / "v1", 3, 5))
    assert result.code == 0, result.err
    return home, write_sources(tmp_path / "v2", 4, 8)


@pytest.mark.parametrize("point", ["ingest.checked", "ingest.write", "ingest.staged"])
def test_killed_before_the_commit_the_last_good_tables_stand(cli, ingested, point):
    home, newer = ingested
    good = digests(home)
    proc = cli.paused(home, point, "ingest", "--sources", newer)
    proc.kill()
    proc.wait()

    assert digests(home) == good and rows(home) == {"customers": 3, "orders": 5}
    assert all_proved(home)                       # staged output is not counted as good
    doctor = cli(home, "doctor")
    assert doctor.code == 0, doctor.out + doctor.err
    assert digests(home) == good and not leftovers(home)
    again = cli(home, "ingest", "--sources", newer)
    assert again.code == 0 and rows(home) == {"customers": 4, "orders": 8}
    assert all_proved(home)


@pytest.mark.parametrize("point", ["ingest.commit", "ingest.renaming"])
def test_killed_while_switching_readers_refuse_until_doctor_finishes_it(cli, ingested, point):
    home, newer = ingested
    proc = cli.paused(home, point, "ingest", "--sources", newer)
    proc.kill()
    proc.wait()
    assert (home / "canonical" / JOURNAL).exists()
    assert not all_proved(home)                   # half-switched: nothing vouched for

    refused = cli(home, "features", "build", "--as-of", "2027-03-01")
    assert refused.code == 2
    assert refused.line.startswith("error: an ingest was killed while it switched the "
                                   "canonical tables") and "run `segflow doctor`" in refused.line
    assert "Traceback" not in refused.err

    doctor = cli(home, "doctor")
    assert doctor.code == 0 and "repaired" in doctor.out, doctor.out + doctor.err
    assert rows(home) == {"customers": 4, "orders": 8} and all_proved(home)
    assert not leftovers(home) and not (home / "canonical" / JOURNAL).exists()


def test_a_full_disk_during_ingest_keeps_the_last_good_tables(cli, tmp_path, small_disk):
    disk = small_disk(256 << 10)                  # 256 KiB: the first load fits, the next not
    home = (disk or tmp_path) / "ws"
    assert cli(home, "ingest", "--sources", write_sources(tmp_path / "v1", 3, 5)).code == 0
    good = digests(home)
    big = write_sources(tmp_path / "v2", 2000, 120_000)   # ~1 MB of canonical tables
    injected = {} if disk else {"SEGFLOW_FAULTS": "ingest.write=ENOSPC"}
    result = cli(home, "ingest", "--sources", big, env=injected)

    assert result.code == 3, result.err
    assert result.line.startswith("error: disk full: ")
    assert "free on that filesystem" in result.line and "Traceback" not in result.err
    assert digests(home) == good and all_proved(home)
    assert not leftovers(home)                    # what was written is cleaned away


def test_a_truncated_canonical_table_is_named_and_rebuilt_by_ingest(cli, ingested, tmp_path):
    home, newer = ingested
    orders = home / "canonical" / "orders.parquet"
    orders.write_bytes(orders.read_bytes()[:64])
    doctor = cli(home, "doctor")
    assert doctor.code == 1
    assert ("canonical/orders.parquet: not a readable Parquet file" in doctor.out
            and "re-run `segflow ingest`" in doctor.out)
    assert orders.stat().st_size == 64            # never "repaired" behind a person's back
    assert cli(home, "ingest", "--sources", newer).code == 0
    assert rows(home)["orders"] == 8 and all_proved(home)
    assert cli(home, "doctor").code == 0
