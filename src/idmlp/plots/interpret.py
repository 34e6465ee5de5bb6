r"""Figures of the layer-wise interpretation (:mod:`idmlp.analysis.interpret`) and the probe study.

Every function takes the result object, optionally saves a PNG (``path``, atomically, at
:data:`idmlp.plots.DPI`) and returns the :class:`matplotlib.figure.Figure`. Figures are
built with the object-oriented API (no pyplot state), so nothing needs closing.

Contribution maps :math:`x^\ell_{1..N} - x^0` use a diverging colormap centred at zero
with one symmetric range per figure, so colors compare across layers and examples.
Signals (1-D inputs) are drawn as curves over the signal (:mod:`idmlp.plots.signals`);
other inputs that are not 2-D images as 1-row strips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import ConfusionMatrixDisplay

from . import save_figure, series_style
from .signals import plot_evidence_shares

if TYPE_CHECKING:
    from ..analysis.interpret import Interpretation
    from ..analysis.probes import ProbeComparison

__all__ = [
    "plot_class_contributions",
    "plot_confusion_matrix",
    "plot_contribution_maps",
    "plot_identity_distance",
    "plot_layer_accuracy",
    "plot_probe_comparison",
    "save_interpretation",
    "save_interpretation_figures",
]

CMAP = "RdBu_r"
#: Sequential colormap of maps that are never negative (positive class evidence).
CMAP_POSITIVE = "viridis"
_MAP_LABELS = {
    "evidence": "class evidence for the true class (layers 1..l)",
    "evidence_signed": "signed class evidence for the true class (layers 1..l)",
    "change": r"change from the input $x^\ell - x^0$",
    "trained": r"what training changed $x^\ell - x^\ell_{\mathrm{id}}$",
}


def _map(interp: Interpretation, name: str | None, table: dict) -> tuple[str, np.ndarray]:
    name = interp.map_names[0] if name is None else name
    if name not in table:
        raise ValueError(f"map must be one of {', '.join(table)}; got {name!r}")
    return name, table[name]


def _map_range(maps: np.ndarray, quantile: float) -> tuple[float, float, bool, str]:
    """``(vmin, vmax, clipped, cmap)``: a symmetric diverging range, or ``[0, v]`` with a
    sequential colormap for maps that are never negative."""
    vmax, clipped = _sym_range(maps, quantile)
    finite = maps[np.isfinite(maps)]
    if finite.size and finite.min() >= 0:
        return 0.0, vmax, clipped, CMAP_POSITIVE
    return -vmax, vmax, clipped, CMAP


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def _layer_axis(ax: Axes, depth: int) -> None:
    ax.set_xlabel(r"layer $\ell$")
    ax.set_xlim(0.5, depth + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _as_strip(a: np.ndarray) -> np.ndarray:
    """A map as a 2-D array: images unchanged, anything else flattened to one row."""
    return a if a.ndim == 2 else a.reshape(1, -1)


def _check_quantile(quantile: float) -> float:
    if not 0.5 <= quantile <= 1.0:
        raise ValueError(f"quantile must lie in [0.5, 1], got {quantile!r}")
    return float(quantile)


def _sym_range(maps: np.ndarray, quantile: float = 1.0) -> tuple[float, bool]:
    """``v`` of the shared range ``[-v, v]``: the ``quantile`` of ``|maps|``; clipped?

    A few low-variance pixels, once standardized, can change far more than the rest; a
    high quantile keeps them from washing out every other map.
    """
    finite = np.abs(maps[np.isfinite(maps)])
    top = float(finite.max()) if finite.size else 0.0
    v = float(np.quantile(finite, quantile)) if finite.size and quantile < 1 else top
    if v <= 0:  # all-zero maps (identity init): any range shows white
        v = top if top > 0 else 1e-8
    return v, v < top


def _map_axes(ax: Axes, image: bool) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if not image:
        ax.set_frame_on(True)


def _map_grid(rows: int, cols: int, image: bool) -> tuple[Figure, np.ndarray]:
    """A grid of map cells with room for a one-line title per cell and a colorbar.

    Built without a layout engine (it is slow with ~100 axes); the tight bounding box at
    save time trims the margins.
    """
    cell_w, cell_h = (1.25, 1.25) if image else (2.2, 0.5)
    gap = 0.32  # inches between rows, for one line of 8-pt title
    fig = Figure(figsize=(cell_w * cols + 0.9, (cell_h + gap) * rows + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False,
                        gridspec_kw={"wspace": 0.08, "hspace": gap / cell_h})
    return fig, axes


def _colorbar(fig: Figure, im: object, axes: np.ndarray, label: str, clipped: bool) -> None:
    """The shared colorbar; a clipped scale says so in its label and with arrow ends."""
    height = fig.get_figheight()
    if clipped:
        label = f"{label}\n(scale clipped: values beyond it saturate)"
    fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.9 / fig.get_figwidth(), pad=0.01,
                 shrink=min(1.0, 4.0 / height) if height > 4 else 1.0, label=label,
                 extend="both" if clipped else "neither")


def _suptitle(fig: Figure, text: str, title_lines: int) -> None:
    """A figure title just above the first row's ``title_lines`` lines of 8-pt titles."""
    y = fig.subplotpars.top + (0.14 * title_lines + 0.08) / fig.get_figheight()
    fig.suptitle(text, y=y, va="bottom")


