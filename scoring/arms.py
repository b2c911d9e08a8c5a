"""Offers tested against each other inside cohorts: which cohort runs which offers, at which
shares, and whether the arms came out the sizes they should.

A customer's offer is drawn like the holdout, from a stable hash of the id and a salt, but
with the experiment's own salt (``experiment.salt``, default ``<campaign salt>:offers``), so
the offer draw is independent of the holdout draw and a customer keeps the offer across
refreshes. The shares come from the campaign file or, once a bandit has re-weighted them,
from the allocation file the bandit wrote (``allocation_path``); a refresh freezes that file
with the run. Customers who already hold an offer of the cohort keep it when the shares
move: only new assignments follow the new shares.
"""

from __future__ import annotations

import json
from pathlib import Path

from segflow.errors import SegflowError
from segflow.scoring.campaigns import Campaign, CohortSpec
from segflow.settings import Settings

ALLOCATION_FILE = "experiments/allocation.json"  # relative to the workspace and frozen/
BALANCE_ALPHA = 0.001  # sample-ratio mismatch: arms this unlikely under the shares are flagged


def allocation_path(settings: Settings, campaign: str) -> Path:
    """Where the bandit writes the next refresh's offer shares for ``campaign``."""
    return settings.home / "experiments" / campaign / "allocation.json"


