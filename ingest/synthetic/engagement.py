"""Engagement events over the whole history: sends, opens, clicks, sessions, visits.

Events start with the world's history (``window.history_start``, as orders do) or the
customer's sign-up, whichever is later: a model trained on last year's campaign must see the
same depth of engagement before that campaign as this year's scoring sees before today.

Sends follow consent; opens and clicks follow each send with probabilities driven by the
engagement and festival-affinity traits and fade after a customer lapses, so activity
features (days since last activity, opens in 30 days) reflect the latent state.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from segflow.ingest.synthetic.arrays import (
    ids,
    pick,
    rank_within,
    repeat_index,
    sort_by_owner_time,
    timestamps,
)
from segflow.ingest.synthetic.config import DAY, HoliConfig

CHANNELS = ["email", "sms", "push", "app", "web"]
TYPES = ["send", "open", "click", "visit", "app_session", "unsubscribe", "complaint"]


def _lerp(bounds, x):
    lo, hi = bounds
    return lo + (hi - lo) * x


def _part(owner, ts, channel: str, kind: str) -> dict:
    n = len(owner)
    return {"owner": owner, "ts": ts.astype(np.int64),
            "channel": np.full(n, CHANNELS.index(channel), np.int8),
            "type": np.full(n, TYPES.index(kind), np.int8)}


def _poisson(rng, rate_per_day, begin, stop):
    """Owner and time of events with a constant per-customer rate inside [begin, stop)."""
    dur = np.maximum(stop - begin, 0)
    owner = repeat_index(rng.poisson(rate_per_day * dur / DAY))
    return owner, begin[owner] + (rng.random(len(owner)) * dur[owner]).astype(np.int64)


def sample_unsubscribes(rng, cfg: HoliConfig, traits: dict, end: int) -> None:
    """Adds ``unsubscribed`` and ``unsub_at`` to the traits (customers needs them too)."""
    begin = np.maximum(traits["signup"], cfg.seconds("window", "history_start"))
    n = len(begin)
    traits["unsubscribed"] = rng.random(n) < float(cfg["engagement"]["unsubscribe_share"])
    traits["unsub_at"] = begin + (rng.random(n) * (end - begin)).astype(np.int64)


def _responses(rng, sends, owner_p, delay_s, end):
    """Follow-up events (opens of sends, clicks of opens) with probability ``owner_p``."""
    owner, ts = sends
    hit = rng.random(len(owner)) < owner_p
    later = ts[hit] + rng.exponential(delay_s, hit.sum()).astype(np.int64)
    keep = later < end
    return owner[hit][keep], later[keep]


def _messages(rng, cfg, traits, consents, begin, end) -> list[dict]:
    e, eng = cfg["engagement"], traits["engagement"]
    fade = np.float64(e["after_lapse_factor"])
    parts = []
    stop_email = np.where(traits["unsubscribed"], traits["unsub_at"], end)
    sends = _poisson(rng, e["email_send_per_day"] * consents["consent_email"], begin, stop_email)
    p_open = _lerp(e["email_open_prob"], eng)[sends[0]]
    p_open = np.where(sends[1] > traits["stop"][sends[0]], p_open * fade, p_open)
    opens = _responses(rng, sends, p_open, 6 * 3600, end)
    clicks = _responses(rng, opens, _lerp(e["email_click_prob"], traits["affinity"])[opens[0]],
                        600, end)
    parts += [_part(*sends, "email", "send"), _part(*opens, "email", "open"),
              _part(*clicks, "email", "click")]
    parts.append(_part(*_poisson(rng, e["sms_send_per_day"] * consents["consent_sms"], begin,
                                 np.full(len(begin), end)), "sms", "send"))
    push = _poisson(rng, e["push_send_per_day"] * consents["consent_push"], begin,
                    np.full(len(begin), end))
    p_push = _lerp(e["push_open_prob"], eng)[push[0]]
    p_push = np.where(push[1] > traits["stop"][push[0]], p_push * fade, p_push)
    parts += [_part(*push, "push", "send"),
              _part(*_responses(rng, push, p_push, 1800, end), "push", "open")]
    return parts


def engagement_events(rng, cfg: HoliConfig, traits: dict, consents: dict, camp: dict,
                      end: int) -> dict:
    """All events as arrays (owner, ts, channel, type), sorted by customer then time."""
    e = cfg["engagement"]
    window_start = cfg.seconds("window", "history_start")
    begin = np.maximum(traits["signup"], window_start)
    stop = np.minimum(traits["stop"], end)
    eng = traits["engagement"]
    parts = _messages(rng, cfg, traits, consents, begin, end)
    app_rate = e["app_sessions_per_day"] * eng * np.where(traits["app_pref"], 1.6, 0.3)
    parts.append(_part(*_poisson(rng, app_rate, begin, stop), "app", "app_session"))
    parts.append(_part(*_poisson(rng, e["web_visits_per_day"] * (0.4 + eng), begin, stop),
                       "web", "visit"))
    unsub = np.flatnonzero(traits["unsubscribed"] & (traits["unsub_at"] < end))
    parts.append(_part(unsub, traits["unsub_at"][unsub], "email", "unsubscribe"))
    n_compl = np.where(traits["complainer"],
                       1 + rng.poisson(float(e["complaints_per_complainer"]) - 1, len(eng)), 0)
    c_owner = repeat_index(n_compl)
    c_ts = begin[c_owner] + (rng.random(len(c_owner)) * (end - begin[c_owner])).astype(np.int64)
    parts.append(_part(c_owner, c_ts, "email", "complaint"))
    parts += _campaign_messages(rng, camp)
    events = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    keep = (events["ts"] >= window_start) & (events["ts"] < end)
    events = {k: v[keep] for k, v in events.items()}
    perm = sort_by_owner_time(events["owner"], events["ts"])
    return {k: v[perm] for k, v in events.items()}


def _campaign_messages(rng, camp: dict) -> list[dict]:
    """The campaign's own email, open and click, so engagement agrees with the outcomes."""
    idx = camp["idx"]
    send_ts = camp["start"] + (rng.random(len(idx)) * 6 * 3600).astype(np.int64)
    open_ts = send_ts + rng.exponential(6 * 3600, len(idx)).astype(np.int64)
    click_ts = open_ts + rng.exponential(600, len(idx)).astype(np.int64)
    t, o, c = camp["treated"], camp["opened"], camp["clicked"]
    return [_part(idx[t], send_ts[t], "email", "send"), _part(idx[o], open_ts[o], "email", "open"),
            _part(idx[c], click_ts[c], "email", "click")]


def events_table(events: dict, numbers: np.ndarray, customer_id: pa.Array) -> pa.Table:
    owner = events["owner"]
    number = numbers[owner] * 100_000 + rank_within(owner) + 1
    return pa.table({
        "event_id": ids("E", number, 13),
        "customer_id": customer_id.take(pa.array(owner)),
        "event_ts": timestamps(events["ts"]),
        "channel": pick(CHANNELS, events["channel"]),
        "event_type": pick(TYPES, events["type"]),
    })
