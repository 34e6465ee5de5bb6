r"""Trainability sweeps of the identity-initialized interpretable MLP.

A sweep trains one network per point of a grid over :math:`\sigma`, :math:`q_0`, depth,
initialization and activation (and seed) for a fixed budget, and records per run the
final accuracy and loss, divergence, the steps to a target accuracy, and the Jacobian
spectrum at initialization next to the theory's (:mod:`idmlp.theory`). Runs of one depth
and activation train together in one batched computation (:mod:`.engine`); the results go
to one tidy CSV that an interrupted sweep resumes from (:mod:`.runner`); batches can run
as Ray tasks (:mod:`.ray_backend`, optional).

Examples:
    >>> from idmlp import sweep
    >>> rows = sweep.run(sigma="0.8:1.2:9", q0="1e-3:10:9:log", depth=[10, 30],
    ...                  init=["identity", "orthogonal"], seeds=[0, 1], steps=300,
    ...                  out="runs/sweep")  # doctest: +SKIP
"""

from .engine import OPTIMIZERS, TrainData, TrainSettings, train_batch, train_one
from .grid import RunSpec, SweepConfig, parse_choices, parse_floats, parse_ints
from .runner import BACKENDS, COLUMNS, plan_batches, read_results, run

__all__ = [
    "BACKENDS",
    "COLUMNS",
    "OPTIMIZERS",
    "RunSpec",
    "SweepConfig",
    "TrainData",
    "TrainSettings",
    "parse_choices",
    "parse_floats",
    "parse_ints",
    "plan_batches",
    "read_results",
    "run",
    "train_batch",
    "train_one",
]
