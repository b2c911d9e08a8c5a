"""Thompson sampling between refreshes: the outcomes so far re-weight each offer's share of
the next refresh's new assignments.

Each offer's conversion rate has a Beta posterior: a weak prior centred on the pooled
conversion of all offers (worth ``PRIOR_CUSTOMERS`` customers, so an offer without outcomes
yet is neither favoured nor written off: a uniform prior would make an untried offer look
like a 50% converter) updated by the offer's conversions and non-conversions. Drawing from
every posterior many times, the share of draws in which an offer is best is the probability
that it is the best offer; the next shares are that probability, with every offer kept at
``floor`` or more so the losing offers stay measured. With ``metric: revenue`` an offer's
value is its drawn conversion rate times a drawn revenue per conversion (normal, from the
offer's converters). The holdout is not an arm of the bandit: its fraction stays as the
campaign file says, so every offer keeps a randomised control. Customers who already hold
an offer keep it (``segflow.scoring.arms``); only new assignments follow the new shares.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from segflow.canonical import source
from segflow.errors import SegflowError
from segflow.lock import holds_workspace
from segflow.monitoring.feedback_run import outcomes_path
from segflow.scoring.arms import allocation_path, read_allocation
from segflow.scoring.campaigns import BanditSpec, Campaign
from segflow.settings import Settings

PRIOR_CUSTOMERS = 10.0


def thompson(totals: pd.DataFrame, offers: list[str], spec: BanditSpec) -> dict:
    """Shares of the next new assignments from per-offer ``n``, ``conversions``,
    ``revenue_sum`` (offers without outcomes yet get the prior); returns the shares and
    the posterior they came from."""
    k = len(offers)
    if spec.floor * k > 1:
        raise SegflowError(f"experiment.bandit.floor {spec.floor:g} x {k} offers exceeds "
                           f"100%: lower the floor below {1 / k:.3g}")
    t = totals.set_index("arm").reindex(offers).fillna(0)
    n, conv = t["n"].to_numpy(float), t["conversions"].to_numpy(float)
    pooled = (conv.sum() + 1) / (n.sum() + 2)
    a = pooled * PRIOR_CUSTOMERS + conv
    b = (1 - pooled) * PRIOR_CUSTOMERS + n - conv
    rng = np.random.default_rng(spec.seed)
    draws = rng.beta(a, b, size=(spec.draws, k))
    posterior = {name: {"alpha": float(a[i]), "beta": float(b[i]),
                        "mean_conversion": float(a[i] / (a[i] + b[i])),
                        "customers": int(n[i]), "conversions": int(conv[i])}
                 for i, name in enumerate(offers)}
    if spec.metric == "revenue":
        revenue = t["revenue_sum"].to_numpy(float)
        pooled = revenue.sum() / max(conv.sum(), 1)
        per_conv = np.where(conv > 0, revenue / np.maximum(conv, 1), pooled)
        spread = np.abs(per_conv) / np.sqrt(np.maximum(conv, 1))
        draws = draws * np.maximum(rng.normal(per_conv, spread, size=(spec.draws, k)), 0)
        for i, name in enumerate(offers):
            posterior[name]["revenue_per_conversion"] = float(per_conv[i])
    best = np.bincount(draws.argmax(axis=1), minlength=k) / spec.draws
    shares = spec.floor + (1 - k * spec.floor) * best
    for i, name in enumerate(offers):
        posterior[name]["p_best"] = float(best[i])
    return {"offers": {name: float(s) for name, s in zip(offers, shares, strict=True)},
            "posterior": posterior, "metric": spec.metric, "floor": spec.floor,
            "draws": spec.draws, "seed": spec.seed}


def offer_totals(settings: Settings, campaign_id: str, offers: list[str]) -> pd.DataFrame:
    """Customers, conversions and revenue per offer in the campaign's outcomes so far."""
    import duckdb

    path = outcomes_path(settings, "the offer bandit (outcomes of earlier waves)")
    with duckdb.connect() as con:
        return con.execute(
            f"""SELECT offer AS arm, count(*) AS n, sum(CAST(converted AS INTEGER))
                       AS conversions, sum(coalesce(revenue, 0)) AS revenue_sum
                FROM {source(path)} WHERE campaign_id = $id AND arm <> 'holdout'
                  AND list_contains($offers, offer) GROUP BY offer""",
            {"id": campaign_id, "offers": offers}).df()


@holds_workspace("experiments allocate")
def allocate(settings: Settings, campaign: Campaign, campaign_id: str, actor: str) -> dict:
    """Compute the next shares, record them in the audit log with their posterior, then
    write the allocation file the next refresh reads (and freezes with its run)."""
    from segflow.durable import write_atomic
    from segflow.governance.audit import record

    exp = campaign.experiment
    if exp is None or not exp.offers or exp.bandit is None:
        raise SegflowError(f"campaign '{campaign.name}' has no experiment with a bandit "
                           "(experiment: {offers: ..., bandit: {metric: conversion}})")
    offers = [name for name, _ in exp.offers]
    totals = offer_totals(settings, campaign_id, offers)
    if totals.empty:
        raise SegflowError(f"no outcomes yet for the offers {', '.join(offers)} of campaign "
                           f"id '{campaign_id}': nothing to learn from")
    result = thompson(totals, offers, exp.bandit)
    before = read_allocation(settings, campaign.name)
    result.update(campaign=campaign.name, campaign_id=campaign_id,
                  created_at=datetime.now(UTC).isoformat(),
                  previous=(before or {}).get("offers") or dict(exp.offers))
    record(settings, actor, "offer_allocation_changed",
           {"campaign": campaign.name, "before": result["previous"],
            "after": result["offers"], "posterior": result["posterior"],
            "metric": result["metric"], "floor": result["floor"]})
    path = allocation_path(settings, campaign.name)
    write_atomic(path, json.dumps(result, indent=1).encode())
    return result


def explain_allocation(result: dict) -> list[str]:
    """One line per offer, in business words."""
    lines = []
    for name, share in result["offers"].items():
        p = result["posterior"][name]
        was = result.get("previous", {}).get(name)
        moved = f" (was {was:.0%})" if was is not None else ""
        lines.append(f"{name}: {share:.0%} of new assignments{moved}; "
                     f"{p['conversions']:,} of {p['customers']:,} converted "
                     f"({p['mean_conversion']:.2%} expected), "
                     f"{p['p_best']:.0%} chance it is the best offer")
    return lines
