"""The offer bandit against uniform allocation on the Holi world's truth, at the benchmark's
own size (10 refreshes x 20,000 new customers, 20 seeds: a few seconds)."""

from __future__ import annotations

from benchmarks.bandit_regret import compare


def test_bandit_regret_is_under_half_of_uniform():
    r = compare(waves=10, per_wave=20_000, seeds=20)
    assert r["oracle_regret"] == 0 and r["uniform_regret"] > 100
    assert r["ratio"] <= 0.5, r
