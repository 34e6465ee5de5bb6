"""The figures of a sweep's results: read, measure what the theory panel needs, draw, save.

:func:`plot_sweep` is what ``idmlp plot-sweep`` runs: the heat maps and the depth figure of
:mod:`idmlp.plots.sweep` from the results file, the Jacobian spectra at initialization
of identity, orthogonal and Gaussian networks, measured with
:func:`idmlp.jacobian.dense.empirical_spectrum`, and the identity family's study
(:mod:`idmlp.plots.inits`: accuracy against depth per initialization next to the theory's
isometry measure; :func:`idmlp.sweep.study.init_table`: its Markdown table), which may
put several sweeps side by side (e.g. the MLP's inits and the residual arm).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..jacobian.dense import empirical_spectrum, spectrum_memory
from ..plots.inits import inits_figure
from ..plots.sweep import depth_figure, heatmap_figure, spectra_figure
from ..runtime import check_memory
from ..theory import isometry_region
from .runner import read_results
from .study import init_table

__all__ = ["SPECTRA_INITS", "check_spectra_memory", "plot_sweep", "spectra_settings"]

#: The initializations whose spectra the figure compares when the results name none.
SPECTRA_INITS: tuple[str, ...] = ("identity", "orthogonal", "xavier")


def spectra_settings(rows: Sequence[dict[str, Any]], spectra: dict[str, Any] | None = None, *,
                     eps: float = 0.05, kappa: float = 2.0) -> dict[str, Any]:
    """The settings of the spectra panel: ``spectra`` over the defaults (the sweep's
    width, its largest depth, the MLP inits it ran (``inits``; :data:`SPECTRA_INITS` if it
    names none; looks-linear only at an even width), :math:`\\sigma = 1`, 32 inputs, seed 0,
    the recommended :math:`q_0` at that depth).

    Raises:
        ValueError: the rows hold no finished run.
    """
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        raise ValueError("the results hold no finished runs to plot")
    width = ok[0]["width"]
    ran = dict.fromkeys(r["init"] for r in ok if r.get("init") and r.get("arch", "mlp") == "mlp")
    inits = tuple(i for i in ran if i != "looks_linear" or int(width) % 2 == 0)
    spec = {"width": width, "depth": max(r["depth"] for r in ok), "sigma": 1.0,
            "samples": 32, "seed": 0, "inits": inits or SPECTRA_INITS, **(spectra or {})}
    spec.setdefault("q0", isometry_region(spec["depth"], eps, kappa).recommended()[1])
    return spec


def check_spectra_memory(spec: dict[str, Any]) -> None:
    """Refuse (before anything is allocated) spectra that cannot fit in this machine's
    memory: :class:`~idmlp._io.EnvironmentFailure` naming the size and the flags to lower."""
    check_memory(spectrum_memory(spec["width"], spec["depth"], spec["samples"]),
                 f"the Jacobian spectra panel (width {spec['width']}, depth {spec['depth']}, "
                 f"{spec['samples']} inputs, {len(spec['inits'])} initializations)",
                 "lower its width, depth or inputs (--spectra-width, --spectra-depth, "
                 "--spectra-samples)")


def plot_sweep(results: str | Path, out: str | Path, *, metric: str = "test_acc",
               eps: float = 0.05, kappa: float = 2.0, spectra: dict[str, Any] | None = None,
               formats: Sequence[str] = ("png", "pdf"), progress: bool = False,
               also: Sequence[str | Path] = ()) -> list[Path]:
    """Write the four sweep figures and the study's table into the existing folder ``out``.

    Args:
        results: a sweep folder or its ``results.csv``.
        also: further sweeps (folders or results files) drawn next to ``results`` in the
            study's figure ``inits_vs_depth`` and table ``inits_table.md`` (the other
            figures show ``results`` alone).
        out: the folder to write into.
        metric: ``test_acc`` or ``train_acc`` for the heat maps and the depth plot.
        eps, kappa: the isometry region's tolerances.
        spectra: ``width``, ``depth``, ``sigma``, ``q0``, ``samples``, ``seed`` of the
            measured spectra; by default the sweep's width, its largest depth,
            :math:`\\sigma = 1` and the recommended :math:`q_0`.
        formats: file formats.
        progress: a progress bar over the Jacobians.

    Returns:
        The written paths.
    """
    rows = read_results(results)
    out = Path(out)
    spec = spectra_settings(rows, spectra, eps=eps, kappa=kappa)
    check_spectra_memory(spec)
    lams = {init: empirical_spectrum(spec["width"], spec["depth"], spec["sigma"], spec["q0"],
                                     init=init, samples=spec["samples"], seed=spec["seed"],
                                     progress=progress)
            for init in spec["inits"]}
    figures = {
        f"heatmap_{metric}": heatmap_figure(rows, metric=metric, eps=eps, kappa=kappa),
        f"{metric}_vs_depth": depth_figure(rows, metric=metric, eps=eps, kappa=kappa),
        "init_spectra": spectra_figure(lams, width=spec["width"], depth=spec["depth"],
                                       sigma=spec["sigma"], q0=spec["q0"]),
    }
    study = [*rows, *(r for path in also for r in read_results(path))]
    if len({r.get("depth") for r in study if r.get("status") == "ok"}) > 1:  # against depth
        figures["inits_vs_depth"] = inits_figure(study, metric=metric)
    table = out / "inits_table.md"
    table.write_text(init_table(study, metric), encoding="utf-8")
    written = [table]
    for name, fig in figures.items():
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            fig.savefig(path, dpi=200)
            written.append(path)
    return written
