"""The synthetic Holi world: canonical B2C tables plus the truth of last year's campaign.

Customers are generated in chunks with seeds derived from (seed, chunk number), so a world of
10M customers is produced chunk by chunk in bounded memory, and the same seed always gives
the same tables whether they are built in memory (``generate_holi``) or streamed to files
(``writer.write_holi_world``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pyarrow as pa

from segflow.errors import SegflowError
from segflow.ingest.synthetic import campaign as camp_mod
from segflow.ingest.synthetic.billing import billing_table
from segflow.ingest.synthetic.config import HoliConfig, load_config, to_seconds
from segflow.ingest.synthetic.customers import build_customers, sample_consents
from segflow.ingest.synthetic.engagement import engagement_events, events_table, sample_unsubscribes
from segflow.ingest.synthetic.geography import Geography, build_geography, sample_geography
from segflow.ingest.synthetic.orders import (
    concat,
    everyday_orders,
    festival_orders,
    orders_table,
    price_orders,
    sort_and_number,
)
from segflow.ingest.synthetic.survey import survey_table
from segflow.ingest.synthetic.traits import sample_traits

TABLES = ("customers", "orders", "engagement_events", "billing", "campaign_outcomes",
          "survey_responses")
TRUTH_TABLES = ("holi_2026_truth", "holi_2027_truth")


def resolve_end(cfg: HoliConfig, end: datetime | str | None) -> int:
    """End of the world in epoch seconds; it must lie after last year's campaign."""
    end_s = to_seconds(end if end is not None else cfg["window"]["default_end"])
    if end_s <= cfg.seconds("campaign", "end"):
        raise SegflowError(f"end {end} must be after the end of campaign "
                           f"{cfg['campaign']['campaign_id']} ({cfg['campaign']['end']})")
    return end_s


def chunks(customers: int, chunk_size: int) -> Iterator[tuple[int, int, int]]:
    """(chunk number, first customer index, customers in the chunk)."""
    if customers < 1:
        raise SegflowError(f"customers must be at least 1, got {customers}")
    for k, first in enumerate(range(0, customers, chunk_size)):
        yield k, first, min(chunk_size, customers - first)


def _orders(rng, cfg: HoliConfig, traits: dict, camp: dict, currency: np.ndarray,
            end: int) -> dict:
    begin = cfg.seconds("window", "history_start")
    organic = concat([everyday_orders(rng, cfg, traits, begin, end),
                      festival_orders(rng, cfg, traits, begin, end)])
    keep = camp_mod.outside_window(organic, camp, len(currency))
    organic = {k: v[keep] for k, v in organic.items()}
    orders = concat([organic, camp_mod.window_orders(rng, cfg, camp)])
    price_orders(rng, cfg, orders, traits, currency)
    return orders


def generate_chunk(cfg: HoliConfig, geo: Geography, seed: int, chunk: int, first: int,
                   count: int, end: int) -> dict[str, pa.Table]:
    """Every table for customers ``first .. first+count-1``; independent of other chunks."""
    rng = np.random.default_rng([seed, chunk])
    numbers = np.arange(first + 1, first + count + 1, dtype=np.int64)
    place = sample_geography(rng, count, geo)
    traits = sample_traits(rng, count, cfg, end, geo.diaspora[place["region"]])
    sample_unsubscribes(rng, cfg, traits, end)
    consents = sample_consents(rng, cfg, traits)
    customers = build_customers(rng, cfg, geo, place, traits, consents, numbers, end)
    cid = customers["customer_id"].combine_chunks()
    camp = camp_mod.run_campaign(rng, cfg, traits)
    fx_names = list(cfg.fx)
    currency = np.array([fx_names.index(c) for c in geo.currencies])[place["region"]]
    orders = sort_and_number(_orders(rng, cfg, traits, camp, currency, end), numbers)
    revenue = np.zeros(count)
    revenue[orders["owner"][orders["campaign"]]] = orders["amount_inr"][orders["campaign"]]
    events = engagement_events(rng, cfg, traits, consents, camp, end)
    p0_next, tau_next = camp_mod.true_response(cfg, traits, end)
    return {
        "customers": customers,
        "orders": orders_table(cfg, orders, cid),
        "engagement_events": events_table(events, numbers, cid),
        "billing": billing_table(rng, cfg, orders, cid, end),
        "campaign_outcomes": camp_mod.outcomes_table(cfg, camp, cid, revenue),
        "survey_responses": survey_table(rng, cfg, traits, numbers, cid, end),
        "holi_2026_truth": camp_mod.truth_table(cid, camp["idx"], camp["p0"], camp["tau"]),
        "holi_2027_truth": camp_mod.truth_table(cid, np.arange(count), p0_next, tau_next),
    }


def iter_chunks(customers: int, seed: int = 7, end: datetime | str | None = None,
                config: HoliConfig | None = None) -> Iterator[dict[str, pa.Table]]:
    """The world chunk by chunk (for writers that must not hold it all in memory)."""
    cfg = config or load_config()
    geo = build_geography(cfg)
    end_s = resolve_end(cfg, end)
    for chunk, first, count in chunks(customers, int(cfg["chunk_customers"])):
        yield generate_chunk(cfg, geo, seed, chunk, first, count, end_s)


def generate_holi(customers: int, seed: int = 7,
                  end: datetime | None = None) -> dict[str, pa.Table]:
    """Clean canonical tables and truth tables of a Holi world with ``customers`` customers.

    History starts 2025-03-01; ``end`` defaults to 2027-03-01T00:00Z (the Holi 2027 planning
    run). The same (customers, seed, end) always gives identical tables.
    """
    parts = list(iter_chunks(customers, seed, end))
    return {name: pa.concat_tables([p[name] for p in parts]).combine_chunks()
            for name in TABLES + TRUTH_TABLES}
