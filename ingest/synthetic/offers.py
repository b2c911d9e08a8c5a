"""The outcomes an offer test of the coming Holi campaign would have had, from the world's
truth: what tests and benchmarks score the experiment analysis and the bandit against.

A customer's conversion probability in the window is ``true_p0`` without contact and
``true_p0 + true_tau x factor(offer, language)`` with an offer (clipped to [0, 1]), where
``true_p0``/``true_tau`` are the ``holi_2027_truth`` columns and the factors are the
``offers:`` section of holi_world.yaml. Everything is vectorised over customers.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from segflow.ingest.synthetic.arrays import timestamps
from segflow.ingest.synthetic.config import HoliConfig, load_config

HOLDOUT = "holdout"


def offer_factor(cfg: HoliConfig, offer: np.ndarray, language: np.ndarray) -> np.ndarray:
    """Per customer, the factor its offer multiplies the treatment effect by (0 held out)."""
    out = np.zeros(len(offer))
    for name, factors in cfg["offers"]["factors"].items():
        mine = offer == name
        out[mine] = float(factors["default"])
        for lang, value in factors.items():
            if lang != "default":
                out[mine & (language == lang)] = float(value)
    unknown = set(np.unique(offer)) - set(cfg["offers"]["factors"]) - {HOLDOUT}
    if unknown:
        raise ValueError(f"offers {sorted(unknown)} have no factors in the world's config")
    return out


def true_lift(cfg: HoliConfig, tau: np.ndarray, p0: np.ndarray, offer: str,
              language: np.ndarray) -> np.ndarray:
    """Each customer's true change in conversion were they sent ``offer`` (the oracle)."""
    f = offer_factor(cfg, np.full(len(tau), offer), language)
    return np.clip(p0 + tau * f, 0, 1) - p0


def offer_outcomes(rng: np.random.Generator, customer_id, arm, p0: np.ndarray,
                   tau: np.ndarray, language: np.ndarray,
                   cfg: HoliConfig | None = None) -> pa.Table:
    """``campaign_outcomes`` rows for customers given an arm each (``holdout`` or an offer),
    in the contract's shape: arm treatment|holdout, the offer in ``offer``."""
    cfg = cfg or load_config()
    o = cfg["offers"]
    arm = np.asarray(arm, dtype=object)
    held = arm == HOLDOUT
    p = np.clip(p0 + tau * offer_factor(cfg, arm, np.asarray(language, dtype=object)), 0, 1)
    converted = rng.random(len(arm)) < p
    median, sigma = o["revenue_per_order"]
    revenue = np.where(converted, float(median) * rng.lognormal(0, float(sigma), len(arm)), 0.0)
    opened = ~held & (rng.random(len(arm)) < 0.3)
    start, end = (cfg.seconds("offers", k) for k in ("start", "end"))
    n = len(arm)
    return pa.table({
        "campaign_id": pa.array([o["campaign_id"]] * n, pa.string()),
        "customer_id": pa.array(customer_id, pa.string()),
        "campaign_start": timestamps(np.full(n, start)),
        "campaign_end": timestamps(np.full(n, end)),
        "arm": pa.array(np.where(held, HOLDOUT, "treatment"), pa.string()),
        "offer": pa.array(np.where(held, None, arm), pa.string()),
        "sent": pa.array(~held), "opened": pa.array(opened),
        "clicked": pa.array(opened & (rng.random(n) < np.where(converted, 0.7, 0.1))),
        "converted": pa.array(converted), "revenue": pa.array(revenue, pa.float64()),
    })
