"""Where customers live and what language they prefer: Indian states and the diaspora.

The YAML gives population weights, cities and a language mix per region; this module turns
them into flat lookup arrays once, then samples whole columns of customers from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segflow.ingest.synthetic.arrays import choice, rowwise_choice
from segflow.ingest.synthetic.config import HoliConfig, normalised


@dataclass(frozen=True)
class Geography:
    regions: list[str]          # Indian state, or the country name for the diaspora
    countries: list[str]        # ISO-2 per region
    currencies: list[str]       # per region
    diaspora: np.ndarray        # bool per region
    weights: np.ndarray         # probability per region
    cities: list[str]           # flat list over all regions
    city_offset: np.ndarray     # first city of each region in ``cities``
    city_count: np.ndarray
    languages: list[str]
    language_cum: np.ndarray    # (regions x languages) cumulative probabilities


def build_geography(cfg: HoliConfig) -> Geography:
    states, diaspora = cfg["states"], cfg["diaspora"]
    share = float(cfg["diaspora_share"])
    _, w_in = normalised({k: v["weight"] for k, v in states.items()})
    _, w_out = normalised({k: v["weight"] for k, v in diaspora.items()})
    entries = list(states.items()) + list(diaspora.items())
    languages = sorted({lang for _, v in entries for lang in v["languages"]})
    cum = np.zeros((len(entries), len(languages)))
    for i, (_, v) in enumerate(entries):
        names, p = normalised(v["languages"])
        for name, prob in zip(names, p, strict=True):
            cum[i, languages.index(name)] = prob
    cities = [c for _, v in entries for c in v["cities"]]
    counts = np.array([len(v["cities"]) for _, v in entries])
    return Geography(
        regions=[k for k, _ in entries],
        countries=["IN"] * len(states) + [v["country"] for v in diaspora.values()],
        currencies=["INR"] * len(states) + [v["currency"] for v in diaspora.values()],
        diaspora=np.array([False] * len(states) + [True] * len(diaspora)),
        weights=np.r_[w_in * (1 - share), w_out * share],
        cities=cities,
        city_offset=np.r_[0, np.cumsum(counts)[:-1]],
        city_count=counts,
        languages=languages,
        language_cum=np.cumsum(cum, axis=1),
    )


def sample_geography(rng: np.random.Generator, n: int, geo: Geography) -> dict[str, np.ndarray]:
    """Region, city and preferred language indices for ``n`` customers."""
    region = choice(rng, geo.weights, n)
    city = geo.city_offset[region] + (rng.random(n) * geo.city_count[region]).astype(np.int64)
    language = rowwise_choice(rng, geo.language_cum, region)
    return {"region": region, "city": city, "language": language}
