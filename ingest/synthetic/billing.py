"""Billing, the finance system of record: an invoice per order, a credit note per refund.

Built from the same order arrays, so billing revenue equals net order revenue (completed
orders in INR) to the paisa, which is what the governance reconciliation checks.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from segflow.ingest.synthetic.arrays import ids, pick, timestamps
from segflow.ingest.synthetic.config import DAY, HoliConfig


def billing_table(rng, cfg: HoliConfig, orders: dict, customer_id: pa.Array, end: int) -> pa.Table:
    cats = cfg["categories"]
    mean = np.array([float(cats[c]["margin"]) for c in cfg.categories])
    cat = orders["cat"].astype(np.int64)
    rate = np.clip(mean[cat] + 0.03 * rng.standard_normal(len(cat)), 0.2, 0.4)
    revenue = orders["amount_inr"]
    margin = np.round(revenue * rate, 2)
    refunded = np.flatnonzero(orders["status"] == 1)
    credit_ts = orders["ts"][refunded] + ((1 + 13 * rng.random(len(refunded))) * DAY).astype(
        np.int64)
    credit_ts = np.minimum(credit_ts, end - 1)
    owner = np.r_[orders["owner"], orders["owner"][refunded]]
    return pa.table({
        "invoice_id": pa.concat_arrays([ids("I", orders["number"], 12),
                                        ids("R", orders["number"][refunded], 12)]),
        "account_id": customer_id.take(pa.array(owner)),
        "invoice_date": timestamps(np.r_[orders["ts"], credit_ts]),
        "revenue": pa.array(np.r_[revenue, -revenue[refunded]], pa.float64()),
        "margin": pa.array(np.r_[margin, -margin[refunded]], pa.float64()),
        "product_line": pick(cfg.categories, np.r_[cat, cat[refunded]]),
    })
