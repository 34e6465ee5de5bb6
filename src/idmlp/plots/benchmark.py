"""The figure of ``idmlp benchmark`` (:mod:`idmlp.benchmark`): test accuracy of every model
on every dataset, bars with 95 % intervals, and the published numbers as marks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from . import save_figure

__all__ = ["plot_benchmark"]

# Okabe-Ito colors, one per model in table order
_COLORS = ("#999999", "#E69F00", "#56B4E9", "#0072B2", "#009E73", "#D55E00", "#CC79A7")


def plot_benchmark(rows: Sequence[Mapping[str, Any]], path: str | Path | None = None, *,
                   published: Mapping[str, Mapping[str, float]] | None = None) -> Figure:
    """Grouped bars: one group per dataset, one bar per model (test accuracy, 95 % Wilson
    interval as an error bar); failed or skipped models leave a gap. ``published``:
    ``{dataset: {name: accuracy}}`` drawn as dashed marks across the dataset's group (what
    :data:`idmlp.benchmark.runner.PUBLISHED` holds)."""
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    labels = {r["model"]: r["label"] for r in rows}
    find = {(r["dataset"], r["model"]): r for r in rows}
    width = 0.8 / max(len(models), 1)
    fig = Figure(figsize=(max(6.0, 1.6 * len(datasets) * max(1, len(models)) / 3 + 2), 4.2),
                 layout="constrained")
    ax = fig.subplots()
    low = 1.0
    for j, model in enumerate(models):
        xs, ys, err = [], [], [[], []]
        for i, d in enumerate(datasets):
            r = find.get((d, model))
            if r is None or r.get("status") != "ok":
                continue
            xs.append(i - 0.4 + width * (j + 0.5))
            ys.append(r["test_accuracy"])
            err[0].append(r["test_accuracy"] - r["ci_low"])
            err[1].append(r["ci_high"] - r["test_accuracy"])
            low = min(low, r["ci_low"])
        ax.bar(xs, ys, width * 0.92, yerr=np.asarray(err) if xs else None, capsize=2,
               color=_COLORS[j % len(_COLORS)], label=labels[model])
    for i, d in enumerate(datasets):
        for name, value in (published or {}).get(d, {}).items():
            ax.hlines(value, i - 0.45, i + 0.45, colors="0.25", linestyles="--", linewidth=0.8)
            ax.annotate(f"{name} (published)", (i + 0.45, value), fontsize=6, va="center",
                        ha="left", color="0.25", xytext=(2, 0), textcoords="offset points")
            low = min(low, value)
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("test accuracy with 95 % intervals (same splits, chosen on validation)")
    ax.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08),
              ncol=min(len(models), 5))
    if path is not None:
        save_figure(fig, path)
    return fig
