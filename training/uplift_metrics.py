"""Uplift metrics, defined exactly as scikit-uplift 0.5.1 defines them.

scikit-uplift is unmaintained (its plotting breaks on current scikit-learn), so the three
metrics we report are re-implemented here, line for line in meaning: the same descending
stable sort (``argsort(kind="mergesort")[::-1]``), the same grouping of tied scores, the same
normalisation by the perfect curve. That keeps our figures comparable with published ones
(e.g. the Hillstrom reference uplift@30% = 0.0661 from scikit-uplift's tutorial).
"""

from __future__ import annotations

import numpy as np


def _check(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, u, t = np.asarray(y_true), np.asarray(uplift, dtype=float), np.asarray(treatment)
    if not (len(y) == len(u) == len(t)):
        raise ValueError(f"inconsistent lengths: {len(y)}, {len(u)}, {len(t)}")
    for name, arr in (("y_true", y), ("treatment", t)):
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must be binary 0/1")
    return y.astype(float), u, t.astype(float)


def _cumulative(y, u, t):
    """Cumulative treated count, treated responders and control responders at each
    distinct score threshold, scanning customers from the highest predicted uplift down."""
    order = np.argsort(u, kind="mergesort")[::-1]
    y, u, t = y[order], u[order], t[order]
    thresholds = np.r_[np.where(np.diff(u))[0], u.size - 1]
    num_all = thresholds + 1
    num_trmnt = np.cumsum(t)[thresholds]
    y_trmnt = np.cumsum(y * t)[thresholds]
    y_ctrl = np.cumsum(y * (1 - t))[thresholds]
    return num_all, num_trmnt, num_all - num_trmnt, y_trmnt, y_ctrl


def _start_at_origin(x, values):
    if x.size == 0 or values[0] != 0 or x[0] != 0:
        return np.r_[0, x], np.r_[0, values]
    return x, values


def _div(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


def qini_curve(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Incremental responders among the top n: y_t(n) - y_c(n) * n_t(n) / n_c(n)."""
    num_all, n_t, n_c, y_t, y_c = _cumulative(*_check(y_true, uplift, treatment))
    return _start_at_origin(num_all, y_t - y_c * _div(n_t, n_c))


def uplift_curve(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """(response rate treated - response rate control) among the top n, times n."""
    num_all, n_t, n_c, y_t, y_c = _cumulative(*_check(y_true, uplift, treatment))
    return _start_at_origin(num_all, (_div(y_t, n_t) - _div(y_c, n_c)) * num_all)


def perfect_qini_curve(y_true, treatment, negative_effect: bool = True):
    y, _, t = _check(y_true, np.zeros(len(y_true)), treatment)
    if negative_effect:
        return qini_curve(y, y * t - y * (1 - t), t)
    ratio = y[t == 1].sum() - (t == 1).sum() * y[t == 0].sum() / (t == 0).sum()
    return np.array([0, ratio, len(y)]), np.array([0, ratio, ratio])


def perfect_uplift_curve(y_true, treatment):
    y, _, t = _check(y_true, np.zeros(len(y_true)), treatment)
    control_responders = np.sum((y == 1) & (t == 0))
    treated_non_responders = np.sum((y == 0) & (t == 1))
    summand = y if control_responders > treated_non_responders else t
    return uplift_curve(y, 2 * (y == t) + summand, t)


def _normalised_area(actual, perfect) -> float:
    """(area under actual - baseline) / (area under perfect - baseline); baseline is the
    straight line from the origin to the perfect curve's end point."""
    (xa, ya), (xp, yp) = actual, perfect
    baseline = np.trapezoid([0, yp[-1]], [0, xp[-1]])
    return float((np.trapezoid(ya, xa) - baseline) / (np.trapezoid(yp, xp) - baseline))


def qini_auc_score(y_true, uplift, treatment, negative_effect: bool = True) -> float:
    """Normalised Qini coefficient (sklift.metrics.qini_auc_score)."""
    return _normalised_area(qini_curve(y_true, uplift, treatment),
                            perfect_qini_curve(y_true, treatment, negative_effect))


def uplift_auc_score(y_true, uplift, treatment) -> float:
    """Normalised area under the uplift curve, AUUC (sklift.metrics.uplift_auc_score)."""
    return _normalised_area(uplift_curve(y_true, uplift, treatment),
                            perfect_uplift_curve(y_true, treatment))


def uplift_at_k(y_true, uplift, treatment, strategy: str = "overall", k: float = 0.3) -> float:
    """Treated minus control response rate among the top k by predicted uplift.

    'overall': the top k of all customers; 'by_group': the top k of each arm separately
    (sklift.metrics.uplift_at_k; k a fraction in (0, 1) or an absolute count).
    """
    y, u, t = _check(y_true, uplift, treatment)
    if strategy not in ("overall", "by_group"):
        raise ValueError(f"strategy must be 'overall' or 'by_group', got {strategy!r}")
    is_int = np.asarray(k).dtype.kind == "i"
    if (is_int and not 0 < k < len(y)) or (not is_int and not 0 < k < 1):
        raise ValueError(f"k={k} must be a fraction in (0, 1) or a count below {len(y)}")
    order = np.argsort(u, kind="mergesort")[::-1]
    y, t = y[order], t[order]
    if strategy == "overall":
        n = k if is_int else int(len(y) * k)
        top_y, top_t = y[:n], t[:n]
        return float(top_y[top_t == 1].mean() - top_y[top_t == 0].mean())
    n_c = k if is_int else int((t == 0).sum() * k)
    n_t = k if is_int else int((t == 1).sum() * k)
    return float(y[t == 1][:n_t].mean() - y[t == 0][:n_c].mean())
