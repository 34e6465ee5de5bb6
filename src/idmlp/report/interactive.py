"""The sections of the interactive page, from a :class:`~idmlp.report.ReportData`.

"How to read this report" (with the architecture diagram, ``templates/blocks/diagram``),
"Every layer as a classifier", "Mean map of each class", "Examples", the confusion
matrix, "Training", and the configuration with the timings. The views themselves are
drawn in the browser by ``assets/report.js`` from the page's JSON; these sections give
them their places (template blocks), their words and their tables.
"""

from __future__ import annotations

import math

import numpy as np

from .data import ReportData
from .run import config_section
from .section import Num, Section
from .stats import format_percent, format_percent_interval

__all__ = ["config_and_timings", "view_sections"]

_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _how_to_read(d: ReportData) -> Section:
    m = d.model
    N, C, L = m.in_features, m.num_classes, m.depth
    shape = " × ".join(str(s) for s in m.image_shape)
    sec = Section("How to read this report", anchor="how-to-read").text(
        f"The model is a deep network whose every layer has the same width, N + C = "
        f"{N} + {C} = {m.width}: N = {N} features that start as the input ({shape}) and "
        f"C = {C} class scores that start at zero. Every layer is initialized to copy its "
        f"input (W = σI with σ = {m.sigma:g}); training changes the weights a little. "
        f"Because the class scores are read by the same rule after every layer, each of "
        f"the {L} layers is a classifier of its own, and because the features keep the "
        f"input's layout, they can be drawn as images.")
    sec.template("diagram", N=N, C=C, L=L, activation=m.activation,
                 last="x" + str(L).translate(_SUPERSCRIPT))
    terms = [
        ("x^l", f"The state after layer l = 1..{L}: x^l = φ(W^l x^(l−1)) with φ = "
                f"{m.activation}; x^0 = (u, 0) is the scaled input followed by C zeros."),
        ("layer slider", "Chooses the layer l that every map, the per-layer plot and the "
                         "probability heat maps show."),
        ("p(class | layer l)", f"softmax(s · x^l[N:]) with s = {m.logit_scale:g}: the class "
                               "probabilities that layer l's class scores give."),
        ("accuracy of layer l", f"The share of the {d.n} {d.split} examples whose most "
                                "probable class at layer l is the true one; in brackets its "
                                "95% Wilson interval, the range that the accuracy on new "
                                "data from the same source falls in 19 times out of 20."),
        ("mean p(true class)", "The probability layer l gives to the true class, averaged "
                               "over the examples: higher is more confident and right."),
        *((ms.title, ms.description) for ms in d.maps.values()),
        ("mean map of a class", "The map averaged over every example of that class, not "
                                "only the embedded ones."),
        ("confusion matrix", f"Counts of the last layer (layer {L}): rows are the true "
                             "class, columns the predicted one, right answers on the "
                             "diagonal."),
        ("✓ and ✗", "A right (✓, green) or wrong (✗, orange-red) prediction; the symbol "
                    "carries the meaning, the colour only repeats it."),
        ("training curves", "Loss and accuracy after every epoch on the training data "
                            "(running average over the epoch) and on the test split."),
        *d.glossary,
    ]
    return sec.glossary(terms)


def _layers_section(d: ReportData) -> Section:
    L = d.depth
    sec = Section("Every layer as a classifier", anchor="layers").text(
        f"The accuracy of each layer's class scores on the {d.split} split ({d.n} examples), "
        "with its 95% interval as a shaded band, and the mean probability of the true class. "
        "Move the layer slider, or click the plot, to pick a layer.").template("layers_chart")
    header = ["layer", "accuracy (95% interval)", "mean p(true class)",
              *[c.label for c in d.curves], *d.layer_columns]
    rows = []
    for i in range(L):
        row = [i + 1, Num(format_percent_interval(d.accuracy[i], *d.accuracy_ci[i])),
               float(d.true_class_prob[i])]
        for c in d.curves:
            v = float(np.asarray(c.values)[i])
            if c.lower is not None and math.isfinite(v):
                row.append(Num(format_percent_interval(v, float(np.asarray(c.lower)[i]),
                                                       float(np.asarray(c.upper)[i]))))
            else:
                row.append(Num(format_percent(v)) if math.isfinite(v) else None)
        row += [float(np.asarray(col)[i]) for col in d.layer_columns.values()]
        rows.append(row)
    inner = Section("inner").table(rows, header, caption=f"Every layer on the {d.split} split")
    return sec.details("The numbers of every layer", inner)


