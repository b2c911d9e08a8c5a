"""The Holi 2027 cohorts written by hand in pandas: one boolean mask per cohort, first match
in priority order wins, suppressions, channel consent, and the md5 holdout draw.

This is what `segment_templates/campaigns/holi_2027.yaml` says, transcribed the way a team
would without a template engine (the parameters are pasted in, which is the point: every
change to the campaign file means a code change here). Model scores are taken from the
scored frame: both sides use the same champion models.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

SALT = "holi-2027"
HOLDOUT = 0.1
ALL = ("email", "sms", "push", "ads")
INACTIVE_EXEMPT = ("lapsed_high_value", "winback_mid_value", "new_signups")
REGIONAL = [("maharashtra_hindi", "Maharashtra", "hindi"),
            ("maharashtra_marathi", "Maharashtra", "marathi"),
            ("gujarat_gujarati", "Gujarat", "gujarati"),
            ("uttar_pradesh_hindi", "Uttar Pradesh", "hindi"), ("delhi_hindi", "Delhi", "hindi"),
            ("rajasthan_hindi", "Rajasthan", "hindi"), ("bihar_hindi", "Bihar", "hindi"),
            ("madhya_pradesh_hindi", "Madhya Pradesh", "hindi"),
            ("west_bengal_bengali", "West Bengal", "bengali"),
            ("punjab_punjabi", "Punjab", "punjabi"), ("tamil_nadu_tamil", "Tamil Nadu", "tamil"),
            ("karnataka_kannada", "Karnataka", "kannada"),
            ("kerala_malayalam", "Kerala", "malayalam"),
            ("telangana_telugu", "Telangana", "telugu")]
DIASPORA = [("diaspora_uk", "GB"), ("diaspora_us", "US"), ("diaspora_uae", "AE"),
            ("diaspora_canada", "CA"), ("diaspora_singapore", "SG"),
            ("diaspora_australia", "AU")]


def _num(f: pd.DataFrame, col: str) -> np.ndarray:
    return f[col].astype("float64").to_numpy()


def _top_fraction(mask: np.ndarray, score: np.ndarray, ids: np.ndarray, frac: float):
    """Best ceil(frac * matches) matches by score (desc), ties by id."""
    idx = np.flatnonzero(mask)
    order = np.lexsort((ids[idx], -np.nan_to_num(score[idx], nan=-np.inf)))
    keep = np.zeros_like(mask)
    keep[idx[order[:math.ceil(frac * len(idx))]]] = True
    return keep


def cohort_masks(f: pd.DataFrame) -> list[tuple[str, np.ndarray, tuple[str, ...]]]:
    """(cohort, mask, channels) in priority order, as in holi_2027.yaml."""
    ids = f["customer_id"].to_numpy(dtype=object)
    prop, upl = _num(f, "holi_propensity"), _num(f, "flash_sale_uplift")
    rec, spend = _num(f, "recency_days"), _num(f, "lifetime_spend")
    eng, fps = _num(f, "engagement_score"), _num(f, "festival_purchase_score")
    freq = _num(f, "frequency_365d")
    consent_any = (f["consent_email"] | f["consent_sms"] | f["consent_push"]).to_numpy()
    top = _top_fraction(~np.isnan(prop) & consent_any, prop, ids, 0.05)
    band = (prop >= 0.15) & (prop <= 0.6) & (upl > 0)
    cohorts = [
        ("top_propensity", top, ("email", "sms", "push")),
        ("flash_sale_responders", _top_fraction(upl > 0, upl, ids, 0.1), ("push", "sms")),
        ("lapsed_high_value", (rec >= 90) & (spend > 5000) & (eng >= 0.6), ALL),
        ("winback_mid_value", (rec >= 60) & (rec <= 365) & (spend >= 1000) & (spend <= 5000),
         ALL),
        ("new_signups", (f["signup_ts"] >= pd.Timestamp("2027-02-20", tz="UTC")).to_numpy()
         & f["onboarding_completed"].to_numpy(), ("email", "push")),
        ("festival_buyers", f["holi_buyer_last_year"].to_numpy()
         & (_num(f, "festival_orders_365d") >= 2) & (_num(f, "festival_spend_365d") >= 1500),
         ALL),
        ("holi_colour_buyers", _num(f, "holi_colour_purchases_30d") >= 1, ("push", "ads")),
        ("propensity_persuadables", _top_fraction(band, upl, ids, 0.2), ALL)]
    region, lang = f["region"].to_numpy(), f["preferred_language"].to_numpy()
    cohorts += [(name, (region == r) & (lang == g) & (fps >= 0.25), ALL)
                for name, r, g in REGIONAL]
    country, diaspora = f["country"].to_numpy(), f["is_diaspora"].to_numpy()
    cohorts += [(name, diaspora & (country == c) & (fps >= 0.2), ("email", "ads"))
                for name, c in DIASPORA]
    zone = f["region_zone"].to_numpy()
    cohorts += [(f"festive_{z}", (zone == z) & (fps >= 0.125), ALL)
                for z in ("north", "west", "south", "east")]
    cohorts += [
        ("loyal_frequent", (freq >= 6) & (_num(f, "tenure_days") >= 365), ALL),
        ("high_aov_buyers", (_num(f, "aov") >= 2500) & (freq >= 2), ALL),
        ("app_engaged", _num(f, "app_sessions_30d") >= 4, ("push",)),
        ("email_engaged_nonbuyers", (_num(f, "email_opens_30d") >= 3)
         & (np.nan_to_num(rec, nan=100000) >= 120), ("email",)),
        ("never_purchased_engaged", (_num(f, "lifetime_orders") == 0) & (eng >= 0.4),
         ("email", "push")),
        ("medium_propensity", prop >= 0.3, ALL)]
    cohorts.append(("regional_language_engaged",
                    (f["language_group"] == "regional").to_numpy() & (eng >= 0.5), ALL))
    cohorts.append(("region_language", f["region_language_cluster"].notna().to_numpy()
                    & (eng >= 0.3), ALL))
    return cohorts


def holdout_draw(ids) -> np.ndarray:
    """md5(id:salt), first 15 hex digits, scaled to [0, 1): the campaign's stable draw."""
    return np.fromiter((int(hashlib.md5(f"{i}:{SALT}".encode()).hexdigest()[:15], 16)
                        for i in ids), dtype=np.float64, count=len(ids)) / float(16**15)


