r"""Figures of a trainability sweep (``idmlp plot-sweep``).

- :func:`heatmap_figure`: the test accuracy over :math:`(\sigma, q_0)` for every depth and
  initialization, each cell labelled with its value, under the hard-tanh theory of
  identity initialization: contours of the surviving fraction :math:`a`
  (:func:`idmlp.theory.alpha`; the same letter as ``idmlp theory``'s ``alpha_map.png``),
  the band :math:`\sigma^{2L} \in [1/\kappa, \kappa]` and the curve
  :math:`q_0^{\max}(\sigma)` where :math:`a = 1 - \varepsilon`
  (:func:`idmlp.theory.isometry_region`).
- :func:`depth_figure`: the accuracy against depth at the grid point nearest to the
  region's recommended :math:`(\sigma, q_0)`, one line per initialization, dodged
  sideways with its own marker and line style so equal curves stay visible; with a
  single depth, a dot plot per initialization with every seed shown.
- :func:`spectra_figure`: histograms of :math:`\log_{10}` of the eigenvalues of
  :math:`J J^T` at initialization for identity, orthogonal and Gaussian (xavier) weights,
  side by side (measured by :func:`idmlp.jacobian.dense.empirical_spectrum`).

Figures are built with the object-oriented :class:`matplotlib.figure.Figure` (no pyplot
state); :func:`idmlp.sweep.figures.plot_sweep` computes what they show and saves them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .._validation import check_positive, check_probability
from ..theory import alpha, isometry_region
from .theory import label_contours

__all__ = ["METRICS", "depth_figure", "heatmap_figure", "spectra_figure"]

METRICS: tuple[str, ...] = ("test_acc", "train_acc")
_LABELS = {"test_acc": "test accuracy", "train_acc": "train accuracy"}
_STYLE = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
          "xtick.labelsize": 7, "ytick.labelsize": 7, "figure.titlesize": 9}
_ALPHA_LEVELS = (0.5, 0.9, 0.99)
# Okabe-Ito: distinguishable with every common colour-vision deficiency
_INIT_STYLE = {"identity": ("#0072B2", "o", "-"), "orthogonal": ("#E69F00", "s", "--"),
               "xavier": ("#009E73", "^", ":"), "he": ("#D55E00", "D", "-.")}
_EXTRA_STYLE = (("#CC79A7", "v", (0, (5, 1, 1, 1))), ("#56B4E9", "P", (0, (1, 1))),
                ("#000000", "X", (0, (3, 1, 1, 1, 1, 1))))


def _ok_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        raise ValueError("the results hold no finished runs (status ok) to plot")
    return ok


def _grid(rows: Sequence[dict[str, Any]], metric: str) -> dict[tuple, dict[str, np.ndarray]]:
    """Per (depth, activation, init): sorted sigma and q0 axes and the mean and standard
    deviation over seeds of ``metric`` (NaN where a cell has no run)."""
    sigmas = np.array(sorted({r["sigma"] for r in rows}))
    q0s = np.array(sorted({r["q0"] for r in rows}))
    cells: dict[tuple, dict[tuple[int, int], list[float]]] = {}
    for r in rows:
        key = (r["depth"], r["activation"], r["init"])
        ij = (int(np.searchsorted(q0s, r["q0"])), int(np.searchsorted(sigmas, r["sigma"])))
        cells.setdefault(key, {}).setdefault(ij, []).append(r[metric])
    out = {}
    for key, by_cell in sorted(cells.items()):
        mean = np.full((q0s.size, sigmas.size), np.nan)
        std = np.full_like(mean, np.nan)
        for (i, j), vals in by_cell.items():
            mean[i, j], std[i, j] = np.mean(vals), np.std(vals)
        out[key] = {"sigma": sigmas, "q0": q0s, "mean": mean, "std": std}
    return out


def _edges(values: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around sorted centres (geometric midpoints on a log axis)."""
    v = np.log10(values) if log else values.astype(np.float64)
    if v.size == 1:
        half = 0.5 if log else 0.05 * max(abs(v[0]), 1e-3)
        e = np.array([v[0] - half, v[0] + half])
    else:
        mid = (v[1:] + v[:-1]) / 2
        e = np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])
    return 10**e if log else e


