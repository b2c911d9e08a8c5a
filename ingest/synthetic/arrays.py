"""Vectorised building blocks shared by the Holi generators: sampling, ids, timestamps.

Everything here works on whole columns (NumPy in, Arrow out) so that no generator loops over
customers, orders or events in Python.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TS_TYPE = pa.timestamp("us", tz="UTC")


def choice(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws from the categorical distribution ``p`` (faster than rng.choice)."""
    idx = np.searchsorted(np.cumsum(p), rng.random(n), side="right")
    return np.minimum(idx, len(p) - 1).astype(np.int32)


def rowwise_choice(rng: np.random.Generator, cum: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One categorical draw per element, each from its own row of cumulative probabilities."""
    u = rng.random(len(rows))
    picked = (u[:, None] >= cum[rows]).sum(axis=1)
    return np.minimum(picked, cum.shape[1] - 1).astype(np.int32)


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers``: "C00000042", computed in Arrow's C++ kernels."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()),
                          width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def timestamps(seconds: np.ndarray) -> pa.Array:
    """Epoch seconds -> ``timestamp[us, tz=UTC]`` (Feast rejects nanosecond tz timestamps)."""
    return pa.array(np.asarray(seconds, dtype=np.int64) * 1_000_000, pa.int64()).cast(TS_TYPE)


def pick(values: list[str], idx: np.ndarray) -> pa.Array:
    """Strings chosen by index from a small vocabulary (regions, cities, categories)."""
    return pa.array(values, pa.string()).take(pa.array(idx))


def repeat_index(counts: np.ndarray) -> np.ndarray:
    """Owner index of each generated item: ``[0,0,1,3,...]`` for per-owner ``counts``."""
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def rank_within(owner: np.ndarray) -> np.ndarray:
    """0-based position of each item among its owner's items; ``owner`` must be sorted."""
    n = len(owner)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    run_len = np.diff(np.r_[starts, n])
    return np.arange(n, dtype=np.int64) - np.repeat(starts, run_len)


def sort_by_owner_time(owner: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Permutation ordering items by owner, then time; one int64 sort instead of lexsort."""
    if len(owner) == 0:
        return np.zeros(0, dtype=np.int64)
    base = ts.min()
    span = int(ts.max() - base) + 1
    bits = max(span.bit_length(), 1)
    key = (owner.astype(np.int64) << bits) | (ts - base).astype(np.int64)
    return np.argsort(key, kind="stable")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