def assign(f: pd.DataFrame) -> pd.DataFrame:
    """customer_id, cohort, status for every customer (exclusive campaign)."""
    n = len(f)
    cohort = np.full(n, None, dtype=object)
    consent = {ch: f[f"consent_{ch}"].fillna(False).to_numpy() for ch in ALL}
    reachable = np.zeros(n, dtype=bool)  # some channel of the cohort is consented
    for name, mask, chans in cohort_masks(f):
        free = mask & pd.isna(cohort)
        cohort[free] = name
        reachable |= free & np.logical_or.reduce([consent[ch] for ch in chans])
    split = f["region_language_cluster"].fillna("none").to_numpy(dtype=object)
    rl = cohort == "region_language"
    cohort[rl] = "region_language__" + split[rl]
    inactive = np.nan_to_num(_num(f, "days_since_last_activity"), nan=100000) >= 90
    exempt = np.isin(cohort.astype(str), list(INACTIVE_EXEMPT))
    sup_all = ((inactive & ~exempt) | f["unsubscribed"].to_numpy()
               | (_num(f, "complaints_365d") >= 1))
    status = np.where(sup_all, "suppressed", np.where(pd.isna(cohort), "unassigned", np.where(
        ~reachable, "suppressed", np.where(holdout_draw(f["customer_id"]) < HOLDOUT,
                                           "holdout", "assigned"))))
    return pd.DataFrame({"customer_id": f["customer_id"], "cohort": cohort, "status": status})