def read_allocation(settings: Settings, campaign: str) -> dict | None:
    """The bandit's latest allocation (``{"offers": {name: share}, ...}``) or None."""
    path = allocation_path(settings, campaign)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        offers = {str(k): float(v) for k, v in data["offers"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise SegflowError(f"{path}: not a readable offer allocation ({err}); run "
                           "`segflow experiments allocate` again or delete the file") from None
    return {**data, "offers": offers}


def cohort_offers(campaign: Campaign, spec: CohortSpec,
                  allocation: dict | None = None) -> tuple[tuple[str, float], ...]:
    """(offer, share) pairs of a cohort's treated customers; () when it tests no offers.

    A cohort's own ``offers`` win; else the experiment's offers apply to the cohorts it
    names (all when it names none), at the bandit's shares when an allocation exists for
    exactly those offers."""
    if spec.offers is not None:
        return spec.offers
    exp = campaign.experiment
    if exp is None or not exp.offers or (exp.cohorts and spec.name not in exp.cohorts):
        return ()
    if allocation and set(allocation["offers"]) == {name for name, _ in exp.offers}:
        return tuple((name, allocation["offers"][name]) for name, _ in exp.offers)
    return exp.offers


def cuts(offers: tuple[tuple[str, float], ...]) -> list[float]:
    """Upper bounds of each offer's band of the [0, 1) draw, the last left out (it is 1):
    the offer is the one whose band holds the draw."""
    out, total = [], 0.0
    for _, share in offers[:-1]:
        total += share
        out.append(total)
    return out


def offer_reason(campaign: Campaign, offers: tuple[tuple[str, float], ...], entity_id: str,
                 arm: str) -> str:
    """Why an assigned entity holds its offer, in words: the band its draw fell in, or that
    it kept the offer an earlier refresh gave it (the shares have moved since)."""
    from segflow.scoring.sqlparts import unit_hash

    if not offers:
        return "treatment arm"
    u = unit_hash(entity_id, campaign.experiment.salt)
    low = 0.0
    for name, share in offers:
        if low <= u < low + share or name == offers[-1][0]:
            break
        low += share
    if name == arm:
        return (f"offer '{arm}': its stable hash of id and experiment salt, {u:.3f}, falls "
                f"in {arm}'s band [{low:.3f}, {low + share:.3f}) ({share:.0%} of the treated)")
    return (f"offer '{arm}': kept from an earlier refresh (today's shares would draw "
            f"'{name}' for a new customer; offers already given do not move)")


def run_offers(inputs: dict) -> dict[str, tuple[tuple[str, float], ...]]:
    """The offers and shares each cohort of a run drew with, from its recorded inputs (the
    shares of that run, not today's allocation)."""
    offers = (inputs.get("experiment") or {}).get("offers") or {}
    return {cohort: tuple((name, float(share)) for name, share in pairs)
            for cohort, pairs in offers.items()}


def experiment_inputs(campaign: Campaign, offers: dict[str, tuple],
                      allocation: dict | None) -> dict | None:
    """What the run records about its experiment (reproducibility, the prior-offer rule)."""
    if campaign.experiment is None:
        return None
    return {"salt": campaign.experiment.salt,  # offers as [name, share] pairs: the order
            "offers": {k: [list(p) for p in v] for k, v in offers.items() if v},  # is the bands'
            "allocation": allocation}


def balance(memberships, resolved_offers: dict[str, tuple], strata=None,
            alpha: float = BALANCE_ALPHA, min_per_offer: int = 0) -> list[dict]:
    """Per experiment cohort: each offer's size against its share (chi-square goodness of
    fit, the sample-ratio-mismatch check) and, given ``strata`` (entity_id, stratum), the
    offer mix per stratum (chi-square test of independence). A cohort is flagged when a
    test's p-value is below ``alpha`` or an offer has fewer than ``min_per_offer``."""
    import duckdb

    con = duckdb.connect()
    con.register("m", memberships)
    if strata is not None:
        con.register("s", strata)
    try:
        rows, by_stratum = offer_counts(con, strata is not None)
    finally:
        con.close()
    return balance_of(rows, by_stratum, resolved_offers, alpha, min_per_offer)


def offer_counts(con, strata: bool) -> tuple[list[tuple], dict]:
    """The counts ``balance_of`` tests, from the view ``m`` (memberships) and, with
    ``strata``, ``s`` (entity_id, stratum) on ``con``: DuckDB, or Spark through
    ``segflow.sqlengine`` (the same SQL; only counts per offer come back)."""
    rows = con.execute("""SELECT cohort, template, arm, count(*) AS n FROM m
                          WHERE status = 'assigned' GROUP BY ALL""").fetchall()
    by_stratum: dict = {}
    if strata:
        for cohort, stratum, arm, n in con.execute(
                """SELECT m.cohort, coalesce(CAST(s.stratum AS VARCHAR), 'none'), m.arm, count(*)
                   FROM m JOIN s USING (entity_id) WHERE m.status = 'assigned'
                   GROUP BY ALL""").fetchall():
            by_stratum.setdefault(cohort, {}).setdefault(stratum, {})[arm] = n
    return rows, by_stratum


def balance_of(rows: list[tuple], by_stratum: dict, resolved_offers: dict[str, tuple],
               alpha: float = BALANCE_ALPHA, min_per_offer: int = 0) -> list[dict]:
    """``balance``'s tests from the counts ``offer_counts`` returns (no customer rows)."""
    from scipy.stats import chi2_contingency, chisquare

    counts: dict[str, dict[str, int]] = {}
    base_of: dict[str, str] = {}
    for cohort, _template, arm, n in rows:
        counts.setdefault(cohort, {})[arm] = n
        base_of[cohort] = cohort.split("__")[0]
    out = []
    for cohort in sorted(counts):
        offers = resolved_offers.get(base_of[cohort]) or ()
        if not offers:
            continue
        observed = [counts[cohort].get(name, 0) for name, _ in offers]
        total = sum(observed)
        expected = [share * total for _, share in offers]
        p_fit = float(chisquare(observed, expected).pvalue) if total else 1.0
        p_strata = None
        table = by_stratum.get(cohort, {})
        grid = [[table[s].get(name, 0) for name, _ in offers] for s in sorted(table)]
        grid = [r for r in grid if sum(r)]
        if len(grid) > 1:
            p_strata = float(chi2_contingency(grid).pvalue)
        small = [name for (name, _), n in zip(offers, observed, strict=True)
                 if n < min_per_offer]
        flags = []
        if p_fit < alpha:
            flags.append(f"offer sizes off their shares (p={p_fit:.2g})")
        if p_strata is not None and p_strata < alpha:
            flags.append(f"offer mix differs between strata (p={p_strata:.2g})")
        if small:
            flags.append(f"fewer than {min_per_offer} customers: {', '.join(small)}")
        out.append({"cohort": cohort, "treated": total,
                    "offers": {name: {"n": n, "share": n / total if total else 0.0,
                                      "expected_share": share}
                               for (name, share), n in zip(offers, observed, strict=True)},
                    "p_sample_ratio": p_fit, "p_strata": p_strata, "flags": flags})
    return out
