"""Last year's randomised Holi campaign and the true response model behind it.

``true_p0`` (purchase probability in the window without treatment) and ``true_tau`` (the
treatment's effect on it) are explicit functions of the latent traits, evaluated as of the
campaign start for ``holi_2026`` and as of ``end`` for the coming ``holi_2027`` campaign.
Conversion is then the only source of purchases in the window for eligible customers, so the
outcomes table, the orders and the truth agree.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from segflow.ingest.synthetic.arrays import choice, sigmoid, timestamps
from segflow.ingest.synthetic.config import DAY, HoliConfig, normalised
from segflow.ingest.synthetic.traits import lapsed_as_of


def true_response(cfg: HoliConfig, traits: dict, as_of: int) -> tuple[np.ndarray, np.ndarray]:
    """(p0, tau) per customer as of ``as_of``; tau is clipped so p0 + tau stays in [0, 1]."""
    c = cfg["campaign"]
    a, t = c["p0"], c["tau"]
    lapsed = lapsed_as_of(traits, as_of)
    new = traits["signup"] > as_of - 60 * DAY
    median = float(cfg["traits"]["orders_per_year_median"])
    logit = (a["intercept"] + a["log_activity"] * np.log(traits["activity"] / median)
             + a["festival_affinity"] * traits["affinity"]
             + a["engagement"] * (traits["engagement"] - 0.5)
             + a["lapsed"] * lapsed + a["new_customer"] * new)
    p0 = sigmoid(logit)
    eng = traits["engagement"]
    tau = t["peak"] * traits["affinity"] * 4 * eng * (1 - eng)
    tau = np.where(lapsed, tau * t["lapsed_factor"], tau)
    tau = tau + t["heavy_buyer"] * traits["heavy"] + t["complainer"] * traits["complainer"]
    return p0, np.clip(tau, -p0, 1 - p0)


def run_campaign(rng: np.random.Generator, cfg: HoliConfig, traits: dict) -> dict:
    """Arm, outcomes and truth for the eligible customers (signed up before the start)."""
    c = cfg["campaign"]
    start, end = cfg.seconds("campaign", "start"), cfg.seconds("campaign", "end")
    idx = np.flatnonzero(traits["signup"] < start)
    p0, tau = (v[idx] for v in true_response(cfg, traits, start))
    treated = rng.random(len(idx)) < float(c["treatment_share"])
    converted = rng.random(len(idx)) < p0 + tau * treated
    lo, hi = c["opened_prob"]
    opened = treated & (rng.random(len(idx)) < lo + (hi - lo) * traits["engagement"][idx])
    p_click = np.where(converted, c["clicked_prob_converter"], c["clicked_prob_other"])
    clicked = opened & (rng.random(len(idx)) < p_click)
    return {"idx": idx, "p0": p0, "tau": tau, "treated": treated, "converted": converted,
            "opened": opened, "clicked": clicked, "start": start, "end": end}


def window_orders(rng: np.random.Generator, cfg: HoliConfig, camp: dict) -> dict:
    """One order per converter inside the campaign window (never refunded)."""
    owner = camp["idx"][camp["converted"]]
    names, p = normalised(cfg["campaign"]["order_categories"])
    ts = camp["start"] + (rng.random(len(owner)) * (camp["end"] - camp["start"])).astype(np.int64)
    return {"owner": owner, "ts": ts, "cat": cfg.category_index(names)[choice(rng, p, len(owner))],
            "festival": np.ones(len(owner), np.int8), "campaign": np.ones(len(owner), bool)}


def outside_window(orders: dict, camp: dict, n: int) -> np.ndarray:
    """Mask of organic orders to keep: eligible non-converters buy nothing in the window."""
    silent = np.zeros(n, bool)
    silent[camp["idx"][~camp["converted"]]] = True
    in_window = (orders["ts"] >= camp["start"]) & (orders["ts"] <= camp["end"])
    return ~(in_window & silent[orders["owner"]])


def outcomes_table(cfg: HoliConfig, camp: dict, customer_id: pa.Array,
                   revenue: np.ndarray) -> pa.Table:
    c, idx, k = cfg["campaign"], camp["idx"], len(camp["idx"])
    return pa.table({
        "campaign_id": pa.array([c["campaign_id"]] * k, pa.string()),
        "customer_id": customer_id.take(pa.array(idx)),
        "campaign_start": timestamps(np.full(k, camp["start"])),
        "campaign_end": timestamps(np.full(k, camp["end"])),
        "arm": pa.array(np.where(camp["treated"], "treatment", "holdout"), pa.string()),
        "offer": pa.array([c["offer"]] * k, pa.string()),
        "sent": pa.array(camp["treated"]),
        "opened": pa.array(camp["opened"]),
        "clicked": pa.array(camp["clicked"]),
        "converted": pa.array(camp["converted"]),
        "revenue": pa.array(revenue[idx], pa.float64()),
    })


def truth_table(customer_id: pa.Array, idx: np.ndarray, p0: np.ndarray,
                tau: np.ndarray) -> pa.Table:
    return pa.table({"customer_id": customer_id.take(pa.array(idx)),
                     "true_p0": pa.array(p0, pa.float64()),
                     "true_tau": pa.array(tau, pa.float64())})
