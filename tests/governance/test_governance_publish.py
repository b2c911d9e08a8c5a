"""Controls gate publication; publication is atomic even when killed part-way."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pyarrow.parquet as pq
import pytest
from govworld import AS_OF_1, AS_OF_2, base_features, write_canonical, write_run

from segflow.errors import ControlFailed


@pytest.fixture
def governed(world):
    f = base_features()
    write_canonical(world, list(f.customer_id))
    return world, f


def _approve_if_needed(settings, run_id, result):
    from governance.publish import approve

    if result.needs_approval:
        approve(settings, run_id, by="lead.analyst", reason="reviewed the figures")


def test_clean_run_passes_controls_and_publishes(governed):
    from governance.pipeline import govern_run
    from governance.publish import current_publication, publish_run

    settings, f = governed
    run = write_run(settings, f, AS_OF_1)
    result = govern_run(settings, run)
    failed = {c.name: c.message for c in result.controls if not c.passed}
    assert not failed, failed
    _approve_if_needed(settings, run, result)
    publish_run(settings, run, by="lead.analyst")
    assert current_publication(settings, "holi_test")["run_id"] == run
    assert (settings.runs_dir / run / "report.html").read_text().count("passed") >= 5


def test_billing_row_missing_from_orders_blocks_publication(governed):
    from governance.pipeline import govern_run
    from governance.publish import approve, publish_run

    settings, f = governed
    billing = pq.read_table(settings.canonical_dir / "billing.parquet")
    planted = billing.slice(0, 1).to_pandas()
    planted["invoice_id"] = "PLANTED-1"
    planted["revenue"] = 12345.0
    both = pd.concat([billing.to_pandas(), planted], ignore_index=True)
    pq.write_table(pq.read_table(settings.canonical_dir / "billing.parquet").from_pandas(
        both, schema=billing.schema, preserve_index=False),
        settings.canonical_dir / "billing.parquet")
    run = write_run(settings, f, AS_OF_1)
    result = govern_run(settings, run)
    revenue = next(c for c in result.controls if c.name == "revenue_reconciles")
    assert not revenue.passed
    assert revenue.figures["difference"] == pytest.approx(-12345.0)
    assert planted.account_id[0] in revenue.message
    approve(settings, run, by="lead.analyst", reason="approval cannot lift a failed control")
    with pytest.raises(ControlFailed, match="revenue_reconciles"):
        publish_run(settings, run, by="lead.analyst")


KILLER = """
import os, signal, sys
from pathlib import Path
from segflow.settings import Settings
from governance.publish import publish_run
settings = Settings(home=Path(sys.argv[1]), templates_root=Path(sys.argv[2]))
def die(stage):
    if stage == "before_switch":
        os.kill(os.getpid(), signal.SIGKILL)
publish_run(settings, sys.argv[3], by="lead.analyst", _hook=die)
"""


def test_killed_publication_leaves_previous_intact(governed):
    import duckdb

    from governance.pipeline import govern_run
    from governance.publish import current_publication, publish_run, read_current_parquet

    settings, f = governed
    first = write_run(settings, f, AS_OF_1)
    _approve_if_needed(settings, first, govern_run(settings, first))
    publish_run(settings, first, by="lead.analyst")
    g = f.copy()
    g["recency_days"] = 3.0
    second = write_run(settings, g, AS_OF_2)
    _approve_if_needed(settings, second, govern_run(settings, second))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLER), str(settings.home),
                           str(settings.templates_root), second], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    assert current_publication(settings, "holi_test")["run_id"] == first
    with duckdb.connect(str(settings.database_path), read_only=True) as con:
        rows = con.execute("SELECT DISTINCT run_id FROM current_memberships").fetchall()
        n = con.execute("SELECT count(*) FROM current_memberships").fetchone()[0]
    assert rows == [(first,)] and n == len(f)
    assert set(read_current_parquet(settings, "holi_test").column("run_id").to_pylist()) == {
        first}
    publish_run(settings, second, by="lead.analyst")  # a retry completes the switch
    assert current_publication(settings, "holi_test")["run_id"] == second


def test_publication_through_sqlalchemy_sqlite(governed, tmp_path):
    import dataclasses

    import sqlalchemy as sa

    from governance.pipeline import govern_run
    from governance.publish import publish_run

    settings, f = governed
    url = f"sqlite:///{tmp_path / 'published.db'}"
    settings = dataclasses.replace(settings, publish_db_url=url)
    run = write_run(settings, f, AS_OF_1)
    _approve_if_needed(settings, run, govern_run(settings, run))
    publish_run(settings, run, by="lead.analyst")
    engine = sa.create_engine(url)
    with engine.connect() as con:
        got = con.execute(sa.text("SELECT count(*), min(run_id) FROM current_memberships"))
        assert tuple(got.one()) == (len(f), run)
    engine.dispose()
