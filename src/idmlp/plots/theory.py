"""Figures for the Jacobian theory: the law of the eigenvalues of J J^T against an
empirical histogram, and the surviving fraction a over a (sigma, q0) grid.

Built with the object-oriented :class:`matplotlib.figure.Figure` (no pyplot state);
with a ``path`` the PNG is written atomically (:func:`idmlp.plots.save_figure`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from numpy.typing import ArrayLike

from ..theory import SpectralLaw, alpha, isometry_region
from . import save_figure

__all__ = ["label_contours", "plot_alpha_map", "plot_spectrum"]


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def label_contours(ax: Any, cs: Any, fmt: Callable[[float], str], *,
                   avoid: Sequence[tuple[float, float]] = (), **kwargs: Any) -> list:
    """Label every level of the contour set ``cs`` once, on the line, inside the axes.

    Matplotlib's automatic placement often puts a label at the end of a line, where the
    axes frame cuts it. Here each level's label goes on its longest piece, between 15%
    and 85% of its length on screen and a label's size away from the frame, at the
    candidate farthest from the labels already placed and from the ``avoid`` points
    (data coordinates, e.g. a marker); a level with no such place stays unlabelled (name
    the levels in the legend). ``kwargs`` go to :meth:`~matplotlib.axes.Axes.clabel`.

    Examples:
        >>> fig = Figure()
        >>> ax = fig.subplots()
        >>> x = np.linspace(0, 1, 30)
        >>> cs = ax.contour(x, x, x[:, None] + x[None, :], levels=[0.5, 1.0])
        >>> [t.get_text() for t in label_contours(ax, cs, lambda v: f"{v:g}")]
        ['0.5', '1']
    """
    taken = [ax.transData.transform(np.asarray(p, dtype=float)) for p in avoid]
    size = FontProperties(size=kwargs.get("fontsize")).get_size_in_points()
    px = size * ax.figure.dpi / 72  # the label's height on screen
    box = ax.bbox
    positions: list[tuple[float, float]] = []
    levels: list[float] = []
    for level, path in zip(cs.levels, cs.get_paths(), strict=False):
        pieces = [p for p in path.to_polygons(closed_only=False) if len(p) >= 2]
        if not pieces:
            continue
        half_w = 0.32 * px * len(fmt(level)) + 2  # half the label's width, roughly
        screen = [ax.transData.transform(p) for p in pieces]
        k = int(np.argmax([np.hypot(*np.diff(s, axis=0).T).sum() for s in screen]))
        along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(screen[k], axis=0).T))])
        at = along[-1] * np.linspace(0.15, 0.85, 15)  # candidates, interpolated on screen
        cand = np.stack([np.interp(at, along, screen[k][:, 0]),
                         np.interp(at, along, screen[k][:, 1])], axis=1)
        inside = ((cand[:, 0] - half_w > box.x0) & (cand[:, 0] + half_w < box.x1)
                  & (cand[:, 1] - px > box.y0) & (cand[:, 1] + px < box.y1))
        cand = cand[inside]  # never a label that the frame cuts
        if not len(cand):
            continue
        if taken:
            gap = np.min(np.hypot(*(cand[:, None, :] - np.asarray(taken)[None]).transpose(
                2, 0, 1)), axis=1)
            best = int(np.argmax(gap))
        else:
            best = len(cand) // 2
        taken.append(cand[best])
        positions.append(tuple(ax.transData.inverted().transform(cand[best])))
        levels.append(level)
    before = len(ax.texts)
    for level, pos in zip(levels, positions, strict=True):  # each snaps to its own level
        ax.clabel(cs, [level], fmt=fmt, manual=[pos], inline=True, **kwargs)
    return list(ax.texts[before:])


def plot_spectrum(
    law: SpectralLaw,
    eigenvalues: ArrayLike | None = None,
    path: str | Path | None = None,
    *,
    bins: int = 40,
    data_law: SpectralLaw | None = None,
) -> Figure:
    r"""The law of :math:`\lambda` (eigenvalues of :math:`J J^T`) against samples.

    Left: probability mass at :math:`\lambda = 0` and per bin of :math:`\log_{10}\lambda`
    (theory as outlined bars, empirical as filled bars). Right: the two CDFs.
    ``data_law`` (:func:`idmlp.theory.spectrum_on_data`, the law on a real data set) is
    drawn beside the Gaussian law, in its own colour.
    """
    lam = None if eigenvalues is None else np.ravel(np.asarray(eigenvalues, dtype=np.float64))
    # Work in log10 from the law's own logs: past float64 (sigma^(2L) = 1e400) the values
    # are inf or 0 but their logs are exact.
    keep = np.isfinite(law.log_values) & (law.weights > 0)
    order = np.argsort(law.log_values[keep], kind="stable")
    log10_law = law.log_values[keep][order] / np.log(10.0)
    w_law = law.weights[keep][order]
    pos = [log10_law] if log10_law.size else []
    if data_law is not None:
        dkeep = np.isfinite(data_law.log_values) & (data_law.weights > 0)
        log10_data = data_law.log_values[dkeep] / np.log(10.0)
        w_data = data_law.weights[dkeep]
        pos.append(log10_data)
    lam_pos = None if lam is None else lam[(lam > 0) & np.isfinite(lam)]
    if lam_pos is not None and lam_pos.size:
        pos.append(np.log10(lam_pos))
    allpos = np.concatenate(pos) if pos else np.zeros(1)
    lo, hi = np.quantile(allpos, [0.001, 0.999])
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    pad = 0.05 * (hi - lo)
    edges = np.linspace(lo - pad, hi + pad, bins + 1)
    width = edges[1] - edges[0]

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    theory_mass, _ = np.histogram(log10_law, bins=edges, weights=w_law)
    zero_x = edges[0] - 2 * width
    if lam is not None:
        emp_mass, _ = np.histogram(np.log10(lam_pos), bins=edges)
        ax1.bar(edges[:-1], emp_mass / lam.size, width=width, align="edge", color="C0",
                alpha=0.55, label=f"empirical (n={lam.size})")
        ax1.bar(zero_x, np.mean(lam == 0), width=width, color="C0", alpha=0.55)
    ax1.bar(edges[:-1], theory_mass, width=width, align="edge", fill=False, edgecolor="C3",
            linewidth=1.2, label="theory")
    ax1.bar(zero_x, law.mass_at_zero, width=width, fill=False, edgecolor="C3", linewidth=1.2)
    if data_law is not None:
        data_mass, _ = np.histogram(log10_data, bins=edges, weights=w_data)
        ax1.bar(edges[:-1], data_mass, width=width, align="edge", fill=False, edgecolor="C2",
                linewidth=1.2, linestyle="--", label="theory on the data")
        ax1.bar(zero_x, data_law.mass_at_zero, width=width, fill=False, edgecolor="C2",
                linewidth=1.2, linestyle="--")
    ticks = ax1.get_xticks()
    ax1.set_xticks([zero_x, *ticks[(ticks >= edges[0]) & (ticks <= edges[-1])]])
    ax1.set_xticklabels(["λ=0"] + [f"{t:g}" for t in ax1.get_xticks()[1:]])
    ax1.set_xlabel(r"$\log_{10}\lambda$")
    ax1.set_ylabel("probability")
    ax1.set_title("mass per bin")
    ax1.legend(frameon=False)

    grid = np.linspace(edges[0], edges[-1], 400)
    theory_cdf = law.mass_at_zero + np.concatenate([[0.0], np.cumsum(w_law)])[
        np.searchsorted(log10_law, grid, side="right")]
    ax2.plot(grid, theory_cdf, color="C3", label="theory")
    if data_law is not None:
        order_d = np.argsort(log10_data, kind="stable")
        data_cdf = data_law.mass_at_zero + np.concatenate([[0.0], np.cumsum(w_data[order_d])])[
            np.searchsorted(log10_data[order_d], grid, side="right")]
        ax2.plot(grid, data_cdf, color="C2", linestyle="-.", label="theory on the data")
    if lam is not None:
        srt = np.sort(np.log10(lam_pos))
        below = np.mean(lam <= 0) + np.searchsorted(srt, grid, side="right") / lam.size
        ax2.plot(grid, below, color="C0",
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
    point_label: str = "chosen",
) -> Figure:
    r"""Surviving fraction :math:`a(\sigma, q_0)` for depth ``L`` (hard-tanh,
    :func:`idmlp.theory.alpha`), with the isometry region
    (:func:`idmlp.theory.isometry_region`): :math:`\sigma^{2L} \in [1/\kappa, \kappa]`
    and :math:`a \ge 1-\varepsilon`.

    Contours of :math:`a` at 0.5, 0.9 and :math:`1 - \varepsilon` are labelled halfway
    along (:func:`label_contours`); ``point`` (e.g. a run's :math:`(\sigma, q_0)`) is a
    star with its own legend entry, ``point_label``; the default grid widens to include it.
    The legend sits under the plot, so it covers no data.
    """
    sig = np.linspace(0.8, 1.2, 201) if sigmas is None else np.asarray(sigmas, dtype=float)
    q = np.logspace(-3, 1, 201) if q0s is None else np.asarray(q0s, dtype=float)
    if point is not None:
        ps, pq = (float(v) for v in point)
        if sigmas is None and not sig[0] <= ps <= sig[-1]:
            sig = np.linspace(min(sig[0], ps - 0.05), max(sig[-1], ps + 0.05), 201)
        if q0s is None and not q[0] <= pq <= q[-1]:
            q = np.logspace(np.log10(min(q[0], pq / 3)), np.log10(max(q[-1], pq * 3)), 201)
    a = alpha(sig[None, :], q[:, None], depth)
    region = isometry_region(depth, eps=eps, kappa=kappa)

    fig = Figure(figsize=(6.4, 5.4), layout="constrained")
    ax = fig.subplots()
    mesh = ax.pcolormesh(sig, q, a, shading="auto", cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(mesh, ax=ax, label=r"surviving fraction $a$")
    ax.set_yscale("log")
    levels = sorted({0.5, 0.9, round(1 - eps, 6)})
    cs = ax.contour(sig, q, a, levels=levels, colors="white", linewidths=0.8)
    label_contours(ax, cs, lambda v: f"a={v:.2f}", fontsize=7,
                   avoid=[] if point is None else [(ps, pq)])
    inside = region.contains(sig[None, :], q[:, None])
    ax.contourf(sig, q, inside.astype(float), levels=[0.5, 1.5], colors="none", hatches=["//"])
    ax.contour(sig, q, inside.astype(float), levels=[0.5], colors="red", linewidths=1.5)
    for s in (region.sigma_min, region.sigma_max):
        ax.axvline(s, color="red", linestyle=":", linewidth=1)
    handles = [
        Line2D([], [], color="0.55", linewidth=0.8,
               label="surviving fraction a = 0.5, 0.9, 1 − ε (white)"),
        Patch(facecolor="none", edgecolor="red", hatch="//",
              label=f"isometry region: a ≥ {1 - eps:g} and $\\sigma^{{2L}}$ in "
                    f"[1/{kappa:g}, {kappa:g}]"),
        Line2D([], [], color="red", linestyle=":",
               label=f"$\\sigma^{{2L}} = {kappa:g}^{{\\pm 1}}$"),
    ]
    if point is not None:
        ax.plot(ps, pq, marker="*", color="orange", markersize=12, markeredgecolor="k",
                linestyle="none")
        handles.append(Line2D([], [], marker="*", color="orange", markeredgecolor="k",
                              markersize=11, linestyle="none",
                              label=f"{point_label} (σ, $q_0$) = ({ps:g}, {pq:.3g})"))
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False,
               fontsize=8)
    ax.set_xlabel(r"$\sigma$")
    ax.set_ylabel(r"$q_0$ (input variance)")
    ax.set_title(rf"surviving fraction $a(\sigma, q_0)$ of hard-tanh, L={depth} "
                 rf"($\varepsilon$={eps:g}, $\kappa$={kappa:g})", fontsize=10)
    return _save(fig, path)
