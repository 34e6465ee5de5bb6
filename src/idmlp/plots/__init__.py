"""Figures (matplotlib, Agg backend): one module per concern."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from .._io import atomic_write_bytes  # noqa: E402

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
