"""Static building blocks of the report: sections of text, tables and embedded figures.

All text is escaped with :func:`html.escape`; only :meth:`Section.html` inserts raw
(trusted) markup. Every table has a caption and scrolls inside its own box on a narrow
screen; every figure has an alt text that describes the image (drawn from a matplotlib
:class:`~matplotlib.figure.Figure` by :func:`describe_figure` when not given) and opens
full size on a click.

Build :class:`Section` objects and pass them to :func:`idmlp.report.write_report`::

    sec = Section("Per-layer accuracy").text("Test split, 1,000 images.")
    sec.table(rows, header=["layer", "accuracy"], caption="Accuracy of every layer")
    sec.figure(fig, caption="accuracy vs layer")
    write_report("report.html", title="idmlp: mnist5k", sections=[sec])

Ready-made sections for the package's results: :func:`config_section`,
:func:`training_section`, :func:`interpretation_sections`,
:func:`identity_distance_section`, :func:`baseline_section` and :func:`probe_section`.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from ..train.evaluate import wilson_interval
from .stats import format_percent, format_percent_interval

if TYPE_CHECKING:
    from ..analysis.interpret import Interpretation
    from ..analysis.probes import ProbeComparison

__all__ = [
    "Num",
    "Section",
    "baseline_section",
    "config_section",
    "describe_figure",
    "identity_distance_section",
    "interpretation_sections",
    "layer_table",
    "probe_section",
    "training_section",
]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Num(str):
    """Preformatted numeric text: escaped like any text, right-aligned in a table."""

    __slots__ = ()


def _cell(value: Any, digits: int | None) -> tuple[str, bool]:
    """Escaped text of a table cell and whether it is numeric (right-aligned).

    Floats get ``digits`` decimals (scientific notation outside [1e-3, 1e6)), or the
    shortest round-trip form with ``digits=None``.
    """
    if value is None:
        return "&ndash;", False
    if isinstance(value, Num):
        return html.escape(str(value)), True
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, numbers.Integral):
        return str(int(value)), True
    if isinstance(value, numbers.Real):
        v = float(value)
        if not math.isfinite(v) or digits is None:
            return html.escape(repr(v)), True
        return (f"{v:.{digits}f}" if 1e-3 <= abs(v) < 1e6 or v == 0 else f"{v:.{digits}g}"), True
    if isinstance(value, (list, tuple)):
        return html.escape(", ".join(str(v) for v in value)), False
    return html.escape(str(value)), False


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def _png_bytes(figure: Figure | bytes | str | Path) -> bytes:
    if isinstance(figure, Figure):
        from ..plots import figure_png

        return figure_png(figure)
    if isinstance(figure, (str, Path)):
        path = Path(figure)
        if not path.is_file():
            raise ValueError(f"figure {path} does not exist; give a PNG file, PNG bytes or a "
                             "matplotlib Figure")
        data = path.read_bytes()
    elif isinstance(figure, (bytes, bytearray)):
        data = bytes(figure)
    else:
        raise ValueError("figure must be a matplotlib Figure, PNG bytes or a PNG file path, "
                         f"got {type(figure).__name__}")
    if not data.startswith(_PNG_MAGIC):
        raise ValueError("figure is not a PNG image (only PNG is embedded in the report)")
    return data


def _plain(text: str) -> str:
    """Matplotlib label text without mathtext markup: ``$q_0$`` -> ``q0``."""
    text = re.sub(r"\\(mathrm|mathbf|mathit|operatorname)\{([^}]*)\}", r"\2", text)
    text = text.replace("$", "").replace("\\,", " ").replace("\\", "").replace("_", "")
    return re.sub(r"[{}^]", "", text).strip()


def _range(lo: float, hi: float) -> str:
    return f"{lo:.3g} to {hi:.3g}"


def describe_figure(fig: Figure) -> str:
    """An alt text that describes a matplotlib figure: per panel its kind (line chart,
    heat map, bars), title, axes with their ranges and the legend's entries.

    Examples:
        >>> fig = Figure()
        >>> ax = fig.subplots()
        >>> _ = ax.plot([1, 2, 3], [0.5, 0.7, 0.9], label="test")
        >>> _ = ax.set(title="accuracy", xlabel="layer", ylabel="accuracy")
        >>> _ = ax.legend()
        >>> describe_figure(fig)
        'Line chart "accuracy": x axis layer from 0.9 to 3.1, y axis accuracy from 0.48 to 0.92; lines: test.'
    """  # noqa: E501
    panels = []
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison and not ax.images:
            continue
        if ax.get_label() == "<colorbar>":
            continue
        kind = ("Heat map" if ax.images or any(type(c).__name__ == "QuadMesh"
                                               for c in ax.collections)
                else "Bar chart" if ax.patches and not ax.lines
                else "Line chart" if ax.lines or ax.collections else "Panel")
        parts = [kind + (f' "{_plain(ax.get_title())}"' if ax.get_title() else "")]
        axes_txt = []
        for name, label, lim in (("x", ax.get_xlabel(), ax.get_xlim()),
                                 ("y", ax.get_ylabel(), ax.get_ylim())):
            if label:
                axes_txt.append(f"{name} axis {_plain(label)} from {_range(*lim)}")
        text = parts[0] + (": " + ", ".join(axes_txt) if axes_txt else "")
        _, labels = ax.get_legend_handles_labels()
        labels = [_plain(lb) for lb in labels if lb and not lb.startswith("_")]
        if labels:
            text += "; lines: " + ", ".join(labels)
        panels.append(text)
    if not panels:
        return "An empty figure."
    title = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    head = f'Figure "{_plain(title)}" with {len(panels)} panels. ' if len(panels) > 1 else ""
    if len(panels) > 6:
        panels = panels[:6] + [f"and {len(panels) - 6} more panels like these"]
    return head + "; ".join(panels) + "."


class Section:
    """One titled section of a report: a list of blocks, rendered in order.

    Every adder returns the section, so calls chain.

    Args:
        title: the section heading (plain text).
        anchor: the ``id`` used by the table of contents (default from the title).
    """

    def __init__(self, title: str, *, anchor: str | None = None) -> None:
        self.title = str(title)
        slug = "".join(ch if ch.isalnum() else "-" for ch in (anchor or self.title).lower())
        self.anchor = "-".join(filter(None, slug.split("-"))) or "section"
        self.blocks: list[str] = []

    def text(self, text: str) -> Section:
        """A paragraph of plain text (escaped; blank lines split paragraphs)."""
        for para in str(text).split("\n\n"):
            if para.strip():
                self.blocks.append(f"<p>{html.escape(para.strip())}</p>")
        return self

    def table(
        self,
        rows: Sequence[Sequence[Any]],
        header: Sequence[str] | None = None,
        *,
        caption: str,
        digits: int | None = 3,
    ) -> Section:
        """A table of ``rows`` (sequences of cells) under an optional ``header``.

        Every table has a ``caption`` (a short title, plain text). Floats are shown with
        ``digits`` decimals (``None``: as written by Python), :class:`Num` strings as
        given and right-aligned, ``None`` as a dash, booleans as yes/no, lists
        comma-separated; all text is escaped. The table scrolls inside its own box when
        it is wider than the screen.
        """
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError("caption must be a non-empty string (every table has a caption)")
        label = html.escape(caption, quote=True)
        parts = [f'<div class="table-scroll" role="region" tabindex="0" aria-label="{label}">'
                 f"<table><caption>{html.escape(caption)}</caption>"]
        if header is not None:
            parts.append("<thead><tr>" + "".join(f'<th scope="col">{html.escape(str(h))}</th>'
                                                for h in header) + "</tr></thead>")
        parts.append("<tbody>")
        for row in rows:
            cells = []
            for value in row:
                text, num = _cell(value, digits)
                cells.append(f'<td class="num">{text}</td>' if num else f"<td>{text}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</tbody></table></div>")
        self.blocks.append("".join(parts))
        return self

    def mapping(self, mapping: Mapping[str, Any], *, caption: str,
                digits: int | None = None) -> Section:
        """A two-column key/value table; nested mappings become dotted keys."""
        return self.table([[k, v] for k, v in _flatten(mapping)], ["setting", "value"],
                          caption=caption, digits=digits)

    def figure(self, figure: Figure | bytes | str | Path, *, caption: str | None = None,
               alt: str | None = None) -> Section:
        """An embedded PNG: a matplotlib Figure, PNG bytes or the path of a PNG file.

        ``alt`` describes what the image shows for a reader who cannot see it (what is
        plotted against what, and what it shows), not the caption again; for a Figure it
        defaults to :func:`describe_figure`, for bytes or a path it is required. A click
        on the image opens it full size.
        """
        if alt is None:
            if not isinstance(figure, Figure):
                raise ValueError("alt is required for a PNG given as bytes or a path: "
                                 "describe what the image shows")
            alt = describe_figure(figure)
        if not str(alt).strip() or (caption is not None and alt.strip() == caption.strip()):
            raise ValueError("alt must describe the image in words, not repeat the caption")
        data = base64.b64encode(_png_bytes(figure)).decode("ascii")
        alt_text = html.escape(str(alt), quote=True)
        block = (f'<figure class="static"><button type="button" class="zoom" '
                 f'title="Open full size"><img alt="{alt_text}" '
                 f'src="data:image/png;base64,{data}"></button>')
        if caption:
            block += f"<figcaption>{html.escape(caption)}</figcaption>"
        self.blocks.append(block + "</figure>")
        return self

    def details(self, summary: str, inner: Section, *, open: bool = False) -> Section:
        """``inner``'s blocks inside a collapsed ``<details>`` titled ``summary``."""
        attr = " open" if open else ""
        self.blocks.append(f"<details{attr}><summary>{html.escape(summary)}</summary>"
                           + "\n".join(inner.blocks) + "</details>")
        return self

    def html(self, snippet: str) -> Section:
        """Raw HTML, inserted as is (trusted input only; keep it self-contained)."""
        self.blocks.append(str(snippet))
        return self

    def render(self) -> str:
        body = "\n".join(self.blocks)
        return (f'<section id="{self.anchor}"><h2>{html.escape(self.title)}</h2>\n'
                f"{body}\n</section>")

    def __repr__(self) -> str:
        return f"Section({self.title!r}, blocks={len(self.blocks)})"


