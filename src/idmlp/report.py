"""A single self-contained HTML report: sections of text, tables and embedded figures.

The report is one ``report.html`` readable offline: figures are inline
``<img src="data:image/png;base64,...">``, the stylesheet is a short inline ``<style>``,
and nothing is fetched (no external CSS, JavaScript or fonts). All text is escaped with
:func:`html.escape`; only :meth:`Section.html` inserts raw (trusted) markup.

Build :class:`Section` objects and pass them to :func:`write_report`::

    sec = Section("Per-layer accuracy").text("Test split, 1,000 images.")
    sec.table(rows, header=["layer", "accuracy"]).figure(fig, caption="accuracy vs layer")
    write_report("report.html", title="idmlp: mnist5k", sections=[sec])

Ready-made sections for the package's results: :func:`config_section`,
:func:`interpretation_sections`, :func:`baseline_section` and :func:`probe_section`.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from . import __version__
from ._io import atomic_write_text

if TYPE_CHECKING:
    from .interpret import Interpretation
    from .probes import ProbeComparison

__all__ = [
    "Section",
    "baseline_section",
    "config_section",
    "interpretation_sections",
    "layer_table",
    "probe_section",
    "render_report",
    "training_section",
    "write_report",
]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 color:#1d232a;max-width:1100px;margin:2rem auto;padding:0 1.2rem;line-height:1.5}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{font-size:1.3rem;margin-top:2.2rem;
 border-bottom:1px solid #d5dae0;padding-bottom:.2rem}
.subtitle{color:#5b6570;margin-top:0}nav ol{columns:2;padding-left:1.2rem}
nav a,nav a:visited{color:#1f5fa8;text-decoration:none}
table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}
caption{caption-side:top;text-align:left;font-weight:600;padding-bottom:.3rem}
th,td{border-bottom:1px solid #e3e7eb;padding:.25rem .7rem;text-align:left}
th{background:#f3f5f7;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:hover{background:#f8fafb}figure{margin:1rem 0}
figure img{max-width:100%;height:auto;border:1px solid #eef0f2}
figcaption{color:#5b6570;font-size:.9rem}footer{margin-top:3rem;color:#8a939c;font-size:.8rem}
"""


def _cell(value: Any, digits: int | None) -> tuple[str, bool]:
    """Escaped text of a table cell and whether it is numeric (right-aligned).

    Floats get ``digits`` decimals (scientific notation outside [1e-3, 1e6)), or the
    shortest round-trip form with ``digits=None``.
    """
    if value is None:
        return "&ndash;", False
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
        from .plots import figure_png

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
        caption: str | None = None,
        digits: int | None = 4,
    ) -> Section:
        """A table of ``rows`` (sequences of cells) under an optional ``header``.

        Floats are shown with ``digits`` decimals (``None``: as written by Python), ``None``
        as a dash, booleans as yes/no, lists comma-separated; all text is escaped.
        """
        parts = ["<table>"]
        if caption:
            parts.append(f"<caption>{html.escape(caption)}</caption>")
        if header is not None:
            parts.append("<thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>"
                                                for h in header) + "</tr></thead>")
        parts.append("<tbody>")
        for row in rows:
            cells = []
            for value in row:
                text, num = _cell(value, digits)
                cells.append(f'<td class="num">{text}</td>' if num else f"<td>{text}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</tbody></table>")
        self.blocks.append("".join(parts))
        return self

    def mapping(self, mapping: Mapping[str, Any], *, caption: str | None = None,
                digits: int | None = None) -> Section:
        """A two-column key/value table; nested mappings become dotted keys."""
        return self.table([[k, v] for k, v in _flatten(mapping)], ["setting", "value"],
                          caption=caption, digits=digits)

    def figure(self, figure: Figure | bytes | str | Path, *, caption: str | None = None,
               alt: str | None = None) -> Section:
        """An embedded PNG: a matplotlib Figure, PNG bytes or the path of a PNG file."""
        data = base64.b64encode(_png_bytes(figure)).decode("ascii")
        alt_text = html.escape(alt or caption or self.title, quote=True)
        block = f'<figure><img alt="{alt_text}" src="data:image/png;base64,{data}">'
        if caption:
            block += f"<figcaption>{html.escape(caption)}</figcaption>"
        self.blocks.append(block + "</figure>")
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


def render_report(*, title: str, sections: Sequence[Section], subtitle: str | None = None
                  ) -> str:
    """The whole report as one HTML string (see :func:`write_report`)."""
    if isinstance(sections, Section) or not all(isinstance(s, Section) for s in sections):
        raise ValueError("sections must be a list of idmlp.report.Section")
    seen: dict[str, int] = {}
    for sec in sections:  # unique anchors for the table of contents
        n = seen.get(sec.anchor, 0)
        seen[sec.anchor] = n + 1
        if n:
            sec.anchor = f"{sec.anchor}-{n + 1}"
    toc = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
    sub = f'<p class="subtitle">{html.escape(subtitle)}</p>' if subtitle else ""
    nav = f"<nav><ol>{toc}</ol></nav>" if len(sections) > 1 else ""
    body = "\n".join(s.render() for s in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{html.escape(title)}</h1>{sub}</header>\n{nav}\n<main>\n{body}\n</main>\n"
        f"<footer>Generated by idmlp {html.escape(__version__)}.</footer>\n</body>\n</html>\n"
    )


