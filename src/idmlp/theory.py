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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from scipy.special import erf, erfinv

from ._validation import check_int, check_positive, check_probability
from .activations import ACTIVATIONS, get_activation, value_and_derivative

__all__ = [
    "IsometryRegion",
    "SpectralLaw",
    "alpha",
    "alpha_l",
    "isometry_region",
    "max_q0",
    "scalar_jacobian",
    "spectrum",
    "theory_summary",
]

_QUADRATURE_POINTS = 2**17


def _positive(name: str, value: ArrayLike) -> NDArray[np.float64] | float:
    """Validate a scalar or array of finite numbers > 0; scalars stay Python floats."""
    if np.ndim(value) == 0:
        return check_positive(name, value if not isinstance(value, np.generic) else value.item())
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must contain only finite numbers > 0")
    return arr


def alpha_l(sigma: ArrayLike, q0: ArrayLike, l: int) -> NDArray[np.float64] | float:
    r"""Probability that a hard-tanh coordinate is unsaturated at layer ``l``.

    .. math::
        \alpha^\ell = P(|\sigma^\ell u| < 1) = \operatorname{erf}\!\Big(
            \frac{1}{\sigma^\ell \sqrt{2 q_0}}\Big), \qquad u \sim N(0, q_0).

    Args:
        sigma: identity scale :math:`\sigma > 0` (scalar or array).
        q0: input variance :math:`q_0 > 0` (scalar or array, broadcast with ``sigma``).
        l: layer index, an integer >= 1.

    Examples:
        >>> round(alpha_l(1.0, 0.5, 1), 12)  # erf(1)
        0.84270079295
    """
    sigma = _positive("sigma", sigma)
    q0 = _positive("q0", q0)
    l = check_int("l", l, minimum=1)
    with np.errstate(over="ignore", divide="ignore"):
        scale = np.exp(l * np.log(sigma)) * np.sqrt(2.0 * np.asarray(q0))
        out = erf(1.0 / scale)
    return float(out) if np.ndim(out) == 0 else out


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
    return float(out) if np.ndim(out) == 0 else out


