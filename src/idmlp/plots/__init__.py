"""Figures: one module per concern, drawn with matplotlib's object-oriented API.

Every figure is a :class:`matplotlib.figure.Figure` made without pyplot, so no global
state is touched and no backend needs choosing (rendering uses Agg); the functions only
draw what they are given.
"""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.figure import Figure

from .._io import atomic_write_bytes

__all__ = ["DPI", "OKABE_ITO", "figure_png", "save_figure", "series_style"]

#: Resolution of every saved figure (dots per inch).
DPI = 160
#: The Okabe-Ito palette (Okabe and Ito 2008; Wong, Nature Methods 2011): eight colours
#: that stay distinct under every common colour-vision deficiency.
OKABE_ITO: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7",
                              "#56B4E9", "#000000", "#F0E442")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_DASHES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 1)), (0, (3, 1, 1, 1, 1, 1)),
           (0, (6, 2)))


def series_style(i: int) -> dict[str, object]:
    """Colour, marker and line style of the ``i``-th series of a figure: Okabe-Ito colours,
    and from the ninth series on another marker and dash pattern, so that no two of the
    first 64 series share all three (and none relies on colour alone).

    Examples:
        >>> series_style(0)["color"], series_style(8)["color"], series_style(8)["marker"]
        ('#0072B2', '#0072B2', 's')
    """
    n = len(OKABE_ITO)
    return {"color": OKABE_ITO[i % n], "marker": _MARKERS[(i + i // n) % len(_MARKERS)],
            "linestyle": _DASHES[(i // n + i) % len(_DASHES)]}


def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    """Render ``fig`` to PNG bytes (tight bounding box)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Save ``fig`` as a PNG at ``path`` atomically (no half-written image on failure)."""
    return atomic_write_bytes(path, figure_png(fig, dpi))