def write_report(path: str | Path, *, title: str, sections: Sequence[Section],
                 subtitle: str | None = None) -> Path:
    """Write the report to ``path`` (one self-contained HTML file), atomically."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"report path must end in .html, got {path.name!r}")
    return atomic_write_text(path, render_report(title=title, sections=sections,
                                                 subtitle=subtitle))


# -- ready-made sections ---------------------------------------------------------------


def config_section(config: Mapping[str, Any], *, title: str = "Configuration") -> Section:
    """The run's full configuration as a key/value table (nested keys dotted)."""
    return Section(title).mapping(config)


def training_section(metrics: Sequence[Mapping[str, Any]]) -> Section:
    """Per-epoch training metrics of a run as a table."""
    keys = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "elapsed")
    rows = [[r.get(k) for k in keys] for r in metrics]
    sec = Section("Training")
    if not rows:
        return sec.text("No completed epoch is recorded in this run.")
    return sec.table(rows, list(keys), caption="Per-epoch metrics (from the checkpoint)")


def layer_table(interp: Interpretation) -> tuple[list[str], list[list[Any]]]:
    """Per-layer table of an interpretation: ``(header, rows)``."""
    header = ["layer", "accuracy", "mean p(true class)", "loss", "||W-σI|| (all)",
              "||W-σI|| (feature rows)", "||W-σI|| (class rows)"]
    rows = [[i + 1, interp.accuracy[i], interp.true_class_prob[i], interp.loss[i],
             interp.identity_distance[i], interp.feature_distance[i], interp.class_distance[i]]
            for i in range(interp.depth)]
    return header, rows


def interpretation_sections(
    interp: Interpretation,
    *,
    split: str = "test",
    layers: Sequence[int] | None = None,
    figures: Mapping[str, Figure | bytes | str | Path] | None = None,
) -> list[Section]:
    """Sections for a layer-wise interpretation: accuracy table and every figure.

    Figures are drawn with :mod:`idmlp.plots.interpret` unless ``figures`` already holds
    them, keyed as in :data:`idmlp.plots.interpret.FIGURES` (e.g. the paths returned by
    :func:`~idmlp.plots.interpret.save_interpretation_figures`), which avoids drawing twice.
    """
    from .plots import interpret as plots

    given = dict(figures or {})

    def fig(name: str) -> Figure | bytes | str | Path:
        if name in given:
            return given[name]
        if name == "contribution_maps":
            return plots.plot_contribution_maps(interp, layers=layers)
        if name == "change_maps":
            return plots.plot_contribution_maps(interp, layers=layers, map="change")
        return getattr(plots, f"plot_{name}")(interp)

    acc = Section("Per-layer accuracy").text(
        f"Every layer's class block read by the same rule, on the {split} split "
        f"({interp.n} examples). Last layer: {interp.accuracy[-1]:.4f}; best: layer "
        f"{int(interp.accuracy.argmax()) + 1} with {interp.accuracy.max():.4f}.")
    acc.figure(fig("layer_accuracy"), caption="Accuracy and mean probability of the true "
               "class at every layer; dashed: chance level.")
    header, rows = layer_table(interp)
    acc.table(rows, header)
    maps = Section("Contribution maps").text(
        "Contribution map of layer l: the first N features of x^l minus the input x^0, drawn "
        "with one symmetric color scale (red: increased, blue: decreased).")
    if len(interp.sample_indices):
        maps.figure(fig("contribution_maps"), caption="Chosen examples (rows) across layers; "
                    "titles give each layer's prediction and its probability.")
        if "change" in interp.map_names:
            maps.figure(fig("change_maps"), caption="The paper's reading: x^l - x^0.")
    maps.figure(fig("class_contributions"),
                caption="Mean contribution map of each class at the selected layers.")
    weights = Section("Distance from the identity").figure(
        fig("identity_distance"),
        caption="||W^l - σI||_F / ||σI||_F for the whole matrix, its feature rows and its "
                "class rows.")
    last = Section("Last layer").figure(
        fig("confusion_matrix"),
        caption=f"Confusion matrix of layer {interp.depth} on the {split} split.")
    return [acc, maps, weights, last]


def baseline_section(results: Mapping[str, float | Mapping[str, Any]], *,
                     title: str = "Baselines", note: str | None = None) -> Section:
    """A comparison table: model name -> test accuracy (or a dict of columns).

    ``{"LogisticRegression": 0.91, "idmlp (last layer)": 0.93}`` gives two columns;
    ``{"MLPClassifier": {"test accuracy": 0.95, "fit (s)": 4.2}, ...}`` gives one column
    per key (union over rows, in first-seen order).
    """
    cols: list[str] = []
    for value in results.values():
        for key in (value if isinstance(value, Mapping) else {"test accuracy": value}):
            if key not in cols:
                cols.append(key)
    rows = []
    for name, value in results.items():
        d = value if isinstance(value, Mapping) else {"test accuracy": value}
        rows.append([name, *(d.get(c) for c in cols)])
    sec = Section(title)
    if note:
        sec.text(note)
    return sec.table(rows, ["model", *cols])


def probe_section(comparison: ProbeComparison, *, title: str = "Linear probes") -> Section:
    """Built-in readout vs linear probes: accuracy per layer, costs and the figure."""
    from .plots.interpret import plot_probe_comparison

    sec = Section(title).text(
        "Linear probes (Alain and Bengio, 2016): one logistic regression per hidden layer, "
        "trained on the training split's standardized features and scored on the test split. "
        "The interpretable MLP reads every layer's class from its own class block instead, "
        "with one forward pass and nothing trained.")
    sec.figure(plot_probe_comparison(comparison),
               caption="Test accuracy per layer: built-in readout and linear probes.")
    header, rows = comparison.cost_table()
    sec.table(rows, header, caption="Cost", digits=3)
    header, rows = comparison.table()
    sec.table(rows, header, caption="Test accuracy per layer")
    return sec
