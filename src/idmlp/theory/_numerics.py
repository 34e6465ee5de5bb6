"""Numerical helpers shared by the theory modules (private)."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["gaussian_rule", "serial_torch"]


@contextlib.contextmanager
def serial_torch() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block, then restore the setting.

    The theory evaluates long chains of elementwise ops on vectors of a few thousand
    entries. Torch splits transcendental ops (exp, tanh, log1p) over its OpenMP threads
    even at this size, and when the cores are busy with other work each split waits for a
    scheduler slice: measured 8 ms per op on 2 shared cores against 8 us serial.
    """
    prev = torch.get_num_threads()
    if prev == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


_Z_MAX = 13.0  # P(|z| > 13) = 1.2e-38
_RATIO = 1.3
_PANEL_NODES = 12
# One panel's Gauss-Legendre rule on [-1, 1], computed once (leggauss costs ~0.3 ms a call
# and the sweep's data columns build a rule per input and layer).
_LEG_X, _LEG_W = np.polynomial.legendre.leggauss(_PANEL_NODES)


def _graded(first: float, last: float) -> np.ndarray:
    """Geometric edges ``first * 1.3^k`` up to ``last`` (both included)."""
    k = int(math.ceil(math.log(last / first) / math.log(_RATIO)))
    return np.minimum(first * _RATIO ** np.arange(k + 1), last)


_BASE_EDGES = _graded(2.0**-8, _Z_MAX)  # the Gaussian's scale, in z
_ACT_EDGES = _graded(2.0**-6, 13.0)  # the activations' scale, in h (times 1/sqrt(q) = z)


@functools.lru_cache(maxsize=4096)
def gaussian_rule(q: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes :math:`h_k` and weights :math:`w_k` with :math:`\sum_k w_k f(h_k) \approx
    E[f(h)]`, :math:`h \sim N(0, q)`, for the piecewise-smooth :math:`f` of the theory.

    Composite Gauss-Legendre (``numpy.polynomial.legendre.leggauss``, 12 nodes a panel) in
    :math:`z = h/\sqrt q` on :math:`[-13, 13]`, with panel edges graded geometrically (ratio
    1.3) on two scales at once: the Gaussian's (from :math:`2^{-8}`) and the activations'
    (:math:`|h|` from :math:`2^{-6}` to 13), plus the kinks :math:`h = 0, \pm 1` of
    hard-tanh, ReLU and SELU as edges. So :math:`\operatorname{sech}^4 h`, a bump of width
    :math:`1/\sqrt q` in :math:`z`, is resolved at any :math:`q` (checked against
    :func:`scipy.integrate.quad` and closed forms for :math:`q \in [10^{-8}, 10^8]`).
    ``q = 0`` gives the point mass at 0. About 1,400 nodes.
    """
    if q == 0.0:
        return np.zeros(1), np.ones(1)
    s = 1.0 / math.sqrt(q)  # z of h = 1
    act = s * _ACT_EDGES
    pos = np.concatenate([_BASE_EDGES, act[act < _Z_MAX], [s] if s < _Z_MAX else []])
    edges = np.unique(np.concatenate([-pos, [0.0], pos]))
    edges = edges[np.concatenate([[True], np.diff(edges) > 1e-12 * _Z_MAX])]
    x, w = _LEG_X, _LEG_W
    a, b = edges[:-1, None], edges[1:, None]
    z = (0.5 * (b - a) * x + 0.5 * (a + b)).ravel()
    wz = (0.5 * (b - a) * w).ravel() * np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
    return math.sqrt(q) * z, wz / wz.sum()
