r"""ZerO's Theorem 1 as a figure: :math:`\operatorname{rank}(W^\ell - W^\ell_0)` during
training per layer, one line per initialization (:mod:`idmlp.analysis.degeneracy`).

Built with the object-oriented :class:`matplotlib.figure.Figure` (no pyplot state).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..analysis.degeneracy import DEGENERACY_INITS, RankTrajectory
from . import series_style

__all__ = ["degeneracy_figure"]

_STYLE = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
          "xtick.labelsize": 7, "ytick.labelsize": 7, "figure.titlesize": 9}
_NAMES = {"identity": "partial identity", "zero": "ZerO (Hadamard)", "idinit": "IDInit"}

def _style(init: str) -> dict[str, object]:
    i = DEGENERACY_INITS.index(init) if init in DEGENERACY_INITS else len(DEGENERACY_INITS)
    return {k: v for k, v in series_style(i).items() if k != "marker"}


def degeneracy_figure(trajectories: Sequence[RankTrajectory]) -> Figure:
    r"""One panel per layer: :math:`\operatorname{rank}(W^\ell - W^\ell_0)` against the
    training step for each initialization, Theorem 1's bound for the plain partial identity
    dashed (grey) where a widening came before the layer; a last panel with the training
    accuracy.

    Examples:
        >>> import torch
        >>> from idmlp.analysis.degeneracy import rank_trajectory
        >>> x, y = torch.randn(16, 4), torch.arange(16) % 2
        >>> t = [rank_trajectory(x, y, (4, 2, 4, 2), i, steps=4, batch_size=4,
        ...                      record_every=2) for i in ("identity", "zero")]
        >>> len(degeneracy_figure(t).axes)
        4
    """
    if not trajectories:
        raise ValueError("trajectories must hold at least one RankTrajectory")
    widths = trajectories[0].widths
    if any(t.widths != widths for t in trajectories):
        raise ValueError("every trajectory must have the same widths")
    n_layers = len(widths) - 1
    bound = trajectories[0].bound()
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(2.2 * (n_layers + 1) + 0.4, 2.6), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, n_layers + 1, sharex=True))
        for layer in range(n_layers):
            ax = axes[layer]
            n, m = widths[layer], widths[layer + 1]
            for t in trajectories:
                ax.plot(t.steps, t.ranks[:, layer], **_style(t.init), linewidth=1.4,
                        label=_NAMES.get(t.init, t.init))
            if bound[layer] is not None:
                ax.axhline(bound[layer], color="0.5", linestyle="--", linewidth=0.9,
                           label=f"bound {bound[layer]} (Theorem 1)")
            ax.set_ylim(-0.5, min(n, m) + 1.5)
            ax.set_title(f"layer {layer + 1}: {n} → {m}")
            ax.set_xlabel("SGD step")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("rank($W - W_0$)")
        last = axes[-1]
        for t in trajectories:
            last.plot(t.steps, t.accuracy, **_style(t.init), linewidth=1.4)
        last.set_ylim(0, 1.02)
        last.set_title("training accuracy")
        last.set_xlabel("SGD step")
        last.grid(alpha=0.3)
        handles, labels = [], []
        for ax in axes[:-1]:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels),
                   frameon=False)
        fig.suptitle("ZerO's training degeneracy: rank of each layer's change during "
                     f"training, widths {' → '.join(map(str, widths))}")
    return fig
