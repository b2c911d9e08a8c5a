"""Billing, monthly product usage and support tickets of the accounts world.

Revenue of an account follows its hidden growth trajectory (revenue x (1 + growth)^quarter),
so the trajectory feature can be checked against truth; usage and ticket volume follow the
same state. All tables are built from (account x product line x period) masks, no loops
over accounts.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from segflow.ingest.synthetic.arrays import choice, ids, pick, repeat_index, timestamps
from segflow.ingest.synthetic.config import normalised, to_seconds

DAY = 86_400


def month_starts(cfg: dict, months: int) -> np.ndarray:
    """Epoch seconds of the first ``months`` month starts from the first quarter."""
    first = np.datetime64(str(cfg["window"]["first_quarter"])[:7], "M")
    return (first + np.arange(months)).astype("datetime64[s]").astype(np.int64)


def holdings(rng, cfg: dict, n: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Product lines, which account holds which (n x L), and each line's revenue share."""
    lines = cfg["product_lines"]
    names = list(lines)
    hold = rng.random((n, len(names))) < np.array([lines[k]["hold"] for k in names])
    weight = np.array([lines[k]["weight"] for k in names]) * rng.gamma(2.0, 1.0, hold.shape)
    share = np.where(hold, weight, 0.0)
    return names, hold, share / share.sum(axis=1, keepdims=True)


def _credit_notes(rng, cfg, inv: dict, end: int) -> dict:
    k = rng.random(len(inv["revenue"])) < float(cfg["credit_note_share"])
    frac = 0.05 + 0.25 * rng.random(int(k.sum()))
    date = np.minimum(inv["date"][k] + rng.integers(7, 40, int(k.sum())) * DAY, end - DAY)
    return {"account": inv["account"][k], "line": inv["line"][k], "date": date,
            "revenue": -frac * inv["revenue"][k], "margin": -frac * inv["margin"][k]}


def billing(rng, cfg: dict, acc, names, hold, share) -> pa.Table:
    """One invoice per account, held product line and quarter since creation; credit notes."""
    quarters = int(cfg["window"]["quarters"])
    months = month_starts(cfg, 3 * quarters + 1)
    q_end = months[3::3]
    live = hold[:, :, None] & (acc.created[:, None, None] < q_end[None, None, :])
    a, line, q = np.nonzero(live)
    noise = np.exp(float(cfg["revenue_noise_sigma"]) * rng.standard_normal(len(a)))
    revenue = acc.size[a] * share[a, line] * (1 + acc.growth[a]) ** q * noise
    margin_rate = np.array([cfg["product_lines"][k]["margin"] for k in names])[line]
    margin_rate = margin_rate + float(cfg["margin_noise_sd"]) * rng.standard_normal(len(a))
    inv = {"account": a, "line": line, "revenue": np.round(revenue, 2),
           "date": months[3 * q + 2] + rng.integers(0, 28, len(a)) * DAY}
    inv["margin"] = np.round(inv["revenue"] * np.clip(margin_rate, 0.02, 0.95), 2)
    notes = _credit_notes(rng, cfg, inv, to_seconds(cfg["window"]["end"]))
    cols = {k: np.r_[inv[k], notes[k]] for k in inv}
    order = np.lexsort((cols["line"], cols["account"], cols["date"]))
    cols = {k: v[order] for k, v in cols.items()}
    return pa.table({
        "invoice_id": ids("INV", np.arange(1, len(order) + 1), 8),
        "account_id": acc.table["account_id"].take(pa.array(cols["account"])),
        "invoice_date": timestamps(cols["date"]),
        "revenue": pa.array(np.round(cols["revenue"], 2)),
        "margin": pa.array(np.round(cols["margin"], 2)),
        "product_line": pick(names, cols["line"]),
    })


def product_usage(rng, cfg: dict, acc, names, hold) -> pa.Table:
    """Monthly active users per held product line, trending with the account's growth."""
    months = month_starts(cfg, 3 * int(cfg["window"]["quarters"]))
    live = hold[:, :, None] & (acc.created[:, None, None] < months[None, None, :] + 28 * DAY)
    a, line, m = np.nonzero(live)
    seats = np.array([cfg["product_lines"][k]["seats_per_crore"] for k in names])[line]
    noise = np.exp(float(cfg["usage_noise_sigma"]) * rng.standard_normal(len(a)))
    users = acc.size[a] / 1e7 * seats * (1 + acc.growth[a]) ** (m / 3) * noise
    return pa.table({
        "account_id": acc.table["account_id"].take(pa.array(a)),
        "month": timestamps(months[m]),
        "product_line": pick(names, line),
        "active_users": pa.array(np.maximum(np.round(users), 0).astype(np.int64)),
    })


def _ticket_status(rng, t: dict, severity, trajectory, recent) -> np.ndarray:
    """0 open, 1 escalated, 2 resolved, 3 closed (the contract's order)."""
    esc = np.array([t["escalated_share"][k] for k in ("growing", "stable", "declining")])
    escalated = rng.random(len(severity)) < esc[trajectory] * np.where(severity >= 2, 2.0, 1.0)
    u = rng.random(len(severity))
    settled = np.where(u < 0.7, 3, 2)
    status = np.where(recent & (u < float(t["open_share_recent"])), 0, settled)
    return np.where(escalated, 1, status)


def support_tickets(rng, cfg: dict, acc, median_size: float) -> pa.Table:
    t = cfg["tickets"]
    quarters = int(cfg["window"]["quarters"])
    q_start = month_starts(cfg, 3 * quarters + 1)[::3]
    rate = float(t["per_quarter"]) * (acc.size / median_size) ** 0.3
    rate = rate * np.where(acc.trajectory == 2, float(t["declining_factor"]), 1.0)
    counts = rng.poisson(rate[:, None] * (acc.created[:, None] < q_start[None, 1:]))
    owner = repeat_index(counts.ravel())
    a, q = owner // quarters, owner % quarters
    lo = np.maximum(q_start[q], acc.created[a])
    opened = lo + ((q_start[q + 1] - lo) * rng.random(len(a))).astype(np.int64)
    levels, p = normalised(t["severity"])
    severity = choice(rng, p, len(a))
    recent = opened > to_seconds(cfg["window"]["end"]) - int(t["recent_days"]) * DAY
    status = _ticket_status(rng, t, severity, acc.trajectory[a], recent)
    return pa.table({
        "ticket_id": ids("T", np.arange(1, len(a) + 1), 7),
        "account_id": acc.table["account_id"].take(pa.array(a)),
        "opened_ts": timestamps(opened),
        "severity": pick(levels, severity),
        "status": pick(["open", "escalated", "resolved", "closed"], status),
    })
