"""A load that would empty a table or shrink it past its limit is refused, nothing written;
ingest holds the workspace lock while it runs."""

from __future__ import annotations

import hashlib

import pyarrow.parquet as pq
import pytest

from segflow.errors import WorkspaceBusy
from segflow.ingest.pipeline import ShrinkRefused, run_ingest

ROWS = [f"O{i},C1,2026-03-01T10:00:00Z,10,INR,1,sweets,,web,completed" for i in range(20)]


def _digests(home) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in (home.canonical_dir, home.quarantine_dir)
            for p in sorted(folder.glob("*")) if p.is_file()}


def test_a_header_only_source_is_refused_and_nothing_is_written(home, orders_sources):
    run_ingest(home, orders_sources(*ROWS))
    before = _digests(home)
    path = orders_sources()                                # orders.csv: the header only
    with pytest.raises(ShrinkRefused) as err:
        run_ingest(home, path)
    message = str(err.value)
    assert "orders would go from 20 to 0 rows (-100%" in message
    assert "no rows (a header only?)" in message and "--allow-shrink" in message
    assert err.value.exit_code == 1
    assert _digests(home) == before                        # every file as it was
    assert not list(home.canonical_dir.glob("*.staged"))

    report = run_ingest(home, path, allow_shrink=True)     # said on purpose: it is done
    assert report.tables["orders"].written == 0
    assert pq.read_metadata(home.canonical_dir / "orders.parquet").num_rows == 0


def test_an_empty_first_load_is_refused_unless_allowed(home, orders_sources):
    path = orders_sources()
    with pytest.raises(ShrinkRefused, match="orders would be written empty"):
        run_ingest(home, path)
    assert not (home.canonical_dir / "orders.parquet").exists()
    run_ingest(home, path, allow_shrink=True)
    assert (home.canonical_dir / "orders.parquet").exists()


def test_a_load_that_quarantines_every_row_names_its_main_reason(home, orders_sources):
    """One mistake (here a currency no rate covers) quarantines a whole table: the refusal
    names the reason that took most rows, with its first row and fix, not only a count."""
    path = orders_sources(*(r.replace(",INR,", ",XYZ,") for r in ROWS))
    with pytest.raises(ShrinkRefused) as err:
        run_ingest(home, path)
    message = str(err.value)
    assert ("orders would be written empty: 20 of its 20 rows were quarantined, most as "
            "unknown_currency:currency (20), first at ") in message
    assert "orders.csv, data row 1: currency = 'XYZ'; a currency without a rate" in message


def test_shrinking_past_max_shrink_is_refused_and_the_limit_is_configurable(home,
                                                                           orders_sources):
    run_ingest(home, orders_sources(*ROWS))
    path = orders_sources(*ROWS[:17])                      # -15%: more than the default 10%
    with pytest.raises(ShrinkRefused, match=r"orders would go from 20 to 17 rows \(-15%, "
                                            r"more than the 10% max_shrink\)"):
        run_ingest(home, path)
    run_ingest(home, orders_sources(*ROWS[:19]))           # -5% is within the limit
    path = orders_sources(*ROWS[:10])
    path.write_text("max_shrink: 0.5\n" + path.read_text())
    assert run_ingest(home, path).tables["orders"].written == 10
    path = orders_sources(*ROWS[:2])
    path.write_text(path.read_text().replace("{kind: csv, path: orders.csv}",
                                             "{kind: csv, path: orders.csv, max_shrink: 0.9}"))
    assert run_ingest(home, path).tables["orders"].written == 2


def test_ingest_takes_the_workspace_lock(home, orders_sources, monkeypatch):
    import os
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom segflow.settings import get_settings\n"
         "from segflow.lock import workspace_lock\nwith workspace_lock(get_settings(), "
         "'publish'):\n    print('held', flush=True)\n    sys.stdin.readline()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "SEGFLOW_HOME": str(home.home)})
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("SEGFLOW_LOCK_WAIT", "0")
        with pytest.raises(WorkspaceBusy, match=f"process {holder.pid}"):
            run_ingest(home, orders_sources(*ROWS))
    finally:
        holder.kill()
        holder.wait()
    assert not (home.canonical_dir / "orders.parquet").exists()
