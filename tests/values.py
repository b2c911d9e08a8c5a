"""Comparing values computed by two engines: floats within a tolerance (the order of
additions differs between DuckDB and Spark), NaN equal to NaN, everything else exactly."""

from __future__ import annotations

import math


def same(a, b, abs_tol: float = 1e-9) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=abs_tol) or (math.isnan(a) and
                                                                    math.isnan(b))
    return a == b
