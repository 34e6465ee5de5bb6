"""The "During training" section: what a run's snapshots
(:class:`~idmlp.analysis.dynamics.Snapshots`) show in numbers, and their figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .section import Section

if TYPE_CHECKING:
    from ..analysis.dynamics import Snapshots

__all__ = ["dynamics_section"]


def dynamics_section(snaps: Snapshots, *, title: str = "During training",
                     figures: Mapping[str, Any] | None = None) -> Section:
    """The report section on the snapshots: what they show in numbers, and the figures.

    Args:
        snaps: the run's :class:`Snapshots` (:func:`load_snapshots`).
        title: the section's title.
        figures: already drawn figures by stem (``Figure`` or PNG paths, e.g. what
            :func:`plot_dynamics` returned); default: the heat maps, the Jacobian
            spectrum and the first example's maps, drawn here.
    """
    from ..analysis.dynamics import dynamics_figures, dynamics_summary
    from ..analysis.interpret import default_layers

    s = dynamics_summary(snaps)
    depth = snaps.meta["depth"]
    last = default_layers(depth, 4)
    sat = ", ".join(f"layer {l}: step {s['acc_step_90'][l - 1]}" for l in last)
    text = (f"{len(snaps)} snapshots at optimizer steps {', '.join(map(str, s['steps']))} "
            f"(log-spaced; {snaps.meta['steps_per_epoch']} steps per epoch), scored on the "
            f"first {s['subset']} examples of the {s['split']} split. Layer accuracy reaches "
            f"90% of its change at {sat}. Identity distance at the end: class rows "
            f"{np.mean(s['class_distance_end']):.3f}, feature rows "
            f"{np.mean(s['feature_distance_end']):.3f} (mean over layers); half of it is "
            f"reached at step {int(np.median(s['class_step_50']))} (class rows) and "
            f"{int(np.median(s['feature_step_50']))} (feature rows), medians over layers.")
    if "distance_log_slope" in s:
        text += (f" The mean identity distance grows like step^{s['distance_log_slope']:.2f}"
                 " (1 would be linear in steps).")
    section = Section(title).text(text)
    figs = dict(figures) if figures is not None else dynamics_figures(snaps, samples=(0,))
    captions = {
        "heatmaps": "Every layer over training (time = snapshot, log-spaced in steps): "
                    "accuracy, p(true class), identity distance of class and feature rows.",
        "jacobian_spectrum": "Eigenvalues of J J^T of the layer stack over training, "
                             "next to the theory's law at initialization.",
        "maps_sample0": "The maps of one example at a few layers across training.",
    }
    for stem, caption in captions.items():
        if stem in figs:
            section.figure(figs[stem], caption=caption)
    return section
