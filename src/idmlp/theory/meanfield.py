r"""Mean-field signal propagation and the Jacobian moments of randomly initialized MLPs.

Setting (Poole, Lahiri, Raghu, Sohl-Dickstein and Ganguli, NeurIPS 2016, "Exponential
expressivity in deep neural networks through transient chaos"; Schoenholz, Gilmer, Ganguli
and Sohl-Dickstein, ICLR 2017, "Deep information propagation"): a square MLP of width
:math:`N \to \infty`, :math:`h^\ell = W^\ell x^{\ell-1} + b^\ell`, :math:`x^\ell =
\phi(h^\ell)`, with :math:`b^\ell_i \sim N(0, \sigma_b^2)` and either Gaussian weights
:math:`W_{ij} \sim N(0, \sigma_w^2/N)` (idmlp's ``init="xavier"`` at gain
:math:`\sigma_w` on a square matrix) or scaled Haar-orthogonal weights
:math:`W = \sigma_w Q` (``init="orthogonal"``).

- The **length map**: the pre-activations of a layer are i.i.d. :math:`N(0, q^\ell)` with
  :math:`q^1 = \sigma_w^2 q_0 + \sigma_b^2` (:math:`q_0 = \|x^0\|^2/N`, the input's mean
  square) and :math:`q^{\ell+1} = \sigma_w^2 E[\phi(h^\ell)^2] + \sigma_b^2`;
  :math:`q^*` is its fixed point.
- :math:`\chi = \sigma_w^2 E[\phi'(h)^2]`, :math:`h \sim N(0, q^*)`: the network is
  **critical** (at the order-to-chaos transition) where :math:`\chi = 1`.
- **Jacobian moments** (Pennington, Schoenholz and Ganguli, NeurIPS 2017, "Resurrecting
  the sigmoid in deep learning through dynamical isometry"; AISTATS 2018, "The emergence
  of spectral universality in deep networks"): :math:`J J^T` is the free product of the
  :math:`W^\ell W^{\ell T}` and the :math:`D_\ell^2 = \operatorname{diag}(\phi'(h^\ell))^2`,
  so its S-transform is :math:`S_{JJ^T} = \prod_\ell S_{W^\ell W^{\ell T}} S_{D_\ell^2}`.
  Expanding :math:`S(z) = m_1^{-1}(1 - v z + O(z^2))` with the normalized variance
  :math:`v = m_2/m_1^2 - 1` gives, layer by layer from :math:`q_0` (not only at
  :math:`q^*`),

  .. math::
      m_1(JJ^T) = \prod_{\ell=1}^L \sigma_w^2 \mu_1^\ell, \qquad
      \frac{\operatorname{Var}(JJ^T)}{m_1^2} = \sum_{\ell=1}^L
      \Big(\frac{\mu_2^\ell}{(\mu_1^\ell)^2} - 1 - s_1\Big),

  with :math:`\mu_k^\ell = E[\phi'(h^\ell)^{2k}]`, :math:`h^\ell \sim N(0, q^\ell)`, and
  :math:`s_1 = 0` (orthogonal: :math:`W W^T = \sigma_w^2 I`) or :math:`s_1 = -1`
  (Gaussian: :math:`W W^T / \sigma_w^2` is Marchenko-Pastur with ratio 1, variance 1).
  At :math:`q^\ell = q^*` this is the papers' :math:`L(\mu_2/\mu_1^2 - 1 - s_1)`.

Gaussian expectations use a composite Gauss-Legendre rule graded for both the Gaussian
and the activation scale (exact to rounding for the kinks of hard-tanh and ReLU, checked
against :func:`scipy.integrate.quad`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq

from .._io import strict_json
from .._validation import (
    check_choice,
    check_int,
    check_nonnegative,
    check_positive,
)
from ..activations import ACTIVATIONS, get_activation, log_abs_derivative
from ._numerics import gaussian_rule, serial_torch

__all__ = [
    "WEIGHT_LAWS",
    "CriticalPoint",
    "JacobianMoments",
    "activation_moments",
    "chi",
    "critical_point",
    "fixed_point",
    "jacobian_means",
    "jacobian_moments",
    "length_map",
]

#: Random weight laws with a free-probability theory: ``s_1`` of their S-transform.
WEIGHT_LAWS: dict[str, float] = {"orthogonal": 0.0, "gaussian": -1.0}

_Q_MAX = 1e300



def _check_activation(activation: object) -> str:
    return check_choice("activation", activation, ACTIVATIONS)


@functools.lru_cache(maxsize=65536)
def _stats(q: float, activation: str) -> tuple[float, float, float, float]:
    """:math:`(E[\\phi^2], \\mu_1, \\mu_2, P(\\phi' = 0))` at variance ``q`` (cached)."""
    return tuple(float(v) for v in _stats_many(np.array([q]), activation)[:, 0])


def _moments(q: float, activation: str) -> tuple[float, float, float]:
    """:math:`(E[\\phi^2], \\mu_1, \\mu_2)` at variance ``q`` (validated arguments)."""
    return _stats(float(q), activation)[:3]


def activation_moments(q: float, activation: str = "tanh") -> tuple[float, float, float]:
    r"""Gaussian moments of an activation: :math:`(E[\phi(h)^2], \mu_1, \mu_2)`.

    .. math::
        \mu_1 = E[\phi'(h)^2], \quad \mu_2 = E[\phi'(h)^4], \qquad h \sim N(0, q).

    Args:
        q: variance of the pre-activation, a finite number >= 0.
        activation: a registered activation name.

    Examples:
        >>> e_phi2, mu1, mu2 = activation_moments(0.5, "hardtanh")  # mu1 = mu2 = erf(1)
        >>> round(mu1, 12), mu1 == mu2
        (0.84270079295, True)
    """
    q = check_nonnegative("q", q)
    return _moments(q, _check_activation(activation))


def chi(sigma_w: float, q: float, activation: str = "tanh") -> float:
    r""":math:`\chi = \sigma_w^2 E[\phi'(h)^2]`, :math:`h \sim N(0, q)` (Schoenholz et al.,
    ICLR 2017): the mean squared singular value a layer contributes; 1 at criticality.

    Examples:
        >>> round(chi(1.0, 0.0, "tanh"), 12)
        1.0
    """
    sigma_w = check_positive("sigma_w", sigma_w)
    return sigma_w**2 * activation_moments(q, activation)[1]


def _stats_many(qs: NDArray[np.float64], activation: str) -> NDArray[np.float64]:
    """:func:`_stats` at many variances in one pass: ``(4, n)``.

    The Gaussian rules of all ``q`` are concatenated and the activation runs once on all
    their nodes (the per-call overhead of torch dominates at ~1,400 nodes a rule)."""
    rules = [gaussian_rule(float(q)) for q in qs]
    sizes = np.array([r[0].size for r in rules])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    h = np.concatenate([r[0] for r in rules])
    w = np.concatenate([r[1] for r in rules])
    ht = torch.from_numpy(h)
    with serial_torch():
        phi = get_activation(activation)(ht).numpy()
        log_d2 = 2.0 * log_abs_derivative(activation, ht).numpy()
    d2 = np.exp(log_d2)  # may underflow to 0; only log_d2 = -inf is a genuine zero
    parts = np.stack([phi**2, d2, d2**2, (log_d2 == -np.inf).astype(np.float64)])
    return np.add.reduceat(w * parts, starts, axis=1)


def _layers(q0: float | NDArray[np.float64], sigma_w: float, sigma_b: float, depth: int,
            activation: str) -> tuple[NDArray[np.float64], ...]:
    """:math:`q^\\ell, \\mu_1^\\ell, \\mu_2^\\ell, P(\\phi'(h^\\ell) = 0)` for ``l = 1..L``, each
    ``(L,)`` for a scalar ``q0`` or ``(L, n)`` for ``n`` of them at once (the sweep's inputs);
    stops at a numerical fixed point (all later layers equal)."""
    scalar = np.ndim(q0) == 0
    qi = sigma_w**2 * np.atleast_1d(np.asarray(q0, dtype=np.float64)) + sigma_b**2
    out = np.empty((4, depth, qi.size))  # q, mu1, mu2, zero mass
    for layer in range(depth):
        if not np.all(qi <= _Q_MAX):
            raise ValueError(
                f"the length map diverges (q^l > 1e300 at layer {layer + 1}): sigma_w="
                f"{sigma_w:g} is too large for {activation}; use a smaller sigma_w or depth"
            )
        e_phi2, mu1, mu2, zero = (_stats_many(qi, activation) if qi.size > 1
                                  else np.array(_stats(float(qi[0]), activation))[:, None])
        out[:, layer] = qi, mu1, mu2, zero
        nxt = sigma_w**2 * e_phi2 + sigma_b**2
        if np.all((nxt == qi) | (np.abs(nxt - qi) <= 1e-15 * qi)):
            out[:, layer + 1:] = out[:, layer:layer + 1]
            break
        qi = nxt
    return tuple(out[:, :, 0]) if scalar else tuple(out)


def jacobian_means(sigma_w: float, sigma_b: float, q0: ArrayLike, depth: int,
                   activation: str = "tanh") -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Mean of the spectrum of :math:`J J^T` and its mass at zero for many inputs at once.

    For each input mean square :math:`q_0^{(b)}`: :math:`E[\lambda] = \prod_\ell
    \sigma_w^2 \mu_1^\ell` and :math:`\max_\ell P(\phi'(h^\ell) = 0)`, as
    :func:`jacobian_moments` (the mean does not depend on the weight law), vectorized over
    the inputs: what the sweep averages over the inputs it measures.

    Examples:
        >>> mean, zero = jacobian_means(1.0, 0.0, [0.5, 2.0], 3, "relu")
        >>> mean.round(12).tolist(), zero.tolist()
        ([0.125, 0.125], [0.5, 0.5])
    """
    sigma_w = check_positive("sigma_w", sigma_w)
    sigma_b = check_nonnegative("sigma_b", sigma_b)
    q0 = np.asarray(q0, dtype=np.float64).ravel()
    if q0.size == 0 or not np.all(np.isfinite(q0) & (q0 >= 0)):
        raise ValueError("q0 must hold finite numbers >= 0")
    depth = check_int("depth", depth, minimum=1)
    _, mu1, _, zero = _layers(q0, sigma_w, sigma_b, depth, _check_activation(activation))
    with np.errstate(divide="ignore", over="ignore"):
        mean = np.exp(np.sum(np.log(sigma_w**2 * mu1), axis=0))
    return mean, zero.max(axis=0)


def length_map(q0: float, sigma_w: float, sigma_b: float, depth: int,
               activation: str = "tanh") -> NDArray[np.float64]:
    r"""The variances :math:`q^1, \dots, q^L` of the pre-activations (Poole et al., 2016).

    .. math::
        q^1 = \sigma_w^2 q_0 + \sigma_b^2, \qquad
        q^{\ell+1} = \sigma_w^2\, E_{h \sim N(0, q^\ell)}[\phi(h)^2] + \sigma_b^2.

    Args:
        q0: the input's mean square :math:`\|x^0\|^2/N`, a finite number >= 0.
        sigma_w: weight scale, > 0.
        sigma_b: bias standard deviation, >= 0.
        depth: number of layers, an integer >= 1.
        activation: a registered activation name.

    Raises:
        ValueError: on a bad argument, or when :math:`q^\ell` exceeds 1e300 (an unbounded
            activation with too large :math:`\sigma_w`).

    Examples:
        >>> length_map(1.0, 2**0.5, 0.0, 3, "relu")  # sigma_w^2 E[relu^2] = q: q stays 2
        array([2., 2., 2.])
    """
    q0 = check_nonnegative("q0", q0)
    sigma_w = check_positive("sigma_w", sigma_w)
    sigma_b = check_nonnegative("sigma_b", sigma_b)
    depth = check_int("depth", depth, minimum=1)
    return _layers(q0, sigma_w, sigma_b, depth, _check_activation(activation))[0]


def _length_residual(q: float, sigma_w: float, sigma_b: float, activation: str) -> float:
    return sigma_w**2 * _moments(q, activation)[0] + sigma_b**2 - q


def fixed_point(sigma_w: float, sigma_b: float = 0.0, activation: str = "tanh") -> float:
    r"""The stable fixed point :math:`q^*` of the length map, the largest root of
    :math:`\sigma_w^2 E[\phi(h)^2] + \sigma_b^2 = q`, :math:`h \sim N(0, q)`.

    Found on a logarithmic scan of :math:`q \in [10^{-12}, 10^{12}]` and polished with
    :func:`scipy.optimize.brentq`; 0 where no positive root exists (e.g. tanh with
    :math:`\sigma_w \le 1`, :math:`\sigma_b = 0`).

    Raises:
        ValueError: on a bad argument, or where the length map has no fixed point (it grows
            without bound: an unbounded activation with :math:`\sigma_w` too large).

    Examples:
        >>> q = fixed_point(1.5, 0.1, "tanh")
        >>> round(q, 9), round(float(length_map(1.0, 1.5, 0.1, 200, "tanh")[-1]), 9)
        (0.813322327, 0.813322327)
    """
    sigma_w = check_positive("sigma_w", sigma_w)
    sigma_b = check_nonnegative("sigma_b", sigma_b)
    activation = _check_activation(activation)
    grid = np.logspace(-12, 12, 241)
    g = np.array([_length_residual(q, sigma_w, sigma_b, activation) for q in grid])
    tol = 1e-13 * grid
    if g[-1] > tol[-1]:
        raise ValueError(
            f"the length map has no fixed point below q = 1e12 for {activation} with "
            f"sigma_w={sigma_w:g}: sigma_w is too large for an unbounded activation"
        )
    down = np.nonzero((g[:-1] > 0) & (g[1:] <= 0))[0]
    if down.size == 0:
        return 0.0
    i = int(down[-1])
    if g[i + 1] == 0.0:
        return float(grid[i + 1])
    return float(brentq(_length_residual, grid[i], grid[i + 1],
                        args=(sigma_w, sigma_b, activation), xtol=1e-300, rtol=1e-15))


@dataclass(frozen=True)
class CriticalPoint:
    r"""A point on the critical line :math:`\chi = \sigma_w^2 \mu_1(q^*) = 1`."""

    activation: str
    q_star: float
    sigma_w: float
    sigma_b: float
    mu1: float
    mu2: float

    @property
    def chi(self) -> float:
        """:math:`\\sigma_w^2 \\mu_1`, 1 up to rounding."""
        return self.sigma_w**2 * self.mu1

    def to_dict(self) -> dict[str, Any]:
        return {"activation": self.activation, "q_star": self.q_star, "sigma_w": self.sigma_w,
                "sigma_b": self.sigma_b, "mu1": self.mu1, "mu2": self.mu2, "chi": self.chi}


def _bias_on_critical_line(q: float, activation: str) -> float:
    """:math:`\\sigma_b^2(q) = q - E[\\phi^2]/\\mu_1`: the bias variance that makes ``q``
    the fixed point at :math:`\\sigma_w^2 = 1/\\mu_1(q)`."""
    e_phi2, mu1, _ = _moments(q, activation)
    return q - e_phi2 / mu1


def critical_point(activation: str = "tanh", *, sigma_b: float | None = None,
                   q_star: float | None = None) -> CriticalPoint:
    r"""The critical point :math:`(q^*, \sigma_w, \sigma_b)` with :math:`\chi = 1`.

    On the critical line (Schoenholz et al., ICLR 2017; Pennington et al., NeurIPS 2017)
    :math:`\sigma_w^2 = 1/\mu_1(q^*)` and :math:`q^*` is the fixed point of the length map,
    so :math:`\sigma_b^2 = q^* - \sigma_w^2 E[\phi(h)^2]`. Give exactly one of:

    - ``sigma_b``: solve :math:`\sigma_b^2(q^*) = \sigma_b^2` for the smallest
      :math:`q^* > 0` (a scan of :math:`[10^{-10}, 10^{8}]` and
      :func:`scipy.optimize.brentq`); ``sigma_b = 0`` gives the degenerate point
      :math:`q^* = 0`, :math:`\sigma_w = 1/|\phi'(0)|` (for hard-tanh every nonzero fixed
      point at :math:`\sigma_b = 0` has :math:`\chi > 1`);
    - ``q_star``: :math:`\sigma_w` and :math:`\sigma_b` in closed form.

    Args:
        activation: a registered activation (hard-tanh and tanh are the classic cases).
        sigma_b: bias standard deviation, a finite number >= 0.
        q_star: fixed-point variance, a finite number > 0.

    Raises:
        ValueError: on a bad argument, when neither or both are given, or when no critical
            point exists (it would need :math:`\sigma_b^2 < 0`).

    Examples:
        >>> cp = critical_point("hardtanh", sigma_b=0.05)
        >>> round(cp.chi, 12), round(cp.sigma_w, 4), round(cp.q_star, 4)
        (1.0, 1.0089, 0.1771)
    """
    activation = _check_activation(activation)
    if (sigma_b is None) == (q_star is None):
        raise ValueError("give exactly one of sigma_b (>= 0) and q_star (> 0)")
    if q_star is not None:
        q = check_positive("q_star", q_star)
        sb2 = _bias_on_critical_line(q, activation)
        if sb2 < -1e-12 * q:
            raise ValueError(
                f"no critical point with q_star={q:g} for {activation}: it would need "
                f"sigma_b^2 = {sb2:.3g} < 0; choose another q_star"
            )
    else:
        target = check_nonnegative("sigma_b", sigma_b) ** 2
        if target == 0.0:
            q = 0.0
        else:
            grid = np.logspace(-10, 8, 181)
            g = np.array([_bias_on_critical_line(x, activation) for x in grid]) - target
            up = np.nonzero((g[:-1] < 0) & (g[1:] >= 0))[0]
            if up.size == 0:
                raise ValueError(
                    f"no critical point with sigma_b={sigma_b:g} for {activation} in "
                    "q* in [1e-10, 1e8]; choose a smaller sigma_b"
                )
            i = int(up[0])
            q = float(brentq(lambda x: _bias_on_critical_line(x, activation) - target,
                             grid[i], grid[i + 1], xtol=1e-300, rtol=1e-15))
    _, mu1, mu2 = _moments(q, activation)
    if mu1 == 0.0:
        raise ValueError(f"{activation} has phi' = 0 almost surely at q*={q:g}: no critical point")
    sb = math.sqrt(max(_bias_on_critical_line(q, activation), 0.0)) if q > 0 else 0.0
    return CriticalPoint(activation, q, 1.0 / math.sqrt(mu1), sb, mu1, mu2)


@dataclass(frozen=True)
class JacobianMoments:
    r"""Mean and variance of the eigenvalues of :math:`J J^T` at random initialization.

    ``q``, ``mu1``, ``mu2``, ``zero_mass``: per layer :math:`q^\ell`, :math:`\mu_1^\ell`,
    :math:`\mu_2^\ell`, :math:`P(\phi'(h^\ell) = 0)`. ``log_mean`` and ``log_var`` are
    natural logarithms (exact where ``mean``/``var`` overflow to ``inf``);
    ``normalized_var`` is :math:`\operatorname{Var}/m_1^2`.
    """

    weights: str
    activation: str
    sigma_w: float
    sigma_b: float
    q0: float
    depth: int
    q: NDArray[np.float64]
    mu1: NDArray[np.float64]
    mu2: NDArray[np.float64]
    log_mean: float
    normalized_var: float
    zero_mass: NDArray[np.float64]

    @property
    def mass_at_zero(self) -> float:
        r"""Mass of :math:`J J^T` at exactly 0: :math:`\max_\ell P(\phi'(h^\ell) = 0)`
        (the free product's zero atom; hard-tanh saturation, ReLU's negative side)."""
        return float(self.zero_mass.max())

    @property
    def s1(self) -> float:
        """The S-transform coefficient of the weights: 0 orthogonal, -1 Gaussian."""
        return WEIGHT_LAWS[self.weights]

    @property
    def mean(self) -> float:
        with np.errstate(over="ignore"):
            return float(np.exp(self.log_mean))

    @property
    def log_var(self) -> float:
        if self.normalized_var <= 0.0:
            return -math.inf
        return 2.0 * self.log_mean + math.log(self.normalized_var)

    @property
    def var(self) -> float:
        with np.errstate(over="ignore"):
            return float(np.exp(self.log_var))

    @property
    def chi(self) -> NDArray[np.float64]:
        """:math:`\\sigma_w^2 \\mu_1^\\ell` per layer."""
        return self.sigma_w**2 * self.mu1

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON summary (``None`` where a value overflows; log10 values beside)."""
        ln10 = math.log(10.0)
        return strict_json({
            "weights": self.weights, "activation": self.activation, "sigma_w": self.sigma_w,
            "sigma_b": self.sigma_b, "q0": self.q0, "depth": self.depth,
            "mean": self.mean, "log10_mean": self.log_mean / ln10,
            "var": self.var, "log10_var": self.log_var / ln10,
            "normalized_var": self.normalized_var, "mass_at_zero": self.mass_at_zero,
            "q_first": float(self.q[0]), "q_last": float(self.q[-1]),
            "chi_last": float(self.chi[-1]),
        })


def jacobian_moments(
    sigma_w: float, sigma_b: float, q0: float, depth: int, activation: str = "tanh",
    weights: str = "orthogonal",
) -> JacobianMoments:
    r"""Mean and variance of the spectrum of :math:`J J^T` for random weights.

    Pennington, Schoenholz and Ganguli (NeurIPS 2017, AISTATS 2018), followed layer by layer
    through the length map from :math:`q_0` (see the module docstring):

    .. math::
        E[\lambda] = \prod_\ell \sigma_w^2\mu_1^\ell, \qquad
        \operatorname{Var}[\lambda] = E[\lambda]^2 \sum_\ell
        \Big(\frac{\mu_2^\ell}{(\mu_1^\ell)^2} - 1 - s_1\Big).

    Args:
        sigma_w: weight scale (> 0): :math:`W = \sigma_w Q` or :math:`W_{ij} \sim
            N(0, \sigma_w^2/N)`.
        sigma_b: bias standard deviation, >= 0.
        q0: the input's mean square :math:`\|x^0\|^2 / N`, >= 0.
        depth: number of layers, an integer >= 1.
        activation: a registered activation name.
        weights: ``"orthogonal"`` (:math:`s_1 = 0`) or ``"gaussian"`` (:math:`s_1 = -1`).

    Examples:
        >>> m = jacobian_moments(1.0, 0.0, 1.0, 10, "linear", "gaussian")
        >>> m.mean, m.normalized_var  # products of Wishart matrices: Var = L
        (1.0, 10.0)
    """
    sigma_w = check_positive("sigma_w", sigma_w)
    sigma_b = check_nonnegative("sigma_b", sigma_b)
    q0 = check_nonnegative("q0", q0)
    depth = check_int("depth", depth, minimum=1)
    activation = _check_activation(activation)
    weights = check_choice("weights", weights, tuple(WEIGHT_LAWS))
    q, mu1, mu2, zero_mass = _layers(q0, sigma_w, sigma_b, depth, activation)
    with np.errstate(divide="ignore"):
        log_mean = float(np.sum(np.log(sigma_w**2 * mu1)))
    if np.any(mu1 == 0.0):
        normalized_var = 0.0  # J = 0: every eigenvalue is 0
    else:
        normalized_var = float(np.sum(mu2 / mu1**2 - 1.0 - WEIGHT_LAWS[weights]))
    return JacobianMoments(weights, activation, sigma_w, sigma_b, q0, depth, q, mu1, mu2,
                           log_mean, normalized_var, zero_mass)
