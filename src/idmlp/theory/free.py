r"""The full spectral density of :math:`J J^T` at random initialization, by free probability.

Pennington, Schoenholz and Ganguli (NeurIPS 2017, "Resurrecting the sigmoid in deep
learning through dynamical isometry"; AISTATS 2018, "The emergence of spectral
universality in deep networks") treat :math:`J J^T` with
:math:`J = D_L W_L \cdots D_1 W_1` as the free multiplicative convolution of the laws of
:math:`W_\ell W_\ell^T` and :math:`D_\ell^2`, so its S-transform is the product

.. math::
    S_{JJ^T}(m) = \prod_{\ell=1}^L S_{W_\ell W_\ell^T}(m)\, S_{D_\ell^2}(m),\qquad
    S_\mu(m) = \frac{1 + m}{m\, M_\mu^{-1}(m)},\quad
    M_\mu(z) = \int \frac{t}{z - t}\, d\mu(t) = z G_\mu(z) - 1,

with :math:`S_{WW^T}(m) = \sigma_w^{-2}` (orthogonal) or :math:`\sigma_w^{-2}(1+m)^{-1}`
(Gaussian, Marchenko-Pastur with ratio 1). The papers evaluate it at the fixed point
:math:`q^*`; here every layer keeps its own :math:`q^\ell` from the length map
(:func:`idmlp.theory.meanfield.length_map`), so :math:`D_\ell^2` is the law of
:math:`\phi'(h)^2`, :math:`h \sim N(0, q^\ell)`, which has no closed-form S-transform.

**Numerical method.** Write :math:`z_\ell = M_{D_\ell^2}^{-1}(m)` (the multiplicative
subordination points). Then :math:`M_{JJ^T}(\lambda) = m` is the solution of

.. math::
    \log\lambda = 2L\log\sigma_w + (1 - L + gL)\log(1 + m) + (L - 1)\log m
        + \sum_\ell \log z_\ell, \qquad M_{D_\ell^2}(z_\ell) = m,

(:math:`g = 1` Gaussian, 0 orthogonal; the imaginary part of the first equation is taken
modulo :math:`2\pi`). :math:`M_{D_\ell^2}` is a finite sum over the nodes of a Gaussian
rule in :math:`h` (exact for the atoms of hard-tanh and ReLU). The system is solved by
Newton's method in :math:`(m, z_1, \dots)`, whose Jacobian is an arrowhead solved in
:math:`O(L)`, at :math:`\lambda = x(1 + i\varepsilon)` with :math:`\varepsilon = 10^{-5}`,
marching :math:`x` downward from above the top edge of the support with an adaptive step
(a step is halved when Newton does not converge): the analytic continuation from
:math:`\lambda = \infty` selects the physical branch, as in the AISTATS 2018 paper's
numerical solution for :math:`G`. The top edge is :math:`\min_{m > 0}\lambda(m)` on the
real axis (where :math:`d\lambda/dm = 0`). The density is
:math:`\rho(x) = -\operatorname{Im} G(x + i\varepsilon x)/\pi` with
:math:`G = (1 + m)/\lambda` after the atoms are subtracted analytically:

- at 0 with mass :math:`\max_\ell P(\phi'(h^\ell) = 0)`
  (:math:`\mu \boxtimes \nu(\{0\}) = \max(\mu(\{0\}), \nu(\{0\}))`);
- at :math:`\prod_k a_k` with mass :math:`\sum_k \mu_k(\{a_k\}) - (K - 1)` when positive
  (Belinschi, "The atoms of the free multiplicative convolution of two probability
  distributions", Integral Equations Operator Theory 46, 2003): for orthogonal weights and
  hard-tanh this is the subspace kept by every layer, at :math:`\sigma_w^{2L}`.

The CDF integrates the density down from the top edge, so it is exact above the lowest
grid point ``grid[0]`` even when the density is singular at 0 (Gaussian weights).
Checks (tests/test_free.py): the density's mean and variance against the closed forms of
:mod:`idmlp.theory.meanfield`; the Marchenko-Pastur and Fuss-Catalan laws; and the
eigenvalues of real networks in Kolmogorov-Smirnov distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import CubicHermiteSpline
from scipy.optimize import brentq, minimize_scalar

from .._io import strict_json
from .._validation import check_int, check_probability
from ..activations import log_abs_derivative
from ._numerics import gaussian_rule, serial_torch
from .meanfield import JacobianMoments, jacobian_moments

__all__ = ["FreeSpectrum", "free_spectrum"]

_EPS = 1e-5  # lambda = x (1 + i eps)
_TOL = 1e-11
_MAX_DP = 0.05  # largest relative change of p = lambda G(lambda) between grid points
_MAX_DRHO = 0.05  # largest change of x rho(x) between grid points, relative to its maximum
_NEGLIGIBLE = 1e-2  # continuous mass that may be left below the grid when the march stops
_DONE = 1e-6  # continuous mass left below x at which the march ends early
_MAX_TRIES = 20_000  # Newton solves in the march before giving up


def _as_output(out: NDArray[Any]) -> Any:
    return out.item() if np.ndim(out) == 0 else out


@dataclass
class _DLaws:
    """The distinct :math:`D_\\ell^2` laws as padded node arrays ``(U, K)``."""

    t: NDArray[np.float64]
    w: NDArray[np.float64]
    count: NDArray[np.float64]  # layers sharing each law
    zero_mass: NDArray[np.float64]
    atoms: list[list[tuple[float, float]]]  # per law: (t, mass) of its point masses
    t_max: NDArray[np.float64]


def _d_laws(moments: JacobianMoments) -> _DLaws:
    """Discretize the law of :math:`\\phi'(h)^2`, :math:`h \\sim N(0, q^\\ell)`, per distinct
    :math:`q^\\ell` (layers with equal ``q`` share one law)."""
    q_unique, counts = np.unique(moments.q, return_counts=True)
    ts, ws, zero, atoms = [], [], [], []
    for q in q_unique:
        h, w = gaussian_rule(float(q))
        with serial_torch():
            log_t = 2.0 * log_abs_derivative(moments.activation, torch.from_numpy(h)).numpy()
        genuine = log_t == -np.inf  # phi' = 0 exactly; exp underflow is not a zero
        zero.append(float(w[genuine].sum()))
        # A node whose phi'^2 underflows keeps t = 0.0 among the nonzero nodes: in the
        # equations it acts as t -> 0+, without adding to the atom of J J^T at zero.
        vals, inv, n_nodes = np.unique(np.exp(log_t[~genuine]), return_inverse=True,
                                       return_counts=True)
        mass = np.bincount(inv, weights=w[~genuine], minlength=vals.size)
        # Point masses: a value of phi'^2 taken on a whole interval of h (hard-tanh, ReLU,
        # the positive side of SELU) is shared by many nodes; a continuous part is not.
        atoms.append([(float(v), float(p)) for v, p, c in zip(vals, mass, n_nodes, strict=True)
                      if c >= 3 and p > 1e-12 and v > 0])
        ts.append(vals)
        ws.append(mass)
    k = max(1, max(len(t) for t in ts))
    t_pad = np.zeros((len(ts), k))
    w_pad = np.zeros((len(ts), k))
    for i, (t, w) in enumerate(zip(ts, ws, strict=True)):
        t_pad[i, : len(t)], w_pad[i, : len(w)] = t, w
    return _DLaws(t_pad, w_pad, counts.astype(np.float64), np.array(zero), atoms,
                  t_pad.max(axis=1))


def _top_atom(laws: _DLaws, moments: JacobianMoments) -> tuple[float, float] | None:
    r"""The nonzero atom of the free product, if any (Belinschi 2003): every factor picks a
    point mass, the masses' deficits :math:`\sum (1 - \mu_k(\{a_k\}))` must stay below 1.
    Gaussian :math:`W W^T` has no atom, so only orthogonal weights can give one."""
    if moments.weights != "orthogonal":
        return None
    log_loc, deficit = 2.0 * moments.depth * math.log(moments.sigma_w), 0.0
    for atoms, count in zip(laws.atoms, laws.count, strict=True):
        nonzero = [(t, p) for t, p in atoms if t > 0]
        if not nonzero:
            return None
        t, p = max(nonzero, key=lambda a: a[1])
        log_loc += count * math.log(t)
        deficit += count * (1.0 - p)
    mass = min(1.0 - deficit, 1.0)
    return (math.exp(log_loc), mass) if mass > 1e-12 else None


class _System:
    r"""The equations of the module docstring for one network, vectorized over the laws.

    The unknown is :math:`p = 1 + m = \lambda G(\lambda)` rather than :math:`m`: near
    :math:`\lambda \to 0`, :math:`m \to -1` and :math:`z_u \to 0`, and
    :math:`M_u(z) - m = (\zeta_u - p) + z \sum_{t > 0} w/(z - t)` (:math:`\zeta_u` the
    mass at :math:`t = 0`) keeps every term small there, without cancellation."""

    def __init__(self, laws: _DLaws, moments: JacobianMoments) -> None:
        self.t, self.w, self.c, self.zeta = laws.t, laws.w, laws.count, laws.zero_mass
        depth = moments.depth
        gauss = 1.0 if moments.weights == "gaussian" else 0.0
        self.a1, self.a2 = 1.0 - depth + gauss * depth, depth - 1.0
        self.log_scale = 2.0 * depth * math.log(moments.sigma_w)

    def f_u(self, p: complex, z: NDArray[np.complex128]) -> tuple[NDArray, NDArray]:
        """:math:`M_u(z_u) - m` and :math:`M_u'(z_u)` for every law ``u``."""
        r = 1.0 / (z[:, None] - self.t)
        wr = self.w * r
        s = wr.sum(axis=1)
        ds = -(wr * r).sum(axis=1)
        return (self.zeta - p) + z * s, s + z * ds

    def log_lambda(self, p: complex, z: NDArray[np.complex128],
                   log_m: complex | None = None) -> complex:
        out = self.log_scale + self.a1 * np.log(p) + np.sum(self.c * np.log(z))
        if self.a2:
            out += self.a2 * (np.log(p - 1.0) if log_m is None else log_m)
        return out

    def residual(self, p: complex, z: NDArray, log_lam: complex) -> tuple[complex, NDArray]:
        f0 = self.log_lambda(p, z) - log_lam
        f0 -= 2j * math.pi * round(f0.imag / (2.0 * math.pi))  # the product equation
        return f0, self.f_u(p, z)[0]

    @staticmethod
    def _norm(f0: complex, fu: NDArray, p: complex) -> float:
        return max(abs(f0), float(np.max(np.abs(fu))) / (abs(p - 1.0) + abs(p)))

    def newton(self, p: complex, z: NDArray, log_lam: complex, max_iter: int = 30
               ) -> tuple[complex, NDArray, float]:
        """Damped Newton from ``(p, z)``; returns the solution and its residual norm."""
        f0, fu = self.residual(p, z, log_lam)
        norm = self._norm(f0, fu, p)
        for _ in range(max_iter):
            if norm < _TOL:
                break
            _, d = self.f_u(p, z)
            a = self.a1 / p + (self.a2 / (p - 1.0) if self.a2 else 0.0)
            g = self.c / (z * d)
            dp = (-f0 + np.sum(g * fu)) / (a + np.sum(g))
            dz = (dp - fu) / d
            step = 1.0
            for _ in range(12):
                p_new, z_new = p + step * dp, z + step * dz
                if p_new.imag < 0 and np.all(z_new.imag > 0):
                    f0_new, fu_new = self.residual(p_new, z_new, log_lam)
                    new = self._norm(f0_new, fu_new, p_new)
                    if new < norm:
                        break
                step *= 0.5
            else:
                return p, z, norm
            p, z, f0, fu, norm = p_new, z_new, f0_new, fu_new, new
        return p, z, norm

    def slope(self, p: complex, z: NDArray) -> complex:
        r""":math:`dp/d\log\lambda` on the solution (implicit differentiation: the arrowhead
        solve with right-hand side :math:`\partial F_0/\partial\log\lambda = -1`)."""
        _, d = self.f_u(p, z)
        a = self.a1 / p + (self.a2 / (p - 1.0) if self.a2 else 0.0)
        return 1.0 / (a + np.sum(self.c / (z * d)))

    def real_z(self, m: float) -> NDArray[np.float64]:
        r"""Real :math:`z_u > t_{\max}` with :math:`M_u(z_u) = m > 0`, for every law at once:
        bisection in :math:`\log(z_u - t_{\max})`, where :math:`M_u` decreases."""
        top = self.t.max(axis=1, keepdims=True)
        gap, tw = top - self.t, self.t * self.w
        lo, hi = np.full(len(self.c), -700.0), np.full(len(self.c), 700.0)
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            big = (tw / (np.exp(mid)[:, None] + gap)).sum(axis=1) > m
            lo, hi = np.where(big, mid, lo), np.where(big, hi, mid)
        return top[:, 0] + np.exp(0.5 * (lo + hi))

    def real_log_lambda(self, log_m: float) -> float:
        m = math.exp(log_m)
        z = self.real_z(m).astype(complex)
        return float(self.log_lambda(complex(1.0 + m), z, complex(log_m)).real)


def _density(log_x: Any, p: Any, dp: Any, atoms: tuple[tuple[float, float], ...]
             ) -> tuple[Any, Any]:
    r""":math:`f = x \rho(x) = -x \operatorname{Im} G_c(\lambda)/\pi` of the continuous part
    at :math:`\lambda = x(1 + i\varepsilon)` and :math:`df/d\log x`, from :math:`p =
    \lambda G` and :math:`dp/d\log\lambda`. :math:`G_c = G - \sum_a \mu(\{a\})/
    (\lambda - a)`: the atoms' Cauchy bumps are removed exactly."""
    lam = np.exp(log_x) * complex(1.0, _EPS)
    g, dg = p, dp
    for loc, mass in atoms:
        g = g - mass * lam / (lam - loc)
        dg = dg + mass * loc * lam / (lam - loc) ** 2
    scale = -1.0 / (math.pi * complex(1.0, _EPS))
    return np.maximum(np.imag(g * scale), 0.0), np.imag(dg * scale)