def _overlay_theory(ax: Any, depth: int, xlim: tuple[float, float], ylim: tuple[float, float],
                    eps: float, kappa: float,
                    avoid: Sequence[tuple[float, float]] = ()) -> None:
    s = np.linspace(*xlim, 200)
    q = np.geomspace(*ylim, 200)
    S, Q = np.meshgrid(s, q)
    cs = ax.contour(S, Q, alpha(S, Q, depth), levels=_ALPHA_LEVELS, colors="white",
                    linewidths=0.8)
    region = isometry_region(depth, eps, kappa)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    label_contours(ax, cs, lambda v: f"a={v:g}", fontsize=6,
                   avoid=[region.recommended(), *avoid])
    for edge in (region.sigma_min, region.sigma_max):
        ax.axvline(edge, color="tab:orange", linestyle="--", linewidth=1.0)
    ax.plot(s, region.q0_max(s), color="tab:red", linewidth=1.0)
    ax.plot(*region.recommended(), marker="*", color="tab:red", markersize=8,
            markeredgecolor="white", markeredgewidth=0.5, linestyle="none")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)


def _annotate_cells(ax: Any, sigma: np.ndarray, q0: np.ndarray, values: np.ndarray,
                    cmap: Any) -> list[tuple[float, float]]:
    """Write each cell's value in it, dark on light colours and light on dark ones;
    return where (for the contour labels to keep clear)."""
    if sigma.size > 12 or q0.size > 12:  # too small to read; the colour bar remains
        return []
    where = []
    for i, q in enumerate(q0):
        for j, sg in enumerate(sigma):
            v = values[i, j]
            if not np.isfinite(v):
                continue
            r, g, b, _ = cmap(float(np.clip(v, 0, 1)))
            light = 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5
            ax.text(sg, q, f"{v:.2f}", ha="center", va="center", fontsize=6,
                    color="black" if light else "white")
            where.append((float(sg), float(q)))
    return where


