r"""The trainability study of the identity family (``idmlp plot-sweep``'s ``inits`` figure).

:func:`inits_figure`: one column per initialization scheme
(:func:`idmlp.sweep.study.scheme_cells`), depth on the x axis, one line per scale
:math:`(\sigma, q_0)`:

- top: the accuracy (mean :math:`\pm` standard deviation over seeds), chance dotted;
- middle and bottom: the theory's isometry measure at initialization next to it, the mean
  eigenvalue of :math:`J J^T` (1 for an isometry) and the fraction of its eigenvalues that
  are not zero (1 for an isometry): theory at the measured inputs (the sweep's ``data_*``
  columns) as lines, measured at initialization as open markers (a column without lines
  has no closed form there).

Built with the object-oriented :class:`matplotlib.figure.Figure` (no pyplot state).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..sweep.study import scheme_cells
from . import series_style

__all__ = ["inits_figure"]

_STYLE = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
          "xtick.labelsize": 7, "ytick.labelsize": 7, "figure.titlesize": 9}
_LABELS = {"test_acc": "test accuracy", "train_acc": "train accuracy"}
#: Mean eigenvalues are drawn within [1/_CLIP, _CLIP] (log axis); beyond, at the edge.
_CLIP = 1e12


def _clip(values: Sequence[float]) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(v) & (v > 0), np.clip(v, 1 / _CLIP, _CLIP), np.nan)


def inits_figure(rows: Sequence[dict[str, Any]], *, metric: str = "test_acc") -> Figure:
    r"""Accuracy against depth per initialization scheme, with the theory's isometry
    measure at initialization next to it (see the module docstring).

    Args:
        rows: result rows of one or several sweeps (:func:`idmlp.sweep.read_results`),
            e.g. the MLP's identity family and the residual arm.
        metric: ``test_acc`` or ``train_acc``.

    Examples:
        >>> row = {"arch": "mlp", "init": "zero", "depth": 10, "sigma": 1.0, "q0": 0.1,
        ...        "status": "ok", "test_acc": 0.9, "train_acc": 0.95,
        ...        "steps_to_target": 40, "weight_distance": 0.2, "diverged": False,
        ...        "theory_mean_eig": 1.0, "theory_nonzero_frac": 1.0, "init_mean_eig": 1.0,
        ...        "init_nonzero_frac": 1.0, "num_classes": 10}
        >>> len(inits_figure([row, {**row, "depth": 50}]).axes)
        3
    """
    cells = scheme_cells(rows, metric)
    points = sorted({key[1:] for c in cells.values() for key in c})
    several_q0 = len({q for _, q in points}) > 1
    style = {p: series_style(i) for i, p in enumerate(points)}
    depths = sorted({key[0] for c in cells.values() for key in c})
    ok = [r for r in rows if r.get("status") == "ok"]
    num_classes = next((r.get("num_classes") for r in ok if r.get("num_classes")), None)
    with matplotlib.rc_context(_STYLE):
        n = len(cells)
        fig = Figure(figsize=(2.0 * n + 0.8, 5.6), layout="constrained")
        axes = np.atleast_2d(fig.subplots(3, n, squeeze=False, sharex=True, sharey="row"))
        for j, (label, by_point) in enumerate(cells.items()):
            top, mid, low = axes[:, j]
            for point in points:
                keys = [(d, *point) for d in depths if (d, *point) in by_point]
                if not keys:
                    continue
                x = [k[0] for k in keys]
                c = [by_point[k] for k in keys]
                color, marker = style[point]["color"], style[point]["marker"]
                top.errorbar(x, [v.metric for v in c], yerr=[v.metric_std for v in c],
                             color=color, marker=marker, markersize=3.5, capsize=2,
                             linewidth=1.2, linestyle=style[point]["linestyle"])
                mid.plot(x, _clip([v.theory_mean for v in c]), color=color, linewidth=1.2)
                mid.plot(x, _clip([v.init_mean for v in c]), color=color, marker=marker,
                         markersize=4, markerfacecolor="none", linestyle="none")
                low.plot(x, [v.theory_nonzero for v in c], color=color, linewidth=1.2)
                low.plot(x, [v.init_nonzero for v in c], color=color, marker=marker,
                         markersize=4, markerfacecolor="none", linestyle="none")
            if not any(math.isfinite(v.theory_mean) for v in by_point.values()):
                mid.text(0.5, 0.5, "no closed form", transform=mid.transAxes, ha="center",
                         va="center", fontsize=7, color="0.4")
            top.set_title(label)
            if num_classes:
                top.axhline(1 / num_classes, color="0.5", linestyle=":", linewidth=1)
            mid.axhline(1.0, color="0.5", linestyle=":", linewidth=1)
            low.axhline(1.0, color="0.5", linestyle=":", linewidth=1)
            for ax in (top, mid, low):
                ax.set_xscale("log")
                ax.grid(alpha=0.3)
            mid.set_yscale("log")
            low.set_xlabel("depth L")
            low.set_xticks(depths)
            low.set_xticklabels([str(d) for d in depths])
            low.minorticks_off()
        axes[0, 0].set_ylim(0, 1.02)
        axes[2, 0].set_ylim(-0.02, 1.05)
        axes[0, 0].set_ylabel(f"{_LABELS[metric]}\n(mean ± sd over seeds)")
        axes[1, 0].set_ylabel("mean eigenvalue of $JJ^T$\nat init (1: isometry)")
        axes[2, 0].set_ylabel("nonzero fraction\nat init (1: isometry)")
        handles = [Line2D([], [], **style[p], linewidth=1.2,
                          label=f"σ={p[0]:g}" + (f", $q_0$={p[1]:g}" if several_q0 else ""))
                   for p in points]
        handles += [Line2D([], [], color="0.3", linewidth=1.2, label="theory at init"),
                    Line2D([], [], color="0.3", marker="o", markerfacecolor="none",
                           linestyle="none", label="measured at init")]
        width = 2.0 * n + 0.8  # inches; about 1.7 in per legend entry
        fig.legend(handles=handles, loc="outside lower center",
                   ncols=max(1, min(len(handles), int(width / 1.7))), frameon=False)
        r0 = ok[0]
        fig.suptitle(f"{_LABELS[metric].capitalize()} against depth per initialization, next "
                     f"to the theory's isometry measure at initialization\n{r0['dataset']}, "
                     f"{r0['steps']} steps, lr {r0['lr']:g} (mean eigenvalues clipped to "
                     f"1e±{int(math.log10(_CLIP))})"
                     if "dataset" in r0 and "steps" in r0 and "lr" in r0 else
                     f"{_LABELS[metric].capitalize()} against depth per initialization")
    return fig
