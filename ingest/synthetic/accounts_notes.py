"""Free-text account notes with known topics, for the notes classifier and its evaluation.

A note is a templated sentence of its topic, filled with the account's product, a contact,
a competitor, a percentage or a month, and wrapped in the noise real notes have (a
"Call notes:" prefix, a follow-up sentence, all lower case). Topic mix depends on the
account's trajectory, so notes carry signal about churn and expansion. Slots are filled for
all notes at once: split on the placeholder, join with the per-note value.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segflow.ingest.synthetic.arrays import (
    ids,
    pick,
    repeat_index,
    rowwise_choice,
    sort_by_owner_time,
    timestamps,
)
from segflow.ingest.synthetic.config import to_seconds

TOPICS = ["pricing_complaint", "expansion_interest", "churn_risk", "support_escalation",
          "renewal", "general"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]


def _topic_cum(cfg: dict) -> np.ndarray:
    mix = cfg["notes"]["topics_by_trajectory"]
    p = np.array([[mix[t].get(topic, 0.0) for topic in TOPICS]
                  for t in ("growing", "stable", "declining")])
    return np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)


def _texts(rng, cfg: dict, topic: np.ndarray) -> pa.Array:
    """Template of each note's topic with optional prefix and suffix, slots still open."""
    notes = cfg["notes"]
    n = len(topic)
    flat = [t for name in TOPICS for t in notes["templates"][name]]
    offset = np.cumsum([0] + [len(notes["templates"][name]) for name in TOPICS])
    count = np.diff(offset)
    body = pick(flat, offset[topic] + (rng.random(n) * count[topic]).astype(np.int64))
    prefix = pick(notes["prefixes"], rng.integers(0, len(notes["prefixes"]), n))
    suffix = pick(notes["suffixes"], rng.integers(0, len(notes["suffixes"]), n))
    prefix = pc.if_else(pa.array(rng.random(n) < notes["prefix_share"]), prefix, "")
    suffix = pc.if_else(pa.array(rng.random(n) < notes["suffix_share"]), suffix, "")
    return pc.binary_join_element_wise(prefix, body, suffix, "")


def _fill(text: pa.Array, slot: str, values: pa.Array) -> pa.Array:
    return pc.binary_join(pc.split_pattern(text, "{" + slot + "}"), values)


def notes(rng, cfg: dict, acc, share: np.ndarray, lines: list[str]) -> tuple[pa.Table, pa.Table]:
    """(account_notes, account_notes_truth) for every account."""
    spec = cfg["notes"]
    start, end = to_seconds(cfg["window"]["first_quarter"]), to_seconds(cfg["window"]["end"])
    a = repeat_index(rng.poisson(float(spec["per_account_mean"]), len(acc.created)))
    n = len(a)
    lo = np.maximum(acc.created[a], start)
    ts = lo + ((end - 1 - lo) * rng.random(n)).astype(np.int64)
    order = sort_by_owner_time(a, ts)
    a, ts = a[order], ts[order]
    topic = rowwise_choice(rng, _topic_cum(cfg), acc.trajectory[a])
    text = _texts(rng, cfg, topic)
    product = rowwise_choice(rng, np.cumsum(share, axis=1), a)
    first_names = cfg["contacts"]["first_names"]
    slots = {
        "product": pick([p.replace("_", " ") for p in lines], product),
        "contact": pick(first_names, rng.integers(0, len(first_names), n)),
        "competitor": pick(spec["competitors"], rng.integers(0, len(spec["competitors"]), n)),
        "pct": pc.cast(pa.array(rng.integers(5, 41, n)), pa.string()),
        "month": pick(MONTHS, rng.integers(0, 12, n)),
    }
    for slot, values in slots.items():
        text = _fill(text, slot, values)
    text = pc.if_else(pa.array(rng.random(n) < spec["lower_share"]), pc.utf8_lower(text), text)
    owners = cfg["owners"]
    author = np.where(rng.random(n) < 0.85, acc.owner[a], rng.integers(0, len(owners), n))
    note_id = ids("N", np.arange(1, n + 1), 7)
    table = pa.table({
        "note_id": note_id,
        "account_id": acc.table["account_id"].take(pa.array(a)),
        "note_ts": timestamps(ts),
        "author": pick(owners, author),
        "text": text,
    })
    return table, pa.table({"note_id": note_id, "topic": pick(TOPICS, topic)})
