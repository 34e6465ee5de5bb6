"""Sweep figures, from synthetic result rows (no training)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import QuadMesh

from _helpers import drawn, inside
from idmlp.jacobian.dense import empirical_spectrum
from idmlp.plots.sweep import depth_figure, heatmap_figure, spectra_figure
from idmlp.sweep import COLUMNS, write_results
from idmlp.sweep.figures import SPECTRA_INITS, plot_sweep
from idmlp.theory import alpha, isometry_region

SIGMAS = (0.8, 0.9, 1.0, 1.1)
Q0S = (1e-3, 1e-2, 0.1, 1.0)
DEPTHS = (5, 20)
INITS = ("identity", "orthogonal")


def fake_rows() -> list[dict]:
    """Accuracy = alpha(sigma, q0, L) * 0.9 for identity, a constant for orthogonal, seed
    0 and 1 offset by -/+0.02; one failed row that plots must ignore."""
    rows = []
    for depth, init, s, q, seed in itertools.product(DEPTHS, INITS, SIGMAS, Q0S, (0, 1)):
        acc = 0.9 * alpha(s, q, depth) if init == "identity" else 0.5
        row = dict.fromkeys(COLUMNS)
        row.update(dataset="digits", width=74, num_classes=10, depth=depth,
                   activation="hardtanh", init=init, sigma=s, q0=q, seed=seed, steps=100,
                   lr=1e-3, status="ok", error="", diverged=False,
                   test_acc=acc + (0.02 if seed else -0.02), train_acc=acc)
        rows.append(row)
    rows.append({**rows[0], "status": "failed", "test_acc": math.nan, "seed": 7})
    return rows


def test_heatmap_cells_are_seed_means_over_log_q0() -> None:
    fig = heatmap_figure(fake_rows())
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == [
        "identity, L=5", "orthogonal, L=5", "identity, L=20", "orthogonal, L=20"]
    assert all(ax.get_yscale() == "log" for ax in panels)
    mesh = next(c for c in panels[2].collections if isinstance(c, QuadMesh))
    cells = np.asarray(mesh.get_array()).reshape(len(Q0S), len(SIGMAS))
    expected = 0.9 * alpha(np.array(SIGMAS)[None, :], np.array(Q0S)[:, None], 20)
    np.testing.assert_allclose(cells, expected, atol=1e-12)  # the failed row is ignored
    region = isometry_region(20)
    vlines = [ln.get_xdata()[0] for ln in panels[2].lines if len(ln.get_xdata()) == 2
              and ln.get_xdata()[0] == ln.get_xdata()[1]]
    assert vlines == pytest.approx([region.sigma_min, region.sigma_max])
    assert any("accuracy" in ax.get_ylabel() for ax in fig.axes if not ax.get_title())


def test_depth_figure_uses_nearest_grid_point_to_recommended() -> None:
    fig = depth_figure(fake_rows())
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    for depth, label in zip(DEPTHS, labels, strict=True):
        s, q = isometry_region(depth).recommended()
        q_grid = min(Q0S, key=lambda v: abs(math.log(v / q)))
        assert label.startswith(f"{depth}\n") and f"σ={s:g}" in label and f"{q_grid:.2g}" in label
    ident = next(c.lines[0] for c in ax.containers if c.get_label() == "identity")
    expected = [0.9 * alpha(1.0, min(Q0S, key=lambda v: abs(math.log(
        v / isometry_region(d).recommended()[1]))), d) for d in DEPTHS]
    np.testing.assert_allclose(np.asarray(ident.get_ydata(), float), expected, atol=1e-12)


def test_spectra_figure_identity_panel_matches_theory_location() -> None:
    lams = {i: empirical_spectrum(24, 6, 1.05, 0.2, init=i, samples=8) for i in SPECTRA_INITS}
    fig = spectra_figure(lams, width=24, depth=6, sigma=1.05, q0=0.2)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["identity", "orthogonal", "xavier"]
    theory = [ln for ln in fig.axes[0].lines if "theory" in str(ln.get_label())]
    assert theory and theory[0].get_xdata()[0] == pytest.approx(math.log10(1.05**12))
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert sum(heights) == pytest.approx(max(heights))  # identity: one atom, one bar
    assert 0 < sum(heights) <= 1


def test_plot_sweep_writes_png_and_pdf(tmp_path: Path) -> None:
    write_results(tmp_path / "results.csv", fake_rows())
    written = plot_sweep(tmp_path, tmp_path, spectra={"samples": 4, "width": 16})
    figures = {f"{n}.{e}" for n in ("heatmap_test_acc", "test_acc_vs_depth", "init_spectra",
                                    "inits_vs_depth") for e in ("png", "pdf")}
    assert {p.name for p in written} == figures | {"inits_table.md"}
    assert all(p.stat().st_size > 1000 for p in written if p.name in figures)
    assert (tmp_path / "inits_table.md").read_text().startswith("| scheme |")


def test_plots_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="metric"):
        heatmap_figure(fake_rows(), metric="loss")
    with pytest.raises(ValueError, match="no finished runs"):
        depth_figure([{**fake_rows()[0], "status": "failed"}])




def test_heatmap_writes_values_in_cells_and_keeps_labels_inside() -> None:
    fig = heatmap_figure(fake_rows())
    renderer = drawn(fig)
    panels = [ax for ax in fig.axes if ax.get_title()]
    cells = [t.get_text() for t in panels[2].texts if not t.get_text().startswith("a=")]
    expected = 0.9 * alpha(np.array(SIGMAS)[None, :], np.array(Q0S)[:, None], 20)
    assert sorted(cells) == sorted(f"{v:.2f}" for v in expected.ravel())
    every = [t.get_text() for ax in fig.axes for t in ax.texts]
    every += [t.get_text() for t in fig.legends[0].get_texts()]
    assert not any("α" in t for t in every)  # one letter, a, as in alpha_map.png
    for ax in panels:  # contour labels are never cut by the frame
        labels = [t for t in ax.texts if t.get_text().startswith("a=")]
        assert labels
        assert all(inside(t.get_window_extent(renderer), ax.bbox) for t in labels)
    assert inside(fig.legends[0].get_window_extent(renderer), fig.bbox)
    one = heatmap_figure([r for r in fake_rows() if r["init"] == "identity"
                          and r["depth"] == 5])
    assert inside(one.legends[0].get_window_extent(drawn(one)), one.bbox)


def test_depth_figure_keeps_equal_curves_apart() -> None:
    rows = [dict(r, test_acc=0.5) for r in fake_rows() if r["status"] == "ok"]
    ax = depth_figure(rows).axes[0]
    x = {c.get_label(): np.asarray(c.lines[0].get_xdata(), float) for c in ax.containers}
    y = {c.get_label(): np.asarray(c.lines[0].get_ydata(), float) for c in ax.containers}
    assert np.all(x["identity"] != x["orthogonal"]) and np.all(y["identity"] == 0.5)
    styles = {c.get_label(): (c.lines[0].get_marker(), c.lines[0].get_linestyle())
              for c in ax.containers}
    assert styles["identity"] != styles["orthogonal"]


def test_depth_figure_with_one_depth_is_a_dot_plot_with_every_seed() -> None:
    rows = [r for r in fake_rows() if r["depth"] == 20]
    ax = depth_figure(rows).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["identity", "orthogonal"]
    means = {c.get_label(): float(c.lines[0].get_ydata()[0]) for c in ax.containers}
    s, q = isometry_region(20).recommended()
    q_grid = min(Q0S, key=lambda v: abs(math.log(v / q)))
    assert means["identity"] == pytest.approx(0.9 * alpha(s, q_grid, 20))
    assert means["orthogonal"] == pytest.approx(0.5)
    seeds = [ln for ln in ax.lines if ln.get_label() == "_seeds"]
    assert len(seeds) == 2 and all(len(ln.get_ydata()) == 2 for ln in seeds)
    assert any(t.get_text() == f"{means['identity']:.3f}" for t in ax.texts)
