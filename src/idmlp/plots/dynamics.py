r"""Figures of the learning dynamics (:mod:`idmlp.analysis.dynamics`): what the snapshots show.

Every function takes a :class:`~idmlp.analysis.dynamics.Snapshots` and returns a
:class:`matplotlib.figure.Figure` drawn with the object-oriented API; nothing is saved
here (:func:`idmlp.analysis.dynamics.plot_dynamics` does that). Snapshots are log-spaced in
optimizer steps, so time axes are the snapshot index, labelled with the step.

Maps use a diverging colormap centred at zero with one symmetric range per figure (the
99th percentile of :math:`|c|`, so that a few standardized low-variance pixels do not wash
out the rest), so colors compare across layers and across time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from ..train.snapshots import Snapshots

__all__ = [
    "maps_animation",
    "plot_layer_time_heatmaps",
    "plot_sample_maps_over_time",
    "plot_spectrum_over_time",
]

CMAP = "RdBu_r"
#: Eigenvalues below this fraction of the largest one are drawn at the floor ("zero").
ZERO_FLOOR = 1e-8


def _time_axis(ax: Axes, snaps: Snapshots, axis: str = "x", every: int | None = None) -> None:
    """Snapshot index on ``axis``, ticks labelled with the optimizer step."""
    s = len(snaps)
    every = every or max(1, int(np.ceil(s / 8)))
    ticks = list(range(0, s, every))
    if ticks[-1] != s - 1:
        ticks.append(s - 1)
    labels = [str(int(snaps.steps[i])) for i in ticks]
    if axis == "x":
        ax.set_xticks(ticks, labels, rotation=45)
        ax.set_xlabel(f"optimizer step (log-spaced; {snaps.meta['steps_per_epoch']} per epoch)")
    else:
        ax.set_yticks(ticks, labels)
        ax.set_ylabel("optimizer step")


def _heatmap(fig: Figure, ax: Axes, values: np.ndarray, snaps: Snapshots, title: str,
             cmap: str, vmin: float | None = None, vmax: float | None = None) -> None:
    depth = values.shape[1]
    im = ax.imshow(values.T, origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                   extent=(-0.5, len(snaps) - 0.5, 0.5, depth + 0.5), interpolation="nearest")
    ax.set_title(title)
    ax.set_ylabel(r"layer $\ell$")
    _time_axis(ax, snaps)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)


def plot_layer_time_heatmaps(snaps: Snapshots) -> Figure:
    r"""Layer x time heat maps: accuracy and mean true-class probability of every layer's
    readout, and the identity distance :math:`\|W^\ell - \sigma I\|_F / \|\sigma I\|_F`
    of the class rows and of the feature rows."""
    fig = Figure(figsize=(12, 8.5), layout="constrained")
    axes = fig.subplots(2, 2)
    meta = snaps.meta
    where = f"{meta['split']} split, first {meta['subset']} examples"
    _heatmap(fig, axes[0, 0], snaps["accuracy"], snaps, f"accuracy ({where})", "viridis",
             0.0, 1.0)
    _heatmap(fig, axes[0, 1], snaps["true_class_prob"], snaps, "mean p(true class)",
             "viridis", 0.0, 1.0)
    top = float(np.nanmax([snaps["class_distance"].max(), snaps["feature_distance"].max()]))
    _heatmap(fig, axes[1, 0], snaps["class_distance"], snaps,
             "identity distance, class rows", "magma", 0.0, top or 1.0)
    _heatmap(fig, axes[1, 1], snaps["feature_distance"], snaps,
             "identity distance, feature rows", "magma", 0.0,
             float(np.nanmax(snaps["feature_distance"])) or 1.0)
    fig.suptitle("Every layer during training")
    return fig


def _eigenvalues(snaps: Snapshots) -> np.ndarray:
    """Eigenvalues of J J^T at the snapshots with a spectrum, ``(S', J * W)``, floored at
    ZERO_FLOOR x max."""
    lam = snaps["singular_values"][snaps.has_spectrum].astype(np.float64) ** 2
    lam = lam.reshape(len(lam), -1)
    top = np.nanmax(lam, axis=1, keepdims=True)
    return np.maximum(lam, ZERO_FLOOR * np.where(top > 0, top, 1.0))


def plot_spectrum_over_time(snaps: Snapshots, law: Any, law_label: str) -> Figure:
    r"""The eigenvalues :math:`\lambda = s^2` of :math:`J J^T` (the layer stack's
    input-output Jacobian at :math:`x^0`) over training: their CDF at every snapshot
    (color = time) next to ``law`` (a :class:`~idmlp.theory.SpectralLaw` with ``cdf``,
    the theory at initialization), and the fraction of nonzero eigenvalues and the mean
    over time against the law's (at the snapshots that hold a spectrum)."""
    lam = _eigenvalues(snaps)
    at = np.flatnonzero(snaps.has_spectrum)  # snapshot indices
    s = len(lam)
    fig = Figure(figsize=(12, 4.6), layout="constrained")
    ax, ax2 = fig.subplots(1, 2, width_ratios=(1.4, 1))
    finite = lam[np.isfinite(lam)]
    lo = float(finite.min()) if finite.size else ZERO_FLOOR
    hi = float(finite.max()) if finite.size else 1.0
    grid = np.geomspace(min(lo, ZERO_FLOOR) / 2, max(hi, 1.0) * 2, 400)
    colors = colormaps["viridis"]
    for k in range(s):
        cdf = np.mean(lam[k][:, None] <= grid[None, :], axis=0)
        ax.step(grid, cdf, where="post", color=colors(k / max(1, s - 1)), lw=1.2)
    law_cdf = np.asarray(law.cdf(np.where(grid <= ZERO_FLOOR * max(hi, 1.0), 0.0, grid)))
    ax.step(grid, law_cdf, where="post", color="k", ls="--", lw=1.6, label=law_label)
    ax.set_xscale("log")
    ax.set_xlabel(r"eigenvalue $\lambda$ of $JJ^T$ (values $\leq 10^{-8}\,\lambda_{max}$ "
                  "drawn at the floor)")
    ax.set_ylabel(r"$P(\lambda \leq t)$")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    sm = ScalarMappable(Normalize(0, s - 1), colors)
    cb = fig.colorbar(sm, ax=ax, pad=0.01)
    cb.set_label("snapshot (step)")
    ticks = sorted({0, s // 2, s - 1})
    cb.set_ticks(ticks, labels=[str(int(snaps.steps[at[t]])) for t in ticks])
    top = np.nanmax(lam, axis=1, keepdims=True)
    nonzero = np.mean(lam > ZERO_FLOOR * top * 1.0000001, axis=1)
    x = at
    ax2.plot(x, nonzero, "o-", label="nonzero fraction")
    ax2.axhline(law.nonzero_fraction, color="k", ls="--", lw=1, label="law: nonzero fraction")
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_ylabel("fraction of nonzero eigenvalues")
    ax3 = ax2.twinx()
    sv = snaps["singular_values"][at].astype(np.float64)
    ax3.plot(x, np.mean(sv.reshape(s, -1) ** 2, axis=1), "s-", color="C3",
             label=r"mean $\lambda$")
    ax3.axhline(law.mean(), color="C3", ls=":", lw=1, label=r"law: mean $\lambda$")
    ax3.set_ylabel(r"mean $\lambda$", color="C3")
    # from 0, so that a change of a few percent does not look like a collapse
    means = [*np.mean(sv.reshape(s, -1) ** 2, axis=1), law.mean()]
    top = np.nanmax(np.asarray([m for m in means if m is not None], dtype=np.float64))
    if np.isfinite(top) and top > 0:
        ax3.set_ylim(0, 1.15 * top)
    _time_axis(ax2, snaps)
    handles = ax2.get_legend_handles_labels()[0] + ax3.get_legend_handles_labels()[0]
    ax2.legend(handles=handles, fontsize=8, loc="lower left")
    ax2.grid(alpha=0.3)
    j = len(snaps.meta.get("jacobian_samples", []))
    ax2.set_xlim(-0.5, len(snaps) - 0.5)
    fig.suptitle(f"Jacobian spectrum during training ({j} input(s), float64, at {s} of the "
                 f"{len(snaps)} snapshots)")
    return fig


def _image(a: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    return a.reshape(shape) if len(shape) == 2 else a.reshape(1, -1)


def _scale(maps: np.ndarray) -> tuple[str, float, float]:
    """``(cmap, vmin, vmax)``: a symmetric diverging scale, or a sequential one from 0 for
    maps that are never negative (the class evidence)."""
    vmax = _sym(maps)
    finite = maps[np.isfinite(maps)]
    if finite.size and finite.min() >= 0:
        return "viridis", 0.0, vmax
    return CMAP, -vmax, vmax


def _map_label(meta: dict) -> str:
    return {"evidence": "class evidence (true class)", "contributions": r"$x^\ell - x^0$",
            "change": r"$x^\ell - x^0$"}.get(meta.get("maps", "change"), str(meta.get("maps")))


def _sym(maps: np.ndarray, quantile: float = 0.99) -> float:
    v = np.abs(maps[np.isfinite(maps)])
    if not v.size:
        return 1.0
    top = float(np.quantile(v, quantile))
    return top if top > 0 else (float(v.max()) or 1e-8)


def _grid(fig: Figure, rows: int, cols: int) -> np.ndarray:
    """A ``rows x cols`` grid of image axes with fixed margins (a constrained layout costs
    seconds for a hundred axes, at every frame of an animation)."""
    return fig.subplots(rows, cols, squeeze=False, gridspec_kw={
        "left": 0.06, "right": 0.9, "bottom": 0.03, "top": 0.86, "wspace": 0.06,
        "hspace": 0.12})


def _columns(s: int, most: int = 16) -> list[int]:
    """At most ``most`` snapshot indices, evenly spread, first and last included."""
    return sorted({int(i) for i in np.rint(np.linspace(0, s - 1, min(s, most)))})


def plot_sample_maps_over_time(snaps: Snapshots, sample: int, layers: Sequence[int]) -> Figure:
    r"""The maps of one example at a few layers (rows) across training (columns); each
    cell shows the probability that layer gives the true class."""
    meta = snaps.meta
    if not 0 <= sample < len(meta["samples"]):
        raise ValueError(f"sample must lie in 0..{len(meta['samples']) - 1}, got {sample}")
    bad = [l for l in layers if not 1 <= l <= meta["depth"]]
    if bad:
        raise ValueError(f"layers must lie in 1..{meta['depth']}, got {bad[0]}")
    shape = meta["image_shape"]
    cols = _columns(len(snaps))
    maps = snaps["maps"][:, sample]  # (S, L, N)
    cmap, vmin, vmax = _scale(maps[np.ix_(cols, [l - 1 for l in layers])])
    label = meta["labels"][sample]
    names = meta.get("class_names") or [str(c) for c in range(meta["num_classes"])]
    fig = Figure(figsize=(1.05 * len(cols) + 1.2, 1.15 * len(layers) + 0.9))
    axes = _grid(fig, len(layers), len(cols))
    im = None
    for r, l in enumerate(layers):
        for c, k in enumerate(cols):
            ax = axes[r, c]
            im = ax.imshow(_image(maps[k, l - 1], shape), cmap=cmap, vmin=vmin, vmax=vmax,
                           interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            p = float(snaps["sample_probs"][k, sample, l - 1, label])
            ax.text(0.02, 0.02, f"{p:.2f}", transform=ax.transAxes, fontsize=6,
                    color="k", bbox={"facecolor": "white", "alpha": 0.6, "pad": 1, "lw": 0})
            if r == 0:
                ax.set_title(f"step {int(snaps.steps[k])}", fontsize=7)
            if c == 0:
                ax.set_ylabel(f"layer {l}", fontsize=8)
    fig.colorbar(im, cax=fig.add_axes((0.92, 0.15, 0.015, 0.65)), label=_map_label(meta))
    fig.suptitle(f"Example {meta['samples'][sample]} of the {meta['split']} subset "
                 f"(class {names[label]}): its maps during training; corner: p(true class)")
    return fig


def maps_animation(snaps: Snapshots, layers: Sequence[int]
                   ) -> tuple[Figure, Callable[[int], None]]:
    """A figure of the maps of every chosen example (columns) at ``layers`` (rows), and
    ``update(k)`` that shows snapshot ``k`` (frames of an animation)."""
    meta = snaps.meta
    shape = meta["image_shape"]
    k_samples = len(meta["samples"])
    idx = [l - 1 for l in layers]
    maps = snaps["maps"][:, :, idx]  # (S, k, m, N)
    cmap, vmin, vmax = _scale(maps)
    names = meta.get("class_names") or [str(c) for c in range(meta["num_classes"])]
    fig = Figure(figsize=(1.0 * k_samples + 1.0, 1.05 * len(layers) + 0.8))
    axes = _grid(fig, len(layers), k_samples)
    images = []
    for r, l in enumerate(layers):
        row = []
        for c in range(k_samples):
            ax = axes[r, c]
            row.append(ax.imshow(_image(maps[0, c, r], shape), cmap=cmap, vmin=vmin,
                                 vmax=vmax, interpolation="nearest"))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(names[meta["labels"][c]], fontsize=8)
            if c == 0:
                ax.set_ylabel(f"layer {l}", fontsize=8)
        images.append(row)
    title = fig.suptitle("")

    def update(k: int) -> None:
        for r in range(len(layers)):
            for c in range(k_samples):
                images[r][c].set_data(_image(maps[k, c, r], shape))
        title.set_text(f"maps during training: step {int(snaps.steps[k])} "
                       f"(epoch {snaps.epochs[k]:.2f})")

    update(0)
    return fig, update
