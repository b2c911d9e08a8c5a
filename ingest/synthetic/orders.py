"""Orders: everyday purchases plus festival surges, priced in each customer's currency.

Order times are drawn per customer inside the customer's active window (sign-up or history
start, until lapse or end). Festival orders ramp up towards each festival day, so Holi
categories peak in the weeks before Holi and features such as "Holi colour purchases in the
last 30 days" carry signal.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from segflow.ingest.synthetic.arrays import (
    choice,
    ids,
    pick,
    rank_within,
    repeat_index,
    sort_by_owner_time,
    timestamps,
)
from segflow.ingest.synthetic.config import DAY, HoliConfig, normalised, to_seconds

FESTIVALS = [None, "holi", "diwali"]  # festival code 0, 1, 2 in the arrays below
STATUSES = ["completed", "refunded"]


def _empty() -> dict[str, np.ndarray]:
    return {"owner": np.zeros(0, np.int64), "ts": np.zeros(0, np.int64),
            "cat": np.zeros(0, np.int8), "festival": np.zeros(0, np.int8),
            "campaign": np.zeros(0, bool)}


def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    parts = [_empty(), *parts]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def everyday_orders(rng, cfg: HoliConfig, traits, begin: int, end: int) -> dict:
    start = np.maximum(traits["signup"], begin)
    dur = np.maximum(np.minimum(traits["stop"], end) - start, 0)
    counts = rng.poisson(traits["activity"] * dur / (365 * DAY))
    owner = repeat_index(counts)
    ts = start[owner] + (rng.random(len(owner)) * dur[owner]).astype(np.int64)
    _, p = normalised({k: v["weight"] for k, v in cfg["categories"].items()})
    cat = choice(rng, p, len(owner)).astype(np.int8)
    return {"owner": owner, "ts": ts, "cat": cat, "festival": np.zeros(len(owner), np.int8),
            "campaign": np.zeros(len(owner), bool)}


def festival_orders(rng, cfg: HoliConfig, traits, begin: int, end: int) -> dict:
    """Orders of the run-up to each festival day; density rises linearly towards the day."""
    start = np.maximum(traits["signup"], begin)
    stop = np.minimum(traits["stop"], end)
    scale = np.sqrt(traits["activity"] / float(cfg["traits"]["orders_per_year_median"]))
    parts = []
    for code, name in enumerate(FESTIVALS[1:], start=1):
        spec = cfg["festivals"][name]
        names, p = normalised(spec["categories"])
        cat_idx = cfg.category_index(names)
        runup = float(spec["runup_days"]) * DAY
        for day in spec["dates"]:
            festival_day = to_seconds(day)
            if festival_day - runup >= end:
                continue
            counts = rng.poisson(float(spec["orders_per_festival"]) * traits["affinity"] * scale)
            owner = repeat_index(counts)
            before = runup * (1 - np.sqrt(1 - rng.random(len(owner))))
            ts = (festival_day - before).astype(np.int64)
            keep = (ts >= start[owner]) & (ts < stop[owner])
            owner, ts = owner[keep], ts[keep]
            parts.append({"owner": owner, "ts": ts,
                          "cat": cat_idx[choice(rng, p, len(owner))],
                          "festival": np.full(len(owner), code, np.int8),
                          "campaign": np.zeros(len(owner), bool)})
    return concat(parts)


def price_orders(rng, cfg: HoliConfig, orders: dict, traits, currency: np.ndarray) -> None:
    """Adds quantity, amount, amount_inr, currency, channel and status columns in place.

    ``currency`` is each customer's index into ``cfg.fx``.
    """
    cats = cfg["categories"]
    price = np.array([float(cats[c]["price_inr"]) for c in cfg.categories])
    extra = np.array([float(cats[c]["extra_qty"]) for c in cfg.categories])
    owner, cat, n = orders["owner"], orders["cat"].astype(np.int64), len(orders["owner"])
    qty = 1 + rng.poisson(extra[cat])
    unit = price[cat] * traits["spend"][owner] * np.exp(cfg["price_sigma"] * rng.standard_normal(n))
    fx = np.array(list(cfg.fx.values()))
    cur = currency[owner]
    amount = np.maximum(np.round(unit * qty / fx[cur], 2), 0.01)
    # amount_inr exactly as ingest derives it (amount * rate, unrounded), so billing, which
    # carries these values, reconciles with the canonical orders to the last bit
    orders.update(quantity=qty.astype(np.int64), amount=amount,
                  amount_inr=amount * fx[cur], currency=cur)
    channels, p = normalised(cfg["order_channels"])
    home = np.where(traits["app_pref"], channels.index("app"), choice(rng, p, len(traits["spend"])))
    usual = rng.random(n) < float(cfg["home_channel_share"])
    orders["channel"] = np.where(usual, home[owner], choice(rng, p, n))
    refund_p = np.where(traits["complainer"][owner], cfg["refund_rate_complainer"],
                        cfg["refund_rate"])
    refunded = (rng.random(n) < refund_p) & ~orders["campaign"]
    orders["status"] = refunded.astype(np.int8)


def sort_and_number(orders: dict, numbers: np.ndarray) -> dict:
    """Orders sorted by customer then time, each with its id digits (customer number + seq)."""
    perm = sort_by_owner_time(orders["owner"], orders["ts"])
    out = {k: v[perm] for k, v in orders.items()}
    out["number"] = numbers[out["owner"]] * 10_000 + rank_within(out["owner"]) + 1
    return out


def orders_table(cfg: HoliConfig, orders: dict, customer_id: pa.Array) -> pa.Table:
    festival = pa.array(FESTIVALS, pa.string()).take(pa.array(orders["festival"]))
    return pa.table({
        "order_id": ids("O", orders["number"], 12),
        "customer_id": customer_id.take(pa.array(orders["owner"])),
        "order_ts": timestamps(orders["ts"]),
        "amount": pa.array(orders["amount"], pa.float64()),
        "currency": pick(list(cfg.fx), orders["currency"]),
        "amount_inr": pa.array(orders["amount_inr"], pa.float64()),
        "quantity": pa.array(orders["quantity"], pa.int64()),
        "category": pick(cfg.categories, orders["cat"]),
        "festival": festival,
        "channel": pick(list(cfg["order_channels"]), orders["channel"]),
        "status": pick(STATUSES, orders["status"]),
    })
