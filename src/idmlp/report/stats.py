r"""Honest numbers for the report: digits that match the intervals.

An accuracy measured on ``n`` examples has a standard error of about
:math:`\sqrt{p(1-p)/n}` (0.75 points for :math:`p = 0.94`, :math:`n = 1000`), so it is
shown as a percentage with a 95% interval (:func:`idmlp.train.evaluate.wilson_interval`) and
only as many decimals as the interval's half-width supports.
"""

from __future__ import annotations

import math

__all__ = ["format_percent", "format_percent_interval", "percent_decimals"]


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