# -- ready-made sections ---------------------------------------------------------------


def config_section(config: Mapping[str, Any], *, title: str = "Configuration",
                   command: str | None = None,
                   versions: Mapping[str, str] | None = None) -> Section:
    """The run's configuration, collapsed: the command line, versions and every setting
    (nested keys dotted)."""
    sec = Section(title).text("How this report was made; open the box for the details.")
    inner = Section("inner")
    if command:
        inner.html(f'<p>Command line:</p><pre class="cmd"><code>{html.escape(command)}'
                   "</code></pre>")
    if versions:
        inner.table([[k, str(v)] for k, v in versions.items()], ["package", "version"],
                    caption="Versions")
    inner.mapping(config, caption="Settings used by this run")
    return sec.details("Command line, versions and settings", inner)


def training_section(metrics: Sequence[Mapping[str, Any]]) -> Section:
    """Per-epoch training metrics of a run as a table (training seconds cumulative)."""
    keys = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "elapsed")
    header = ["epoch", "train loss", "train accuracy", "test loss", "test accuracy",
              "learning rate", "training time (s)"]
    sec = Section("Training")
    if not metrics:
        return sec.text("No completed epoch is recorded in this run.")
    rows = [[r.get(k) for k in keys] for r in metrics]
    for row in rows:
        for j in (2, 4):
            row[j] = None if row[j] is None else Num(format_percent(row[j]))
        row[5] = None if row[5] is None else Num(f"{row[5]:.3g}")
        row[6] = None if row[6] is None else Num(f"{row[6]:.1f}")
    sec.text("One row per epoch; the training time is the cumulative time of the epochs "
             "(optimizer steps and the end-of-epoch evaluation).")
    return sec.table(rows, header, caption="Per-epoch metrics (from the checkpoint)")


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


