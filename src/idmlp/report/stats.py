r"""Honest numbers for the report: binomial intervals and digits that match them.

An accuracy measured on ``n`` examples has a standard error of about
:math:`\sqrt{p(1-p)/n}` (0.75 points for :math:`p = 0.94`, :math:`n = 1000`), so it is
shown as a percentage with a 95% interval and only as many decimals as the interval's
half-width supports.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binomtest

from .._validation import check_int

__all__ = ["format_percent", "format_percent_interval", "percent_decimals", "wilson_interval"]


def wilson_interval(correct: ArrayLike, n: int, confidence: float = 0.95) -> np.ndarray:
    r"""Wilson score interval of a binomial proportion (Wilson, JASA 1927), elementwise.

    For ``k`` successes in ``n`` trials, :math:`\hat p = k/n` and :math:`z` the normal
    quantile of ``(1 + confidence) / 2``:

    .. math::

        \frac{\hat p + z^2/2n \pm z \sqrt{\hat p(1-\hat p)/n + z^2/4n^2}}{1 + z^2/n}.

    Computed by :meth:`scipy.stats.binomtest(...).proportion_ci <scipy.stats.binomtest>`
    (``method="wilson"``). Unlike the normal interval it stays inside [0, 1] and is not
    empty at ``k = 0`` or ``k = n``.

    Args:
        correct: successes ``k`` (integers in ``0..n``), any shape.
        n: trials (integer >= 1).
        confidence: in (0, 1).

    Returns:
        ``(*correct.shape, 2)``: lower and upper bounds.

    Examples:
        >>> wilson_interval([939], 1000).round(4).tolist()
        [[0.9224, 0.9522]]
    """
    n = check_int("n", n)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    k = np.asarray(correct)
    if k.size and (not np.all(np.isclose(k, np.rint(k))) or k.min() < 0 or k.max() > n):
        raise ValueError(f"correct must hold integers in 0..{n} (the number of trials)")
    k = np.rint(k).astype(np.int64)
    flat = [binomtest(int(v), n).proportion_ci(confidence, method="wilson") for v in k.ravel()]
    return np.array([(c.low, c.high) for c in flat], dtype=np.float64).reshape(*k.shape, 2)


def percent_decimals(half_width: float) -> int:
    """Decimals of a percentage whose 95% interval has half-width ``half_width`` (a
    fraction): enough for two significant digits of the half-width, at most 3.

    Examples:
        >>> percent_decimals(0.015), percent_decimals(0.2), percent_decimals(0.004)
        (1, 0, 2)
    """
    hw = 100.0 * abs(float(half_width))
    if not math.isfinite(hw) or hw <= 0:
        return 1
    return int(min(3, max(0, 1 - math.floor(math.log10(hw)))))


def format_percent(p: float, decimals: int = 1) -> str:
    """``p`` (a fraction) as a percentage: ``format_percent(0.9394) == '93.9%'``.

    Examples:
        >>> format_percent(0.9394)
        '93.9%'
    """
    return f"{100.0 * float(p):.{int(decimals)}f}%"


def format_percent_interval(p: float, low: float, high: float) -> str:
    """``p`` with its interval, digits from the interval's half-width.

    Examples:
        >>> format_percent_interval(0.939, 0.9224, 0.9522)
        '93.9% (92.2–95.2)'
    """
    d = percent_decimals((high - low) / 2)
    return f"{100 * p:.{d}f}% ({100 * low:.{d}f}–{100 * high:.{d}f})"
