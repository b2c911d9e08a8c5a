"""The Holi world's configuration, read from ``holi_world.yaml`` beside this file.

Exchange rates come from ingest's ``ingest/fx_rates.yaml`` (the rates ingest converts with),
so generated ``amount_inr`` equals what ingest derives and billing reconciles exactly.

The YAML holds every number that shapes the world; this module only turns it into the arrays
and epoch seconds the vectorised generators want, so the generators stay free of constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from segflow.errors import ConfigError
from segflow.ingest.contract import load_fx_rates
from segflow.yamlio import load_yaml

DEFAULT_CONFIG = Path(__file__).with_name("holi_world.yaml")
# the Holi project's rates (its segflow.yaml names this file): the demo world is generated in
# the currencies the Holi project converts from, at the same rates
HOLI_FX_RATES = Path(__file__).parents[1] / "fx_rates.yaml"
DAY = 86_400


def to_seconds(value: Any) -> int:
    """YAML date/datetime or ISO string -> epoch seconds (UTC)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return int(dt.timestamp())


def normalised(weights: dict) -> tuple[list[str], np.ndarray]:
    """Names and probabilities of a ``{name: weight}`` mapping."""
    names = list(weights)
    p = np.array([float(weights[k]) for k in names])
    return names, p / p.sum()


@dataclass(frozen=True)
class HoliConfig:
    raw: dict
    path: Path
    categories: list[str]
    fx: dict[str, float]      # currency -> INR per unit, from ingest/fx_rates.yaml

    def __getitem__(self, key: str) -> Any:
        try:
            return self.raw[key]
        except KeyError:
            raise ConfigError(self.path, None, f"missing key '{key}'") from None

    def seconds(self, section: str, key: str) -> int:
        return to_seconds(self[section][key])

    def category_index(self, names: list[str]) -> np.ndarray:
        """Positions of category names in the global category list (errors name the file)."""
        unknown = [n for n in names if n not in self.categories]
        if unknown:
            raise ConfigError(self.path, None, f"unknown categories {unknown}; "
                              f"known: {self.categories}")
        return np.array([self.categories.index(n) for n in names], dtype=np.int8)


@lru_cache(maxsize=4)
def load_config(path: str | Path = DEFAULT_CONFIG) -> HoliConfig:
    """Parse the world's YAML once per process."""
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(path, None, "expected a mapping at the top level")
    fx = load_fx_rates(HOLI_FX_RATES)
    unknown = sorted({v["currency"] for v in raw["diaspora"].values()} - set(fx))
    if unknown:
        raise ConfigError(path, raw["diaspora"].start_line,
                          f"currencies {unknown} have no rate in ingest/fx_rates.yaml")
    return HoliConfig(raw=raw, path=Path(path), categories=list(raw["categories"]), fx=fx)
