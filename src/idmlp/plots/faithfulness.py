r"""Figures of the faithfulness study (:mod:`idmlp.faithfulness`).

Every function takes a :class:`~idmlp.faithfulness.FaithfulnessResult`, optionally saves
a PNG (``path``, atomically, at :data:`idmlp.plots.DPI`) and returns the
:class:`matplotlib.figure.Figure` (object-oriented API, no pyplot state). A method keeps
its colour and marker in every figure (:func:`idmlp.plots.series_style`, by its position
among the result's methods); its variants share them and differ by line style and fill:
the signed map solid and filled, its positive part ``name+`` dashed and hollow,
``abs(name)`` dotted. Bands and error bars are the result's bootstrap intervals over
images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .._validation import check_choice
from . import save_figure, series_style

if TYPE_CHECKING:
    from ..faithfulness import FaithfulnessResult

__all__ = [
    "plot_auc",
    "plot_cost_vs_auc",
    "plot_layer_auc",
    "plot_perturbation_curves",
    "save_faithfulness_figures",
]

_MODES = ("deletion", "insertion")
_BETTER = {"deletion": "lower is better", "insertion": "higher is better"}


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def _methods(result: FaithfulnessResult, methods: Sequence[str] | None) -> list[str]:
    if methods is None:
        return result.names
    bad = [m for m in methods if m not in result.methods]
    if bad or not methods:
        raise ValueError(f"methods must be a non-empty list of {', '.join(result.names)}; "
                         f"got {list(methods)!r}")
    return list(methods)


def _variant(name: str) -> tuple[str, str]:
    """``(method, variant)`` of a result's name: ``x+`` -> ``(x, positive)``,
    ``abs(x)`` -> ``(x, abs)``, else ``(name, signed)``."""
    if name.endswith("+"):
        return name[:-1], "positive"
    if name.startswith("abs(") and name.endswith(")"):
        return name[4:-1], "abs"
    return name, "signed"


def _style(result: FaithfulnessResult, name: str) -> dict[str, object]:
    """Colour and marker of the method, line style and marker fill of the variant."""
    bases = list(dict.fromkeys(_variant(n)[0] for n in result.names))
    base, variant = _variant(name)
    style = series_style(bases.index(base))
    line = {"signed": "-", "positive": "--", "abs": ":"}[variant]
    face = style["color"] if variant == "signed" else "white"
    return {"color": style["color"], "marker": style["marker"], "linestyle": line,
            "markerfacecolor": face}


_MATH = {"x^l - x^0": r"$x^l - x^0$", "x^l - x^l_id": r"$x^l - x^l_{\mathrm{id}}$"}


def _label(name: str) -> str:
    """A method's name as the figures print it (the paper's maps in math type)."""
    base, variant = _variant(name)
    base = _MATH.get(base, base)
    return {"signed": base, "positive": f"{base}+", "abs": f"abs({base})"}[variant]


def _where(result: FaithfulnessResult, layer: int | None) -> str:
    if layer is None:
        return "at the output" if result.depth is None else f"at the last layer ({result.depth})"
    return f"at layer {layer}"


def _titled(fig: Figure, path: str | Path | None, result: FaithfulnessResult,
            layer: int | None, what: str) -> Figure:
    """The common title (images, where, the bootstrap level in ``what``), then save."""
    pct = round(100 * result.confidence)
    fig.suptitle(f"{result.n_images} images, {_where(result, layer)}; {what.format(pct=pct)}")
    return _finish(fig, path)


def plot_perturbation_curves(
    result: FaithfulnessResult,
    path: str | Path | None = None,
    *,
    methods: Sequence[str] | None = None,
    layer: int | None = None,
) -> Figure:
    """Deletion (left) and insertion (right) curves: mean over images with a pointwise band.

    The x axis is the fraction ``k / N`` of pixels removed (deletion) or put back
    (insertion); the y axis the score of the explained class (the result's ``score``).
    """
    names = _methods(result, methods)
    fig = Figure(figsize=(11, 4.2 + 0.13 * len(names)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    f = result.ks / result.n_features
    for ax, mode in zip(axes, _MODES, strict=True):
        for name in names:
            band = result.band(name, mode, layer)
            auc = float(result.auc(name, mode, layer).mean())
            style = _style(result, name)
            ax.plot(f, band.mean, color=style["color"], linestyle=style["linestyle"],
                    label=f"{_label(name)} ({auc:.3f})")
            ax.fill_between(f, band.low, band.high, color=style["color"], alpha=0.12,
                            linewidth=0)
        ax.set_xlabel("fraction of pixels " + ("removed" if mode == "deletion" else "inserted"))
        ax.set_title(f"{mode} (AUC in legend, {_BETTER[mode]})")
        ax.set_xlim(f[0], f[-1])
        ax.grid(alpha=0.3)
        # outside the axes: with ten methods an inside legend covers curves
        ax.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                  ncol=2)
    axes[0].set_ylabel(f"{result.score} of the explained class")
    return _titled(fig, path, result, layer, "bands: {pct}% bootstrap over images")


def plot_auc(
    result: FaithfulnessResult,
    path: str | Path | None = None,
    *,
    methods: Sequence[str] | None = None,
    layer: int | None = None,
) -> Figure:
    """Deletion and insertion AUC of every method, mean with its bootstrap interval."""
    names = _methods(result, methods)
    fig = Figure(figsize=(10, 0.45 * len(names) + 1.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    pos = np.arange(len(names))[::-1]
    for ax, mode in zip(axes, _MODES, strict=True):
        for p, name in zip(pos, names, strict=True):
            iv = result.interval(result.auc(name, mode, layer))
            style = _style(result, name)
            ax.errorbar(iv.mean, p, xerr=[[iv.mean - iv.low], [iv.high - iv.mean]],
                        fmt=str(style["marker"]), color=style["color"],
                        markerfacecolor=style["markerfacecolor"], capsize=3)
        ax.set_title(f"{mode} AUC ({_BETTER[mode]})")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(pos, [_label(n) for n in names])
    return _titled(fig, path, result, layer, "{pct}% bootstrap intervals")


def plot_cost_vs_auc(
    result: FaithfulnessResult,
    path: str | Path | None = None,
    *,
    mode: str = "insertion",
    methods: Sequence[str] | None = None,
) -> Figure:
    """AUC against measured seconds per explanation (log scale), one point per method.

    Methods given as precomputed maps (no measured time) are left out.
    """
    mode = check_choice("mode", mode, _MODES)
    names = [n for n in _methods(result, methods)
             if np.isfinite(result.methods[n].cost.seconds) and result.methods[n].cost.seconds > 0]
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for name in names:
        iv = result.interval(result.auc(name, mode))
        sec = result.methods[name].cost.seconds
        style = _style(result, name)
        ax.errorbar(sec, iv.mean, yerr=[[iv.mean - iv.low], [iv.high - iv.mean]],
                    fmt=str(style["marker"]), color=style["color"],
                    markerfacecolor=style["markerfacecolor"], capsize=3, label=_label(name))
    if names:
        ax.set_xscale("log")
        # a legend, not labels beside the points: methods of equal cost and AUC overlap
        ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_xlabel("seconds per explanation (same run)")
    ax.set_ylabel(f"{mode} AUC ({_BETTER[mode]})")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(f"cost against faithfulness, {_where(result, None)}")
    return _finish(fig, path)


def plot_layer_auc(
    result: FaithfulnessResult,
    path: str | Path | None = None,
    *,
    methods: Sequence[str] | None = None,
) -> Figure:
    """Deletion and insertion AUC at every measured layer (layer-l map against layer l's
    own logits), mean with a bootstrap band."""
    if not result.layers:
        raise ValueError("the result has no per-layer curves; evaluate with layers=[...]")
    names = _methods(result, methods)
    layers = np.asarray(result.layers)
    fig = Figure(figsize=(11, 4.2 + 0.13 * len(names)), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, mode in zip(axes, _MODES, strict=True):
        for name in names:
            ivs = [result.interval(result.auc(name, mode, int(l))) for l in layers]
            mean, low, high = (np.array([iv[i] for iv in ivs]) for i in range(3))
            style = _style(result, name)
            ax.plot(layers, mean, markersize=3, label=_label(name), **style)
            ax.fill_between(layers, low, high, color=style["color"], alpha=0.12, linewidth=0)
        ax.set_xlabel(r"layer $\ell$")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"{mode} AUC ({_BETTER[mode]})")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                  ncol=2)
    fig.suptitle(f"per-layer faithfulness, {result.n_images} images")
    return _finish(fig, path)


def save_faithfulness_figures(result: FaithfulnessResult, out_dir: str | Path
                              ) -> dict[str, Path]:
    """Write every figure of ``result`` into ``out_dir`` (which must exist); name -> path.

    ``faithfulness_curves.png``, ``faithfulness_auc.png``, ``faithfulness_cost.png`` and,
    with per-layer curves, ``faithfulness_layers.png``.
    """
    out = Path(out_dir)
    paths = {"curves": out / "faithfulness_curves.png", "auc": out / "faithfulness_auc.png",
             "cost": out / "faithfulness_cost.png"}
    plot_perturbation_curves(result, paths["curves"])
    plot_auc(result, paths["auc"])
    plot_cost_vs_auc(result, paths["cost"])
    if result.layers:
        paths["layers"] = out / "faithfulness_layers.png"
        plot_layer_auc(result, paths["layers"])
    return paths
