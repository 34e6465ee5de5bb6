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

__all__ = ["DPI", "figure_png", "save_figure"]

#: Resolution of every saved figure (dots per inch).
DPI = 160


def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    """Render ``fig`` to PNG bytes (tight bounding box)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Save ``fig`` as a PNG at ``path`` atomically (no half-written image on failure)."""
    return atomic_write_bytes(path, figure_png(fig, dpi))
