"""A report section: a title and a list of blocks (text, tables, figures, ...), as data.

A :class:`Section` holds its content as plain data, not as markup: each block is a dict
(``{"kind": "text", "text": ...}``, ``{"kind": "table", ...}``, ``{"kind": "figure", ...}``,
...), rendered by the package's templates (``templates/blocks.html.j2``) with autoescape, so
every string in it (a class name, a caption, a path) is escaped wherever it lands. Because
a section is data, it can be saved and loaded (:meth:`Section.to_dict`,
:meth:`Section.from_dict`): a command that computes a result on a run (``idmlp
faithfulness``) stores its section, and the run's report (``idmlp interpret``) shows it
(:mod:`idmlp.report.run_report`).

Every table has a caption and scrolls inside its own box on a narrow screen; every figure
has an alt text that describes the image (drawn from a matplotlib
:class:`~matplotlib.figure.Figure` by :func:`describe_figure` when not given), opens full
size on a click, and is shown at its printed size (96 CSS pixels per inch, its text
readable) in a box that scrolls sideways on a phone.

Build :class:`Section` objects and pass them to :func:`idmlp.report.write_report`::

    sec = Section("Per-layer accuracy").text("Test split, 1,000 images.")
    sec.table(rows, header=["layer", "accuracy"], caption="Accuracy of every layer")
    sec.figure(fig, caption="accuracy vs layer")
    write_report("report.html", title="idmlp: mnist5k", sections=[sec])

Examples:
    >>> sec = Section("Notes").text("a < b").table([[1, 0.5]], ["n", "x"], caption="Numbers")
    >>> Section.from_dict(sec.to_dict()).render() == sec.render()
    True
    >>> "<p>a &lt; b</p>" in sec.render()
    True
"""

from __future__ import annotations

import base64
import binascii
import math
import numbers
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from markupsafe import Markup
from matplotlib.figure import Figure

from ._html import render

__all__ = ["SECTION_FORMAT", "Num", "Section", "describe_figure"]

#: The ``format`` of :meth:`Section.to_dict`.
SECTION_FORMAT = "idmlp-section-v1"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: CSS pixels per inch: a figure is shown at its printed size.
_CSS_DPI = 96.0
#: Templates a ``template`` block may name (``templates/blocks/NAME.html.j2``).
_TEMPLATE_NAME = re.compile(r"[a-z][a-z0-9_]*")


class Num(str):
    """Preformatted numeric text: escaped like any text, right-aligned in a table."""

    __slots__ = ()


def _cell(value: Any, digits: int | None) -> dict[str, Any]:
    """A table cell as data: ``{"text": str or None (a dash), "num": right-aligned}``.

    Floats get ``digits`` decimals (scientific notation outside [1e-3, 1e6)), or the
    shortest round-trip form with ``digits=None``.
    """
    if value is None:
        return {"text": None, "num": False}
    if isinstance(value, Num):
        return {"text": str(value), "num": True}
    if isinstance(value, bool):
        return {"text": "yes" if value else "no", "num": False}
    if isinstance(value, numbers.Integral):
        return {"text": str(int(value)), "num": True}
    if isinstance(value, numbers.Real):
        v = float(value)
        if not math.isfinite(v) or digits is None:
            return {"text": repr(v), "num": True}
        text = f"{v:.{digits}f}" if 1e-3 <= abs(v) < 1e6 or v == 0 else f"{v:.{digits}g}"
        return {"text": text, "num": True}
    if isinstance(value, (list, tuple)):
        return {"text": ", ".join(str(v) for v in value), "num": False}
    return {"text": str(value), "num": False}


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


