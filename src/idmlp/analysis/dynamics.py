r"""Learning dynamics: what the snapshots of a run (:mod:`idmlp.train.snapshots`, recorded
during training with ``idmlp train --snapshots K``) say about every layer over training.

:func:`load_snapshots` reads a run folder's snapshots, checked against its config;
:func:`dynamics_summary` condenses them (when each layer's accuracy and identity distance
settle); :func:`plot_dynamics` draws them (``idmlp dynamics RUN``) with
:mod:`idmlp.plots.dynamics`; the report's "During training" section is
:func:`idmlp.report.dynamics.dynamics_section`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import atomic_write_bytes, save_json
from ..train.snapshots import SNAPSHOT_FILE, Snapshots
from .interpret import default_layers

if TYPE_CHECKING:
    from matplotlib.figure import Figure


__all__ = [
    "Snapshots",
    "dynamics_summary",
    "load_snapshots",
    "plot_dynamics",
]


def load_snapshots(run_dir: str | Path) -> Snapshots:
    """The snapshots of the run folder ``run_dir``, checked against its ``config.json``.

    Raises:
        ValueError: not a run folder, a run without snapshots, a truncated file, a file
            of another run (one line each).
    """
    from ..train.runs import _read_info, load_config, run_identity

    run = Path(run_dir)
    config = load_config(run)
    if not config.dynamics.snapshots and not (run / SNAPSHOT_FILE).exists():
        raise ValueError(f"{run} was trained without snapshots; train with "
                         "'idmlp train --snapshots K' (e.g. 16)")
    stored = _read_info(run).get("config")  # the identity the run folder recorded
    return Snapshots.load(run / SNAPSHOT_FILE, run_identity(stored or config))


# -- reading the dynamics -------------------------------------------------------------


def _first_reaching(values: np.ndarray, steps: np.ndarray, fraction: float) -> np.ndarray:
    """Per column: the first step at which ``values`` reaches ``fraction`` of the way from
    its first to its last value."""
    start, end = values[0], values[-1]
    target = start + fraction * (end - start)
    rising = end >= start
    hit = np.where(rising, values >= target - 1e-12, values <= target + 1e-12)
    return steps[np.argmax(hit, axis=0)]


def dynamics_summary(snaps: Snapshots) -> dict[str, Any]:
    r"""Numbers that say what the snapshots show, per layer (lists of length ``L``).

    * ``acc_start``, ``acc_end``: accuracy at the first and last snapshot;
    * ``acc_step_90``: first snapshot step at which a layer's accuracy covers 90 % of its
      change from the first to the last snapshot ("saturation");
    * ``class_distance_end``, ``feature_distance_end``: identity distances at the end;
    * ``class_step_50``, ``feature_step_50``: first step with half the final distance;
    * ``distance_log_slope``: slope of log(mean distance) against log(step) over the
      snapshots after step 0 (1: linear growth in steps, < 1: slower);
    * ``jacobian``: at the snapshots with a spectrum (``steps``), the fraction of
      eigenvalues :math:`\lambda = s^2` above ``1e-12`` of the largest, and their mean.
    """
    if len(snaps) == 0:
        raise ValueError("there are no snapshots yet")
    steps = snaps.steps
    acc, cd, fd = snaps["accuracy"], snaps["class_distance"], snaps["feature_distance"]
    out: dict[str, Any] = {
        "steps": steps.tolist(), "epochs": snaps.epochs.tolist(),
        "split": snaps.meta.get("split"), "subset": snaps.meta.get("subset"),
        "acc_start": acc[0].tolist(), "acc_end": acc[-1].tolist(),
        "acc_step_90": _first_reaching(acc, steps, 0.9).tolist(),
        "class_distance_end": cd[-1].tolist(), "feature_distance_end": fd[-1].tolist(),
        "class_step_50": _first_reaching(cd, steps, 0.5).tolist(),
        "feature_step_50": _first_reaching(fd, steps, 0.5).tolist(),
        "seconds": float(snaps["seconds"].sum()),
    }
    later = steps > 0
    mean_d = snaps["distance"].mean(axis=1)
    ok = later & (mean_d > 0)
    if ok.sum() >= 2:
        out["distance_log_slope"] = float(np.polyfit(np.log(steps[ok]), np.log(mean_d[ok]), 1)[0])
    has = snaps.has_spectrum
    sv = snaps["singular_values"][has]
    if sv.size:
        lam = sv.astype(np.float64) ** 2
        top = np.max(lam, axis=(1, 2), keepdims=True)
        out["jacobian"] = {
            "steps": steps[has].tolist(),
            "nonzero_fraction": np.mean(lam > 1e-12 * top, axis=(1, 2)).tolist(),
            "mean_eigenvalue": np.mean(lam, axis=(1, 2)).tolist(),
        }
    return out


def _law(snaps: Snapshots) -> tuple[Any, str]:
    """The law of the eigenvalues of J J^T at initialization: on the Jacobian inputs'
    data when :func:`idmlp.theory.spectrum_on_data` exists, else the Gaussian law."""
    from .. import theory

    meta = snaps.meta
    on_data = getattr(theory, "spectrum_on_data", None)
    n = meta["in_features"]
    if on_data is not None and len(snaps.jacobian_inputs):
        law = on_data(snaps.jacobian_inputs[:, :n], meta["sigma"], meta["depth"],
                      meta["activation"], num_classes=meta["num_classes"])
        return law, "law at initialization on these inputs (theory.spectrum_on_data)"
    law = theory.spectrum(meta["sigma"], meta["q0"], meta["depth"], meta["activation"])
    return law, f"Gaussian law at initialization, q0 = {meta['q0']:g} (theory.spectrum)"


def dynamics_figures(snaps: Snapshots, *, layers: Sequence[int] | None = None,
                     samples: Sequence[int] | None = None) -> dict[str, Figure]:
    """The figures of :mod:`idmlp.plots.dynamics` for ``snaps``, by file stem: the heat
    maps, the Jacobian spectrum (if recorded) and the maps of the chosen examples
    ``samples`` (indices into ``meta["samples"]``; default all) at ``layers`` (default: 4
    evenly spaced)."""
    from ..plots import dynamics as plots

    if len(snaps) == 0:
        raise ValueError("there are no snapshots yet")
    layers = tuple(layers) if layers is not None else default_layers(snaps.meta["depth"], 4)
    figs = {"heatmaps": plots.plot_layer_time_heatmaps(snaps)}
    if snaps["singular_values"].size and snaps.has_spectrum.any():
        law, label = _law(snaps)
        figs["jacobian_spectrum"] = plots.plot_spectrum_over_time(snaps, law, label)
    chosen = range(len(snaps.meta["samples"])) if samples is None else samples
    for i in chosen:
        figs[f"maps_sample{i}"] = plots.plot_sample_maps_over_time(snaps, i, layers)
    return figs


def save_animation(snaps: Snapshots, path: str | Path, *, layers: Sequence[int] | None = None,
                   fps: float = 2.0, dpi: int = 80) -> Path:
    """An animated GIF of the maps across training (one frame per snapshot), written
    atomically with matplotlib's :class:`~matplotlib.animation.PillowWriter`."""
    import tempfile

    from matplotlib.animation import PillowWriter

    from ..plots import dynamics as plots

    layers = tuple(layers) if layers is not None else default_layers(snaps.meta["depth"], 4)
    fig, update = plots.maps_animation(snaps, layers)
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        gif = Path(tmp) / "maps.gif"
        writer = PillowWriter(fps=fps)
        with writer.saving(fig, str(gif), dpi):
            for k in range(len(snaps)):
                update(k)
                writer.grab_frame()
        return atomic_write_bytes(path, gif.read_bytes())


