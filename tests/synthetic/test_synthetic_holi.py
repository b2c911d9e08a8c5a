"""The Holi world: reproducible, on contract, internally consistent, and messy on request."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from segflow.ingest.synthetic.config import load_config
from segflow.ingest.synthetic.holi import TABLES, generate_holi, iter_chunks
from segflow.ingest.synthetic.writer import write_holi_world
from segflow.settings import get_settings

HISTORY_START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2027, 3, 1, tzinfo=UTC)


def _sql(world, query):
    con = duckdb.connect()
    for name, table in world.items():
        con.register(name, table)
    return con.sql(query).fetchall()


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path):
    a = write_holi_world(tmp_path / "a", 600, seed=3, messy=True)
    b = write_holi_world(tmp_path / "b", 600, seed=3, messy=True)
    c = write_holi_world(tmp_path / "c", 600, seed=4, messy=True)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    for name in ("customers", "orders", "engagement_events", "holi_2026_truth"):
        assert a[name].read_bytes() != c[name].read_bytes(), name


def test_written_clean_world_equals_generated_world(tmp_path):
    paths = write_holi_world(tmp_path, 500, seed=5)
    world = generate_holi(500, seed=5)
    for name in (*TABLES, "holi_2026_truth", "holi_2027_truth"):
        assert pq.read_table(paths[name]).equals(world[name]), name
    assert paths["holi_2026_truth"].parent == tmp_path / "truth"


def test_tables_match_the_ingest_contracts(holi_world):
    from segflow.ingest.contract import ARROW_TYPES, load_contracts

    contracts = load_contracts(get_settings().contracts_dir)
    for name in TABLES:
        expected = [(c.name, ARROW_TYPES[c.type]) for c in contracts[name].columns]
        got = [(f.name, f.type) for f in holi_world[name].schema]
        assert got == expected, name
        key = list(contracts[name].key)
        table = holi_world[name]
        assert all(table[k].null_count == 0 for k in key), name
        assert table.group_by(key).aggregate([]).num_rows == table.num_rows, name
    for name in ("holi_2026_truth", "holi_2027_truth"):
        assert holi_world[name].column_names == ["customer_id", "true_p0", "true_tau"]


def test_chunks_are_independent_and_ids_stay_unique():
    cfg = load_config()
    small = dataclasses.replace(cfg, raw={**cfg.raw, "chunk_customers": 300})
    parts = list(iter_chunks(1000, seed=2, config=small))
    assert len(parts) == 4
    ids = np.concatenate([p["customers"]["customer_id"].to_numpy() for p in parts])
    assert list(ids[:2]) == ["C00000001", "C00000002"] and ids[-1] == "C00001000"
    orders = np.concatenate([p["orders"]["order_id"].to_numpy() for p in parts])
    events = np.concatenate([p["engagement_events"]["event_id"].to_numpy() for p in parts])
    assert len(set(orders)) == len(orders) and len(set(events)) == len(events)


def test_orders_and_events_lie_inside_the_world(holi_world):
    [(lo, hi, min_qty, bad_festival)] = _sql(holi_world, """
        select min(order_ts), max(order_ts), min(quantity),
               count(*) filter (where festival not in ('holi', 'diwali')) from orders""")
    assert lo >= HISTORY_START and hi < END and min_qty >= 1 and bad_festival == 0
    [(ev_lo, ev_hi, per_customer)] = _sql(holi_world, """
        select min(event_ts), max(event_ts), count(*) / (select count(*) from customers)
        from engagement_events""")
    assert ev_hi < END and ev_lo >= HISTORY_START
    assert 25 <= per_customer <= 80
    # last year's campaign (the training window) sees the same depth of engagement as
    # scoring does today: events from the start of the history, not only the last 400 days
    [(before_2026,)] = _sql(holi_world, """
        select min(event_ts) from engagement_events where event_ts < '2026-02-18'""")
    assert (datetime(2026, 2, 18, tzinfo=UTC) - before_2026).days > 300
    [(early_orders,)] = _sql(holi_world, """
        select count(*) from orders o join customers c using (customer_id)
        where o.order_ts < c.signup_ts""")
    assert early_orders == 0


def test_billing_reconciles_to_net_order_revenue(holi_world):
    [(billed, net, invoices, credits, orders, refunds)] = _sql(holi_world, """
        select (select sum(revenue) from billing), (select sum(amount_inr) from orders
                                                    where status = 'completed'),
               (select count(*) from billing where revenue > 0),
               (select count(*) from billing where revenue < 0),
               (select count(*) from orders), (select count(*) from orders
                                               where status = 'refunded')""")
    assert billed == pytest.approx(net, abs=0.01)
    assert invoices == orders and credits == refunds
    assert 0.01 < refunds / orders < 0.06
    [(bad_margin,)] = _sql(holi_world, """select count(*) from billing
        where abs(margin) < 0.19 * abs(revenue) or abs(margin) > 0.41 * abs(revenue)""")
    assert bad_margin == 0


def test_campaign_is_randomised_and_consistent_with_orders(holi_world):
    [(eligible, holdout_share, late_signups)] = _sql(holi_world, """
        select count(*), avg((arm = 'holdout')::int),
               count(*) filter (where c.signup_ts >= o.campaign_start)
        from campaign_outcomes o join customers c using (customer_id)""")
    assert late_signups == 0 and eligible > 0.5 * 2000
    assert holdout_share == pytest.approx(0.3, abs=0.05)
    [(mismatched, sent_holdout)] = _sql(holi_world, """
        with bought as (
            select distinct o.customer_id from orders o join campaign_outcomes c
              using (customer_id)
            where o.order_ts between c.campaign_start and c.campaign_end
              and o.status = 'completed')
        select count(*) filter (where converted <> (b.customer_id is not null)),
               count(*) filter (where arm = 'holdout' and (sent or opened or clicked))
        from campaign_outcomes c left join bought b using (customer_id)""")
    assert mismatched == 0 and sent_holdout == 0
    [(bad_revenue,)] = _sql(holi_world, """select count(*) from campaign_outcomes
        where (converted and revenue <= 0) or (not converted and revenue <> 0)""")
    assert bad_revenue == 0


def test_conversion_rates_agree_with_the_true_effects(holi_world):
    rows = _sql(holi_world, """
        select arm, avg(converted::int), avg(t.true_p0 + case when arm = 'treatment'
                                                         then t.true_tau else 0 end),
               count(*)
        from campaign_outcomes join holi_2026_truth t using (customer_id) group by arm""")
    for arm, observed, expected, n in rows:
        se = np.sqrt(expected * (1 - expected) / n)
        assert abs(observed - expected) < 4 * se, arm
    [(tau_sd, p0_lo, p0_hi)] = _sql(holi_world, """
        select stddev(true_tau), min(true_p0), max(true_p0) from holi_2027_truth""")
    assert tau_sd > 0.02 and 0 <= p0_lo < p0_hi <= 1


@pytest.mark.parametrize("holi_day", ["2026-03-04", "2025-03-14"])
def test_holi_categories_peak_before_holi(holi_world, holi_day):
    [(before, elsewhere_per_window)] = _sql(holi_world, f"""
        with h as (select order_ts from orders
                   where category in ('holi_colours', 'pichkari'))
        select count(*) filter (where order_ts between timestamptz '{holi_day}' - interval 13 day
                                                  and timestamptz '{holi_day}'),
               count(*) filter (where order_ts not between timestamptz '{holi_day}'
                                  - interval 40 day and timestamptz '{holi_day}'
                                  + interval 10 day) / (730 / 13.0)
        from h""")
    assert before > 4 * elsewhere_per_window


def test_geography_language_and_new_signups(holi_world):
    [(diaspora, recent, hindi_up, tamil_tn)] = _sql(holi_world, """
        select avg((country <> 'IN')::int),
               avg((signup_ts >= timestamptz '2027-02-20')::int),
               avg((preferred_language = 'hindi')::int) filter (where region = 'Uttar Pradesh'),
               avg((preferred_language = 'tamil')::int) filter (where region = 'Tamil Nadu')
        from customers""")
    assert 0.11 < diaspora < 0.19 and 0.02 < recent < 0.07
    assert hindi_up > 0.7 and tamil_tn > 0.6
    [(wrong_currency,)] = _sql(holi_world, """select count(*) from orders o
        join customers c using (customer_id)
        where (c.country = 'IN') <> (o.currency = 'INR')""")
    assert wrong_currency == 0


def test_end_before_the_campaign_is_refused():
    from segflow.errors import SegflowError

    with pytest.raises(SegflowError, match="after the end of campaign"):
        generate_holi(10, end=datetime(2026, 3, 1, tzinfo=UTC))


def test_true_effects_follow_observable_behaviour(holi_world):
    """Models must be able to learn the truth from history: it follows what customers did."""
    [(tau_festival, tau_other, p0_festival, p0_other)] = _sql(holi_world, """
        with fb as (select distinct customer_id from orders
                    where festival = 'holi' and order_ts < timestamptz '2026-01-01')
        select avg(true_tau) filter (where fb.customer_id is not null),
               avg(true_tau) filter (where fb.customer_id is null),
               avg(true_p0) filter (where fb.customer_id is not null),
               avg(true_p0) filter (where fb.customer_id is null)
        from holi_2026_truth t left join fb using (customer_id)""")
    assert tau_festival > tau_other and p0_festival > p0_other + 0.03
    [(tau_complainers, tau_rest)] = _sql(holi_world, """
        with c as (select distinct customer_id from engagement_events
                   where event_type = 'complaint')
        select avg(true_tau) filter (where c.customer_id is not null),
               avg(true_tau) filter (where c.customer_id is null)
        from holi_2027_truth t left join c using (customer_id)""")
    assert tau_complainers < tau_rest - 0.03