def _class_maps_section(d: ReportData) -> Section | None:
    if not any(ms.class_means is not None for ms in d.maps.values()):
        return None
    return Section("Mean map of each class", anchor="class-maps").text(
        f"The chosen map at the chosen layer, averaged over all {d.split} examples of each "
        "class.").template("class_maps")


def _browser_section(d: ReportData) -> Section:
    m = len(d.example_ids)
    k = max((len(ms.indices) for ms in d.maps.values()), default=0)
    note = (f"All {d.n} examples of the {d.split} split are embedded"
            if m == d.n else f"{m} of the {d.n} examples of the {d.split} split are embedded "
            "(the errors first, then round robin over the classes)")
    maps_note = (f"; maps are embedded for {k} of them (the last layer's errors first, then a "
                 "few of each class) to keep the file small" if d.maps and k < m else "")
    return Section("Examples", anchor="browser").text(
        f"Pick a group of examples, then an example, to see its input, its map at the chosen "
        f"layer and the class probabilities of every layer. {note}{maps_note}."
    ).template("browser")


def _confusion_section(d: ReportData) -> Section:
    cm = d.confusion
    C = len(cm)
    names = d.class_names
    frac = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    rows = []
    for i in range(C):
        row = []
        for j in range(C):
            shade = 0.08 + 0.92 * float(frac[i, j]) if cm[i, j] else 0.0
            row.append({"true": i, "pred": j, "count": int(cm[i, j]), "diag": i == j,
                        "shade": shade, "dark": shade > 0.55})
        rows.append(row)
    L = d.depth
    acc = np.trace(cm) / cm.sum()
    off = cm - np.diag(np.diag(cm))
    i, j = np.unravel_index(int(np.argmax(off)), off.shape)
    worst = (f" The most frequent confusion is true {names[i]} predicted as {names[j]} "
             f"({int(off[i, j])} examples)." if off.max() > 0 else "")
    return Section("Last layer: which classes it confuses", anchor="confusion").text(
        f"The last layer gets {int(np.trace(cm))} of {int(cm.sum())} {d.split} examples right "
        f"({format_percent_interval(acc, *d.accuracy_ci[-1])}); shading is the share of each "
        f"row.{worst}").template(
        "confusion", names=list(names), rows=rows,
        caption=f"Layer {L}: true class (rows) by predicted class (columns); click a count "
                "to list its examples")


def _training_section(d: ReportData) -> Section:
    t = d.training
    sec = Section("Training", anchor="training")
    if t is None:
        return sec.text("No completed epoch is recorded for this model.")
    sec.text(f"Loss and accuracy after each of the {len(t.epoch)} epochs, on the training data "
             "(running average over the epoch's batches) and on the test split. "
             f"Training took {t.seconds[-1]:.1f} s (cumulative time in the last column).")
    sec.template("training_charts")

    def pct(v: float) -> Num | None:
        return Num(format_percent(v)) if math.isfinite(v) else None

    def num(v: float, fmt: str) -> Num | None:
        return Num(format(v, fmt)) if math.isfinite(v) else None

    rows = [[int(t.epoch[e]), num(t.train_loss[e], ".3f"), pct(t.train_acc[e]),
             num(t.test_loss[e], ".3f"), pct(t.test_acc[e]), num(t.seconds[e], ".1f")]
            for e in range(len(t.epoch))]
    inner = Section("inner").table(
        rows, ["epoch", "train loss", "train accuracy", "test loss", "test accuracy",
               "training time (s, cumulative)"],
        caption="Per-epoch metrics")
    return sec.details("The numbers of every epoch", inner)


def config_and_timings(d: ReportData) -> Section:
    """The configuration section, with the table of timings first when there are any."""
    sec = config_section(d.config, command=d.command, versions=d.versions)
    if d.timings:
        total = sum(d.timings.values())
        rows = [[k, Num(f"{v:.1f}")] for k, v in d.timings.items()]
        if len(rows) > 1:
            rows.append(["total", Num(f"{total:.1f}")])
        timing = Section("Time").text(
            "Where the time went; every timing in this report comes from this table.").table(
            rows, ["stage", "seconds"], caption="Wall-clock time of each stage")
        sec.blocks = timing.blocks + sec.blocks
    return sec


def view_sections(d: ReportData) -> list[Section]:
    """"How to read this report", then the sections of the interactive views (under the
    layer slider): layers, class means (when there are any), examples, confusion,
    training."""
    views = [_how_to_read(d), _layers_section(d)]
    cls_maps = _class_maps_section(d)
    if cls_maps is not None:
        views.append(cls_maps)
    return [*views, _browser_section(d), _confusion_section(d), _training_section(d)]
