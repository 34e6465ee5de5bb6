r"""Trainability sweeps of the identity-initialized interpretable MLP.

A sweep trains one network per point of a grid over :math:`\sigma`, :math:`q_0`, depth,
initialization and activation (and seed) for a fixed budget, and records per run the
final accuracy and loss, divergence, the steps to a target accuracy, and the Jacobian
spectrum at initialization next to the theory's (:mod:`idmlp.theory`). The package, one
module per concern:

* :mod:`idmlp.config.sweep`: the grid-spec mini language and the sweep's configuration
  (:class:`SweepConfig`, :class:`TrainSettings`, :class:`RunSpec`);
* :mod:`.engine`: runs of one depth and activation trained together in one batched
  computation (:func:`train_batch`), and the plain per-run reference (:func:`train_one`);
* :mod:`.runner`: one tidy CSV that an interrupted sweep resumes from (:func:`run`);
* :mod:`.ray_backend`: batches as Ray tasks (optional);
* :mod:`.figures`: the figures of a results file (:func:`~.figures.plot_sweep`).

Names are imported on first use, so the command line parses without loading torch.

Examples:
    >>> from idmlp import sweep
    >>> rows = sweep.run(sigma="0.9,1.1", q0="0.01,1", depth=[3], steps=20,
    ...                  progress=False)
    >>> len(rows), rows[0]["status"]
    (4, 'ok')
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    **{name: ".config.sweep" for name in (
        "AXES", "BACKENDS", "RunSpec", "SweepConfig", "TrainSettings", "parse_choices",
        "parse_floats", "parse_ints")},
    "RunMetrics": "engine", "TrainData": "engine", "train_batch": "engine",
    "train_one": "engine",
    "COLUMNS": "runner", "plan_batches": "runner", "read_results": "runner", "run": "runner",
    "write_results": "runner",
    "init_table": "study", "scheme_cells": "study", "scheme_label": "study",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
