r"""Jacobian spectra at initialization, identity / orthogonal / Gaussian side by side.

One figure from an :class:`idmlp.theory.compare.InitComparison`: a column per
initialization on shared axes; top row the probability per bin of
:math:`\log_{10}\lambda` (theory as a line, measured eigenvalues of :math:`J J^T` as filled
bars, the mass at :math:`\lambda = 0` written in the panel), bottom row the two CDFs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .._validation import check_int

__all__ = ["plot_init_spectra"]

_TITLES = {"identity": "identity  $W=\\sigma I$", "orthogonal": "orthogonal  $W=\\sigma Q$",
           "gaussian": "Gaussian  $W_{ij}\\sim N(0,\\sigma^2/N)$",
           "zero": "ZerO  ($W=\\sigma I$ at equal widths)",
           "idinit": "IDInit  ($W=\\sigma I$ at equal widths)",
           "xavier": "xavier  $W_{ij}\\sim N(0,\\sigma^2/N)$",
           "he": "he  $W_{ij}\\sim N(0,2\\sigma^2/N)$",
           "looks_linear": "looks-linear  $\\sigma[[W_0,-W_0],[-W_0,W_0]]$",
           "delta_orthogonal": "delta-orthogonal  $W=\\sigma Q$"}


def _log_range(cmp: Any, floor: float) -> tuple[float, float]:
    """:math:`\\log_{10}` range covering the laws' and the measurements' positive mass."""
    lows, highs = [], []
    for init, law in cmp.laws.items():
        if hasattr(law, "log_quantile"):  # SpectralLaw: exact log-space quantiles
            lq = np.asarray(law.log_quantile([min(1.0, law.mass_at_zero + 0.001), 1.0]))
            finite = lq[np.isfinite(lq)] / math.log(10.0)
            lows += finite.tolist()[:1]
            highs += finite.tolist()[-1:]
        else:  # FreeSpectrum
            lows.append(math.log10(float(law.quantile(min(1.0, law.mass_at_zero + 0.001)))
                                   or law.grid[0]))
            highs.append(math.log10(law.top))
        lam = cmp.eigenvalues.get(init)
        if lam is not None and np.any(lam > 0):
            pos = lam[lam > 0]
            lows.append(math.log10(np.quantile(pos, 0.001)))
            highs.append(math.log10(pos.max()))
    hi = max(highs) if highs else 0.0
    lo = max(min(lows) if lows else hi - 1.0, hi + math.log10(floor))
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.03 * (hi - lo)
    return lo - pad, hi + pad


def plot_init_spectra(cmp: Any, *, bins: int = 60, floor: float = 1e-20) -> Figure:
    r"""Theory and measured spectra of :math:`J J^T` for each initialization, same axes.

    Args:
        cmp: an :class:`~idmlp.theory.compare.InitComparison` (from
            :func:`~idmlp.theory.compare.compare_inits`, with or without ``samples``).
        bins: number of :math:`\log_{10}\lambda` bins, an integer >= 5.
        floor: the x-axis starts no lower than ``floor`` times the largest eigenvalue, in
            (0, 1); mass below it is reported with the mass at zero.

    Returns:
        A :class:`matplotlib.figure.Figure` (no pyplot state; save it with
        :func:`idmlp.plots.save_figure`).

    Examples:
        >>> from idmlp.theory import compare_inits
        >>> fig = plot_init_spectra(compare_inits(6, 48, "tanh", 1.0, 0.1, 0.5, samples=2))
        >>> len(fig.axes)
        6
    """
    bins = check_int("bins", bins, minimum=5)
    if not 0.0 < floor < 1.0:
        raise ValueError(f"floor must lie in (0, 1), got {floor!r}")
    if not getattr(cmp, "laws", None):
        raise ValueError("cmp must be an InitComparison with at least one law")
    lo, hi = _log_range(cmp, floor)
    edges = np.linspace(lo, hi, bins + 1)
    width = edges[1] - edges[0]
    grid = np.linspace(lo, hi, 400)
    inits = list(cmp.laws)
    fig = Figure(figsize=(4.2 * len(inits), 6.4), layout="constrained")
    axes = fig.subplots(2, len(inits), sharex=True, sharey="row", squeeze=False)
    for col, init in enumerate(inits):
        law = cmp.laws[init]
        top, bottom = axes[0, col], axes[1, col]
        cdf_edges = np.asarray(law.cdf(10.0**edges))
        top.plot(edges[:-1] + width / 2, np.diff(cdf_edges), color="C3", lw=1.4,
                 drawstyle="steps-mid", label="theory")
        below_th = float(cdf_edges[0])
        at = f"$P(\\lambda \\leq 10^{{{edges[0]:.1f}}})$"
        text = f"{at}: theory {below_th:.3f}"
        means = f"mean: theory {law.mean():.3g}"
        bottom.plot(grid, law.cdf(10.0**grid), color="C3", lw=1.4, label="theory")
        lam = cmp.eigenvalues.get(init)
        if lam is not None:
            flat = np.ravel(lam)
            pos = flat[flat > 10.0**edges[0]]
            mass, _ = np.histogram(np.log10(pos), bins=edges)
            top.bar(edges[:-1], mass / flat.size, width=width, align="edge", color="C0",
                    alpha=0.5, label=f"measured (n={flat.size})")
            srt = np.sort(flat)
            bottom.plot(grid, np.searchsorted(srt, 10.0**grid, side="right") / srt.size,
                        color="C0", ls="--", label="measured")
            text += f", measured {np.mean(flat <= 10.0**edges[0]):.3f}"
            means += f", measured {flat.mean():.3g}"
        top.text(0.03, 0.97, f"{text}\n{means}", transform=top.transAxes, va="top",
                 fontsize=8)
        top.set_title(_TITLES.get(init, init))
        bottom.set_xlabel(r"$\log_{10}\lambda$")
        bottom.set_ylim(-0.02, 1.02)
    axes[0, 0].set_ylabel("probability per bin")
    axes[1, 0].set_ylabel(r"$P(\lambda \leq t)$")
    axes[0, -1].legend(frameon=False, loc="center left", fontsize=8)
    axes[1, 0].legend(frameon=False, loc="center left", fontsize=8)
    fig.suptitle(f"eigenvalues of $JJ^T$ at initialization: {cmp.activation}, depth "
                 f"{cmp.depth}, width {cmp.width}, σ={cmp.sigma:g}, σ_b={cmp.sigma_b:g}, "
                 f"q0={cmp.q0:g}")
    return fig
