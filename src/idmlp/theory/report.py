r"""What ``idmlp theory`` computes, as library functions: the theory at one
:math:`(\sigma, q_0, L, \phi)`, the law on a data set, the check against a measured network
(dense Jacobians or stochastic Lanczos quadrature, chosen by width), and identity /
orthogonal / Gaussian (and the other identity-family) initializations side by side.

Every result is a plain object plus a strict-JSON dictionary (:func:`idmlp._io.strict_json`:
``None`` where float64 overflows, ``log10`` values beside); the command line only parses,
calls these functions in turn, prints and writes. :func:`theory_report` runs them all.

Only the standard library is imported at module level: the command line reads
:data:`SLQ_WIDTH` and :data:`JACOBIAN_PATHS` for its ``--help`` without loading torch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._io import strict_json

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from .compare import InitComparison
    from .identity import SpectralLaw

__all__ = [
    "JACOBIAN_PATHS",
    "SLQ_STEPS",
    "SLQ_WIDTH",
    "TheoryReport",
    "check_slq_memory",
    "data_law",
    "empirical_check",
    "jacobian_path",
    "measure_inits",
    "slq_sample",
    "theory_report",
    "theory_summary",
]

#: Above this width measured networks are measured by stochastic Lanczos quadrature
#: (:func:`idmlp.jacobian.lanczos.slq`) instead of dense Jacobians.
SLQ_WIDTH = 1024
#: Lanczos steps of the SLQ path (the default of :func:`~idmlp.jacobian.lanczos.slq`,
#: at most the width).
SLQ_STEPS = 60
#: Choices of how to measure: ``auto`` (by width), ``dense`` or ``slq``.
JACOBIAN_PATHS: tuple[str, ...] = ("auto", "dense", "slq")


def jacobian_path(choice: str, width: int) -> tuple[str, str]:
    """``dense`` or ``slq`` for a measured network of ``width``, and why.

    Examples:
        >>> jacobian_path("auto", 4096)[0], jacobian_path("auto", 500)[0]
        ('slq', 'dense')
    """
    if choice not in JACOBIAN_PATHS:
        raise ValueError(f"--jacobian must be one of {', '.join(JACOBIAN_PATHS)}, got {choice!r}")
    if choice != "auto":
        return choice, "as asked (--jacobian)"
    if width > SLQ_WIDTH:
        return "slq", (f"width {width} > {SLQ_WIDTH}: a dense Jacobian costs 2 L N^3 flops per "
                       f"input, stochastic Lanczos quadrature 4 k L N^2 (k = {SLQ_STEPS} steps)")
    return "dense", f"width {width} <= {SLQ_WIDTH}: exact singular values"


def theory_summary(sigma: float, q0: float, depth: int, activation: str = "hardtanh", *,
                   eps: float = 0.05, kappa: float = 2.0) -> dict[str, Any]:
    r"""Everything the theory says about one :math:`(\sigma, q_0, L, \phi)`, as strict JSON.

    The law of the eigenvalues of :math:`J J^T` (:meth:`SpectralLaw.summary
    <idmlp.theory.identity.SpectralLaw.summary>`: atoms, mass at zero, mean, quantiles,
    each with its ``log10`` so that overflow is reported, not written as ``Infinity``),
    the hard-tanh surviving fractions :math:`\alpha^1`, :math:`\alpha^L` and :math:`a`
    (hard-tanh only), and the isometry region
    (:func:`~idmlp.theory.identity.isometry_region`) with whether the point lies inside.

    Examples:
        >>> s = theory_summary(1.0, 0.5, 10)
        >>> round(s["alpha"]["a"], 4), s["isometry_region"]["contains"]
        (0.8427, False)
    """
    from .identity import alpha, alpha_l, isometry_region, spectrum

    law = spectrum(sigma, q0, depth, activation)
    region = isometry_region(depth, eps=eps, kappa=kappa)
    out: dict[str, Any] = {
        "law": law.summary(),
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
    return strict_json(out)


def data_law(dataset: str, sigma: float, q0: float, depth: int,
             activation: str = "hardtanh") -> tuple[SpectralLaw, dict[str, Any]]:
    r"""The law on ``dataset``'s training split as ``idmlp train`` feeds it (its defaults:
    split, validation hold-out, scaling), times :math:`\sqrt{q_0}`, padded with ``C``
    zeros (:func:`~idmlp.theory.identity.spectrum_on_data`), and its strict-JSON summary
    with the data set's sizes.
    """
    import numpy as np

    from ..config import DataConfig
    from .identity import spectrum_on_data

    config = DataConfig(dataset=dataset)
    ds = config.load()
    x = config.scaler(ds).transform(ds.X_train).astype(np.float64) * math.sqrt(q0)
    law = spectrum_on_data(x, sigma, depth, activation, num_classes=ds.num_classes)
    info = {"dataset": ds.name, "n_train": int(x.shape[0]), "in_features": int(x.shape[1]),
            "num_classes": int(ds.num_classes),
            "scaling": config.resolved_scaling(ds.image_shape, ds.layout)}
    return law, strict_json({**info, **law.summary()})


def slq_sample(est: Any, n: int) -> NDArray[np.float64]:
    """``n`` evenly spaced quantiles of an SLQ measure, shaped ``(-1, width)`` (for the
    histograms and CDFs of the figures)."""
    import numpy as np

    cum = np.cumsum(est.weights)
    idx = np.searchsorted(cum, (np.arange(n) + 0.5) / n * cum[-1])
    return est.values[np.minimum(idx, cum.size - 1)].reshape(-1, est.width)


def check_slq_memory(width: int, depth: int, samples: int, itemsize: int) -> None:
    """Refuse (:class:`~idmlp._io.EnvironmentFailure`) before allocating, when the weights
    and the Lanczos basis and saved states of ``samples x SLQ_STEPS`` vectors do not fit."""
    from ..runtime import check_memory

    check_memory(itemsize * (depth * width**2 + (SLQ_STEPS + 4 * depth) * samples * width),
                 f"SLQ on a width-{width}, depth-{depth} network",
                 "use a smaller --width or --depth")


def empirical_check(
    sigma: float, q0: float, depth: int, activation: str = "hardtanh", *, width: int = 500,
    samples: int = 16, seed: int = 0, jacobian: str = "auto", progress: bool = False,
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    r"""Measure an identity-initialized MLP of ``width`` at ``samples`` Gaussian inputs
    :math:`N(0, q_0 I)` and compare with :func:`~idmlp.theory.identity.spectrum`.

    Dense (width up to :data:`SLQ_WIDTH`, or ``jacobian="dense"``): the exact
    eigenvalues in float64 (:func:`idmlp.jacobian.dense.empirical_spectrum`), compared by
    :func:`~idmlp.theory.compare.compare_spectrum` (nonzero fraction with its z-score, KS
    with the DKW radius, means). SLQ (above, or ``jacobian="slq"``): the spectral density
    of :math:`J^T J` by stochastic Lanczos quadrature in float32 (a dense float64 stack of
    100 layers of width 4096 alone is 13 GB), its interpolated CDF against the law's by
    :func:`~idmlp.theory.compare.ks_distance` above ``1000 eps`` of the top eigenvalue
    (below it a zero eigenvalue lands after float32 rounding, so that part enters only as
    mass).

    Returns:
        The measured eigenvalues ``(samples, width)`` (for SLQ: evenly spaced quantiles of
        its measure), and the strict-JSON comparison (``jacobian``, ``why`` and the numbers).

    Examples:
        >>> lam, s = empirical_check(1.0, 0.5, 10, width=50, samples=4)
        >>> lam.shape, s["jacobian"], abs(s["z"]) < 4
        ((4, 50), 'dense', True)
    """
    import numpy as np
    import torch

    from .compare import compare_spectrum, ks_distance
    from .identity import spectrum

    law = spectrum(sigma, q0, depth, activation)
    path, why = jacobian_path(jacobian, width)
    if path == "dense":
        from ..jacobian.dense import empirical_spectrum

        lam = empirical_spectrum(width, depth, sigma, q0, activation=activation,
                                 samples=samples, seed=seed, progress=progress)
        emp = compare_spectrum(lam, law)
        return lam, strict_json({"jacobian": "dense", "why": why, "dtype": "float64",
                                 **dataclasses.asdict(emp)})
    from ..jacobian.lanczos import slq
    from ..nets.mlp import IdentityMLP

    check_slq_memory(width, depth, samples, 4)
    net = IdentityMLP(width, depth, sigma, activation)
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(samples, width, generator=gen) * math.sqrt(q0)
    est = slq(net, u)
    ks = ks_distance(est, law, floor=est.resolution).ks
    top = float(np.max(est.nodes))
    nonzero = float(est.node_weights[est.nodes > 1e-6 * top].sum() / est.node_weights.sum())
    out = {"jacobian": "slq", "why": why, "dtype": "float32", "steps": est.steps,
           "probes": est.probes, "inputs": samples, "ks": ks,
           "nonzero_empirical": nonzero, "nonzero_theory": law.nonzero_fraction,
           "mean_empirical": est.mean(), "mean_theory": law.mean()}
    return slq_sample(est, samples * width), strict_json(out)


def measure_inits(
    depth: int, width: int, activation: str = "tanh", sigma: float = 1.0,
    sigma_b: float = 0.0, q0: float = 1.0, *, samples: int = 16, seed: int = 0,
    jacobian: str = "auto", inits: tuple[str, ...] | None = None, progress: bool = False,
) -> tuple[InitComparison, dict[str, Any]]:
    r"""Theory and measurement for each initialization side by side
    (:func:`~idmlp.theory.compare.compare_inits`), measured on networks of ``width`` at
    ``samples`` inputs of mean square exactly ``q0``.

    The identity network (and ZerO's, the same at a square width) is measured exactly by
    its diagonal Jacobian; the others by dense Jacobians or by SLQ (:func:`jacobian_path`; SLQ's
    KS distance uses its quadrature nodes and weights as the measured measure). Memory is
    checked first (:class:`~idmlp._io.EnvironmentFailure` before anything is allocated).

    ``inits`` (default :data:`~idmlp.theory.compare.INITS`) may name any of
    :data:`~idmlp.theory.compare.ALL_INITS`, the identity family included.

    Returns:
        The :class:`~idmlp.theory.compare.InitComparison` with ``eigenvalues`` filled in,
        and the strict-JSON table: ``jacobian``, ``why`` and per init the theory's and the
        measured mean and variance, the theory's mass at zero, KS and the DKW radius.

    Examples:
        >>> cmp, table = measure_inits(4, 32, "tanh", 1.0, 0.0, 0.5, samples=2)
        >>> sorted(table["inits"]), cmp.eigenvalues["orthogonal"].shape
        (['gaussian', 'identity', 'orthogonal'], (2, 32))
    """
    from ..jacobian.dense import spectrum_memory
    from ..jacobian.lanczos import slq
    from ..runtime import check_memory, progress_bar
    from .compare import (
        DETERMINISTIC_INITS,
        INITS,
        KS_RTOL,
        NO_BIAS_INITS,
        compare_inits,
        jacobian_eigenvalues,
        ks_distance,
        random_mlp,
        sphere_inputs,
    )

    inits = INITS if inits is None else tuple(inits)
    path, why = jacobian_path(jacobian, width)
    if path == "dense":
        check_memory(spectrum_memory(width, depth, samples),
                     f"the dense Jacobians of a width-{width}, depth-{depth} network",
                     "use --jacobian slq or a smaller --width / --depth")
    else:
        check_slq_memory(width, depth, samples, 8)
    cmp = compare_inits(depth, width, activation, sigma, sigma_b, q0, seed=seed, inits=inits)
    eigs, ks, moments = {}, {}, {}
    for k, init in enumerate(progress_bar(inits, enabled=progress, desc="inits", leave=False)):
        net = random_mlp(width, depth, sigma, 0.0 if init in NO_BIAS_INITS else sigma_b,
                         activation, init, seed=seed + k)
        if init in DETERMINISTIC_INITS or path == "dense":  # compare_inits' nets and inputs
            lam = jacobian_eigenvalues(net, q0, samples, seed=seed + k)
            eigs[init] = lam
            ks[init] = ks_distance(lam, cmp.laws[init], rtol=KS_RTOL.get(init, 1e-9))
            moments[init] = (float(lam.mean()), float(lam.var(axis=-1).mean()))
        else:
            est = slq(net, sphere_inputs(width, q0, samples, seed=seed + k))
            eigs[init] = slq_sample(est, samples * width)
            ks[init] = ks_distance(est.nodes, cmp.laws[init], weights=est.node_weights,
                                   rtol=KS_RTOL.get(init, 1e-9))
            moments[init] = (est.mean(), est.var())
    cmp = dataclasses.replace(cmp, eigenvalues=eigs)
    table: dict[str, Any] = {"jacobian": path, "why": why, "inits": {}}
    for init, law in cmp.laws.items():
        mean, var = moments[init]
        table["inits"][init] = {
            "theory_mean": law.mean(), "measured_mean": mean, "theory_var": law.var(),
            "measured_var": var, "theory_mass_at_zero": law.mass_at_zero,
            "ks": ks[init].ks, "dkw": ks[init].dkw}
    return cmp, strict_json(table)


@dataclass(frozen=True, eq=False)
class TheoryReport:
    """Everything :func:`theory_report` computed: the identity law, the strict-JSON
    ``summary`` (what ``idmlp theory`` writes to ``summary.json``, less its ``config``),
    and the optional parts (``None`` when not asked for)."""

    law: SpectralLaw
    summary: dict[str, Any]
    data_law: SpectralLaw | None = None
    eigenvalues: NDArray[np.float64] | None = None
    inits: InitComparison | None = None


def theory_report(
    sigma: float, q0: float, depth: int, activation: str = "hardtanh", *,
    eps: float = 0.05, kappa: float = 2.0, dataset: str | None = None,
    empirical: bool = False, compare: bool = False, width: int = 500, samples: int = 16,
    seed: int = 0, sigma_b: float = 0.0, jacobian: str = "auto",
    inits: tuple[str, ...] | None = None, progress: bool = False,
) -> TheoryReport:
    r"""The whole analysis of ``idmlp theory`` in one call: :func:`theory_summary`, and
    optionally :func:`data_law` (``dataset``), :func:`empirical_check` (``empirical``)
    and :func:`measure_inits` (``compare``), their summaries under ``data_law``,
    ``empirical`` and ``inits``.

    Examples:
        >>> r = theory_report(1.0, 0.5, 10, empirical=True, width=40, samples=2)
        >>> sorted(r.summary), r.eigenvalues.shape
        (['alpha', 'empirical', 'isometry_region', 'law'], (2, 40))
    """
    from .identity import spectrum

    summary = theory_summary(sigma, q0, depth, activation, eps=eps, kappa=kappa)
    law = spectrum(sigma, q0, depth, activation)
    dlaw = lam = cmp = None
    if dataset is not None:
        dlaw, summary["data_law"] = data_law(dataset, sigma, q0, depth, activation)
    if empirical:
        lam, summary["empirical"] = empirical_check(
            sigma, q0, depth, activation, width=width, samples=samples, seed=seed,
            jacobian=jacobian, progress=progress)
    if compare:
        cmp, summary["inits"] = measure_inits(
            depth, width, activation, sigma, sigma_b, q0, samples=samples, seed=seed,
            jacobian=jacobian, inits=inits, progress=progress)
    return TheoryReport(law, summary, dlaw, lam, cmp)