def heatmap_figure(rows: Sequence[dict[str, Any]], *, metric: str = "test_acc",
                   eps: float = 0.05, kappa: float = 2.0) -> Figure:
    r"""Heat maps of ``metric`` (mean over seeds) over :math:`(\sigma, q_0)`, one panel
    per depth (rows) and initialization (columns; and activation, if several), with the
    hard-tanh identity-initialization theory overlaid (see the module docstring).

    Args:
        rows: result rows (:func:`idmlp.sweep.read_results`).
        metric: ``test_acc`` or ``train_acc``.
        eps: tolerated dead fraction for the :math:`q_0^{\max}` curve.
        kappa: tolerated factor on :math:`\sigma^{2L}` for the band.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    eps, kappa = check_probability("eps", eps), check_positive("kappa", kappa)
    grids = _grid(_ok_rows(rows), metric)
    depths = sorted({k[0] for k in grids})
    columns = sorted({k[1:] for k in grids}, key=lambda c: (c[0], _init_order(c[1])))
    several_acts = len({c[0] for c in columns}) > 1
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(2.4 * len(columns) + 1.2, 2.2 * len(depths) + 0.9),
                     layout="constrained")
        axes = np.atleast_2d(fig.subplots(len(depths), len(columns), squeeze=False,
                                          sharex=True, sharey=True))
        mesh = None
        for i, depth in enumerate(depths):
            for j, (act, init) in enumerate(columns):
                ax = axes[i, j]
                g = grids.get((depth, act, init))
                if g is None:
                    ax.set_axis_off()
                    continue
                xe, ye = _edges(g["sigma"], log=False), _edges(g["q0"], log=True)
                mesh = ax.pcolormesh(xe, ye, g["mean"], cmap="viridis", vmin=0.0, vmax=1.0,
                                     shading="flat")
                ax.set_yscale("log")
                numbers = _annotate_cells(ax, g["sigma"], g["q0"], g["mean"], mesh.cmap)
                _overlay_theory(ax, depth, (xe[0], xe[-1]), (ye[0], ye[-1]), eps, kappa,
                                avoid=numbers)
                title = f"{init}, L={depth}" + (f", {act}" if several_acts else "")
                ax.set_title(title)
                if i == len(depths) - 1:
                    ax.set_xlabel("σ (identity scale / gain)")
                if j == 0:
                    ax.set_ylabel("input variance $q_0$")
        if mesh is not None:
            fig.colorbar(mesh, ax=axes, label=f"{_LABELS[metric]} (mean over seeds)",
                         shrink=0.9)
        handles = [
            Line2D([], [], color="0.6", linewidth=0.8,
                   label="surviving fraction a = "
                         f"{', '.join(f'{v:g}' for v in _ALPHA_LEVELS)} (white; identity, "
                         "hard-tanh)"),
            Line2D([], [], color="tab:orange", linestyle="--",
                   label=f"$\\sigma^{{2L}} \\in [1/{kappa:g}, {kappa:g}]$"),
            Line2D([], [], color="tab:red", label=f"$q_0^{{\\max}}$ (a = 1 − {eps:g})"),
            Line2D([], [], color="tab:red", marker="*", linestyle="none",
                   label="recommended (σ, $q_0$)"),
        ]
        # two columns unless the figure is wide enough for four (else the ends are cut)
        fig.legend(handles=handles, loc="outside lower center",
                   ncols=4 if len(columns) >= 4 else 2 if len(columns) >= 2 else 1,
                   frameon=False)
        r0 = next(iter(rows))
        fig.suptitle(f"{_LABELS[metric].capitalize()} over (σ, $q_0$) — {r0['dataset']}, "
                     f"{r0['steps']} steps, lr {r0['lr']:g}")
    return fig


def _init_order(init: str) -> int:
    order = ("identity", "orthogonal", "xavier", "he")
    return order.index(init) if init in order else len(order)


def _nearest(values: np.ndarray, target: float, log: bool) -> int:
    v = np.log(values) if log else values
    t = math.log(target) if log else target
    return int(np.argmin(np.abs(v - t)))


def _line_style(n: int, init: str) -> tuple[str, str, Any]:
    """Colour, marker and line style of an initialization (Okabe-Ito colours)."""
    return _INIT_STYLE.get(init, _EXTRA_STYLE[n % len(_EXTRA_STYLE)])


def depth_figure(rows: Sequence[dict[str, Any]], *, metric: str = "test_acc",
                 eps: float = 0.05, kappa: float = 2.0) -> Figure:
    r"""``metric`` against depth at the grid point nearest to the recommended
    :math:`(\sigma, q_0)` of :func:`idmlp.theory.isometry_region` (nearest :math:`\sigma`,
    nearest :math:`\log q_0`), mean :math:`\pm` standard deviation over seeds, one line
    per initialization (and activation). The grid point used is printed under each depth.

    Depths sit at equal spacing; each line is shifted sideways by a small offset and has
    its own colour, marker and line style, so lines with equal values stay visible. With
    a single depth the figure is a dot plot: one column per initialization, every seed a
    small dot, the mean with its standard deviation, and the mean written beside it.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    ok = _ok_rows(rows)
    grids = _grid(ok, metric)
    depths = sorted({k[0] for k in grids})
    lines = sorted({k[1:] for k in grids}, key=lambda c: (c[0], _init_order(c[1])))
    several_acts = len({c[0] for c in lines}) > 1
    any_grid = next(iter(grids.values()))
    picked = {}
    for depth in depths:
        s_rec, q_rec = isometry_region(depth, eps, kappa).recommended()
        picked[depth] = (_nearest(any_grid["sigma"], s_rec, log=False),
                         _nearest(any_grid["q0"], q_rec, log=True))

    def point(depth: int) -> str:
        j, i = picked[depth]
        return f"σ={any_grid['sigma'][j]:g}\n$q_0$={any_grid['q0'][i]:.2g}"

    num_classes = ok[0].get("num_classes")
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(4.8, 3.6), layout="constrained")
        ax = fig.subplots()
        width = 0.5 / max(1, len(lines))  # sideways spread of the lines at one depth
        for n, (act, init) in enumerate(lines):
            mean, std, seeds = [], [], []
            for depth in depths:
                g, (j, i) = grids.get((depth, act, init)), picked[depth]
                mean.append(g["mean"][i, j] if g is not None else np.nan)
                std.append(g["std"][i, j] if g is not None else np.nan)
                s_, q_ = any_grid["sigma"][j], any_grid["q0"][i]
                seeds.append([r[metric] for r in ok if (r["depth"], r["activation"],
                              r["init"], r["sigma"], r["q0"]) == (depth, act, init, s_, q_)])
            label = init + (f" ({act})" if several_acts else "")
            color, marker, style = _line_style(n, init)
            if len(depths) == 1:  # a dot plot: one column per initialization
                x = np.array([float(n)])
                ax.plot(np.full(len(seeds[0]), x[0] + 0.12), seeds[0], linestyle="none",
                        marker=marker, markersize=3, color=color, alpha=0.6,
                        label="_seeds")
                if np.isfinite(mean[0]):
                    ax.annotate(f"{mean[0]:.3f}", (x[0], mean[0]), xytext=(-8, 0),
                                textcoords="offset points", ha="right", va="center",
                                fontsize=7)
            else:
                x = np.arange(len(depths)) + (n - (len(lines) - 1) / 2) * width
            ax.errorbar(x, mean, yerr=std, marker=marker, markersize=4.5, capsize=3,
                        color=color, linestyle=style if len(depths) > 1 else "none",
                        linewidth=1.4, markeredgecolor="white", markeredgewidth=0.5,
                        label=label)
        if num_classes:
            ax.axhline(1 / num_classes, color="0.5", linestyle=":", linewidth=1,
                       label="chance")
        if len(depths) == 1:
            ax.set_xticks(range(len(lines)))
            ax.set_xticklabels([i + (f"\n({a})" if several_acts else "") for a, i in lines])
            ax.set_xlim(-0.6, len(lines) - 0.4)
            ax.set_xlabel(f"initialization (depth L={depths[0]}, {point(depths[0])})"
                          .replace("\n", ", "))
            ax.set_title(f"{_LABELS[metric].capitalize()} at depth {depths[0]}: mean ± sd "
                         "over seeds (small dots: seeds)")
        else:
            ax.set_xticks(range(len(depths)))
            ax.set_xticklabels([f"{d}\n{point(d)}" for d in depths])
            ax.set_xlim(-0.5, len(depths) - 0.5)
            ax.set_xlabel("depth L (grid point nearest to the recommended σ, $q_0$)")
            ax.set_title(f"{_LABELS[metric].capitalize()} against depth at the recommended "
                         f"(σ, $q_0$), ε={eps:g}")
        ax.set_ylabel(f"{_LABELS[metric]} (mean ± sd over seeds)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", ncols=2)
    return fig


