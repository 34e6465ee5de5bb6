r"""Spectrum of the input-output Jacobian of an identity-initialized deep MLP.

Setting (Kubota, Hayashi, Hayase and Uchida, ICASSP 2021, arXiv:2102.13333): an MLP of
depth :math:`L` and width :math:`N`, :math:`h^\ell = W^\ell x^{\ell-1}`,
:math:`x^\ell = \phi(h^\ell)`, with :math:`W^\ell = \sigma I` and inputs
:math:`u_i \sim N(0, q_0)` i.i.d.

Because :math:`\sigma I` never mixes coordinates, the Jacobian
:math:`J = \partial x^L / \partial u` is diagonal with
:math:`J_{ii} = \prod_\ell \sigma \phi'(h^\ell_i)`, where :math:`h^1_i = \sigma u_i` and
:math:`h^\ell_i = \sigma \phi(h^{\ell-1}_i)`. The eigenvalues of :math:`J J^T` are
:math:`\lambda_i = J_{ii}^2`: their law is the push-forward of :math:`N(0, q_0)` through
the scalar map :math:`g(u) = \prod_\ell (\sigma \phi'(h^\ell(u)))^2`. This holds for any
elementwise :math:`\phi`; for hard-tanh it is the poster's Bernoulli law

.. math::
    \mu_{JJ^T} = a\,\delta(\lambda - \sigma^{2L}) + (1 - a)\,\delta(\lambda),\qquad
    a = \alpha^L \text{ if } \sigma > 1,\ a = \alpha^1 \text{ if } \sigma \le 1,

with :math:`\alpha^\ell = \operatorname{erf}\!\big(1 / (\sigma^\ell \sqrt{2 q_0})\big)`.

Numerics: the law is held in log space, :math:`\log\lambda = \sum_\ell 2\log
\sigma + 2\log|\phi'(h^\ell)|` with :math:`\log|\phi'|` from
:func:`idmlp.activations.log_abs_derivative`, so :math:`\sigma^{2L}` never overflows and
a tiny derivative (tanh at :math:`|h| > 19`) never becomes a spurious zero eigenvalue;
:math:`\lambda = 0` (:math:`\log\lambda = -\infty`) only where :math:`\phi' = 0` exactly
(hard-tanh saturation, ReLU's negative side).

:func:`spectrum_on_data` gives the same law for the coordinates of a real data set instead
of :math:`N(0, q_0)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from scipy.special import erf, erfcx, erfinv, logsumexp

from .._io import strict_json
from .._validation import check_int, check_positive, check_probability
from ..activations import ACTIVATIONS, get_activation, log_abs_derivative, value_and_derivative
from ._numerics import serial_torch

__all__ = [
    "IsometryRegion",
    "SpectralLaw",
    "alpha",
    "alpha_l",
    "isometry_region",
    "max_q0",
    "scalar_jacobian",
    "scalar_log_eigenvalue",
    "spectrum",
    "spectrum_on_data",
]

_QUADRATURE_POINTS = 2**17
# Activations with phi(c h) = c phi(h) for c > 0: phi' depends on the sign of h only, so
# the recursion can run at sigma = 1 (same signs, no overflow) and sigma^(2L) be added.
_HOMOGENEOUS = ("relu", "leaky_relu", "linear")
# phi' of these depends only on sign(h) or |h| < 1, so an infinite pre-activation is exact.
_PIECEWISE_LINEAR = ("hardtanh", *_HOMOGENEOUS)


def _check_activation(activation: object) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    return str(activation)


def _positive(name: str, value: ArrayLike) -> NDArray[np.float64] | float:
    """Validate a scalar or array of finite numbers > 0; scalars stay Python floats."""
    if np.ndim(value) == 0:
        return check_positive(name, value if not isinstance(value, np.generic) else value.item())
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must contain only finite numbers > 0")
    return arr


def _as_output(out: NDArray[Any]) -> Any:
    return out.item() if np.ndim(out) == 0 else out


def alpha_l(sigma: ArrayLike, q0: ArrayLike, l: int) -> NDArray[np.float64] | float:
    r"""Probability that a hard-tanh coordinate is unsaturated at layer ``l``.

    .. math::
        \alpha^\ell = P(|\sigma^\ell u| < 1) = \operatorname{erf}\!\Big(
            \frac{1}{\sigma^\ell \sqrt{2 q_0}}\Big), \qquad u \sim N(0, q_0),

    evaluated as :math:`\operatorname{erf}(\exp(-\ell\log\sigma - \tfrac12\log 2q_0))`, so
    :math:`\sigma^\ell` never overflows.

    Args:
        sigma: identity scale :math:`\sigma > 0` (scalar or array).
        q0: input variance :math:`q_0 > 0` (scalar or array, broadcast with ``sigma``).
        l: layer index, an integer >= 1.

    Examples:
        >>> round(alpha_l(1.0, 0.5, 1), 12)  # erf(1)
        0.84270079295
        >>> alpha_l(1.5, 1.0, 2000)  # sigma^l = 1e352 is not a float64, alpha is
        0.0
    """
    sigma = _positive("sigma", sigma)
    q0 = _positive("q0", q0)
    l = check_int("l", l, minimum=1)
    q = np.asarray(q0)
    log_2q0 = np.where(q < 1e300, np.log(2.0 * np.minimum(q, 1e300)), math.log(2.0) + np.log(q))
    log_scale = l * np.log(sigma) + 0.5 * log_2q0
    with np.errstate(over="ignore"):
        return _as_output(erf(np.exp(-log_scale)))


def alpha(sigma: ArrayLike, q0: ArrayLike, depth: int) -> NDArray[np.float64] | float:
    r"""The poster's surviving fraction of eigenvalues of :math:`J J^T` for hard-tanh.

    :math:`a = \alpha^L` when :math:`\sigma > 1` (the pre-activation grows as
    :math:`\sigma^\ell u` and saturates last at layer :math:`L`) and :math:`a = \alpha^1`
    when :math:`\sigma \le 1` (it shrinks, so only layer 1 can saturate). A fraction
    :math:`a` of the eigenvalues equals :math:`\sigma^{2L}`, the rest are 0.

    Args:
        sigma: identity scale, finite and > 0 (scalar or array).
        q0: input variance, finite and > 0 (scalar or array).
        depth: number of layers :math:`L`, an integer >= 1.

    Examples:
        >>> alpha(1.05, 0.2, 20)  # doctest: +ELLIPSIS
        0.60...
    """
    sigma = _positive("sigma", sigma)
    q0 = _positive("q0", q0)
    depth = check_int("depth", depth, minimum=1)
    out = np.where(np.asarray(sigma) > 1.0, alpha_l(sigma, q0, depth), alpha_l(sigma, q0, 1))
    return _as_output(out)


def max_q0(sigma: ArrayLike, depth: int, eps: float = 0.05) -> NDArray[np.float64] | float:
    r"""Largest input variance for which at least ``1 - eps`` of the eigenvalues survive.

    .. math::
        a \ge 1 - \varepsilon \iff q_0 \le \frac{1}{2 s^2\,\operatorname{erfinv}(1-\varepsilon)^2},
        \qquad s = \sigma \ (\sigma \le 1),\quad s = \sigma^L \ (\sigma > 1),

    evaluated in log space (0.0 where the bound underflows, e.g. :math:`\sigma^L > 10^{154}`).

    Args:
        sigma: identity scale, finite and > 0 (scalar or array).
        depth: number of layers, an integer >= 1.
        eps: tolerated dead fraction, in (0, 1).

    Examples:
        >>> q = max_q0(1.0, 20, eps=0.05)
        >>> round(alpha(1.0, q, 20), 6)
        0.95
    """
    sigma = _positive("sigma", sigma)
    depth = check_int("depth", depth, minimum=1)
    eps = check_probability("eps", eps)
    log_sig = np.log(sigma)
    log_s = np.where(log_sig > 0, depth * log_sig, log_sig)
    log_out = -(math.log(2.0) + 2.0 * log_s + 2.0 * math.log(erfinv(1.0 - eps)))
    with np.errstate(over="ignore"):
        return _as_output(np.exp(log_out))


@dataclass(frozen=True)
class IsometryRegion:
    r"""The :math:`(\sigma, q_0)` region of approximate dynamical isometry for hard-tanh.

    Inside it, :math:`\sigma^{2L} \in [1/\kappa, \kappa]`, i.e.
    :math:`\sigma \in [\kappa^{-1/(2L)}, \kappa^{1/(2L)}]`, and the surviving fraction is
    :math:`a \ge 1 - \varepsilon`, i.e. :math:`q_0 \le` :func:`max_q0`.
    """

    depth: int
    eps: float
    kappa: float
    sigma_min: float
    sigma_max: float

    def q0_max(self, sigma: ArrayLike) -> NDArray[np.float64] | float:
        """Upper bound on ``q0`` at ``sigma`` (see :func:`max_q0`)."""
        return max_q0(sigma, self.depth, self.eps)

    def contains(self, sigma: ArrayLike, q0: ArrayLike) -> NDArray[np.bool_] | bool:
        """Whether each ``(sigma, q0)`` lies in the region (broadcasts)."""
        sigma = _positive("sigma", sigma)
        q0 = _positive("q0", q0)
        inside = (
            (np.asarray(sigma) >= self.sigma_min)
            & (np.asarray(sigma) <= self.sigma_max)
            & (np.asarray(q0) <= self.q0_max(sigma))
        )
        return bool(inside) if np.ndim(inside) == 0 else inside

    def recommended(self) -> tuple[float, float]:
        """A point well inside: ``sigma = 1`` and half the largest admissible ``q0``."""
        return 1.0, float(self.q0_max(1.0)) / 2.0


def isometry_region(depth: int, eps: float = 0.05, kappa: float = 2.0) -> IsometryRegion:
    r"""The :math:`(\sigma, q_0)` region that prevents vanishing and exploding gradients.

    Dynamical isometry asks the eigenvalues of :math:`J J^T` to concentrate at 1. For the
    hard-tanh law this needs (1) :math:`\sigma^{2L} \in [1/\kappa, \kappa]` and (2) a
    surviving fraction :math:`a \ge 1 - \varepsilon`.

    Args:
        depth: number of layers, an integer >= 1.
        eps: tolerated fraction of zero eigenvalues, in (0, 1).
        kappa: tolerated factor on the nonzero eigenvalue, a number > 1.

    Examples:
        >>> r = isometry_region(20, eps=0.05, kappa=2.0)
        >>> r.contains(1.0, 0.1), r.contains(1.1, 0.1)
        (True, False)
    """
    depth = check_int("depth", depth, minimum=1)
    eps = check_probability("eps", eps)
    kappa = check_positive("kappa", kappa)
    if kappa <= 1.0:
        raise ValueError(f"kappa must be a finite number > 1, got {kappa!r}")
    half = 1.0 / (2 * depth)
    return IsometryRegion(depth, eps, kappa, kappa ** (-half), kappa**half)


def scalar_jacobian(
    u: torch.Tensor, sigma: float, depth: int, activation: str = "hardtanh"
) -> torch.Tensor:
    r"""The diagonal Jacobian entries :math:`J_{ii}(u_i) = \prod_\ell \sigma \phi'(h^\ell_i)`.

    Runs the coordinate-wise recursion :math:`h^1 = \sigma u`,
    :math:`h^\ell = \sigma \phi(h^{\ell-1})` on a tensor of any shape, with
    :math:`\phi'` from autograd, so it uses exactly the networks' activation (and their
    float rounding: a product that underflows is 0 here as in the network; the law itself
    uses :func:`scalar_log_eigenvalue`).

    Examples:
        >>> u = torch.tensor([0.1, 2.0], dtype=torch.float64)
        >>> scalar_jacobian(u, 1.0, 10, "hardtanh")
        tensor([1., 0.], dtype=torch.float64)
    """
    sigma = check_positive("sigma", sigma)
    depth = check_int("depth", depth, minimum=1)
    fn = get_activation(activation)
    jac = torch.ones_like(u)
    h = sigma * u.detach()
    with serial_torch():
        for _ in range(depth):
            x, dphi = value_and_derivative(fn, h)
            jac = jac * (sigma * dphi)
            h = sigma * x
    return jac


def _log_eigenvalues(u: torch.Tensor, sigma: float, depth: int, activation: str) -> torch.Tensor:
    """:math:`\\log\\lambda(u)` for a float64 tensor ``u`` (arguments already validated)."""
    fn = get_activation(activation)
    scale = 1.0 if activation in _HOMOGENEOUS else sigma
    out = torch.full_like(u, 2.0 * depth * math.log(sigma))
    h = scale * u
    with serial_torch():
        for layer in range(1, depth + 1):
            if activation not in _PIECEWISE_LINEAR and not bool(torch.isfinite(h).all()):
                raise ValueError(
                    f"sigma={sigma:g} with this input scale overflows float64 in the "
                    f"{activation} recursion at layer {layer}: need |h^l| = "
                    "|sigma phi(h^(l-1))| < 1.8e308 at every layer; reduce sigma or q0"
                )
            out += 2.0 * log_abs_derivative(activation, h)
            if layer < depth:
                h = scale * fn(h)
    return out


def scalar_log_eigenvalue(
    u: torch.Tensor, sigma: float, depth: int, activation: str = "hardtanh"
) -> torch.Tensor:
    r""":math:`\log\lambda(u) = \sum_{\ell=1}^L \big(2\log\sigma + 2\log|\phi'(h^\ell)|\big)`.

    The same recursion as :func:`scalar_jacobian` (:math:`h^1 = \sigma u`,
    :math:`h^\ell = \sigma\phi(h^{\ell-1})`), summed in log space in float64 with
    :func:`idmlp.activations.log_abs_derivative`: :math:`-\infty` exactly where some
    :math:`\phi'(h^\ell) = 0` (a dead coordinate), finite wherever the eigenvalue
    :math:`\lambda = J_{ii}^2` is positive, however small or large.

    Raises:
        ValueError: for a smooth activation whose pre-activations overflow float64.

    Examples:
        >>> u = torch.tensor([0.1, 2.0, 30.0], dtype=torch.float64)
        >>> scalar_log_eigenvalue(u, 1.0, 10, "hardtanh")
        tensor([0., -inf, -inf], dtype=torch.float64)
        >>> scalar_log_eigenvalue(u, 1.0, 10, "tanh")[2]  # lambda = 2e-54, not 0
        tensor(-123.3486, dtype=torch.float64)
    """
    sigma = check_positive("sigma", sigma)
    depth = check_int("depth", depth, minimum=1)
    activation = _check_activation(activation)
    return _log_eigenvalues(u.detach().to(torch.float64), sigma, depth, activation)


@dataclass(frozen=True, eq=False)
class SpectralLaw:
    r"""The law :math:`\mu_{JJ^T}` of the eigenvalues of :math:`J J^T` at identity init.

    A discrete measure held in log space: ``log_values`` (natural logarithms of the
    eigenvalues, sorted, :math:`-\infty` for :math:`\lambda = 0`) with probabilities
    ``weights`` and their logarithms ``log_weights`` (exact where a mass underflows).
    For hard-tanh with Gaussian inputs it is exact (two atoms); for other activations it
    is the push-forward of :math:`N(0, q_0)` evaluated on a quantile grid of ``K``
    equal-weight points, exact to :math:`O(1/K)` in every probability; for a data set
    (``source="data"``) it is the exact empirical measure of the coordinates.
    ``log_atoms`` lists the point masses ``(log location, mass)`` (e.g. ReLU's zero).

    ``mean()``, ``var()``, ``values`` and ``weights`` are floats that may overflow to
    ``inf`` (or a positive eigenvalue or mass underflow to 0.0); ``log_mean()``,
    ``log_var()``, ``cdf`` and :meth:`summary` work in log space and stay exact. ``q0``
    is the input variance
    (for data: the mean square of the data coordinates, without padding).
    """

    activation: str
    sigma: float
    q0: float
    depth: int
    log_values: NDArray[np.float64] = field(repr=False)
    weights: NDArray[np.float64] = field(repr=False)
    log_weights: NDArray[np.float64] = field(repr=False)
    log_atoms: tuple[tuple[float, float], ...]
    source: str = "gaussian"

    @cached_property
    def values(self) -> NDArray[np.float64]:
        """The eigenvalues :math:`e^{\\log\\lambda}` (``inf`` where they overflow float64)."""
        with np.errstate(over="ignore"):
            return np.exp(self.log_values)

    @property
    def atoms(self) -> tuple[tuple[float, float], ...]:
        """Point masses ``(location, mass)``; a location beyond float64 reads ``inf``."""
        with np.errstate(over="ignore"):
            return tuple((float(np.exp(loc)), mass) for loc, mass in self.log_atoms)

    @property
    def mass_at_zero(self) -> float:
        """Probability that an eigenvalue is exactly 0 (a genuinely dead coordinate)."""
        return float(self.weights[self.log_values == -np.inf].sum())

    @property
    def nonzero_fraction(self) -> float:
        """``1 - mass_at_zero``: the poster's :math:`a` for hard-tanh."""
        return 1.0 - self.mass_at_zero

    def log_mean(self) -> float:
        r""":math:`\log E[\lambda]` (log-sum-exp; :math:`-\infty` if all mass is at 0)."""
        return float(logsumexp(self.log_values + self.log_weights))

    def mean(self) -> float:
        r""":math:`E[\lambda]`, the mean squared singular value (``inf`` past float64)."""
        with np.errstate(over="ignore"):
            return float(np.exp(self.log_mean()))

    def log_var(self) -> float:
        r""":math:`\log\operatorname{Var}[\lambda] = \log\sum_i w_i (\lambda_i - m)^2`.

        Every term in log space, :math:`\log|e^a - e^b| = \max(a, b) +
        \log(1 - e^{-|a - b|})`, so neither huge eigenvalues nor tiny weights are lost.
        """
        lm = self.log_mean()
        if lm == -np.inf:
            return -math.inf
        lv = self.log_values
        with np.errstate(divide="ignore"):
            log_diff = np.maximum(lv, lm) + np.log(-np.expm1(-np.abs(lv - lm)))
        return float(logsumexp(self.log_weights + 2.0 * log_diff))

    def var(self) -> float:
        r""":math:`\operatorname{Var}[\lambda]` (``inf`` past float64)."""
        with np.errstate(over="ignore"):
            return float(np.exp(self.log_var()))

    def cdf(self, t: ArrayLike) -> NDArray[np.float64] | float:
        r""":math:`P(\lambda \le t)` (0 for :math:`t < 0`).

        Exact for every float ``t``: an eigenvalue that underflows ``values`` (to 0.0) is
        still below every positive float, one that overflows (to ``inf``) above every
        finite one, and :math:`t = 0` counts only the exact zeros (``log_values = -inf``).
        """
        t = np.asarray(t, dtype=np.float64)
        cum = np.concatenate([[0.0], np.cumsum(self.weights)])
        zeros = np.searchsorted(self.log_values, -np.inf, side="right")
        idx = np.where(t > 0, np.searchsorted(self.values, t, side="right"),
                       np.where(t == 0, zeros, 0))
        return _as_output(np.minimum(cum[idx], 1.0))

    def sf(self, t: ArrayLike) -> NDArray[np.float64] | float:
        r""":math:`P(\lambda > t)`."""
        return _as_output(1.0 - np.asarray(self.cdf(t)))

    def log_quantile(self, p: ArrayLike) -> NDArray[np.float64] | float:
        r""":math:`\log` of the smallest :math:`t` with :math:`P(\lambda \le t) \ge p`."""
        p = np.asarray(p, dtype=np.float64)
        if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
            raise ValueError("p must lie in [0, 1]")
        cum = np.cumsum(self.weights)
        idx = np.minimum(np.searchsorted(cum, p - 1e-12, side="left"), len(cum) - 1)
        return _as_output(self.log_values[idx])

    def quantile(self, p: ArrayLike) -> NDArray[np.float64] | float:
        r"""Smallest :math:`t` with :math:`P(\lambda \le t) \ge p`, for ``p`` in [0, 1]."""
        with np.errstate(over="ignore"):
            return _as_output(np.exp(np.asarray(self.log_quantile(p))))

    def histogram(
        self, bins: int | ArrayLike = 50, range: tuple[float, float] | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Probability of each bin, and the bin edges (as :func:`numpy.histogram`).

        With an integer ``bins`` and no ``range``, the range spans the finite eigenvalues.
        """
        vals = self.values
        if np.ndim(bins) == 0 and range is None:
            finite = vals[np.isfinite(vals)]
            range = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        return np.histogram(vals, bins=bins, range=range, weights=self.weights)

    def sample(self, n: int, seed: int = 0) -> NDArray[np.float64]:
        r"""``n`` exact draws of :math:`\lambda` (seeded).

        Gaussian source: :math:`\lambda = e^{\log\lambda(u)}`, :math:`u \sim N(0, q_0)` through
        the recursion; data source: draws from the empirical measure.
        """
        n = check_int("n", n, minimum=1)
        if self.source == "data":
            rng = np.random.default_rng(seed)
            return self.values[rng.choice(self.values.size, size=n, p=self.weights)]
        gen = torch.Generator().manual_seed(seed)
        u = torch.randn(n, generator=gen, dtype=torch.float64) * math.sqrt(self.q0)
        log_lam = _log_eigenvalues(u, self.sigma, self.depth, self.activation)
        with np.errstate(over="ignore"):
            return np.exp(log_lam.numpy())

    def summary(self, quantiles: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
                ) -> dict[str, Any]:
        r"""A strict-JSON summary (no ``Infinity``/``NaN``).

        Values that overflow float64 appear as ``None`` next to their ``log10``; a
        ``log10`` of an exact zero is ``None`` too.

        Examples:
            >>> s = spectrum(3.0, 1.0, 400, "relu").summary()
            >>> s["mean"] is None, round(s["log10_mean"], 2), s["mass_at_zero"]
            (True, 381.4, 0.5)
        """
        ln10 = math.log(10.0)
        log_q = np.atleast_1d(self.log_quantile(np.asarray(quantiles, dtype=np.float64)))
        return strict_json({
            "source": self.source,
            "activation": self.activation,
            "sigma": self.sigma,
            "q0": self.q0,
            "depth": self.depth,
            "mass_at_zero": self.mass_at_zero,
            "nonzero_fraction": self.nonzero_fraction,
            "mean": self.mean(),
            "log10_mean": self.log_mean() / ln10,
            "var": self.var(),
            "log10_var": self.log_var() / ln10,
            "atoms": [
                {"lambda": math.exp(loc) if loc < 709.0 else None,
                 "log10_lambda": loc / ln10, "mass": mass}
                for loc, mass in self.log_atoms
            ],
            "quantiles": {
                f"{100 * p:g}%": {
                    "lambda": math.exp(lq) if lq < 709.0 else None,
                    "log10_lambda": lq / ln10,
                }
                for p, lq in zip(quantiles, log_q.tolist(), strict=True)
            },
        })


def _law_from_log_samples(
    log_lam: NDArray[np.float64], activation: str, sigma: float, q0: float, depth: int,
    source: str, counts: NDArray[np.int64] | None = None,
) -> SpectralLaw:
    """The empirical measure of samples of :math:`\\log\\lambda` (each counted ``counts``
    times; once by default).

    Values hit at least ``max(3, 1e-4 n)`` times are reported as atoms (an odd activation
    maps :math:`\\pm u` to the same value, so pairs are not atoms)."""
    log_values, inverse = np.unique(log_lam, return_inverse=True)  # sorted, ties merged
    counts = np.bincount(inverse.ravel(), weights=None if counts is None else counts,
                         minlength=log_values.size).astype(np.int64)
    n = int(counts.sum())
    weights = counts / n
    log_atoms = tuple(
        (float(v), float(w))
        for v, w, c in zip(log_values, weights, counts, strict=True)
        if c >= max(3, 1e-4 * n)
    )
    return SpectralLaw(activation, sigma, q0, depth, log_values, weights, np.log(weights),
                       log_atoms, source)


def spectrum(
    sigma: float,
    q0: float,
    depth: int,
    activation: str = "hardtanh",
    *,
    points: int = _QUADRATURE_POINTS,
) -> SpectralLaw:
    r"""The law of the eigenvalues of :math:`J J^T` of an identity-initialized MLP.

    Hard-tanh (the poster's theorem):
    :math:`\mu = a\,\delta(\lambda - \sigma^{2L}) + (1-a)\,\delta(\lambda)` with
    :math:`a` from :func:`alpha`. Any other registered elementwise activation (tanh, relu,
    leaky_relu, linear, sigmoid, gelu, selu): the push-forward of :math:`N(0, q_0)` through
    :math:`g(u) = \prod_{\ell=1}^{L} (\sigma \phi'(h^\ell(u)))^2`, evaluated at the
    ``points`` quantiles :math:`u_k = \sqrt{2 q_0}\,\operatorname{erfinv}(2 p_k - 1)`,
    :math:`p_k = (k + 1/2)/K`, each of weight :math:`1/K`, in log space
    (:func:`scalar_log_eigenvalue`). Values hit by at least :math:`\max(3, 10^{-4} K)` grid
    points are reported as atoms.

    Args:
        sigma: identity scale, finite and > 0.
        q0: input variance, finite and > 0.
        depth: number of layers, an integer >= 1.
        activation: one of hardtanh, tanh, relu, leaky_relu, linear, sigmoid, gelu, selu.
        points: quadrature size ``K`` (an integer >= 1000).

    Raises:
        ValueError: on a bad argument, or (smooth activations) when ``sigma`` and ``q0``
            make the pre-activations overflow float64.

    Examples:
        >>> law = spectrum(1.0, 0.5, 10)
        >>> round(law.nonzero_fraction, 4), law.atoms[-1][0]
        (0.8427, 1.0)
        >>> spectrum(1.0, 100.0, 10, "tanh").mass_at_zero  # tiny, but never 0
        0.0
    """
    sigma = check_positive("sigma", sigma)
    q0 = check_positive("q0", q0)
    depth = check_int("depth", depth, minimum=1)
    activation = _check_activation(activation)
    points = check_int("points", points, minimum=1000)

    if activation == "hardtanh":
        log_values = np.array([-np.inf, 2.0 * depth * math.log(sigma)])
        log_weights = np.array(_log_alpha_pair(sigma, q0, depth))
        a = alpha(sigma, q0, depth)
        weights = np.array([1.0 - a, a])
        keep = log_weights > -np.inf
        log_values, weights, log_weights = log_values[keep], weights[keep], log_weights[keep]
        log_atoms = tuple((float(v), float(w)) for v, w in zip(log_values, weights, strict=True))
        return SpectralLaw(activation, sigma, q0, depth, log_values, weights, log_weights,
                           log_atoms)

    return _quadrature_law(sigma, q0, depth, activation, points)


def _log_alpha_pair(sigma: float, q0: float, depth: int) -> tuple[float, float]:
    r""":math:`(\log(1 - a), \log a)` for the hard-tanh law, accurate where :math:`a` or
    :math:`1 - a` underflows: :math:`a = \operatorname{erf}(x)`,
    :math:`x = e^{-\ell\log\sigma - \frac12\log 2q_0}`, :math:`\log\operatorname{erf} x
    \approx \log(2x/\sqrt\pi)` for tiny :math:`x` and :math:`\log\operatorname{erfc} x =
    \log\operatorname{erfcx} x - x^2`."""
    layer = depth if sigma > 1.0 else 1
    log_x = -(layer * math.log(sigma) + 0.5 * (math.log(2.0) + math.log(q0)))
    if log_x < -20.0:  # erf(x) = 2x/sqrt(pi) (1 - x^2/3 + ...), x < 2e-9
        log_a = math.log(2.0 / math.sqrt(math.pi)) + log_x
    else:
        log_a = math.log(erf(math.exp(log_x))) if log_x < 400.0 else 0.0
    if log_x > 0.0:  # beyond log_x = 354, log(1 - a) = -x^2 itself overflows
        x = math.exp(min(log_x, 354.0))
        log_rest = math.log(erfcx(x)) - x * x if log_x < 354.0 else -math.inf
    else:
        log_rest = math.log1p(-math.exp(log_a))
    return log_rest, log_a


def _quadrature_law(sigma: float, q0: float, depth: int, activation: str, points: int
                    ) -> SpectralLaw:
    """The push-forward law on the ``points``-quantile grid (any activation, hard-tanh too)."""
    p = (np.arange(points, dtype=np.float64) + 0.5) / points
    u = torch.from_numpy(math.sqrt(2.0) * math.sqrt(q0) * erfinv(2.0 * p - 1.0))
    log_lam = _log_eigenvalues(u, sigma, depth, activation).numpy()
    return _law_from_log_samples(log_lam, activation, sigma, q0, depth, "gaussian")


def spectrum_on_data(
    X: ArrayLike | torch.Tensor,
    sigma: float,
    depth: int,
    activation: str = "hardtanh",
    *,
    num_classes: int = 0,
) -> SpectralLaw:
    r"""The law of the eigenvalues of :math:`J J^T` at identity init, on a real data set.

    With :math:`W^\ell = \sigma I` the Jacobian at an input :math:`x^0` is diagonal,
    :math:`\lambda_i = \prod_\ell (\sigma\phi'(h^\ell_i))^2` with :math:`h^1_i = \sigma x^0_i`,
    so the eigenvalues of :math:`J J^T` over a data set are the push-forward of the data's
    own coordinates through the scalar recursion (:func:`scalar_log_eigenvalue`). This
    returns that law exactly: the empirical measure of all :math:`n (N + C)` coordinates
    of :math:`x^0 = (u, 0_C)`, where the ``C = num_classes`` zero coordinates are the class
    block of :class:`~idmlp.nets.mlp.InterpretableMLP`. Constant pixels (mapped to 0 by the
    scaler) and the class block never saturate: they are why real data survive more often
    than the Gaussian law :func:`spectrum` predicts.

    Args:
        X: inputs as fed to the network (already standardized and scaled by
            :math:`\sqrt{q_0}`), a finite array of shape ``(n, N)``, ``n, N >= 1``.
        sigma: identity scale, finite and > 0.
        depth: number of layers, an integer >= 1.
        activation: a registered activation name.
        num_classes: ``C``, zero coordinates appended to every row (an integer >= 0).

    Examples:
        >>> X = torch.tensor([[0.5, -2.0], [0.0, 1.5]], dtype=torch.float64)
        >>> law = spectrum_on_data(X, 1.0, 10, num_classes=1)
        >>> law.weights[law.log_values == 0.0]  # 4 of 6 coordinates survive
        array([0.66666667])
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    x = np.asarray(X, dtype=np.float64) if not isinstance(X, np.ndarray) else X
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"X must be a 2-D array (n, N) with n, N >= 1, got shape {x.shape}")
    x = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError("X must contain only finite numbers")
    sigma = check_positive("sigma", sigma)
    depth = check_int("depth", depth, minimum=1)
    activation = _check_activation(activation)
    num_classes = check_int("num_classes", num_classes, minimum=0)
    with np.errstate(over="ignore"):
        q0 = float(np.mean(x * x))
    # The law depends on each coordinate's value only: run the recursion once per distinct
    # value (digits: ~1,000 of 133,000 coordinates) and count.
    values, counts = np.unique(x, return_counts=True)
    if num_classes:
        at = np.searchsorted(values, 0.0)
        if at < values.size and values[at] == 0.0:
            counts[at] += x.shape[0] * num_classes
        else:
            values = np.insert(values, at, 0.0)
            counts = np.insert(counts, at, x.shape[0] * num_classes)
    log_lam = _log_eigenvalues(torch.from_numpy(values), sigma, depth, activation)
    return _law_from_log_samples(log_lam.numpy(), activation, sigma, q0, depth, "data",
                                 counts)
