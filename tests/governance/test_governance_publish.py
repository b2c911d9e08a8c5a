"""Controls and the gate decide publication; publication is atomic, versioned and a no-op
for a run already published; the external database path (SQLite) gets the same tables."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest
from govworld import (
    AS_OF_1,
    drift_passed,
    governed,
    write_run,
)
from govworld import approve_and_publish as publish

from segflow.errors import ControlFailed


def test_clean_run_passes_controls_and_publishes(world_data):
    from segflow.governance.pipeline import govern_run
    from segflow.governance.publish import current_publication

    settings, f = world_data
    run = write_run(settings, f, AS_OF_1)
    result = govern_run(settings, run)
    failed = {c.name: c.message for c in result.controls if not c.passed}
    assert not failed, failed
    drift_passed(settings, run)
    entry = publish(settings, run)
    assert current_publication(settings, "holi_test")["run_id"] == run
    assert entry["version"] == 1 and entry["seal_hash"]
    page = (settings.runs_dir / run / "report.html").read_text()
    assert page.count("passed") >= 5 and "Published" in page  # the verdict banner


def test_publishing_a_published_run_again_is_a_no_op(world_data):
    from segflow.governance.publications import publication_history
    from segflow.governance.publish import publish_run

    settings, f = world_data
    run = governed(settings, f, AS_OF_1)
    publish(settings, run)
    again = publish_run(settings, run, by="lead.analyst")
    assert again["already"] and "already published as version 1" in again["message"]
    assert [p["version"] for p in publication_history(settings, "holi_test")] == [1]


def test_billing_row_missing_from_orders_blocks_publication(world_data):
    from segflow.governance.publish import approve, publish_run

    settings, f = world_data
    billing = pq.read_table(settings.canonical_dir / "billing.parquet")
    planted = billing.slice(0, 1).to_pandas()
    planted["invoice_id"] = "PLANTED-1"
    planted["revenue"] = 12345.0
    both = pd.concat([billing.to_pandas(), planted], ignore_index=True)
    pq.write_table(billing.from_pandas(both, schema=billing.schema, preserve_index=False),
                   settings.canonical_dir / "billing.parquet")
    run = governed(settings, f, AS_OF_1)
    from segflow.governance.gate import verdict

    v = verdict(settings, run)
    control = next(r for r in v.reasons if r.code == "control_failed")
    assert "revenue_reconciles" in control.message and planted.account_id[0] in control.message
    approve(settings, run, "lead.analyst", "an approval cannot lift a failed control")
    with pytest.raises(ControlFailed, match="revenue_reconciles"):
        publish_run(settings, run, by="lead.analyst", accept_open=v.open_exceptions,
                    reason="accepting the open items as proposed")


def test_publication_through_sqlalchemy_sqlite(world_data, tmp_path):
    import dataclasses

    import sqlalchemy as sa

    settings, f = world_data
    url = f"sqlite:///{tmp_path / 'published.db'}"
    settings = dataclasses.replace(settings, publish_db_url=url)
    run = governed(settings, f, AS_OF_1)
    publish(settings, run)
    engine = sa.create_engine(url)
    with engine.connect() as con:
        got = con.execute(sa.text("SELECT count(*), min(run_id) FROM current_memberships"))
        assert tuple(got.one()) == (len(f), run)
    engine.dispose()
