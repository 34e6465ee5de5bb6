"""Figures of the Jacobian theory (idmlp.plots.theory)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from _helpers import drawn, inside
from idmlp.plots.theory import label_contours, plot_alpha_map, plot_spectrum
from idmlp.theory import spectrum


def test_alpha_map_labels_inside_and_star_in_legend(tmp_path) -> None:
    fig = plot_alpha_map(20, tmp_path / "a.png", point=(1.0, 0.13), point_label="this run's")
    assert (tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")
    renderer = drawn(fig)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["a=0.50", "a=0.90", "a=0.95"]  # every level, on its line
    assert all(inside(t.get_window_extent(renderer), ax.bbox) for t in ax.texts)
    legend = fig.legends[0]
    texts = [t.get_text() for t in legend.get_texts()]
    assert any(t.startswith("this run's (σ") and "(1, 0.13)" in t for t in texts)
    assert inside(legend.get_window_extent(renderer), fig.bbox)
    assert ax.get_title().startswith("surviving fraction $a")


def test_alpha_map_widens_to_show_a_point_outside_the_default_grid() -> None:
    ax = plot_alpha_map(5, point=(1.4, 30.0)).axes[0]
    lo, hi = ax.get_xlim()
    assert lo <= 1.4 <= hi and ax.get_ylim()[1] >= 30.0


def test_label_contours_skips_levels_with_no_room() -> None:
    fig = Figure(figsize=(3, 3))
    ax = fig.subplots()
    x = np.linspace(0, 1, 40)
    cs = ax.contour(x, x, x[None, :] + 0 * x[:, None], levels=[0.005, 0.5])
    texts = label_contours(ax, cs, lambda v: f"{v:g}", fontsize=8)
    assert [t.get_text() for t in texts] == ["0.5"]  # 0.005 hugs the frame


def test_spectrum_figure_is_object_oriented(tmp_path) -> None:
    law = spectrum(1.0, 0.5, 10)
    fig = plot_spectrum(law, np.array([0.0, 1.0, 1.0, 0.0]), tmp_path / "s.png")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert (tmp_path / "s.png").stat().st_size > 1000
