"""Sections of a layer-wise interpretation (:class:`~idmlp.analysis.interpret.Interpretation`):
per-layer accuracy, the maps, the distance of the weights from the identity, the last
layer's confusion matrix; and the table of the readout's maps with their clipping share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from ..nets.readout import MAPS
from .section import Num, Section
from .stats import format_percent, format_percent_interval

if TYPE_CHECKING:
    from ..analysis.interpret import Interpretation

__all__ = ["identity_distance_section", "interpretation_sections", "layer_table",
           "maps_section"]


def layer_table(interp: Interpretation) -> tuple[list[str], list[list[Any]]]:
    """Per-layer table of an interpretation: ``(header, rows)``; accuracies as
    percentages with their 95% Wilson interval."""
    header = ["layer", "accuracy (95% interval)", "mean p(true class)", "loss",
              "||W-σI|| (all)", "||W-σI|| (feature rows)", "||W-σI|| (class rows)"]
    lo, hi = interp.accuracy_interval()
    rows = [[i + 1, Num(format_percent_interval(interp.accuracy[i], lo[i], hi[i])),
             interp.true_class_prob[i], interp.loss[i], interp.identity_distance[i],
             interp.feature_distance[i], interp.class_distance[i]]
            for i in range(interp.depth)]
    return header, rows


def _acc_sentence(interp: Interpretation) -> str:
    lo, hi = interp.accuracy_interval()
    acc = interp.accuracy
    return (f"from {format_percent_interval(acc[0], lo[0], hi[0])} at layer 1 to "
            f"{format_percent_interval(acc[-1], lo[-1], hi[-1])} at layer {interp.depth}")


def identity_distance_section(interp: Interpretation,
                              figure: Figure | bytes | str | Path | None = None) -> Section:
    """How far each learned :math:`W^\\ell` moved from :math:`\\sigma I`: text + figure."""
    from ..plots import interpret as plots

    d = interp.identity_distance
    alt = (f"Line chart of the relative distance of each layer's weights from the identity "
           f"against the layer (1 to {interp.depth}): the whole matrix between {d.min():.3f} "
           f"and {d.max():.3f}, the feature rows between {interp.feature_distance.min():.3f} "
           f"and {interp.feature_distance.max():.3f}, the class rows between "
           f"{interp.class_distance.min():.3f} and {interp.class_distance.max():.3f}.")
    return Section("Distance from the identity").text(
        "How much training moved each layer's weights away from their identity "
        "initialization, relative to the identity itself: 0 means the layer still copies its "
        f"input; here every layer stays between {d.min():.3f} and {d.max():.3f}."
    ).figure(figure if figure is not None else plots.plot_identity_distance(interp),
             caption="||W^l − σI||_F / ||σI||_F for the whole matrix, its feature rows and its "
                     "class rows.", alt=alt)


def interpretation_sections(
    interp: Interpretation,
    *,
    split: str = "test",
    layers: Sequence[int] | None = None,
    figures: Mapping[str, Figure | bytes | str | Path] | None = None,
) -> list[Section]:
    """Static sections for a layer-wise interpretation: accuracy table and every figure.

    Figures are drawn with :mod:`idmlp.plots.interpret` unless ``figures`` already holds
    them, keyed as in :data:`idmlp.plots.interpret.FIGURES` (e.g. the paths returned by
    :func:`~idmlp.plots.interpret.save_interpretation_figures`), which avoids drawing twice.
    The interactive report (:func:`idmlp.report.write_interactive_report`) replaces all
    but the identity-distance figure with views of its own.
    """
    from ..plots import interpret as plots

    given = dict(figures or {})

    def fig(name: str) -> Figure | bytes | str | Path:
        if name in given:
            return given[name]
        if name == "contribution_maps":
            return plots.plot_contribution_maps(interp, layers=layers)
        return getattr(plots, f"plot_{name}")(interp)

    names = interp.class_names
    acc = Section("Per-layer accuracy").text(
        f"Every layer's class block read by the same rule, on the {split} split "
        f"({interp.n} examples): accuracy {_acc_sentence(interp)} (95% Wilson intervals).")
    acc.figure(fig("layer_accuracy"), caption="Accuracy and mean probability of the true "
               "class at every layer; dashed: chance level.",
               alt=f"Two line charts against the layer, 1 to {interp.depth}: the accuracy "
               f"{_acc_sentence(interp)}, and the mean probability of the true class from "
               f"{interp.true_class_prob[0]:.2f} to {interp.true_class_prob[-1]:.2f}; a "
               f"dashed line marks chance, {format_percent(1 / interp.num_classes, 0)}.")
    header, rows = layer_table(interp)
    acc.table(rows, header, caption=f"Every layer on the {split} split")
    maps = Section("Contribution maps").text(
        "Contribution map of layer l: the first N features of x^l minus the input x^0, drawn "
        "with one symmetric color scale (red: increased, blue: decreased).")
    if len(interp.sample_indices):
        shown = ", ".join(f"#{int(i)} ({names[int(c)]})" for i, c in
                          zip(interp.sample_indices[:6], interp.sample_labels[:6], strict=False))
        maps.figure(fig("contribution_maps"), caption="Chosen examples (rows) across layers; "
                    "titles give each layer's prediction and its probability.",
                    alt=f"Grid of images: one row per example ({shown}"
                    f"{', ...' if len(interp.sample_indices) > 6 else ''}), first the input in "
                    f"grey, then its contribution map at layers "
                    f"{', '.join(str(v) for v in (layers or interp.layers))} in red (increase) "
                    "and blue (decrease).")
    maps.figure(fig("class_contributions"),
                caption="Mean contribution map of each class at the selected layers.",
                alt=f"Grid of {interp.num_classes} rows (classes {', '.join(names)}) by "
                    f"{len(interp.layers)} columns (layers "
                    f"{', '.join(str(int(v)) for v in interp.layers)}) of mean maps in red "
                    "(increase) and blue (decrease).")
    weights = identity_distance_section(interp, given.get("identity_distance"))
    last = Section("Last layer").text(
        f"Which classes the last layer (layer {interp.depth}) confuses: rows are the true "
        "class, columns the predicted one.")
    off = interp.confusion - np.diag(np.diag(interp.confusion))
    i, j = np.unravel_index(int(np.argmax(off)), off.shape)
    last.figure(fig("confusion_matrix"),
                caption=f"Confusion matrix of layer {interp.depth} on the {split} split.",
                alt=f"A {interp.num_classes} by {interp.num_classes} grid of counts, true class "
                    f"down the rows and predicted class across the columns; "
                    f"{int(np.trace(interp.confusion))} of {interp.n} on the diagonal; the "
                    f"largest off-diagonal count is {int(off[i, j])} (true {names[i]}, "
                    f"predicted {names[j]}).")
    return [acc, maps, weights, last]


def maps_section(interp: Interpretation) -> Section:
    """The readout's maps: one sentence per map, the default first, and each map's
    clipping share at the first, middle and last layer."""
    sec = Section("The maps").text(
        "Every map comes from the one forward pass that also gives every layer's class "
        "scores. The clipping share is the R^2 of a map against the change the untrained "
        "identity network already makes (hard-tanh's clipping): 1 means the map shows only "
        "clipping, not learning.")
    sec.table([[name, MAPS[name]] for name in interp.map_names], ["map", "what it shows"],
              caption="The maps, the default one first")
    layers = sorted({1, interp.depth // 2 or 1, interp.depth})
    rows = [[name, *(float(interp.clipping_share[name][l - 1]) for l in layers)]
            for name in interp.map_names]
    return sec.table(rows, ["map", *(f"layer {l}" for l in layers)], digits=2,
                     caption="Clipping share (R^2 against the untrained network's change)")
