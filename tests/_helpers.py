"""Assertions and figure helpers shared by several test modules (``tests/`` is on
``sys.path`` under pytest's default import mode, so tests import this as ``_helpers``)."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg


def assert_one_line(err: str, *words: str) -> None:
    """``err`` is exactly one line (no traceback) that holds every one of ``words``."""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)


def drawn(fig):
    """Draw ``fig`` (layout included) with Agg; return the renderer."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def inside(inner, outer, tol: float = 1.0) -> bool:
    """Whether bounding box ``inner`` lies within ``outer`` (``tol`` pixels of slack)."""
    return (inner.x0 >= outer.x0 - tol and inner.x1 <= outer.x1 + tol
            and inner.y0 >= outer.y0 - tol and inner.y1 <= outer.y1 + tol)
