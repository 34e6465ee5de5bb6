"""Figures for the Jacobian theory: the law of the eigenvalues of J J^T against an
empirical histogram, and the surviving fraction alpha over a (sigma, q0) grid."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from numpy.typing import ArrayLike  # noqa: E402

from ..theory import SpectralLaw, alpha, isometry_region  # noqa: E402

__all__ = ["plot_alpha_map", "plot_spectrum"]


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        fig.savefig(path, dpi=160, bbox_inches="tight")
        plt.close(fig)
    return fig


def plot_spectrum(
    law: SpectralLaw,
    eigenvalues: ArrayLike | None = None,
    path: str | Path | None = None,
    *,
    bins: int = 40,
) -> Figure:
    r"""The law of :math:`\lambda` (eigenvalues of :math:`J J^T`) against samples.

    Left: probability mass at :math:`\lambda = 0` and per bin of :math:`\log_{10}\lambda`
    (theory as outlined bars, empirical as filled bars). Right: the two CDFs.
    """
    lam = None if eigenvalues is None else np.ravel(np.asarray(eigenvalues, dtype=np.float64))
    pos_law = law.values[(law.values > 0) & (law.weights > 0)]
    pos = [np.log10(pos_law)] if pos_law.size else []
    if lam is not None and np.any(lam > 0):
        pos.append(np.log10(lam[lam > 0]))
    allpos = np.concatenate(pos) if pos else np.zeros(1)
    lo, hi = np.quantile(allpos, [0.001, 0.999])
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    pad = 0.05 * (hi - lo)
    edges = np.linspace(lo - pad, hi + pad, bins + 1)
    width = edges[1] - edges[0]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    theory_mass, _ = law.histogram(bins=10**edges)
    zero_x = edges[0] - 2 * width
    if lam is not None:
        emp_mass, _ = np.histogram(lam[lam > 0], bins=10**edges)
        ax1.bar(edges[:-1], emp_mass / lam.size, width=width, align="edge", color="C0",
                alpha=0.55, label=f"empirical (n={lam.size})")
        ax1.bar(zero_x, np.mean(lam == 0), width=width, color="C0", alpha=0.55)
    ax1.bar(edges[:-1], theory_mass, width=width, align="edge", fill=False, edgecolor="C3",
            linewidth=1.2, label="theory")
    ax1.bar(zero_x, law.mass_at_zero, width=width, fill=False, edgecolor="C3", linewidth=1.2)
    ticks = ax1.get_xticks()
    ax1.set_xticks([zero_x, *ticks[(ticks >= edges[0]) & (ticks <= edges[-1])]])
    ax1.set_xticklabels(["λ=0"] + [f"{t:g}" for t in ax1.get_xticks()[1:]])
    ax1.set_xlabel(r"$\log_{10}\lambda$")
    ax1.set_ylabel("probability")
    ax1.set_title("mass per bin")
    ax1.legend(frameon=False)

    grid = np.linspace(edges[0], edges[-1], 400)
    ax2.plot(grid, law.cdf(10**grid), color="C3", label="theory")
    if lam is not None:
        srt = np.sort(lam)
        ax2.plot(grid, np.searchsorted(srt, 10**grid, side="right") / srt.size, color="C0",
                 linestyle="--", label="empirical")
    ax2.set_xlabel(r"$\log_{10}\lambda$")
    ax2.set_ylabel(r"$P(\lambda \leq t)$")
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_title(f"CDF (mass at 0: {law.mass_at_zero:.3f})")
    ax2.legend(frameon=False, loc="lower right")
    fig.suptitle(
        rf"Eigenvalues of $JJ^T$: {law.activation}, $\sigma$={law.sigma:g}, "
        rf"$q_0$={law.q0:g}, L={law.depth}"
    )
    fig.tight_layout()
    return _save(fig, path)


def plot_alpha_map(
    depth: int,
    path: str | Path | None = None,
    *,
    sigmas: ArrayLike | None = None,
    q0s: ArrayLike | None = None,
    eps: float = 0.05,
    kappa: float = 2.0,
    point: tuple[float, float] | None = None,
) -> Figure:
    r"""Surviving fraction :math:`a(\sigma, q_0)` for depth ``L`` (hard-tanh), with the
    isometry region: :math:`\sigma^{2L} \in [1/\kappa, \kappa]` and :math:`a \ge 1-\varepsilon`."""
    sig = np.linspace(0.8, 1.2, 201) if sigmas is None else np.asarray(sigmas, dtype=float)
    q = np.logspace(-3, 1, 201) if q0s is None else np.asarray(q0s, dtype=float)
    a = alpha(sig[None, :], q[:, None], depth)
    region = isometry_region(depth, eps=eps, kappa=kappa)

    fig, ax = plt.subplots(figsize=(6.2, 4.6))
    mesh = ax.pcolormesh(sig, q, a, shading="auto", cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(mesh, ax=ax, label=r"surviving fraction $a$")
    cs = ax.contour(sig, q, a, levels=[0.5, 0.9, 1 - eps], colors="white", linewidths=0.8)
    ax.clabel(cs, fmt="%.2f", fontsize=7)
    inside = region.contains(sig[None, :], q[:, None])
    ax.contourf(sig, q, inside.astype(float), levels=[0.5, 1.5], colors="none", hatches=["//"])
    ax.contour(sig, q, inside.astype(float), levels=[0.5], colors="red", linewidths=1.5)
    for s in (region.sigma_min, region.sigma_max):
        ax.axvline(s, color="red", linestyle=":", linewidth=1)
    if point is not None:
        ax.plot(*point, marker="*", color="orange", markersize=12, markeredgecolor="k")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\sigma$")
    ax.set_ylabel(r"$q_0$ (input variance)")
    ax.set_title(
        rf"$a(\sigma, q_0)$, L={depth}; red: isometry region "
        rf"($\varepsilon$={eps:g}, $\kappa$={kappa:g})", fontsize=10,
    )
    fig.tight_layout()
    return _save(fig, path)
