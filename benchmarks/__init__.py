"""Reproducible performance runs of a Holi campaign refresh, with peers measured beside them.

``python -m benchmarks.run --scale 1m`` (``make bench SCALE=1m``); results go to
``benchmarks/RESULTS.md``, the method is in ``docs/performance.md``.
"""
