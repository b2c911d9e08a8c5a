"""The ``customers`` table: identity, geography, consents and onboarding.

Emails and phones are unique by construction (derived from the customer number through a
bijection), so every duplicate a dedupe step finds was planted on purpose by ``messy``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segflow.errors import ConfigError
from segflow.ingest.synthetic.arrays import ids, pick, timestamps
from segflow.ingest.synthetic.config import DAY, HoliConfig
from segflow.ingest.synthetic.geography import Geography

_PHONE_MULT = 982_451_653  # prime, coprime with 10: a permutation of the digit space


def customer_ids(numbers: np.ndarray) -> pa.Array:
    return ids("C", numbers, 8)


def phones(rng: np.random.Generator, cfg: HoliConfig, country: np.ndarray,
           numbers: np.ndarray) -> pa.Array:
    """E.164 numbers: calling code + a leading digit + digits that are a bijection of the id."""
    pieces, positions = [], []
    for iso, spec in cfg["phones"].items():  # one pass per country, not per customer
        where = np.flatnonzero(country == iso)
        width, leads = int(spec["digits"]), spec["lead"]
        digits = (numbers[where] * _PHONE_MULT + 12_345) % (10**width)
        lead = pick(leads, (rng.random(len(where)) * len(leads)).astype(np.int64))
        body = pc.utf8_lpad(pc.cast(pa.array(digits), pa.string()), width=width, padding="0")
        pieces.append(pc.binary_join_element_wise("+" + str(spec["code"]), lead, body, ""))
        positions.append(where)
    order = np.concatenate(positions)
    if len(order) != len(numbers):
        missing = sorted(set(country) - set(cfg["phones"]))
        raise ConfigError(cfg.path, cfg.raw.line("phones"), f"no phone format for {missing}")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return pa.concat_arrays(pieces).take(pa.array(inverse))


def emails(rng: np.random.Generator, cfg: HoliConfig, first: np.ndarray, last: np.ndarray,
           numbers: np.ndarray) -> pa.Array:
    firsts = [f.lower() for f in cfg["first_names"]]
    lasts = [s.lower() for s in cfg["last_names"]]
    domains = ["@" + d for d in cfg["email_domains"]]
    dom = (rng.random(len(numbers)) * len(domains)).astype(np.int64)
    num = pc.cast(pa.array(numbers), pa.string())
    return pc.binary_join_element_wise(pick(firsts, first), ".", pick(lasts, last), num,
                                       pick(domains, dom), "")


def sample_consents(rng: np.random.Generator, cfg: HoliConfig, traits: dict) -> dict:
    """Consent per channel as given at sign-up; engaged customers consent more often."""
    eng = traits["engagement"]
    return {name: rng.random(len(eng)) < spec["base"] + spec["slope"] * (eng - 0.5)
            for name, spec in cfg["consents"].items()}


def build_customers(rng: np.random.Generator, cfg: HoliConfig, geo: Geography,
                    place: dict[str, np.ndarray], traits: dict[str, np.ndarray],
                    consents: dict[str, np.ndarray], numbers: np.ndarray, end: int) -> pa.Table:
    """One row per customer; consent_email is as of ``end`` (unsubscribes withdrawn)."""
    n = len(numbers)
    first = (rng.random(n) * len(cfg["first_names"])).astype(np.int64)
    last = (rng.random(n) * len(cfg["last_names"])).astype(np.int64)
    country = np.array(geo.countries)[place["region"]]
    consents = dict(consents, consent_email=consents["consent_email"] & ~traits["unsubscribed"])
    ob = cfg["onboarding"]
    recent = traits["signup"] >= end - int(ob["recent_days"]) * DAY
    p_done = np.where(recent, ob["recent_completed_share"], ob["completed_share"])
    nulls = pa.nulls(n, pa.string())
    return pa.table({
        "customer_id": customer_ids(numbers),
        "account_id": nulls,
        "parent_account_id": nulls,
        "email": emails(rng, cfg, first, last, numbers),
        "phone": phones(rng, cfg, country, numbers),
        "name": pc.binary_join_element_wise(pick(cfg["first_names"], first),
                                            pick(cfg["last_names"], last), " "),
        "signup_ts": timestamps(traits["signup"]),
        "region": pick(geo.regions, place["region"]),
        "country": pa.array(country, pa.string()),
        "city": pick(geo.cities, place["city"]),
        "preferred_language": pick(geo.languages, place["language"]),
        **{k: pa.array(v) for k, v in consents.items()},
        "onboarding_completed": pa.array(rng.random(n) < p_done),
    })