def plot_dynamics(run_dir: str | Path, out: str | Path, *, overwrite: bool = False,
                  layers: Sequence[int] | None = None) -> dict[str, Path]:
    """Draw the snapshots of ``run_dir`` into the new folder ``out`` (built under a
    temporary name, in place only when complete): ``heatmaps.png``,
    ``jacobian_spectrum.png``, ``maps_sample{i}.png``, ``maps.gif`` and
    ``dynamics.json`` (:func:`dynamics_summary`). Returns the files by stem.

    Raises:
        ValueError: a run without snapshots, a truncated or foreign snapshot file, an
            existing ``out`` without ``overwrite`` (one line each, nothing written).
    """
    from .._io import atomic_output_dir, check_output_dir
    from ..plots import save_figure

    snaps = load_snapshots(run_dir)
    if len(snaps) == 0:
        raise ValueError(f"{Path(run_dir) / SNAPSHOT_FILE} holds no snapshot yet")
    out = Path(out)
    check_output_dir(out, overwrite)
    figs = dynamics_figures(snaps, layers=layers)
    summary = dynamics_summary(snaps)
    with atomic_output_dir(out, overwrite) as tmp:
        for stem, fig in figs.items():
            save_figure(fig, tmp / f"{stem}.png")
        save_animation(snaps, tmp / "maps.gif", layers=layers)
        save_json(tmp / "dynamics.json", summary)
    names = [*figs, "maps", "dynamics"]
    suffix = {"maps": ".gif", "dynamics": ".json"}
    return {stem: out / f"{stem}{suffix.get(stem, '.png')}" for stem in names}