def spectra_figure(eigenvalues: Mapping[str, np.ndarray], *, width: int, depth: int,
                   sigma: float, q0: float, activation: str = "hardtanh",
                   bins: int = 40) -> Figure:
    r"""Eigenvalues of :math:`J J^T` at initialization for several inits, side by side.

    ``eigenvalues`` maps an init name to its measured eigenvalues (any shape, e.g. from
    :func:`idmlp.jacobian.dense.empirical_spectrum` at ``width``, ``depth``, gain ``sigma`` and
    inputs :math:`u \sim N(0, q_0 I)`). Each panel is a histogram of :math:`\log_{10}\lambda`
    over the eigenvalues above :math:`10^{-9} \lambda_{\max}` (bars sum to that fraction);
    the fraction below is printed. For identity init the theory's atom at
    :math:`\sigma^{2L}` with mass :math:`a` is marked (hard-tanh).
    """
    lams = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in eigenvalues.items()}
    if not lams:
        raise ValueError("eigenvalues must map at least one init to its eigenvalues")
    logs = [np.log10(lam[lam > 1e-9 * lam.max()]) for lam in lams.values() if lam.max() > 0]
    logs = [x for x in logs if x.size]
    lo, hi = (min(x.min() for x in logs), max(x.max() for x in logs)) if logs else (-1, 1)
    lo, hi = min(lo, 0.0) - 0.5, max(hi, 0.0) + 0.5
    step = (hi - lo) / bins  # bins centred on multiples of step, so an atom never straddles
    edges = (np.arange(math.floor(lo / step), math.ceil(hi / step) + 1) + 0.5) * step
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(2.6 * len(lams) + 0.4, 2.7), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(lams), sharey=True))
        for ax, (init, lam) in zip(axes, lams.items(), strict=True):
            nonzero = lam > 1e-9 * lam.max() if lam.max() > 0 else np.zeros_like(lam, bool)
            ax.hist(np.log10(lam[nonzero]), bins=edges,
                    weights=np.full(nonzero.sum(), 1 / lam.size), color="C0", alpha=0.8,
                    label="empirical")
            ax.axvline(0.0, color="0.4", linestyle=":", linewidth=1)
            text = f"λ ≤ 1e-9 max: {1 - nonzero.mean():.1%}\nmean λ: {lam.mean():.3g}"
            if init == "identity" and activation == "hardtanh":
                a, log_top = alpha(sigma, q0, depth), 2 * depth * math.log10(sigma)
                ax.axvline(log_top, color="tab:red", linestyle="--", linewidth=1,
                           label=f"theory: mass {a:.2f} at $\\sigma^{{2L}}$")
                text += f"\ntheory λ = 0: {1 - a:.1%}"
                ax.legend(loc="center left")
            ax.text(0.03, 0.97, text, transform=ax.transAxes, ha="left", va="top",
                    fontsize=7, bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0})
            ax.set_title(f"{init}")
            ax.set_xlabel(r"$\log_{10} \lambda$")
        axes[0].set_ylabel("fraction of eigenvalues")
        fig.suptitle(f"Eigenvalues λ of $JJ^T$ at initialization ({activation}, N={width}, "
                     f"L={depth}, σ={sigma:g}, $q_0$={q0:.3g})")
    return fig
