r"""Maps of 1-D signals drawn as curves over the signal, and the evidence shares per layer.

A map of an image is an image; a map of a signal ``(L,)`` or ``(C, L)`` is a curve over
the same positions. :func:`plot_signal_maps` draws, for every chosen example, its input
signal and the map at the selected layers as curves on a shared vertical range (so curves
compare across layers and examples, as one color range does for images);
:func:`plot_signal_class_maps` overlays the mean map of each class at the selected layers,
colored by depth. :func:`plot_evidence_shares` draws, per layer, how the class evidence
splits over the input-aligned features, the extra coordinates and the class coordinates
(:meth:`idmlp.nets.readout.LayerReadout.evidence_shares`): the share of the extra
coordinates is the part of the decision the input-aligned map cannot show.

The figures of :mod:`idmlp.plots.interpret` call these for signals
(:attr:`idmlp.analysis.interpret.Interpretation.is_signal`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import save_figure

if TYPE_CHECKING:
    from ..analysis.interpret import Interpretation

__all__ = ["plot_evidence_shares", "plot_signal_class_maps", "plot_signal_maps"]

_INPUT_COLOR = "0.55"


def _channels(a: np.ndarray) -> np.ndarray:
    """A signal or map as ``(C, L)``: ``(L,)`` gives one channel."""
    return a.reshape(1, -1) if a.ndim == 1 else a.reshape(a.shape[0], -1)


def _range(maps: np.ndarray, quantile: float) -> tuple[float, float]:
    """A shared vertical range: ``[0, v]`` for maps that are never negative, else
    ``[-v, v]``, with ``v`` the ``quantile`` of ``|maps|`` (at least a tiny positive)."""
    finite = maps[np.isfinite(maps)]
    if not finite.size:
        return -1.0, 1.0
    v = float(np.quantile(np.abs(finite), quantile))
    v = v if v > 0 else float(np.abs(finite).max()) or 1e-8
    return (0.0 if finite.min() >= 0 else -1.05 * v), 1.05 * v


def _rescaled(signal: np.ndarray, low: float, high: float) -> np.ndarray:
    """``signal`` drawn behind a map: its range mapped onto ``[low, high]`` (the map's)."""
    lo, hi = float(np.min(signal)), float(np.max(signal))
    if hi - lo <= 0:
        return np.full_like(signal, 0.5 * (low + high))
    return low + (signal - lo) * (high - low) / (hi - lo)


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_signal_maps(
    interp: Interpretation,
    path: str | Path | None = None,
    *,
    layers: Sequence[int],
    maps: np.ndarray,
    label: str,
    max_samples: int | None = None,
    quantile: float = 0.995,
) -> Figure:
    """The chosen examples' maps as curves: one row per example, the input signal first,
    then the map at each of ``layers`` (``maps``: ``(k, len(layers), *S)``), one shared
    vertical range; the input signal is repeated thinly in gray behind every map (scaled
    to the range), and each title gives that layer's prediction."""
    k = len(interp.sample_indices) if max_samples is None else min(
        max_samples, len(interp.sample_indices))
    if k == 0:
        raise ValueError("the interpretation holds no examples; pass sample_indices to interpret")
    maps = maps[:k]
    low, high = _range(maps, quantile)
    cols = len(layers) + 1
    fig = Figure(figsize=(1.9 * cols + 0.6, 1.15 * k + 0.8), layout="constrained")
    axes = fig.subplots(k, cols, squeeze=False, sharex=True)
    names = interp.class_names
    for r in range(k):
        x0 = _channels(interp.sample_inputs[r])
        pos = np.arange(x0.shape[1])
        shown = _rescaled(x0, low, high)
        ax = axes[r, 0]
        for ch, signal in enumerate(x0):
            ax.plot(pos, signal, color=f"C{ch}" if len(x0) > 1 else "k", linewidth=0.9)
        label_r = int(interp.sample_labels[r])
        ax.set_ylabel(f"#{int(interp.sample_indices[r])}\nlabel {names[label_r]}", fontsize=8)
        ax.tick_params(labelsize=6)
        if r == 0:
            ax.set_title("input $x^0$", fontsize=9)
        for j, layer in enumerate(layers):
            ax = axes[r, j + 1]
            m = _channels(maps[r, j])
            for ch in range(len(m)):
                ax.plot(pos, shown[ch], color=_INPUT_COLOR, linewidth=0.5, alpha=0.6)
                color = f"C{ch}" if len(m) > 1 else "#0072B2"
                ax.plot(pos, m[ch], color=color, linewidth=1.0)
                if low >= 0:
                    ax.fill_between(pos, 0, m[ch], color=color, alpha=0.25, linewidth=0)
            ax.axhline(0, color="0.8", linewidth=0.5)
            ax.set_ylim(low, high)
            ax.tick_params(labelsize=6, labelleft=False)
            pred = int(interp.sample_preds[r, layer - 1])
            p = float(interp.sample_probs[r, layer - 1, pred])
            head = f"layer {layer}\n" if r == 0 else ""
            right = pred == label_r
            ax.set_title(f"{head}{'✓' if right else '✗'} {names[pred]} ({p:.2f})", fontsize=8,
                         color="#0072B2" if right else "#D55E00")
    for ax in axes[-1]:
        ax.set_xlabel("position", fontsize=7)
    fig.suptitle(f"{label}, across layers (gray: the input, rescaled)", fontsize=10)
    return _finish(fig, path)


def plot_signal_class_maps(
    interp: Interpretation,
    path: str | Path | None = None,
    *,
    maps: np.ndarray,
    label: str,
    quantile: float = 0.995,
) -> Figure:
    """The mean map of each class (one panel per class, ``maps``: ``(C, m, *S)`` at the
    interpretation's selected layers) as curves over the signal, one per layer, colored
    from the first selected layer (light) to the last (dark); one shared vertical range."""
    c, m = maps.shape[:2]
    low, high = _range(maps, quantile)
    cols = min(c, 5)
    rows = -(-c // cols)
    fig = Figure(figsize=(2.6 * cols + 0.4, 2.0 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    shades = colormaps["viridis_r"](np.linspace(0.15, 0.95, m))
    for k in range(rows * cols):
        ax = axes[k // cols, k % cols]
        if k >= c:
            ax.set_axis_off()
            continue
        for j in range(m):
            curve = _channels(maps[k, j])
            for ch in range(len(curve)):
                ax.plot(np.arange(curve.shape[1]), curve[ch], color=shades[j], linewidth=1.0,
                        linestyle="-" if ch == 0 else "--",
                        label=f"layer {int(interp.layers[j])}" if k == 0 and ch == 0 else None)
        ax.axhline(0, color="0.8", linewidth=0.5)
        ax.set_ylim(low, high)
        ax.set_title(f"{interp.class_names[k]} (n={int(interp.class_counts[k])})", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6, frameon=False)
    fig.suptitle(f"mean map per class: {label}", fontsize=10)
    return _finish(fig, path)


def plot_evidence_shares(interp: Interpretation, path: str | Path | None = None) -> Figure:
    r"""Per layer, the mean share of the true class's evidence through the input-aligned
    features, the extra coordinates and the class coordinates of the layer before
    (:attr:`~idmlp.analysis.interpret.Interpretation.evidence_shares`), stacked to 1."""
    shares = interp.evidence_shares
    if not shares:
        raise ValueError("the interpretation has no evidence shares (a network without an "
                         "evidence split)")
    fig = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.subplots()
    x = np.arange(1, interp.depth + 1)
    parts = [("feature", "input-aligned features f (the map)", "#0072B2"),
             ("extra", "extra coordinates e", "#E69F00"),
             ("class", "class coordinates k", "#009E73")]
    bottom = np.zeros(interp.depth)
    for key, name, color in parts:
        values = np.nan_to_num(np.asarray(shares.get(key, np.zeros(interp.depth))))
        if key == "extra" and not values.any():
            continue  # a network without extra coordinates: no empty legend entry
        ax.bar(x, values, bottom=bottom, color=color, label=name, width=0.8)
        bottom += values
    ax.set_xlabel(r"layer $\ell$")
    ax.set_ylabel("share of |evidence|")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0.4, interp.depth + 0.6)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("where each layer's class evidence comes from")
    ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18),
              ncol=3)
    return _finish(fig, path)