def max_q0(sigma: ArrayLike, depth: int, eps: float = 0.05) -> NDArray[np.float64] | float:
    r"""Largest input variance for which at least ``1 - eps`` of the eigenvalues survive.

    .. math::
        a \ge 1 - \varepsilon \iff q_0 \le \frac{1}{2 s^2\,\operatorname{erfinv}(1-\varepsilon)^2},
        \qquad s = \sigma \ (\sigma \le 1),\quad s = \sigma^L \ (\sigma > 1).

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
    sig = np.asarray(sigma)
    with np.errstate(over="ignore"):
        s = np.where(sig > 1.0, np.exp(depth * np.log(sig)), sig)
        out = 1.0 / (2.0 * s**2 * erfinv(1.0 - eps) ** 2)
    return float(out) if np.ndim(out) == 0 else out


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
    :math:`\phi'` from autograd, so it uses exactly the networks' activation.

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
    for _ in range(depth):
        x, dphi = value_and_derivative(fn, h)
        jac = jac * (sigma * dphi)
        h = sigma * x
    return jac


@dataclass(frozen=True, eq=False)
class SpectralLaw:
    r"""The law :math:`\mu_{JJ^T}` of the eigenvalues of :math:`J J^T` at identity init.

    Stored as a discrete measure: ``values`` (sorted) with probability ``weights``. For
    hard-tanh it is exact (two atoms); for other activations it is the push-forward of
    :math:`N(0, q_0)` evaluated on a quantile grid of ``K`` equal-weight points, exact to
    :math:`O(1/K)` in every probability. ``atoms`` lists the point masses
    ``(location, mass)`` that the law has (e.g. ReLU's zero).
    """

    activation: str
    sigma: float
    q0: float
    depth: int
    values: NDArray[np.float64] = field(repr=False)
    weights: NDArray[np.float64] = field(repr=False)
    atoms: tuple[tuple[float, float], ...]

    @property
    def mass_at_zero(self) -> float:
        """Probability that an eigenvalue is exactly 0 (dead coordinate)."""
        return float(self.weights[self.values == 0.0].sum())

    @property
    def nonzero_fraction(self) -> float:
        """``1 - mass_at_zero``: the poster's :math:`a` for hard-tanh."""
        return 1.0 - self.mass_at_zero

    def mean(self) -> float:
        r""":math:`E[\lambda]`, the mean squared singular value."""
        return float(np.dot(self.values, self.weights))

    def var(self) -> float:
        r""":math:`\operatorname{Var}[\lambda]`."""
        m = self.mean()
        return float(np.dot((self.values - m) ** 2, self.weights))

    def cdf(self, t: ArrayLike) -> NDArray[np.float64] | float:
        r""":math:`P(\lambda \le t)`."""
        cum = np.concatenate([[0.0], np.cumsum(self.weights)])
        out = cum[np.searchsorted(self.values, np.asarray(t, dtype=np.float64), side="right")]
        out = np.minimum(out, 1.0)
        return float(out) if np.ndim(out) == 0 else out

    def sf(self, t: ArrayLike) -> NDArray[np.float64] | float:
        r""":math:`P(\lambda > t)`."""
        out = 1.0 - np.asarray(self.cdf(t))
        return float(out) if np.ndim(out) == 0 else out

    def quantile(self, p: ArrayLike) -> NDArray[np.float64] | float:
        r"""Smallest :math:`t` with :math:`P(\lambda \le t) \ge p`, for ``p`` in [0, 1]."""
        p = np.asarray(p, dtype=np.float64)
        if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
            raise ValueError("p must lie in [0, 1]")
        cum = np.cumsum(self.weights)
        idx = np.minimum(np.searchsorted(cum, p - 1e-12, side="left"), len(cum) - 1)
        out = self.values[idx]
        return float(out) if np.ndim(out) == 0 else out

    def histogram(
        self, bins: int | ArrayLike = 50, range: tuple[float, float] | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Probability of each bin, and the bin edges (as :func:`numpy.histogram`)."""
        return np.histogram(self.values, bins=bins, range=range, weights=self.weights)

    def sample(self, n: int, seed: int = 0) -> NDArray[np.float64]:
        r"""``n`` exact draws :math:`\lambda = J(u)^2`, :math:`u \sim N(0, q_0)` (seeded)."""
        n = check_int("n", n, minimum=1)
        gen = torch.Generator().manual_seed(seed)
        u = torch.randn(n, generator=gen, dtype=torch.float64) * self.q0**0.5
        return (scalar_jacobian(u, self.sigma, self.depth, self.activation) ** 2).numpy()


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
    :math:`p_k = (k + 1/2)/K`, each of weight :math:`1/K`. Values hit by at least
    :math:`10^{-4} K` grid points are reported as atoms.

    Args:
        sigma: identity scale, finite and > 0.
        q0: input variance, finite and > 0.
        depth: number of layers, an integer >= 1.
        activation: one of hardtanh, tanh, relu, leaky_relu, linear, sigmoid, gelu, selu.
        points: quadrature size ``K`` (an integer >= 1000).

    Examples:
        >>> law = spectrum(1.0, 0.5, 10)
        >>> round(law.nonzero_fraction, 4), law.atoms[-1][0]
        (0.8427, 1.0)
    """
    sigma = check_positive("sigma", sigma)
    q0 = check_positive("q0", q0)
    depth = check_int("depth", depth, minimum=1)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    points = check_int("points", points, minimum=1000)

    if activation == "hardtanh":
        a = alpha(sigma, q0, depth)
        top = sigma ** (2 * depth)
        values = np.array([0.0, top]) if top > 0 else np.array([0.0])
        weights = np.array([1.0 - a, a]) if top > 0 else np.array([1.0])
        atoms = tuple((float(v), float(w)) for v, w in zip(values, weights, strict=True) if w > 0)
        return SpectralLaw(activation, sigma, q0, depth, values, weights, atoms)

    return _quadrature_law(sigma, q0, depth, activation, points)


def _quadrature_law(sigma: float, q0: float, depth: int, activation: str, points: int
                    ) -> SpectralLaw:
    """The push-forward law on the ``points``-quantile grid (any activation, hard-tanh too)."""
    p = (np.arange(points, dtype=np.float64) + 0.5) / points
    u = torch.from_numpy(np.sqrt(2.0 * q0) * erfinv(2.0 * p - 1.0))
    lam = (scalar_jacobian(u, sigma, depth, activation) ** 2).numpy()
    values, counts = np.unique(lam, return_counts=True)  # sorted, ties merged
    weights = counts / points
    atoms = tuple(
        (float(v), float(w))
        for v, w, c in zip(values, weights, counts, strict=True)
        if c >= max(2, 1e-4 * points)
    )
    return SpectralLaw(activation, sigma, q0, depth, values, weights, atoms)


def theory_summary(sigma: float, q0: float, depth: int, activation: str = "hardtanh", *,
                   eps: float = 0.05, kappa: float = 2.0) -> dict:
    r"""Everything the theory says about one :math:`(\sigma, q_0, L, \phi)`, as plain data.

    The law of the eigenvalues of :math:`J J^T` (:func:`spectrum`: atoms, mass at zero,
    mean, quantiles), the hard-tanh surviving fractions :math:`\alpha^1`,
    :math:`\alpha^L` and :math:`a` (hard-tanh only), and the isometry region
    (:func:`isometry_region`) with whether the point lies inside. What ``idmlp theory``
    prints and writes to ``summary.json``.

    Examples:
        >>> s = theory_summary(1.0, 0.5, 10)
        >>> round(s["alpha"]["a"], 4), s["isometry_region"]["contains"]
        (0.8427, False)
    """
    law = spectrum(sigma, q0, depth, activation)
    region = isometry_region(depth, eps=eps, kappa=kappa)
    probs = (0.05, 0.25, 0.5, 0.75, 0.95)
    out: dict = {
        "law": {
            "atoms": [list(a) for a in law.atoms], "mass_at_zero": law.mass_at_zero,
            "mean": law.mean(),
            "quantiles": {f"{round(p * 100)}%": float(q)
                          for p, q in zip(probs, law.quantile(list(probs)), strict=True)},
        },
        "isometry_region": {
            "eps": region.eps, "kappa": region.kappa,
            "sigma_min": region.sigma_min, "sigma_max": region.sigma_max,
            "q0_max_at_sigma": float(region.q0_max(sigma)),
            "contains": bool(region.contains(sigma, q0)),
        },
    }
    if activation == "hardtanh":
        out["alpha"] = {"a": alpha(sigma, q0, depth), "alpha_1": alpha_l(sigma, q0, 1),
                        "alpha_L": alpha_l(sigma, q0, depth)}
    return out
