r"""Theory against measurement, and identity / orthogonal / Gaussian initialization side by side.

Measurement (:mod:`idmlp.jacobian`) knows nothing of the theory; the comparison of a
measured spectrum with a law lives here.

- :func:`random_mlp` and :func:`jacobian_eigenvalues`: the networks and eigenvalues of
  :math:`J J^T` that the theory is checked against (float64, biases
  :math:`b_i \sim N(0, \sigma_b^2)` from the model's ``sigma_b``, inputs of mean square exactly
  :math:`q_0`).
- :func:`ks_distance`: the one Kolmogorov-Smirnov distance of the package, between
  eigenvalues (or a measured spectral measure such as
  :class:`~idmlp.jacobian.lanczos.SLQDensity`) and a law, with the
  Dvoretzky-Kiefer-Wolfowitz radius for reference.
- :func:`compare_spectrum`: measured eigenvalues against the identity law
  (:class:`SpectrumComparison`: nonzero fraction with its binomial z-score, KS distance,
  means).
- :func:`compare_inits`: for one ``(depth, width, activation, sigma, sigma_b, q0)``, the
  law of the eigenvalues of :math:`J J^T` for the three initializations (identity:
  :func:`~idmlp.theory.identity.spectrum`, Kubota et al. 2021; orthogonal and Gaussian:
  :func:`~idmlp.theory.free.free_spectrum`, Pennington et al. 2017/2018) and optionally
  the measured eigenvalues, ready for :func:`idmlp.plots.spectra.plot_init_spectra`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from .._io import strict_json
from .._validation import (
    check_choice,
    check_int,
    check_nonnegative,
    check_positive,
    check_real,
)
from ._inits import ALL_INITS, DETERMINISTIC_INITS, FAMILY_INITS, INITS, NO_BIAS_INITS
from .free import free_spectrum
from .identity import SpectralLaw, spectrum

__all__ = [
    "ALL_INITS",
    "DETERMINISTIC_INITS",
    "FAMILY_INITS",
    "INITS",
    "KS_RTOL",
    "NO_BIAS_INITS",
    "InitComparison",
    "KSResult",
    "SpectrumComparison",
    "compare_inits",
    "compare_spectrum",
    "init_law",
    "jacobian_eigenvalues",
    "ks_distance",
    "random_mlp",
    "sphere_inputs",
]

_MODEL_INIT = {"gaussian": "xavier"}
#: The relative shift :func:`ks_distance` tolerates per init (default 1e-9). IDInit is
#: deterministic (:math:`\sigma I` on a square weight), so none is needed; its optional
#: Gaussian perturbation :math:`\varepsilon` would move the identity law's atoms by about
#: :math:`\varepsilon \sqrt{N} L` relative.
KS_RTOL: dict[str, float] = {}


class _Law(Protocol):
    atoms: Any

    def cdf(self, t: ArrayLike) -> Any: ...



def random_mlp(
    width: int, depth: int, sigma: float, sigma_b: float = 0.0, activation: str = "tanh",
    init: str = "orthogonal", *, seed: int = 0,
) -> torch.nn.Module:
    r"""A float64 :class:`~idmlp.nets.mlp.MLP` with weights by ``init`` and biases
    :math:`b^\ell_i \sim N(0, \sigma_b^2)` (the model's own ``sigma_b``; no bias
    parameters for ``sigma_b = 0``).

    Args:
        width, depth: integers >= 1.
        sigma: weight scale (:math:`\sigma_w`, or the identity's :math:`\sigma`), > 0.
        sigma_b: bias standard deviation, >= 0 (must be 0 for the inits of
            :data:`NO_BIAS_INITS`: their laws assume no bias).
        activation: a registered activation name.
        init: one of :data:`ALL_INITS`.
        seed: seeds the weights and biases (an integer >= 0).

    Examples:
        >>> net = random_mlp(8, 3, 1.2, 0.1, "tanh", "gaussian", seed=1)
        >>> net.layers[0].bias.dtype, bool(net.layers[0].bias.abs().sum() > 0)
        (torch.float64, True)
    """
    from ..nets.mlp import MLP

    init = check_choice("init", init, ALL_INITS)
    sigma_b = check_nonnegative("sigma_b", sigma_b)
    seed = check_int("seed", seed, minimum=0)
    if init in NO_BIAS_INITS and sigma_b > 0:
        raise ValueError(f"sigma_b must be 0 for init={init!r} (its law has no bias)")
    gen = torch.Generator().manual_seed(seed)
    net = MLP(width, depth, sigma, activation, bias=sigma_b > 0, dtype=torch.float64,
              sigma_b=sigma_b, init=_MODEL_INIT.get(init, init) if init in INITS else "identity",
              generator=gen)
    if init not in INITS:  # the identity family: init_weight_ knows it (idmlp.init.SCHEMES)
        net.init_scheme = init
        net.init_parameters(gen)
    return net


def sphere_inputs(width: int, q0: float, samples: int = 1, *, seed: int = 0) -> torch.Tensor:
    r"""``samples`` float64 inputs of width ``width`` with :math:`\|x\|^2 = q_0 N` exactly:
    Gaussian directions from NumPy's PCG64 (independent of torch-seeded weights), the
    inputs of :func:`jacobian_eigenvalues` (and of ``idmlp theory --compare-inits``).

    Examples:
        >>> x = sphere_inputs(10, 0.5, 3)
        >>> x.shape, [round(float(v), 12) for v in x.square().mean(1)]
        (torch.Size([3, 10]), [0.5, 0.5, 0.5])
    """
    width = check_int("width", width, minimum=1)
    q0 = check_positive("q0", q0)
    samples = check_int("samples", samples, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((samples, width)))
    return x * (math.sqrt(q0 * width) / x.norm(dim=1, keepdim=True))


def jacobian_eigenvalues(
    net: torch.nn.Module, q0: float, samples: int = 1, *, seed: int = 0,
) -> NDArray[np.float64]:
    r"""Eigenvalues of :math:`J J^T` of ``net`` at ``samples`` random inputs, ``(B, N)``.

    Inputs are Gaussian directions scaled to :math:`\|x\|^2 = q_0 N` exactly, so the
    length map starts at its :math:`q_0` without the :math:`O(N^{-1/2})` noise of
    :math:`\|x\|^2/N` (each coordinate is then :math:`N(0, q_0)` up to :math:`O(1/N)`).
    They come from NumPy's PCG64, not torch's generator: a network seeded with the same
    number (:func:`random_mlp`) would otherwise get inputs equal to its weight rows.
    Dense and exact: :func:`idmlp.jacobian.dense.singular_values` in float64 (for wide networks
    use :func:`idmlp.jacobian.lanczos.slq`).

    Examples:
        >>> net = random_mlp(16, 4, 1.0, 0.0, "tanh", "orthogonal")
        >>> jacobian_eigenvalues(net, 0.5, 3).shape
        (3, 16)
    """
    from ..jacobian.dense import singular_values

    x = sphere_inputs(net.layers[0].in_features, q0, samples, seed=seed)
    return (singular_values(net, x, dtype=torch.float64) ** 2).numpy()


@dataclass(frozen=True)
class KSResult:
    r"""Kolmogorov-Smirnov distance :math:`\sup_{t \ge t_0} |F_n(t) - F(t)|`.

    ``floor`` is :math:`t_0`: eigenvalues below it (numerically zero, or beyond float64's
    resolution of a product of :math:`L` matrices) enter only through :math:`F_n(t_0)`.
    ``dkw`` is the 99% Dvoretzky-Kiefer-Wolfowitz radius :math:`\sqrt{\ln(200)/(2n)}` that
    ``n`` i.i.d. draws of the law exceed with probability at most 1%. Eigenvalues of one
    random matrix are not i.i.d. (they repel, and fluctuate less), so ``dkw`` is a scale
    for the sampling noise, not a test.
    """

    ks: float
    n: int
    dkw: float
    floor: float
    below_floor_empirical: float
    below_floor_theory: float

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


def ks_distance(eigenvalues: ArrayLike | torch.Tensor | _Measure, law: _Law, *,
                weights: ArrayLike | None = None, floor: float = 1e-20,
                rtol: float = 1e-9) -> KSResult:
    r"""KS distance between eigenvalues of :math:`J J^T` (any shape) and a law.

    .. math::
        d = \sup_{t \ge t_0} \max\big(F_n(t) - F(t(1 + r)),\; F(t(1 - r)) - F_n(t)\big),

    the Kolmogorov-Smirnov distance up to relative shifts :math:`r` = ``rtol`` of the
    eigenvalues: a float product rarely hits an atom such as :math:`\sigma^{2L}` to the last
    bit, and two computations of the same atom differ in the last bits (``rtol = 0`` gives
    the plain KS distance). Works for :class:`~idmlp.theory.identity.SpectralLaw`,
    :class:`~idmlp.theory.free.FreeSpectrum` and :class:`~idmlp.jacobian.lanczos.SLQDensity`. With
    ``weights`` (e.g. quadrature weights) :math:`F_n` is the weighted empirical CDF and
    ``n`` the number of samples.

    ``eigenvalues`` may also be a measured spectral *measure* with its own ``cdf`` and
    sorted support ``values`` (an :class:`~idmlp.jacobian.lanczos.SLQDensity`, whose CDF
    interpolates between quadrature nodes): then :math:`d = \max_t |F_{\rm measured}(t) -
    F(t)|` over 4000 log-spaced points from :math:`t_0` to 1.01 times the top of the
    measure (``weights`` and ``rtol`` do not apply; ``n`` counts the support points).

    Args:
        eigenvalues: finite, non-negative samples, or a measure (see above).
        law: the theory (anything with ``cdf``).
        weights: optional non-negative weights, one per sample (normalized here).
        floor: :math:`t_0` relative to the largest eigenvalue (sample or law; for a
            measure: its top), in [0, 1).
        rtol: the relative shift :math:`r`, in [0, 1e-3].

    Examples:
        >>> law = spectrum(1.0, 0.5, 10)
        >>> round(ks_distance(np.r_[np.zeros(16), np.ones(84)], law).ks, 6)  # 0.16 - 0.1573
        0.002701
    """
    floor = check_real("floor", floor)
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"floor must lie in [0, 1), got {floor!r}")
    rtol = check_real("rtol", rtol)
    if not 0.0 <= rtol <= 1e-3:
        raise ValueError(f"rtol must lie in [0, 1e-3], got {rtol!r}")
    if hasattr(eigenvalues, "cdf"):
        return _ks_measures(eigenvalues, law, floor)
    if isinstance(eigenvalues, torch.Tensor):
        eigenvalues = eigenvalues.detach().cpu().double().numpy()
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if lam.size == 0 or not np.all(np.isfinite(lam)) or lam.min() < 0:
        raise ValueError("eigenvalues must be a non-empty array of finite numbers >= 0")
    if weights is None:
        w = np.full(lam.size, 1.0 / lam.size)
    else:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.shape != lam.shape or not np.all(np.isfinite(w)) or w.min() < 0 or w.sum() <= 0:
            raise ValueError("weights must be finite, >= 0, not all 0, one per eigenvalue")
        w = w / w.sum()
    order = np.argsort(lam, kind="stable")
    lam, w = lam[order], w[order]
    cum = np.concatenate([[0.0], np.cumsum(w)])
    tops = [float(lam[-1])] + [float(loc) for loc, _ in law.atoms if loc < math.inf]
    t0 = floor * max(tops)
    t = np.concatenate([[t0], lam[lam > t0]])
    e_hi = np.minimum(cum[np.searchsorted(lam, t, side="right")], 1.0)  # F_n(t)
    e_lo = np.minimum(cum[np.searchsorted(lam, t, side="left")], 1.0)  # F_n(t-)
    above = e_hi - np.asarray(law.cdf(t * (1.0 + rtol)))
    below = np.asarray(law.cdf(np.nextafter(t * (1.0 - rtol), -np.inf))) - e_lo
    d = max(float(above.max()), float(below[1:].max(initial=0.0)),
            float(np.asarray(law.cdf(t0)) - e_hi[0]), 0.0)
    return _ks_result(d, lam.size, t0, float(e_hi[0]), float(np.asarray(law.cdf(t0))))


class _Measure(Protocol):
    values: Any

    def cdf(self, t: ArrayLike) -> Any: ...


def _ks_result(d: float, n: int, t0: float, below_emp: float, below_th: float) -> KSResult:
    return KSResult(d, n, math.sqrt(math.log(200.0) / (2 * n)), t0, below_emp, below_th)


def _ks_measures(measured: _Measure, law: _Law, floor: float) -> KSResult:
    """:func:`ks_distance` of a measured measure: both CDFs on a log grid above ``t0``."""
    values = np.asarray(measured.values, dtype=np.float64)
    top = max(float(values.max()) if values.size else 0.0, 1e-300)
    t0 = floor * top
    grid = np.geomspace(max(t0, 1e-300), 1.01 * top, 4000)
    f_m, f_l = np.asarray(measured.cdf(grid)), np.asarray(law.cdf(grid))
    return _ks_result(float(np.max(np.abs(f_m - f_l))), max(values.size, 1), t0,
                      float(f_m[0]), float(f_l[0]))


@dataclass(frozen=True)
class SpectrumComparison:
    r"""Measured eigenvalues of :math:`J J^T` against a law (:func:`compare_spectrum`).

    ``nonzero_*`` count eigenvalues above ``threshold`` (numerically nonzero); the law's
    value is :math:`P(\lambda > \text{threshold})`. ``stderr`` is the binomial standard
    error :math:`\sqrt{p(1-p)/n}` and ``z`` the difference in standard errors. ``ks`` is
    the Kolmogorov-Smirnov distance :math:`\sup_t |F_n(t) - F(t)|` (:func:`ks_distance`
    at ``floor = rtol = 0``, after samples within ``atom_rtol`` of an atom are snapped to
    it); ``ks_bound`` is the Dvoretzky-Kiefer-Wolfowitz radius
    :math:`\sqrt{\ln(2/\delta)/(2n)}` at :math:`\delta = 0.01`, which i.i.d. samples of
    the law exceed with probability at most 1 %, for any law (atoms included).
    """

    n: int
    threshold: float
    nonzero_empirical: float
    nonzero_theory: float
    stderr: float
    z: float
    ks: float
    ks_bound: float
    mean_empirical: float
    mean_theory: float


def compare_spectrum(
    eigenvalues: torch.Tensor | ArrayLike, law: SpectralLaw, *,
    rtol: float = 1e-9, atom_rtol: float = 1e-5,
) -> SpectrumComparison:
    r"""Compare measured eigenvalues of :math:`J J^T` (any shape) with ``law``.

    Args:
        eigenvalues: samples of :math:`\lambda` (squared singular values), any shape,
            finite and >= 0.
        law: the theoretical law, from :func:`idmlp.theory.spectrum` (or
            :func:`~idmlp.theory.identity.spectrum_on_data`).
        rtol: eigenvalues at most ``rtol * max(λ)`` count as zero.
        atom_rtol: samples within this relative distance of one of the law's atoms count as
            that atom (a float product rarely hits :math:`\sigma^{2L}` to the last bit).

    Examples:
        >>> from idmlp.jacobian.dense import singular_values
        >>> from idmlp.nets.mlp import IdentityMLP
        >>> net, u = IdentityMLP(400, 10), 0.5**0.5 * torch.randn(16, 400)
        >>> lam = singular_values(net, u, dtype=torch.float64) ** 2
        >>> c = compare_spectrum(lam, spectrum(1.0, 0.5, 10))
        >>> abs(c.z) < 4, c.ks < c.ks_bound
        (True, True)
    """
    lam = eigenvalues.detach().cpu().double().numpy() if isinstance(eigenvalues, torch.Tensor) \
        else np.asarray(eigenvalues, dtype=np.float64)
    lam = np.sort(lam.ravel())
    if lam.size == 0 or not np.all(np.isfinite(lam)):
        raise ValueError("eigenvalues must be a non-empty array of finite numbers")
    check_positive("rtol", rtol)
    check_positive("atom_rtol", atom_rtol)
    for loc, _ in law.atoms:
        lam[np.abs(lam - loc) <= atom_rtol * abs(loc)] = loc
    ks = ks_distance(lam, law, floor=0.0, rtol=0.0)
    n = lam.size
    threshold = rtol * max(float(lam[-1]), float(law.values[-1]))
    p_emp = float(np.mean(lam > threshold))
    p_th = float(law.sf(threshold))
    stderr = math.sqrt(max(p_th * (1 - p_th), 1e-300) / n)
    return SpectrumComparison(
        n=n, threshold=threshold, nonzero_empirical=p_emp, nonzero_theory=p_th,
        stderr=stderr, z=(p_emp - p_th) / stderr, ks=ks.ks, ks_bound=ks.dkw,
        mean_empirical=float(lam.mean()), mean_theory=float(law.mean()),
    )


def init_law(init: str, sigma: float, sigma_b: float, q0: float, depth: int,
             activation: str = "tanh") -> Any:
    r"""The law of the eigenvalues of :math:`J J^T` of a square MLP initialized by ``init``
    (one of :data:`ALL_INITS`; biases :math:`N(0, \sigma_b^2)` only where the law allows).

    Examples:
        >>> init_law("looks_linear", 1.0, 0.0, 1.0, 50, "relu").atoms
        ((0.0, 0.5), (2.0, 0.5))
    """
    init = check_choice("init", init, ALL_INITS)
    if init in ("identity", "zero", "idinit"):
        return spectrum(sigma, q0, depth, activation)
    if init == "looks_linear":
        from .family import looks_linear_spectrum

        return looks_linear_spectrum(sigma, q0, depth, activation)
    weights = "gaussian" if init in ("gaussian", "xavier", "he") else "orthogonal"
    sigma_w = sigma * math.sqrt(2.0) if init == "he" else sigma
    return free_spectrum(sigma_w, sigma_b, q0, depth, activation, weights)


@dataclass(frozen=True, eq=False)
class InitComparison:
    r"""Theory (and optionally measurement) for each initialization side by side.

    ``laws[init]`` is a :class:`~idmlp.theory.identity.SpectralLaw` (identity, ZerO,
    IDInit, looks-linear with ReLU), a :class:`~idmlp.theory.free.FreeSpectrum`
    (orthogonal, Gaussian, delta-orthogonal) or a
    :class:`~idmlp.theory.family.MixtureLaw` (looks-linear, odd activations);
    ``eigenvalues[init]`` the measured
    eigenvalues of :math:`J J^T` (``(samples, width)``) or absent.
    """

    depth: int
    width: int
    activation: str
    sigma: float
    sigma_b: float
    q0: float
    laws: dict[str, Any]
    eigenvalues: dict[str, NDArray[np.float64]]

    def ks(self) -> dict[str, KSResult]:
        """KS distance of every measured init against its law (:data:`KS_RTOL`)."""
        return {k: ks_distance(v, self.laws[k], rtol=KS_RTOL.get(k, 1e-9))
                for k, v in self.eigenvalues.items()}

    def summary(self) -> dict[str, Any]:
        """Strict-JSON summary: per init the theory's mean, variance and zero mass, and the
        measurement's mean, variance and KS distance where measured."""
        out: dict[str, Any] = {"depth": self.depth, "width": self.width,
                               "activation": self.activation, "sigma": self.sigma,
                               "sigma_b": self.sigma_b, "q0": self.q0, "inits": {}}
        ks = self.ks()
        for init, law in self.laws.items():
            row = {"theory_mean": law.mean(), "theory_var": law.var(),
                   "theory_mass_at_zero": law.mass_at_zero}
            if init in self.eigenvalues:
                lam = self.eigenvalues[init]
                row |= {"measured_mean": float(lam.mean()),
                        "measured_var": float(lam.var(axis=-1).mean()),
                        "ks": ks[init].ks, "dkw": ks[init].dkw}
            out["inits"][init] = row
        return strict_json(out)


def compare_inits(
    depth: int, width: int, activation: str = "tanh", sigma: float = 1.0,
    sigma_b: float = 0.0, q0: float = 1.0, *, samples: int = 0, seed: int = 0,
    inits: tuple[str, ...] = INITS,
) -> InitComparison:
    r"""The law of the eigenvalues of :math:`J J^T` for each initialization, side by side.

    Identity: :math:`W^\ell = \sigma I`, no bias, inputs :math:`N(0, q_0)`
    (:func:`~idmlp.theory.identity.spectrum`). Orthogonal and Gaussian:
    :math:`\sigma_w = \sigma`, biases :math:`N(0, \sigma_b^2)`, inputs of mean square
    :math:`q_0` (:func:`~idmlp.theory.free.free_spectrum`). The identity family
    (:data:`FAMILY_INITS`): :func:`init_law`. With ``samples > 0`` each init
    is also measured on one network of ``width`` at ``samples`` inputs
    (:func:`random_mlp`, :func:`jacobian_eigenvalues`; dense, so keep ``width`` modest).

    Args:
        depth: number of layers, an integer >= 1.
        width: width ``N`` of the measured networks, an integer >= 1.
        activation: a registered activation name.
        sigma: weight scale, > 0.
        sigma_b: bias standard deviation for the random inits, >= 0.
        q0: input variance (mean square), > 0.
        samples: inputs measured per init (0: theory only), an integer >= 0.
        seed: seed of networks and inputs, an integer >= 0.
        inits: a non-empty subset of :data:`ALL_INITS` (default :data:`INITS`).

    Examples:
        >>> cmp = compare_inits(8, 64, "hardtanh", 1.0, 0.05, 0.2, samples=2)
        >>> sorted(cmp.laws), cmp.eigenvalues["gaussian"].shape
        (['gaussian', 'identity', 'orthogonal'], (2, 64))
    """
    depth = check_int("depth", depth, minimum=1)
    width = check_int("width", width, minimum=1)
    sigma = check_positive("sigma", sigma)
    sigma_b = check_nonnegative("sigma_b", sigma_b)
    q0 = check_positive("q0", q0)
    samples = check_int("samples", samples, minimum=0)
    seed = check_int("seed", seed, minimum=0)
    if not inits or any(i not in ALL_INITS for i in inits):
        raise ValueError(f"inits must be a non-empty subset of {', '.join(ALL_INITS)}; got "
                         f"{inits!r}")
    if "looks_linear" in inits and samples and width % 2:
        raise ValueError(f"looks_linear needs an even width (mirrored blocks of width/2), got "
                         f"{width}")
    laws: dict[str, Any] = {}
    eigs: dict[str, NDArray[np.float64]] = {}
    for k, init in enumerate(inits):
        laws[init] = init_law(init, sigma, sigma_b, q0, depth, activation)
        if samples:
            net = random_mlp(width, depth, sigma, 0.0 if init in NO_BIAS_INITS else sigma_b,
                             activation, init, seed=seed + k)
            eigs[init] = jacobian_eigenvalues(net, q0, samples, seed=seed + k)
    return InitComparison(depth, width, activation, sigma, sigma_b, q0, laws, eigs)
