"""Accounts planted as unusual, so the account anomaly model can be scored on recall and
precision: a few top accounts get one figure no peer of theirs has.

- margin_collapse: the margin on every invoice of the last four quarters shrinks by
  ``margin_factor`` (a contract sold far below cost, a billing error);
- revenue_spike: revenue and margin of the last four quarters multiply by
  ``revenue_factor`` (a one-off deal, a duplicated invoice run).

Planting draws from its own random stream (seed, 1), so the rest of the world is the same
with and without it; the planted accounts and their kind are in ``accounts_anomaly_truth``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segflow.ingest.synthetic.config import DAY, to_seconds


def plant_anomalies(seed: int, cfg: dict, acc, billing: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(billing with the planted changes, truth: account_id, anomaly)."""
    spec = cfg["anomalies"]
    rng = np.random.default_rng([seed, 1])
    end = to_seconds(cfg["window"]["end"])
    since = end - 365 * DAY
    # top accounts with two full years of invoices: a year to change, a year to compare with
    eligible = np.flatnonzero((acc.parent < 0) & (acc.created < since - 365 * DAY))
    count = min(len(eligible), max(1, round(float(spec["share"]) * len(eligible))))
    chosen = rng.choice(eligible, count, replace=False)
    kinds = list(spec["kinds"])
    kind = np.asarray(kinds, dtype=object)[rng.integers(0, len(kinds), count)]
    ids = acc.table["account_id"].take(pa.array(chosen))
    when = pc.cast(billing["invoice_date"], pa.int64()).to_numpy() // 1_000_000
    revenue = billing["revenue"].to_numpy(zero_copy_only=False).copy()
    margin = billing["margin"].to_numpy(zero_copy_only=False).copy()
    account = billing["account_id"].to_numpy(zero_copy_only=False)
    for name in kinds:
        hit = np.isin(account, np.asarray(ids.to_pylist(), dtype=object)[kind == name])
        hit &= when >= since
        factors = spec["kinds"][name]
        if "margin_factor" in factors:
            margin[hit] = np.round(margin[hit] * float(factors["margin_factor"]), 2)
        if "revenue_factor" in factors:
            revenue[hit] = np.round(revenue[hit] * float(factors["revenue_factor"]), 2)
            margin[hit] = np.round(margin[hit] * float(factors["revenue_factor"]), 2)
    billing = billing.set_column(billing.schema.get_field_index("revenue"), "revenue",
                                 pa.array(revenue))
    billing = billing.set_column(billing.schema.get_field_index("margin"), "margin",
                                 pa.array(margin))
    truth = pa.table({"account_id": ids, "anomaly": pa.array(kind.tolist(), pa.string())})
    return billing, truth