def _row_label(ax: Axes, text: str, image: bool) -> None:
    """Label a row of maps: vertical beside an image, horizontal beside a 1-row strip."""
    if image:
        ax.set_ylabel(text, fontsize=8)
    else:
        ax.set_ylabel(text.replace("\n", " "), fontsize=8, rotation=0, ha="right",
                      va="center")


def _select_layers(interp: Interpretation, layers: Sequence[int] | None) -> list[int]:
    if layers is None:
        return [int(v) for v in interp.layers]
    bad = [v for v in layers if not 1 <= int(v) <= interp.depth]
    if bad or not layers:
        raise ValueError(f"layers must be a non-empty list of integers in 1..{interp.depth}, "
                         f"got {list(layers)!r}")
    return sorted({int(v) for v in layers})


def plot_layer_accuracy(
    interp: Interpretation | Mapping[str, Interpretation],
    path: str | Path | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Recognition accuracy of every layer with its 95% Wilson interval (left, shaded) and
    mean true-class probability (right).

    Pass a mapping such as ``{"train": a, "test": b}`` to overlay several sets. The dashed
    line is chance level, ``1 / C``.
    """
    runs = dict(interp) if isinstance(interp, Mapping) else {"": interp}
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_acc, ax_p = fig.subplots(1, 2)
    for i, (label, it) in enumerate(runs.items()):
        x = np.arange(1, it.depth + 1)
        kw = {**series_style(i), "markersize": 3.5, "label": label or None}
        ax_acc.plot(x, it.accuracy, **kw)
        lo, hi = it.accuracy_interval()
        ax_acc.fill_between(x, lo, hi, color=kw["color"], alpha=0.2, linewidth=0,
                            label=f"{label + ': ' if label else ''}95% interval "
                                  f"({it.n} examples)")
        ax_p.plot(x, it.true_class_prob, **kw)
    first = next(iter(runs.values()))
    for ax, ylabel in ((ax_acc, "accuracy"), (ax_p, "mean p(true class)")):
        ax.axhline(1 / first.num_classes, color="0.5", linestyle="--", linewidth=1,
                   label="chance")
        _layer_axis(ax, first.depth)
        ax.set_ylabel(ylabel)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="best", framealpha=0.9)
    ax_acc.set_title("recognition accuracy of each layer's class block")
    ax_p.set_title("probability of the true class")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_contribution_maps(
    interp: Interpretation,
    path: str | Path | None = None,
    *,
    layers: Sequence[int] | None = None,
    max_samples: int | None = None,
    quantile: float = 0.995,
    map: str | None = None,  # noqa: A002 (the name of the map)
) -> Figure:
    r"""Maps of the chosen examples across layers.

    Rows are examples; the first column is the (scaled) input :math:`x^0`, the others the
    map ``map`` (default: the interpretation's default map, the class evidence; ``change``
    is the paper's :math:`x^\ell_{1..N} - x^0`) at ``layers`` (default: the
    interpretation's selected layers). Each map's title gives that layer's prediction and
    its probability (a check mark when right, a cross when wrong). One color range is
    shared by all maps: symmetric :math:`[-v, v]` centred at zero, or :math:`[0, v]` for a
    map that is never negative; :math:`v` is the ``quantile`` of their absolute values
    (``1.0``: the maximum; beyond it colors saturate and the colorbar shows arrows).
    """
    quantile = _check_quantile(quantile)
    sel = _select_layers(interp, layers)
    k = len(interp.sample_indices) if max_samples is None else min(max_samples,
                                                                   len(interp.sample_indices))
    if k == 0:
        raise ValueError("the interpretation holds no examples; pass sample_indices to interpret")
    image = interp.is_image
    name, maps = _map(interp, map, interp.sample_maps)
    maps = maps[:k, np.asarray(sel) - 1]
    if interp.is_signal:
        from .signals import plot_signal_maps

        return plot_signal_maps(interp, path, layers=sel, maps=maps, label=_MAP_LABELS[name],
                                max_samples=k, quantile=quantile)
    vmin, vmax, clipped, cmap = _map_range(maps, quantile)
    fig, axes = _map_grid(k, len(sel) + 1, image)
    names = interp.class_names
    im = None
    for r in range(k):
        label = int(interp.sample_labels[r])
        ax = axes[r, 0]
        ax.imshow(_as_strip(interp.sample_inputs[r]), cmap="gray", aspect="equal" if image
                  else "auto", interpolation="nearest")
        _map_axes(ax, image)
        _row_label(ax, f"#{int(interp.sample_indices[r])}\nlabel {names[label]}", image)
        if r == 0:
            ax.set_title("input $x^0$", fontsize=9)
        for j, layer in enumerate(sel):
            ax = axes[r, j + 1]
            im = ax.imshow(_as_strip(maps[r, j]), cmap=cmap, vmin=vmin, vmax=vmax,
                           aspect="equal" if image else "auto", interpolation="nearest")
            _map_axes(ax, image)
            pred = int(interp.sample_preds[r, layer - 1])
            p = float(interp.sample_probs[r, layer - 1, pred])
            head = f"layer {layer}\n" if r == 0 else ""
            right = pred == label
            ax.set_title(f"{head}{'✓' if right else '✗'} {names[pred]} ({p:.2f})", fontsize=8,
                         color="#0072B2" if right else "#D55E00")  # Okabe-Ito blue/vermillion
    _colorbar(fig, im, axes, _MAP_LABELS[name], clipped)
    _suptitle(fig, f"{_MAP_LABELS[name]}, across layers", 2)
    return _finish(fig, path)


def plot_class_contributions(
    interp: Interpretation, path: str | Path | None = None, *, quantile: float = 0.995,
    map: str | None = None,  # noqa: A002 (the name of the map)
) -> Figure:
    r"""Mean map of each class (rows) at the selected layers (columns).

    :math:`\bar m^\ell_k = \frac{1}{n_k}\sum_{i: y_i = k} m^\ell_i` for the map ``map``
    (default: the default map), one color range for the whole grid (``quantile`` as in
    :func:`plot_contribution_maps`).
    """
    quantile = _check_quantile(quantile)
    name, maps = _map(interp, map, interp.class_maps)
    maps = maps[:, interp.layers - 1]
    if interp.is_signal:
        from .signals import plot_signal_class_maps

        return plot_signal_class_maps(interp, path, maps=maps, label=_MAP_LABELS[name],
                                      quantile=quantile)
    c, m = maps.shape[:2]
    image = interp.is_image
    vmin, vmax, clipped, cmap = _map_range(maps, quantile)
    fig, axes = _map_grid(c, m, image)
    im = None
    for k in range(c):
        for j in range(m):
            ax = axes[k, j]
            im = ax.imshow(_as_strip(maps[k, j]), cmap=cmap, vmin=vmin, vmax=vmax,
                           aspect="equal" if image else "auto", interpolation="nearest")
            _map_axes(ax, image)
            if k == 0:
                ax.set_title(f"layer {int(interp.layers[j])}", fontsize=9)
            if j == 0:
                _row_label(ax, f"{interp.class_names[k]}\n(n={int(interp.class_counts[k])})",
                           image)
    _colorbar(fig, im, axes, "mean " + _MAP_LABELS[name], clipped)
    _suptitle(fig, f"mean map per class: {_MAP_LABELS[name]}", 1)
    return _finish(fig, path)


def plot_identity_distance(
    interp: Interpretation, path: str | Path | None = None
) -> Figure:
    r"""Relative distance of each learned :math:`W^\ell` from :math:`\sigma I`.

    Whole matrix, feature rows (first ``N``) and class rows (last ``C``), each normalized
    by the norm of the matching block of :math:`\sigma I`.
    """
    fig = Figure(figsize=(6, 3.8), layout="constrained")
    ax = fig.subplots()
    x = np.arange(1, interp.depth + 1)
    ax.plot(x, interp.identity_distance, "o-", color="k", markersize=3.5, label="whole matrix")
    ax.plot(x, interp.feature_distance, "s-", color="C0", markersize=3.5,
            label=f"feature block ({int(np.prod(interp.image_shape))} rows)")
    ax.plot(x, interp.class_distance, "^-", color="C3", markersize=3.5,
            label=f"class block ({interp.num_classes} rows)")
    _layer_axis(ax, interp.depth)
    ax.set_ylim(bottom=0)
    ax.set_ylabel(r"$\|W^\ell - \sigma I\|_F \,/\, \|\sigma I\|_F$")
    ax.set_title("distance of each layer's weights from the identity")
    ax.legend(frameon=False)
    return _finish(fig, path)


def plot_confusion_matrix(
    interp: Interpretation, path: str | Path | None = None, *, normalize: bool = False
) -> Figure:
    """Confusion matrix of the last layer (rows: true class, columns: predicted class).

    With ``normalize=True`` each row is divided by the class count (per-class recall).
    """
    cm = interp.confusion.astype(np.float64)
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    c = interp.num_classes
    size = min(max(4.0, 0.42 * c + 2.0), 16)
    fig = Figure(figsize=(size + 0.8, size), layout="constrained")
    ax = fig.subplots()
    long_names = max(len(s) for s in interp.class_names) > 3
    disp = ConfusionMatrixDisplay(cm if normalize else interp.confusion,
                                  display_labels=list(interp.class_names))
    disp.plot(ax=ax, cmap="Blues", colorbar=True, values_format=".2f" if normalize else "d",
              include_values=c <= 30, xticks_rotation=45 if long_names else "horizontal")
    acc = np.trace(interp.confusion) / max(interp.confusion.sum(), 1)
    ax.set_title(f"last layer (layer {interp.depth}): accuracy {acc:.4f}")
    return _finish(fig, path)


def plot_probe_comparison(
    comparison: ProbeComparison, path: str | Path | None = None
) -> Figure:
    """Test accuracy per layer: the built-in readout against linear probes.

    Lines: the interpretable MLP's own class block (no extra training), logistic-regression
    probes on a standard-init MLP's hidden layers, and (if computed) probes on the
    interpretable MLP's own features. The dotted line is the standard MLP's trained head.
    The accuracy axis starts just below the lowest curve.
    """
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    depth = len(comparison.readout_accuracy)
    x = np.arange(1, depth + 1)
    ax.plot(x, comparison.readout_accuracy, "o-", color="C0", markersize=4,
            label=f"built-in readout ({comparison.readout_seconds:.2g} s, 1 forward pass)")
    styles = (("standard", "s-", "C3", "probes on standard MLP"),
              ("own", "^--", "C2", "probes on interpretable MLP"))
    for attr, fmt, color, name in styles:
        res = getattr(comparison, attr)
        if res is not None:
            ax.plot(res.layers, res.test_accuracy, fmt, color=color, markersize=4,
                    label=f"{name} ({res.n_classifiers} fits, {res.total_seconds:.2g} s)")
    if comparison.standard_head_accuracy is not None:
        ax.axhline(comparison.standard_head_accuracy, color="C3", linestyle=":", linewidth=1.2,
                   label="standard MLP, trained head")
    curves = [comparison.readout_accuracy] + [r.test_accuracy for r in
                                              (comparison.standard, comparison.own) if r]
    low = max(0.0, min(float(np.min(c)) for c in curves) - 0.05)
    chance = 1 / comparison.num_classes
    if chance >= low:
        ax.axhline(chance, color="0.5", linestyle="--", linewidth=1, label="chance")
    _layer_axis(ax, depth)
    ax.set_ylim(low, 1.0 + 0.02 * (1.0 - low))
    ax.set_ylabel("test accuracy")
    ax.set_title("per-layer accuracy: built-in readout vs linear probes")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    return _finish(fig, path)


#: File names written by :func:`save_interpretation_figures`.
FIGURES = {
    "layer_accuracy": "layer_accuracy.png",
    "contribution_maps": "contribution_maps.png",
    "change_maps": "change_maps.png",
    "class_contributions": "class_contributions.png",
    "identity_distance": "identity_distance.png",
    "confusion_matrix": "confusion_matrix.png",
    "evidence_shares": "evidence_shares.png",
}


def save_interpretation_figures(
    interp: Interpretation, out_dir: str | Path, *, layers: Sequence[int] | None = None
) -> dict[str, Path]:
    """Write every interpretation figure as a PNG into ``out_dir``; return name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    makers = {
        "layer_accuracy": lambda p: plot_layer_accuracy(interp, p),
        "contribution_maps": lambda p: plot_contribution_maps(interp, p, layers=layers),
        "change_maps": lambda p: plot_contribution_maps(interp, p, layers=layers,
                                                        map="change"),
        "class_contributions": lambda p: plot_class_contributions(interp, p),
        "identity_distance": lambda p: plot_identity_distance(interp, p),
        "confusion_matrix": lambda p: plot_confusion_matrix(interp, p),
        "evidence_shares": lambda p: plot_evidence_shares(interp, p),
    }
    if not interp.evidence_shares:
        del makers["evidence_shares"]
    if len(interp.sample_indices) == 0:
        del makers["contribution_maps"], makers["change_maps"]
    if "change" not in interp.map_names:
        makers.pop("change_maps", None)
    paths = {}
    for name, make in makers.items():
        paths[name] = out / FIGURES[name]
        make(paths[name])
    return paths


def save_interpretation(interp: Interpretation, folder: str | Path) -> dict[str, Path]:
    """Write ``interpretation.json``, ``interpretation.npz`` and the figures of
    :mod:`idmlp.plots.interpret` into ``folder``; return the figures' paths by name."""
    folder = Path(folder)
    interp.save(folder / "interpretation.json")
    interp.save(folder / "interpretation.npz")
    return save_interpretation_figures(interp, folder)