def _png_size(data: bytes) -> tuple[int, int]:
    """The printed size of a PNG in CSS pixels, ``(width, height)``: its pixels at the
    resolution of its ``pHYs`` chunk (what matplotlib writes), or one CSS pixel per pixel
    without one."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ValueError("figure is not a PNG image (no IHDR chunk)")
    w, h = struct.unpack(">II", data[16:24])
    scale = 1.0
    pos = 8
    while pos + 8 <= len(data):  # walk the chunks up to the first IDAT
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"pHYs" and size == 9 and pos + 17 <= len(data):
            ppx, _, unit = struct.unpack(">IIB", data[pos + 8:pos + 17])
            if unit == 1 and ppx > 0:  # pixels per metre
                scale = _CSS_DPI / (ppx * 0.0254)
            break
        if kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + size
    return max(1, round(w * scale)), max(1, round(h * scale))


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
    """One titled section of a report: a list of blocks (data), rendered in order.

    Every adder returns the section, so calls chain. Blocks are rendered by the package's
    templates with autoescape; a section holds no markup.

    Args:
        title: the section heading (plain text).
        anchor: the ``id`` used by the table of contents (default from the title).
    """

    def __init__(self, title: str, *, anchor: str | None = None) -> None:
        self.title = str(title)
        slug = "".join(ch if ch.isascii() and ch.isalnum() else "-"
                       for ch in (anchor or self.title).lower())
        self.anchor = "-".join(filter(None, slug.split("-"))) or "section"
        self.blocks: list[dict[str, Any]] = []

    def text(self, text: str) -> Section:
        """A paragraph of plain text (blank lines split paragraphs)."""
        for para in str(text).split("\n\n"):
            if para.strip():
                self.blocks.append({"kind": "text", "text": para.strip()})
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
        comma-separated. The table scrolls inside its own box when it is wider than the
        screen.
        """
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError("caption must be a non-empty string (every table has a caption)")
        self.blocks.append({
            "kind": "table", "caption": caption,
            "header": None if header is None else [str(h) for h in header],
            "rows": [[_cell(v, digits) for v in row] for row in rows]})
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
        alt = str(alt)
        if not alt.strip() or (caption is not None and alt.strip() == str(caption).strip()):
            raise ValueError("alt must describe the image in words, not repeat the caption")
        data = _png_bytes(figure)
        width, height = _png_size(data)
        self.blocks.append({"kind": "figure", "png": base64.b64encode(data).decode("ascii"),
                            "alt": alt, "caption": None if caption is None else str(caption),
                            "width": width, "height": height})
        return self

    def details(self, summary: str, inner: Section, *, open: bool = False) -> Section:
        """``inner``'s blocks inside a collapsed ``<details>`` titled ``summary``."""
        self.blocks.append({"kind": "details", "summary": str(summary), "open": bool(open),
                            "blocks": list(inner.blocks)})
        return self

    def code(self, text: str, *, label: str) -> Section:
        """A line of code (a command line) under a short label, wrapped on a narrow screen."""
        self.blocks.append({"kind": "code", "label": str(label), "text": str(text)})
        return self

    def glossary(self, terms: Sequence[tuple[str, str]]) -> Section:
        """A list of ``(term, one sentence)`` pairs."""
        self.blocks.append({"kind": "glossary",
                            "terms": [[str(t), str(s)] for t, s in terms]})
        return self

    def template(self, name: str, **context: Any) -> Section:
        """The package template ``templates/blocks/NAME.html.j2`` rendered with ``context``
        (available to it as ``ctx``; autoescaped like every template). For the report's own
        views (the interactive page's charts and tables); such a block is not saved by
        :meth:`to_dict`."""
        if not isinstance(name, str) or not _TEMPLATE_NAME.fullmatch(name):
            raise ValueError(f"template must be a lower-case name, got {name!r}")
        self.blocks.append({"kind": "template", "name": name, "context": context})
        return self

    def render(self) -> Markup:
        """The section as HTML (``<section id=ANCHOR><h2>TITLE</h2>...</section>``)."""
        return render("section.html.j2", section=self)

    # -- as data ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The section as JSON-able data (``format`` :data:`SECTION_FORMAT`); PNGs in
        base64. Template blocks (the interactive page's own views) are refused."""
        if any(b["kind"] == "template" for b in _walk(self.blocks)):
            raise ValueError(f"section {self.title!r} holds a template block (a view of the "
                             "interactive page), which is not saved")
        return {"format": SECTION_FORMAT, "title": self.title, "anchor": self.anchor,
                "blocks": self.blocks}

    @classmethod
    def from_dict(cls, data: Any) -> Section:
        """A section from :meth:`to_dict`'s data, checked block by block (a file from
        disk may be damaged or edited): a one-line ``ValueError`` names what is wrong."""
        if not isinstance(data, Mapping) or data.get("format") != SECTION_FORMAT:
            raise ValueError(f"not a saved report section (format {SECTION_FORMAT!r})")
        title, anchor = data.get("title"), data.get("anchor")
        if not isinstance(title, str) or not isinstance(anchor, str):
            raise ValueError("a saved section needs a title and an anchor (strings)")
        sec = cls(title, anchor=anchor)
        sec.blocks = _checked_blocks(data.get("blocks"), "blocks")
        return sec

    def __repr__(self) -> str:
        return f"Section({self.title!r}, blocks={len(self.blocks)})"


def _walk(blocks: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for b in blocks:
        yield b
        if b["kind"] == "details":
            yield from _walk(b["blocks"])


def _str(where: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {type(value).__name__}")
    return value


def _checked_blocks(blocks: Any, where: str) -> list[dict[str, Any]]:
    """Saved blocks, rebuilt field by field (unknown keys dropped, types checked)."""
    if not isinstance(blocks, list):
        raise ValueError(f"{where} must be a list")
    out: list[dict[str, Any]] = []
    for i, b in enumerate(blocks):
        at = f"{where}[{i}]"
        kind = b.get("kind") if isinstance(b, Mapping) else None
        if kind == "text":
            out.append({"kind": kind, "text": _str(f"{at}.text", b.get("text"))})
        elif kind == "code":
            out.append({"kind": kind, "label": _str(f"{at}.label", b.get("label")),
                        "text": _str(f"{at}.text", b.get("text"))})
        elif kind == "glossary":
            terms = b.get("terms")
            if not isinstance(terms, list) or not all(
                    isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p)
                    for p in terms):
                raise ValueError(f"{at}.terms must be a list of [term, sentence] strings")
            out.append({"kind": kind, "terms": [list(p) for p in terms]})
        elif kind == "details":
            out.append({"kind": kind, "summary": _str(f"{at}.summary", b.get("summary")),
                        "open": bool(b.get("open")),
                        "blocks": _checked_blocks(b.get("blocks"), f"{at}.blocks")})
        elif kind == "table":
            header = b.get("header")
            if header is not None and not (isinstance(header, list)
                                           and all(isinstance(h, str) for h in header)):
                raise ValueError(f"{at}.header must be a list of strings")
            rows = b.get("rows")
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ValueError(f"{at}.rows must be a list of lists")
            cells = [[{"text": _str(f"{at}.rows", c.get("text"), optional=True),
                       "num": bool(c.get("num"))} if isinstance(c, Mapping)
                      else _bad_cell(at) for c in row] for row in rows]
            out.append({"kind": kind, "caption": _str(f"{at}.caption", b.get("caption")),
                        "header": header, "rows": cells})
        elif kind == "figure":
            png = _str(f"{at}.png", b.get("png"))
            try:
                data = base64.b64decode(png, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{at}.png is not base64") from None
            if not data.startswith(_PNG_MAGIC):
                raise ValueError(f"{at}.png is not a PNG image")
            width, height = _png_size(data)
            out.append({"kind": kind, "png": png, "alt": _str(f"{at}.alt", b.get("alt")),
                        "caption": _str(f"{at}.caption", b.get("caption"), optional=True),
                        "width": width, "height": height})
        else:
            raise ValueError(f"{at} has an unknown kind {kind!r} (saved sections hold text, "
                             "tables, figures, details, code and glossaries)")
    return out


def _bad_cell(where: str) -> dict[str, Any]:
    raise ValueError(f"{where}.rows must hold cells {{'text': ..., 'num': ...}}")