def baseline_section(results: Mapping[str, float | Mapping[str, Any]], *,
                     title: str = "Baselines", note: str | None = None,
                     n_test: int | None = None) -> Section:
    """A comparison table: model name -> test accuracy (or a dict of columns).

    ``{"LogisticRegression": 0.91, "idmlp (last layer)": 0.93}`` gives two columns;
    ``{"MLPClassifier": {"test accuracy": 0.95, "fit (s)": 4.2}, ...}`` gives one column
    per key (union over rows, in first-seen order). With ``n_test`` (the number of test
    examples), ``test accuracy`` is shown as a percentage with its 95% Wilson interval.
    """
    cols: list[str] = []
    for value in results.values():
        for key in (value if isinstance(value, Mapping) else {"test accuracy": value}):
            if key not in cols:
                cols.append(key)
    rows = []
    for name, value in results.items():
        d = dict(value) if isinstance(value, Mapping) else {"test accuracy": value}
        acc = d.get("test accuracy")
        if n_test is not None and isinstance(acc, numbers.Real):
            d["test accuracy"] = Num(format_percent_interval(
                acc, *wilson_interval(acc, n_test)))
        rows.append([name, *(d.get(c) for c in cols)])
    header = ["model", *(f"{c} (95% interval)" if c == "test accuracy" and n_test else c
                         for c in cols)]
    sec = Section(title)
    if note:
        sec.text(note)
    return sec.table(rows, header, caption="Test accuracy of each model on the same split",
                     digits=1)


def probe_section(comparison: ProbeComparison, *, title: str = "Linear probes") -> Section:
    """Built-in readout vs linear probes: accuracy per layer, costs and the figure."""
    from ..plots.interpret import plot_probe_comparison

    sec = Section(title).text(
        "Linear probes (Alain and Bengio, 2016): one logistic regression per hidden layer, "
        "trained on the training split's standardized features and scored on the test split. "
        "The interpretable MLP reads every layer's class from its own class block instead, "
        "with one forward pass and nothing trained.")
    fig = plot_probe_comparison(comparison)
    sec.figure(fig, caption="Test accuracy per layer: built-in readout and linear probes.",
               alt=describe_figure(fig))
    header, rows = comparison.cost_table()
    sec.table(rows, header, caption="Cost", digits=3)
    header, rows = comparison.table()
    rows = [[r[0], *(None if v is None else Num(format_percent(v)) for v in r[1:])]
            for r in rows]
    return sec.table(rows, header, caption="Test accuracy per layer")
