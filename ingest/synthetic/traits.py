"""Latent traits of each customer: the hidden causes behind every observable table.

Orders, engagement, surveys and the campaign response are all drawn from these traits, so a
model that learns from observable behaviour can recover them, and the truth tables are exact
functions of them.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from segflow.ingest.synthetic.config import DAY, HoliConfig


def sample_signups(rng: np.random.Generator, n: int, cfg: HoliConfig, end: int) -> np.ndarray:
    """Sign-up times: growing over the years, plus a burst of new sign-ups just before end."""
    w = cfg["window"]
    start = cfg.seconds("window", "signup_start")
    recent_cut = end - int(w["recent_signup_days"]) * DAY
    older = start + (recent_cut - start) * rng.random(n) ** float(w["signup_recency_power"])
    recent = recent_cut + (end - 1 - recent_cut) * rng.random(n)
    is_recent = rng.random(n) < float(w["recent_signup_share"])
    return np.where(is_recent, recent, older).astype(np.int64)


def sample_traits(rng: np.random.Generator, n: int, cfg: HoliConfig, end: int,
                  diaspora: np.ndarray) -> dict[str, np.ndarray]:
    t = cfg["traits"]
    signup = sample_signups(rng, n, cfg, end)
    median, sigma = float(t["orders_per_year_median"]), float(t["orders_per_year_sigma"])
    activity = np.minimum(median * np.exp(sigma * rng.standard_normal(n)),
                          float(t["orders_per_year_max"]))
    heavy_cut = median * np.exp(sigma * NormalDist().inv_cdf(float(t["heavy_buyer_quantile"])))
    spend = np.exp(float(t["spend_sigma"]) * rng.standard_normal(n))
    spend = np.where(diaspora, spend * float(t["diaspora_spend_factor"]), spend)
    affinity = rng.beta(*t["festival_affinity_beta"], size=n)
    engagement = rng.beta(*t["engagement_beta"], size=n)
    lo, hi = t["lapse_days_before_end"]
    lapsed = (rng.random(n) < float(t["lapsed_share"])) & (signup < end - (lo + 30) * DAY)
    lapse_at = end - (lo + (hi - lo) * rng.random(n)) * DAY
    lapse_at = np.maximum(lapse_at, signup + 30 * DAY).astype(np.int64)
    return {
        "signup": signup,
        "activity": activity,
        "heavy": activity > heavy_cut,
        "spend": spend,
        "affinity": affinity,
        "engagement": engagement,
        "app_pref": rng.random(n) < 0.25 + 0.5 * engagement,
        "complainer": rng.random(n) < float(t["complainer_share"]),
        "lapsed": lapsed,
        # activity (orders, sessions, opens) stops here; ``end`` for customers still active
        "stop": np.where(lapsed, lapse_at, end).astype(np.int64),
    }


def lapsed_as_of(traits: dict[str, np.ndarray], as_of: int) -> np.ndarray:
    """Whether each customer had stopped being active by ``as_of``."""
    return traits["lapsed"] & (traits["stop"] <= as_of)
