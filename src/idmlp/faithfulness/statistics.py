r"""Statistics of per-image measurements: bootstrap intervals and rank correlations.

* :func:`bootstrap_interval`: mean over images with a percentile bootstrap interval
  (Efron, 1979; :func:`scipy.stats.bootstrap`), seeded, NaN left out column by column.
* :func:`paired_ratio_interval`: ratio of two means over the same images, with a paired
  bootstrap interval (images resampled together).
* :func:`rank_correlation`: Spearman's rank correlation between paired maps, vectorized.

Proportions of a count (accuracy, hit rates) take the Wilson interval of
:func:`idmlp.train.evaluate.wilson_interval` instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import stats
from torch import Tensor

from .._validation import check_int, check_probability

__all__ = ["Interval", "bootstrap_interval", "paired_ratio_interval", "rank_correlation"]


class Interval(NamedTuple):
    """A mean over images with its bootstrap interval, and the number of images used."""

    mean: Any
    low: Any
    high: Any
    n: Any


def bootstrap_interval(values: Tensor | np.ndarray | Sequence[float], *,
                       n_resamples: int = 2000, confidence: float = 0.95,
                       seed: int = 0) -> Interval:
    r"""Mean over images (axis 0) with a percentile bootstrap interval (Efron, 1979).

    :func:`scipy.stats.bootstrap` (vectorized, ``method="percentile"``) draws
    ``n_resamples`` resamples of the images with replacement from ``seed``; the interval
    is the ``(1 - confidence)/2`` and ``(1 + confidence)/2`` quantiles of the resampled
    means. NaN values (an undefined per-image statistic) are left out, column by column;
    with fewer than 2 values the interval is NaN.

    Args:
        values: ``(n,)`` or ``(n, m)`` (one interval per column).

    Returns:
        :class:`Interval` of floats (1-D input) or ``(m,)`` arrays.

    Examples:
        >>> iv = bootstrap_interval(np.arange(10.0), seed=0)
        >>> float(iv.mean), bool(iv.low < 4.5 < iv.high), int(iv.n)
        (4.5, True, 10)
    """
    n_resamples = check_int("n_resamples", n_resamples)
    confidence = check_probability("confidence", confidence)
    seed = check_int("seed", seed, minimum=0)
    v = values.detach().cpu().double().numpy() if isinstance(values, Tensor) else np.asarray(
        values, dtype=np.float64)
    if v.ndim not in (1, 2):
        raise ValueError(f"values must be (n,) or (n, m), got shape {v.shape}")
    cols = v.reshape(len(v), -1)
    mean, low, high, count = (np.full(cols.shape[1], np.nan) for _ in range(4))
    ok = ~np.isnan(cols)
    full = ok.all(axis=0)
    groups = ([np.flatnonzero(full)] if full.any() else []) + [[j] for j in np.flatnonzero(~full)]
    for cs in groups:
        data = cols[:, cs][ok[:, cs[0]]] if len(cs) == 1 else cols[:, cs]
        count[cs] = len(data)
        if len(data):
            mean[cs] = data.mean(axis=0)
        if len(data) >= 2:
            ci = stats.bootstrap((data,), np.mean, axis=0, vectorized=True,
                                 method="percentile", n_resamples=n_resamples,
                                 confidence_level=confidence, rng=np.random.default_rng(seed)
                                 ).confidence_interval
            low[cs], high[cs] = ci.low, ci.high
    if v.ndim == 1:
        return Interval(float(mean[0]), float(low[0]), float(high[0]), int(count[0]))
    return Interval(mean, low, high, count.astype(np.int64))


def rank_correlation(a: Tensor | np.ndarray, b: Tensor | np.ndarray, *,
                     absolute: bool = False) -> np.ndarray:
    r"""Spearman's rank correlation between paired maps, one value per map.

    :math:`\rho = \mathrm{corr}(\mathrm{rank}(a), \mathrm{rank}(b))` over the flattened
    trailing dimensions (average ranks for ties, :func:`scipy.stats.rankdata`), as
    :func:`scipy.stats.spearmanr` computes it for one pair, vectorized over the leading
    dimension. ``absolute=True`` ranks :math:`|a|` and :math:`|b|` (the variant of
    Adebayo et al., 2018, that ignores sign). A constant map has no ranking: NaN.

    Args:
        a, b: maps of the same shape ``(B, ...)``.

    Returns:
        ``(B,)`` float64.

    Examples:
        >>> rank_correlation(np.array([[1.0, 2.0, 3.0]]), np.array([[10.0, 30.0, 20.0]]))
        array([0.5])
    """
    a = a.detach().cpu().double().numpy() if isinstance(a, Tensor) else np.asarray(a, float)
    b = b.detach().cpu().double().numpy() if isinstance(b, Tensor) else np.asarray(b, float)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"a and b must be maps of the same shape (B, ...), got {a.shape} and "
                         f"{b.shape}")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if absolute:
        a, b = np.abs(a), np.abs(b)
    ra = stats.rankdata(a, axis=-1)
    rb = stats.rankdata(b, axis=-1)
    ra -= ra.mean(axis=-1, keepdims=True)
    rb -= rb.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra * rb).sum(-1) / np.sqrt((ra * ra).sum(-1) * (rb * rb).sum(-1))


def paired_ratio_interval(a: np.ndarray, b: np.ndarray, *, n_resamples: int = 2000,
                          confidence: float = 0.95, seed: int = 0) -> Interval:
    r"""Ratio of means :math:`\bar a / \bar b` over the same images, with a paired
    percentile bootstrap interval (the images resampled together).

    Examples:
        >>> paired_ratio_interval(np.array([2.0, 4.0]), np.array([1.0, 2.0])).mean
        2.0
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ratio = float(a.mean() / b.mean()) if b.mean() != 0 else math.nan
    if len(a) < 2:
        return Interval(ratio, math.nan, math.nan, len(a))

    def stat(u: np.ndarray, v: np.ndarray, axis: int) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return u.mean(axis=axis) / v.mean(axis=axis)

    ci = stats.bootstrap((a, b), stat, paired=True, vectorized=True, method="percentile",
                         n_resamples=n_resamples, confidence_level=confidence,
                         rng=np.random.default_rng(seed)).confidence_interval
    return Interval(ratio, float(ci.low), float(ci.high), len(a))
