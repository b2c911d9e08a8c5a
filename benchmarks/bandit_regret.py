"""Cumulative regret of the offer bandit against uniform allocation over refreshes, on the
Holi world's truth.

``python -m benchmarks.bandit_regret [--waves 10] [--per-wave 20000] [--seeds 20]``

The oracle: each offer's true conversion over the world's customers, ``true_p0`` plus the
offer's true lift (``holi_2027_truth`` and the ``offers:`` factors of holi_world.yaml, by
language; ``segflow.ingest.synthetic.offers``). Each refresh brings ``per_wave`` new
customers. Uniform allocation gives every offer a third; the bandit
(``segflow.monitoring.bandit.thompson``, the code the CLI runs, floor 10%) re-weights after
each wave from the outcomes so far. Regret is the conversions lost against sending every
customer the best offer; the oracle's regret is 0 by definition. Printed: the oracle's
rates, mean cumulative regret of both policies and their ratio.
"""

from __future__ import annotations

import argparse
from functools import lru_cache

import numpy as np
import pandas as pd

from segflow.scoring.campaigns import BanditSpec

OFFERS = ("discount", "bundle", "free_shipping")
WORLD_CUSTOMERS = 20_000


@lru_cache(maxsize=1)
def offer_rates() -> np.ndarray:
    """The oracle: each offer's true conversion over the Holi world's customers."""
    from segflow.ingest.synthetic.config import load_config
    from segflow.ingest.synthetic.holi import generate_holi
    from segflow.ingest.synthetic.offers import true_lift

    world = generate_holi(WORLD_CUSTOMERS, seed=7)
    t = world["holi_2027_truth"].to_pandas().merge(
        world["customers"].select(["customer_id", "preferred_language"]).to_pandas(),
        on="customer_id")
    p0, tau = t["true_p0"].to_numpy(), t["true_tau"].to_numpy()
    lang = t["preferred_language"].to_numpy(dtype=object)
    cfg = load_config()
    return np.array([(p0 + true_lift(cfg, tau, p0, o, lang)).mean() for o in OFFERS])


def simulate(policy: str, waves: int, per_wave: int, seed: int,
             spec: BanditSpec | None = None) -> float:
    """Cumulative regret (expected conversions lost against the best offer) of a policy."""
    from segflow.monitoring.bandit import thompson

    spec = spec or BanditSpec(floor=0.1, draws=4000, seed=seed)
    rng = np.random.default_rng(seed)
    rates = offer_rates()
    best = rates.max()
    shares = np.full(len(OFFERS), 1 / len(OFFERS))
    n, conv = np.zeros(len(OFFERS)), np.zeros(len(OFFERS))
    regret = 0.0
    for wave in range(waves):
        counts = rng.multinomial(per_wave, shares)
        got = rng.binomial(counts, rates)
        n, conv = n + counts, conv + got
        regret += float(counts @ (best - rates))
        if policy == "bandit":
            totals = pd.DataFrame({"arm": OFFERS, "n": n, "conversions": conv,
                                   "revenue_sum": conv * 500.0})
            result = thompson(totals, list(OFFERS), BanditSpec(
                metric=spec.metric, floor=spec.floor, draws=spec.draws, seed=seed + wave))
            shares = np.array([result["offers"][o] for o in OFFERS])
    return regret


def compare(waves: int, per_wave: int, seeds: int) -> dict:
    runs = {p: [simulate(p, waves, per_wave, s) for s in range(seeds)]
            for p in ("uniform", "bandit")}
    uniform, bandit = float(np.mean(runs["uniform"])), float(np.mean(runs["bandit"]))
    return {"waves": waves, "per_wave": per_wave, "seeds": seeds,
            "oracle_rates": dict(zip(OFFERS, offer_rates().round(5).tolist(), strict=True)),
            "oracle_regret": 0.0, "uniform_regret": uniform, "bandit_regret": bandit,
            "ratio": bandit / uniform}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--per-wave", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    r = compare(args.waves, args.per_wave, args.seeds)
    print(f"oracle: true conversion per offer {r['oracle_rates']}; regret 0")
    print(f"{r['waves']} refreshes x {r['per_wave']:,} new customers, mean of {r['seeds']} "
          f"seeds: uniform regret {r['uniform_regret']:,.1f} conversions, bandit "
          f"{r['bandit_regret']:,.1f} ({r['ratio']:.0%} of uniform)")
    raise SystemExit(0 if r["ratio"] <= 0.5 else 1)


if __name__ == "__main__":
    main()