def _segments(log_x: Any, f: Any, df: Any) -> Any:
    r""":math:`\int f\, d\log x` over each grid interval by the trapezoid rule with its
    endpoint (Euler-Maclaurin) correction :math:`h^2 (f'_a - f'_b)/12`, exact for cubics."""
    h = np.diff(log_x)
    return 0.5 * h * (f[1:] + f[:-1]) + h**2 * (df[:-1] - df[1:]) / 12.0


@dataclass(frozen=True, eq=False)
class FreeSpectrum:
    r"""The law of the eigenvalues of :math:`J J^T` at random initialization.

    ``grid`` (ascending, up to the top edge ``top`` of the support) carries the density of
    the continuous part ``density``, the slope :math:`d(x\rho)/d\log x`
    (``density_slope``) and the CDF ``cdf_grid``; ``atoms`` are the point
    masses ``(location, mass)`` (0 first). ``mean()`` and ``var()`` are the closed forms
    of :func:`~idmlp.theory.meanfield.jacobian_moments` (``moments``);
    :meth:`density_moments` integrates the density instead, a check of the solver.
    ``mass_below_grid`` is the continuous mass below ``grid[0]``.
    """

    moments: JacobianMoments
    grid: NDArray[np.float64] = field(repr=False)
    density: NDArray[np.float64] = field(repr=False)
    density_slope: NDArray[np.float64] = field(repr=False)
    cdf_grid: NDArray[np.float64] = field(repr=False)
    atoms: tuple[tuple[float, float], ...]
    top: float
    mass_below_grid: float
    max_residual: float

    @property
    def mass_at_zero(self) -> float:
        return sum(m for loc, m in self.atoms if loc == 0.0)

    def mean(self) -> float:
        """:math:`E[\\lambda]` (closed form)."""
        return self.moments.mean

    def var(self) -> float:
        """:math:`\\operatorname{Var}[\\lambda]` (closed form)."""
        return self.moments.var

    def density_moments(self) -> tuple[float, float]:
        r"""Mean and variance of the law from the density on ``grid`` and the atoms
        (corrected trapezoid rule in :math:`\log x`, as the CDF)."""
        lx, x = np.log(self.grid), self.grid
        f, df = x * self.density, self.density_slope
        m = [float(np.sum(_segments(lx, x**k * f, x**k * (k * f + df))))
             + sum(loc**k * p for loc, p in self.atoms) for k in (1, 2)]
        return m[0], m[1] - m[0] ** 2

    @cached_property
    def _cdf_spline(self) -> CubicHermiteSpline | None:
        if self.grid.size < 2:
            return None
        return CubicHermiteSpline(np.log(self.grid), self.cdf_grid, self.grid * self.density)

    def cdf(self, t: ArrayLike) -> NDArray[np.float64] | float:
        r""":math:`P(\lambda \le t)`: between grid points the cubic Hermite interpolant in
        :math:`\log t` (its slope is :math:`x\rho(x)`).

        Below ``grid[0]`` it returns the value at ``grid[0]`` (the true CDF lies between
        ``mass_at_zero`` and that value), at and above ``top`` it is 1."""
        t = np.asarray(t, dtype=np.float64)
        with np.errstate(divide="ignore"):
            lt = np.log(np.maximum(t, 1e-320))
        lg = np.log(self.grid)
        if self._cdf_spline is None:
            out = np.full(t.shape, self.cdf_grid[0])
        else:
            out = self._cdf_spline(np.clip(lt, lg[0], lg[-1]))
        for loc, p in self.atoms:  # cdf_grid holds the zero atom; add the others' jumps
            if loc > 0:
                out = np.where(t >= loc, out + p, out)
        out = np.where(t < 0, 0.0, np.where(t >= self.top, 1.0, out))
        return _as_output(np.clip(out, 0.0, 1.0))

    def pdf(self, t: ArrayLike) -> NDArray[np.float64] | float:
        """Density of the continuous part (0 outside ``grid``)."""
        t = np.asarray(t, dtype=np.float64)
        out = np.interp(t, self.grid, self.density, left=0.0, right=0.0)
        return _as_output(out)

    def quantile(self, p: ArrayLike) -> NDArray[np.float64] | float:
        r"""Smallest grid value :math:`t` with :math:`P(\lambda \le t) \ge p` (0 inside the
        atom at zero)."""
        p = np.asarray(p, dtype=np.float64)
        if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
            raise ValueError("p must lie in [0, 1]")
        cdf = np.asarray(self.cdf(self.grid))
        idx = np.minimum(np.searchsorted(cdf, p - 1e-12, side="left"), len(cdf) - 1)
        out = np.where(p <= self.mass_at_zero, 0.0, self.grid[idx])
        return _as_output(out)

    def histogram(self, bins: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Probability of each bin ``[e_i, e_{i+1})`` (bin edges given), and the edges."""
        edges = np.asarray(bins, dtype=np.float64)
        below = np.asarray(self.cdf(np.nextafter(edges, -np.inf)))
        return np.diff(below), edges

    def summary(self) -> dict[str, Any]:
        """Strict-JSON summary (``None`` for values beyond float64)."""
        dm, dv = self.density_moments()
        q = np.atleast_1d(self.quantile([0.05, 0.25, 0.5, 0.75, 0.95]))
        return strict_json({
            **self.moments.to_dict(),
            "top": self.top,
            "atoms": [{"lambda": loc, "mass": p} for loc, p in self.atoms],
            "density_mean": dm, "density_var": dv,
            "mass_below_grid": self.mass_below_grid,
            "quantiles": dict(zip(["5%", "25%", "50%", "75%", "95%"], q.tolist(), strict=True)),
        })


def free_spectrum(
    sigma_w: float,
    sigma_b: float,
    q0: float,
    depth: int,
    activation: str = "tanh",
    weights: str = "orthogonal",
    *,
    lowest: float = 1e-24,
    points_per_decade: int = 24,
) -> FreeSpectrum:
    r"""The spectral density of :math:`J J^T` by numerical free multiplicative convolution.

    See the module docstring for the equations, the method and the references
    (Pennington, Schoenholz and Ganguli, NeurIPS 2017 and AISTATS 2018).

    Args:
        sigma_w: weight scale, > 0.
        sigma_b: bias standard deviation, >= 0.
        q0: the input's mean square :math:`\|x^0\|^2/N`, >= 0.
        depth: number of layers, an integer >= 1.
        activation: a registered activation name.
        weights: ``"orthogonal"`` or ``"gaussian"``.
        lowest: the grid reaches down to ``lowest * top``, a number in (0, 1).
        points_per_decade: grid resolution in :math:`\log_{10} x` away from the edges
            (the step is halved where Newton needs it), an integer >= 4.

    Raises:
        ValueError: on a bad argument, or if the solver does not converge (then it says
            where).

    Examples:
        >>> law = free_spectrum(1.0, 0.0, 1.0, 1, "linear", "gaussian")  # Marchenko-Pastur
        >>> round(law.top, 6), round(float(law.cdf(1.0)), 4)  # F(1) = 1/3 + sqrt(3)/(2 pi)
        (4.0, 0.609)
    """
    moments = jacobian_moments(sigma_w, sigma_b, q0, depth, activation, weights)
    lowest = check_probability("lowest", lowest)
    points_per_decade = check_int("points_per_decade", points_per_decade, minimum=4)
    laws = _d_laws(moments)
    zero = float(laws.zero_mass.max())
    top_atom = _top_atom(laws, moments)
    atoms = ((0.0, zero),) if zero > 0 else ()
    if top_atom is not None:
        atoms = (*atoms, top_atom)
    cont_mass = 1.0 - sum(p for _, p in atoms)
    if cont_mass < 1e-12:  # purely atomic (e.g. orthogonal linear)
        loc = max(a for a, _ in atoms)
        grid = np.array([loc])
        return FreeSpectrum(moments, grid, np.zeros(1), np.zeros(1), np.array([zero]), atoms,
                            loc, 0.0, 0.0)
    system = _System(laws, moments)

    # Top edge of the support: min over real m > 0 of lambda(m).
    log_ms = np.linspace(-30.0, 30.0, 121)
    vals = np.array([system.real_log_lambda(x) for x in log_ms])
    i = int(np.argmin(vals))
    if 0 < i < len(log_ms) - 1:
        res = minimize_scalar(system.real_log_lambda, bounds=(log_ms[i - 1], log_ms[i + 1]),
                              method="bounded", options={"xatol": 1e-10})
        log_m_edge, log_top = (float(res.x), float(res.fun)) if res.fun <= vals[i] else \
            (float(log_ms[i]), float(vals[i]))
    else:  # the minimum is approached as m -> infinity: an atom sits at the top
        log_m_edge, log_top = float(log_ms[i]), float(vals[i])
    top = math.exp(log_top)
    if top_atom is not None:
        top = max(top, top_atom[0])
        log_top = math.log(top)

    # Start just above the edge on the physical branch (m < m_edge), then march down.
    start = log_top + 1e-3
    log_m0 = brentq(lambda lm: system.real_log_lambda(lm) - start, log_m_edge - 60.0,
                    log_m_edge) if i > 0 else log_m_edge
    m0 = math.exp(log_m0)
    z = system.real_z(m0).astype(np.complex128)
    log_lam = complex(start, math.atan(_EPS))
    p, z, norm = system.newton(complex(1.0 + m0, -1e-12), z + 1e-12j, log_lam)
    if norm > 1e-8:
        raise ValueError("free_spectrum: Newton did not converge above the top edge")

    xs, ps, worst = [start], [p], norm
    step = math.log(10.0) / points_per_decade
    log_x, log_end = start, log_top + math.log(lowest)
    h = min(step, 1e-4)  # fine steps at the edge, growing to `step`
    mass_above = 0.0  # running estimate of the continuous mass above x
    rho, drho = _density(log_x, p, system.slope(p, z), atoms)  # x rho(x): density in log x
    rho_max, rhos, drhos = 0.0, [rho], [drho]
    tries = 0
    while log_x > log_end and cont_mass - mass_above > _DONE:
        tries += 1
        if tries > _MAX_TRIES:
            raise ValueError(
                f"free_spectrum took more than {_MAX_TRIES} steps above lambda = "
                f"{math.exp(log_x):.3g}: the density varies too fast to follow; try a larger "
                "lowest or points_per_decade"
            )
        nxt = max(log_x - h, log_end)
        guess = p if len(ps) < 2 else p + (p - ps[-2]) * (log_x - nxt) / (xs[-2] - log_x)
        p_new, z_new, norm = system.newton(guess, z, complex(nxt, math.atan(_EPS)))
        rho_new, drho_new = _density(nxt, p_new, system.slope(p_new, z_new), atoms)
        # Accept when x rho(x), the integrand of the CDF, moves by at most _MAX_DRHO of
        # its largest value so far (fine steps at square-root edges, coarse ones where the
        # density is smooth in log x) and p moves little (Newton's continuation).
        change = max(abs(rho_new - rho) / (_MAX_DRHO * max(rho_max, rho_new, 1e-300)),
                     abs(p_new - p) / (_MAX_DP * (abs(p) + 0.05)))
        if norm > 1e-9 or change > 1.0:
            if h < 1e-9:
                # Deep in the lower tail the discretized D^2 laws stop resolving z_u; stop
                # there if the continuous mass left below is negligible.
                left = cont_mass - mass_above
                if left < _NEGLIGIBLE:
                    break
                raise ValueError(
                    f"free_spectrum did not converge at lambda = {math.exp(nxt):.3g} with "
                    f"mass {left:.2g} left below; try a larger lowest"
                )
            h *= 0.5 if norm > 1e-9 else max(0.1, 0.8 / change)
            continue
        mass_above += float(_segments(np.array([nxt, log_x]), np.array([rho_new, rho]),
                                      np.array([drho_new, drho]))[0])
        log_x, p, z, rho, drho = nxt, p_new, z_new, rho_new, drho_new
        rho_max = max(rho_max, rho)
        xs.append(log_x)
        ps.append(p)
        rhos.append(rho)
        drhos.append(drho)
        worst = max(worst, norm)
        h = min(h * min(2.0, 0.8 / max(change, 1e-3)), step)

    lx = np.array(xs[::-1])
    x = np.exp(lx)
    x_density, slope = np.array(rhos[::-1]), np.array(drhos[::-1])
    density = x_density / x
    # CDF of the continuous part from the top: F(t) = c - int_t^top rho.
    seg = _segments(lx, x_density, slope)
    above = np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]])
    cdf_cont = cont_mass - above
    cdf_grid = zero + cdf_cont
    return FreeSpectrum(moments, x, density, slope, cdf_grid, atoms, top, float(cdf_cont[0]),
                        float(worst))
