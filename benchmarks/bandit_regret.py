"""Cumulative regret of the offer bandit against uniform allocation over refreshes.

``python -m benchmarks.bandit_regret [--waves 10] [--per-wave 20000] [--seeds 20]``

Each refresh brings ``per_wave`` new customers, drawn from the region x language clusters
below; each offer's true conversion differs by cluster (the oracle). Uniform allocation
gives every offer a third; the bandit (``segflow.monitoring.bandit.thompson``, the code the
CLI runs, floor 10%) re-weights after each wave from the outcomes so far. Regret of a
customer is the best offer's true rate (for the whole campaign) minus the rate of the offer
they got; the oracle's regret is 0 by definition. Printed: mean cumulative regret (in
conversions) of both policies, their ratio and the oracle's figures.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from segflow.scoring.campaigns import BanditSpec

OFFERS = ("discount", "bundle", "free_shipping")
# cluster: (share of customers, true conversion of discount, bundle, free_shipping)
TRUTH = {
    "hindi_heartland": (0.35, 0.050, 0.046, 0.040),
    "west_marathi_gujarati": (0.20, 0.048, 0.052, 0.041),
    "south_dravidian": (0.18, 0.041, 0.053, 0.040),
    "east_bengali": (0.12, 0.052, 0.044, 0.042),
    "punjab_punjabi": (0.08, 0.055, 0.047, 0.043),
    "diaspora": (0.07, 0.035, 0.037, 0.048),
}


def offer_rates() -> np.ndarray:
    """The oracle: each offer's true conversion over the campaign's cluster mix."""
    shares = np.array([v[0] for v in TRUTH.values()])
    rates = np.array([v[1:] for v in TRUTH.values()])
    return shares @ rates


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
