r"""The trainability study of the identity family: a sweep's results per initialization
scheme, depth and scale, and the table of which schemes still train at the largest depth.

A *scheme* is an initialization of the interpretable MLP (``identity``, ``zero``, ``idinit``,
``looks_linear``, ``delta_orthogonal``, ``orthogonal``, ``xavier``, ``he``) or of the
residual MLP, whose label names its branch scale's start :math:`\alpha_0` (ReZero and
SkipInit: :math:`\alpha_0 = 0`), e.g. ``residual α0=0 · identity``. Results of several
sweeps (one per architecture) are read together: :func:`scheme_cells` groups their rows by
scheme and grid point, :func:`init_table` writes the Markdown table of the README and
:func:`idmlp.plots.inits.inits_figure` draws them.

Pure Python and NumPy (no torch), so the command line's figures and tables load fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SCHEME_ORDER", "Cell", "best_cells", "init_table", "scheme_cells", "scheme_label"]

#: The order of the initializations in figures and tables.
SCHEME_ORDER: tuple[str, ...] = ("identity", "zero", "idinit", "looks_linear",
                                 "delta_orthogonal", "orthogonal", "xavier", "he")


def scheme_label(row: dict[str, Any]) -> str:
    """The scheme a result row belongs to: its init, with the architecture and
    :math:`\\alpha_0` for runs of another architecture than the MLP.

    Examples:
        >>> scheme_label({"arch": "mlp", "init": "zero"})
        'zero'
        >>> scheme_label({"arch": "residual", "alpha_init": 0.0, "init": "orthogonal"})
        'residual α0=0 · orthogonal'
    """
    arch = row.get("arch") or "mlp"
    if arch == "mlp":
        return str(row["init"])
    if arch == "residual":
        return f"residual α0={row.get('alpha_init', 0.0):g} · {row['init']}"
    return f"{arch} · {row['init']}"


def _scheme_order(label: str) -> tuple[int, int, str]:
    init = label.rsplit(" · ", 1)[-1]
    rank = SCHEME_ORDER.index(init) if init in SCHEME_ORDER else len(SCHEME_ORDER)
    return (" · " in label, rank, label)


def _theory(row: dict[str, Any], what: str) -> float | None:
    """The data theory ``data_<what>`` of a row, or its Gaussian ``theory_<what>``."""
    value = row.get(f"data_{what}")
    if value is None or not math.isfinite(float(value)):
        value = row.get(f"theory_{what}")
    return value


def _mean(values: Sequence[float | None]) -> float:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(finite)) if finite else math.nan


@dataclass(frozen=True)
class Cell:
    """One scheme at one grid point ``(depth, sigma, q0)``, over its seeds.

    Attributes:
        metric, metric_std: the mean and standard deviation over seeds of the metric.
        train_acc, test_acc: means over seeds.
        steps_to_target: the seeds' first evaluated steps at the target training accuracy
            (``None`` for a seed that never reached it).
        weight_distance: mean :math:`\\|\\theta - \\theta_0\\| / \\|\\theta_0\\|` (finite
            values only).
        diverged: how many seeds diverged.
        theory_mean, theory_nonzero: the theory's mean eigenvalue of :math:`J J^T` and
            its nonzero fraction at initialization, at the very inputs the measurement uses
            (the ``data_*`` columns; the ``theory_*`` ones at Gaussian inputs where a
            results file has no ``data_*``; NaN where no theory applies).
        init_mean, init_nonzero: the same, measured at initialization.
        seeds: the number of seeds.
    """

    metric: float
    metric_std: float
    train_acc: float
    test_acc: float
    steps_to_target: tuple[int | None, ...]
    weight_distance: float
    diverged: int
    theory_mean: float
    theory_nonzero: float
    init_mean: float
    init_nonzero: float
    seeds: int

    @property
    def trains(self) -> bool:
        """Whether every seed reached the target training accuracy."""
        return bool(self.steps_to_target) and all(s is not None for s in self.steps_to_target)


def scheme_cells(rows: Sequence[dict[str, Any]], metric: str = "test_acc"
                 ) -> dict[str, dict[tuple[int, float, float], Cell]]:
    """The finished rows grouped by scheme (:func:`scheme_label`, in :data:`SCHEME_ORDER`)
    and grid point ``(depth, sigma, q0)``, each a :class:`Cell` over its seeds.

    Raises:
        ValueError: no finished row, or an unknown metric.

    Examples:
        >>> row = {"arch": "mlp", "init": "zero", "depth": 10, "sigma": 1.0, "q0": 0.1,
        ...        "status": "ok", "test_acc": 0.9, "train_acc": 0.95, "steps_to_target": 40,
        ...        "weight_distance": 0.2, "diverged": False, "theory_mean_eig": 1.0,
        ...        "theory_nonzero_frac": 1.0, "init_mean_eig": 1.0, "init_nonzero_frac": 1.0}
        >>> scheme_cells([row])["zero"][(10, 1.0, 0.1)].trains
        True
    """
    if metric not in ("test_acc", "train_acc"):
        raise ValueError(f"metric must be test_acc or train_acc; got {metric!r}")
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        raise ValueError("the results hold no finished runs (status ok)")
    groups: dict[str, dict[tuple[int, float, float], list[dict[str, Any]]]] = {}
    for r in ok:
        key = (int(r["depth"]), float(r["sigma"]), float(r["q0"]))
        groups.setdefault(scheme_label(r), {}).setdefault(key, []).append(r)
    out: dict[str, dict[tuple[int, float, float], Cell]] = {}
    for label in sorted(groups, key=_scheme_order):
        out[label] = {}
        for key in sorted(groups[label]):
            rs = groups[label][key]
            values = [float(r[metric]) for r in rs]
            out[label][key] = Cell(
                float(np.mean(values)), float(np.std(values)),
                _mean([r["train_acc"] for r in rs]), _mean([r["test_acc"] for r in rs]),
                tuple(r["steps_to_target"] for r in rs),
                _mean([r.get("weight_distance") for r in rs]),
                sum(bool(r["diverged"]) for r in rs),
                _mean([_theory(r, "mean_eig") for r in rs]),
                _mean([_theory(r, "nonzero_frac") for r in rs]),
                _mean([r.get("init_mean_eig") for r in rs]),
                _mean([r.get("init_nonzero_frac") for r in rs]), len(rs))
    return out


def best_cells(cells: dict[tuple[int, float, float], Cell]
               ) -> dict[int, tuple[tuple[float, float], Cell]]:
    """Per depth, the grid point ``(sigma, q0)`` with the best mean metric and its cell
    (ties: the first in ``(sigma, q0)`` order)."""
    best: dict[int, tuple[tuple[float, float], Cell]] = {}
    for (depth, sigma, q0), cell in sorted(cells.items()):
        value = cell.metric if math.isfinite(cell.metric) else -math.inf
        if depth not in best or value > best[depth][1].metric:
            best[depth] = ((sigma, q0), cell)
    return best


def _num(value: float, fmt: str) -> str:
    return format(value, fmt) if math.isfinite(value) else "–"


def _steps(cell: Cell) -> str:
    if not cell.steps_to_target:
        return "–"
    if not cell.trains:
        reached = sum(s is not None for s in cell.steps_to_target)
        return "never" if not reached else f"{reached}/{cell.seeds} seeds"
    return f"{int(np.median([s for s in cell.steps_to_target if s is not None]))}"


def init_table(rows: Sequence[dict[str, Any]], metric: str = "test_acc") -> str:
    """The study's Markdown table: per scheme, the best ``metric`` over the scales at every
    depth, and at the largest depth the best scale's training accuracy, the steps to the
    target training accuracy (median over seeds), how far the weights moved from their
    start and the theory's isometry measure at initialization (mean eigenvalue of
    :math:`J J^T` and its nonzero fraction; ``–`` where no theory applies).

    Examples:
        >>> row = {"arch": "mlp", "init": "zero", "depth": 10, "sigma": 1.0, "q0": 0.1,
        ...        "status": "ok", "test_acc": 0.9, "train_acc": 0.95, "steps_to_target": 40,
        ...        "weight_distance": 0.2, "diverged": False, "theory_mean_eig": 1.0,
        ...        "theory_nonzero_frac": 1.0, "init_mean_eig": 1.0, "init_nonzero_frac": 1.0,
        ...        "target_acc": 0.9}
        >>> print(init_table([row]).splitlines()[2])
        | zero | 0.900 | σ=1 | 0.950 | 40 | 0.200 | 1 / 1 |
    """
    cells = scheme_cells(rows, metric)
    depths = sorted({key[0] for c in cells.values() for key in c})
    top = depths[-1]
    target = next((r.get("target_acc") for r in rows if r.get("target_acc") is not None), None)
    to_target = f"steps to {target:.0%} train acc" if target is not None else "steps to target"
    name = "test acc" if metric == "test_acc" else "train acc"
    head = ([f"{name} L={d}" for d in depths]
            + [f"best σ at L={top}", f"train acc L={top}", to_target,
               f"weight distance L={top}", "theory mean λ / nonzero at init"])
    lines = ["| scheme | " + " | ".join(head) + " |",
             "|---|" + "---|" * len(head)]
    for label, by_point in cells.items():
        best = best_cells(by_point)
        accs = [_num(best[d][1].metric, ".3f") if d in best else "–" for d in depths]
        if top in best:
            (sigma, q0), cell = best[top]
            several_q0 = len({k[2] for k in by_point}) > 1
            point = f"σ={sigma:g}" + (f", q0={q0:g}" if several_q0 else "")
            theory = (f"{_num(cell.theory_mean, '.3g')} / {_num(cell.theory_nonzero, '.3g')}"
                      if math.isfinite(cell.theory_mean) else "–")
            tail = [point, _num(cell.train_acc, ".3f"), _steps(cell),
                    _num(cell.weight_distance, ".3f"), theory]
        else:
            tail = ["–"] * 5
        lines.append(f"| {label} | " + " | ".join(accs + tail) + " |")
    return "\n".join(lines) + "\n"
