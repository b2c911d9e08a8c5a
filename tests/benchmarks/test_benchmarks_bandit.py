"""The offer bandit against uniform allocation on the benchmark's world (small and fast;
``python -m benchmarks.bandit_regret`` runs the full size)."""

from __future__ import annotations

from benchmarks.bandit_regret import compare


def test_bandit_regret_is_under_half_of_uniform():
    r = compare(waves=10, per_wave=5000, seeds=3)
    assert r["oracle_regret"] == 0 and r["uniform_regret"] > 50
    assert r["ratio"] <= 0.5, r
