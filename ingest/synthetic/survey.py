"""Survey responses: a few percent of customers, NPS driven by engagement and complaints."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from segflow.ingest.synthetic.arrays import choice, ids, pick, timestamps
from segflow.ingest.synthetic.config import DAY, HoliConfig, normalised

BANDS = ["detractor", "passive", "promoter"]


def survey_table(rng, cfg: HoliConfig, traits: dict, numbers: np.ndarray,
                 customer_id: pa.Array, end: int) -> pa.Table:
    s = cfg["survey"]
    begin = np.maximum(traits["signup"], end - int(cfg["window"]["survey_days"]) * DAY)
    stop = np.maximum(np.minimum(traits["stop"], end), begin)
    idx = np.flatnonzero((rng.random(len(begin)) < float(s["share"])) & (stop > begin))
    ts = begin[idx] + (rng.random(len(idx)) * (stop[idx] - begin[idx])).astype(np.int64)
    score = (s["nps_base"] + s["nps_engagement"] * (traits["engagement"][idx] - 0.5)
             + s["nps_complainer"] * traits["complainer"][idx]
             + s["nps_lapsed"] * traits["lapsed"][idx]
             + s["nps_sigma"] * rng.standard_normal(len(idx)))
    nps = np.clip(np.round(score), 0, 10).astype(np.int64)
    band = np.where(nps <= 6, 0, np.where(nps <= 8, 1, 2))
    flat = [c for b in BANDS for c in s["comments"][b]]
    counts = np.array([len(s["comments"][b]) for b in BANDS])
    offset = np.r_[0, np.cumsum(counts)[:-1]]
    comment_idx = offset[band] + (rng.random(len(idx)) * counts[band]).astype(np.int64)
    comment = pick(flat, comment_idx)
    has_comment = pa.array(rng.random(len(idx)) < float(s["comment_share"]))
    answer = _answers(rng, s["answers"], traits["lapsed"][idx])
    return pa.table({
        "response_id": ids("S", numbers[idx], 8),
        "customer_id": customer_id.take(pa.array(idx)),
        "response_ts": timestamps(ts),
        "nps": pa.array(nps, pa.int64()),
        "comment": pa.compute.if_else(has_comment, comment, pa.scalar(None, pa.string())),
        "question": pa.array([s["question"]] * len(idx), pa.string()),
        "answer": answer,
    })


def _answers(rng, shares: dict, lapsed: np.ndarray) -> pa.Array:
    """The multiple-choice answer of each respondent, from the lapsed or the other shares
    (drawn last, so the world's earlier draws do not move)."""
    names, p_lapsed = normalised(shares["lapsed"])
    other_names, p_other = normalised(shares["other"])
    if other_names != names:
        raise ValueError("survey.answers.lapsed and .other must list the same answers")
    draw = np.where(lapsed, choice(rng, p_lapsed, len(lapsed)),
                    choice(rng, p_other, len(lapsed)))
    return pick(names, draw)
