"""Accounts planted as unusual: recorded in the truth, visible in their invoices, and the
rest of the world unchanged by the planting."""

from __future__ import annotations

import duckdb
import pyarrow.compute as pc
import pytest

from segflow.ingest.synthetic.accounts import generate_accounts


@pytest.fixture(scope="module")
def world():
    return generate_accounts(2000, seed=5)


def test_planted_accounts_change_their_last_year_only(world):
    truth = world["accounts_anomaly_truth"]   # noqa: F841 - read by DuckDB
    billing = world["billing"]                # noqa: F841
    rows = duckdb.sql("""
        SELECT t.anomaly,
               sum(margin) FILTER (WHERE invoice_date >= '2026-01-01')
                 / sum(revenue) FILTER (WHERE invoice_date >= '2026-01-01') AS margin_now,
               sum(margin) FILTER (WHERE invoice_date < '2026-01-01'
                                   AND invoice_date >= '2025-01-01')
                 / sum(revenue) FILTER (WHERE invoice_date < '2026-01-01'
                                        AND invoice_date >= '2025-01-01') AS margin_before,
               sum(revenue) FILTER (WHERE invoice_date >= '2026-01-01')
                 / sum(revenue) FILTER (WHERE invoice_date < '2026-01-01'
                                        AND invoice_date >= '2025-01-01') AS growth
        FROM billing JOIN truth t USING (account_id) GROUP BY t.account_id, t.anomaly
    """).fetchall()
    kinds = {r[0] for r in rows}
    assert kinds == {"margin_collapse", "revenue_spike"} and len(rows) >= 10
    for kind, now, before, growth in rows:
        if kind == "margin_collapse":
            assert now == pytest.approx(0.3 * before, rel=0.25)
        else:
            assert growth > 2.5 and now == pytest.approx(before, abs=0.08)


def test_only_billing_changes_when_anomalies_are_planted(world):
    again = generate_accounts(2000, seed=5)
    for name in ("accounts", "customers", "product_usage", "support_tickets",
                 "account_notes"):
        assert again[name].equals(world[name])
    planted = set(world["accounts_anomaly_truth"]["account_id"].to_pylist())
    untouched = pc.invert(pc.is_in(world["billing"]["account_id"],
                                   value_set=world["accounts_anomaly_truth"]["account_id"]))
    assert planted and pc.sum(untouched).as_py() > 0.95 * world["billing"].num_rows
