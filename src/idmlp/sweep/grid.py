r"""Sweep grids: the grid-spec mini language and the list of runs a sweep expands to.

A sweep trains one network per point of the grid

.. math::
    \text{depth} \times \text{activation} \times \text{init} \times \sigma \times q_0
    \times \text{seed},

each for the same budget (:class:`~idmlp.sweep.engine.TrainSettings`). A numeric axis is
written as

- ``START:STOP:NUM``: ``NUM`` evenly spaced values, :func:`numpy.linspace`;
- ``START:STOP:NUM:log``: ``NUM`` log-spaced values from ``START`` to ``STOP``
  (:func:`numpy.geomspace`), e.g. ``1e-3:10:17:log`` for the input variance;
- ``A,B,C``: a comma list (a single value is a list of one).

Values are rounded to 12 significant digits, so ``0.8:1.2:17`` gives ``0.825`` rather
than ``0.8250000000000001``; every value is written to the results with ``repr`` and
read back exactly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from .._validation import check_int, check_probability
from ..activations import ACTIVATIONS
from ..init import INIT_SCHEMES
from .engine import TrainSettings

__all__ = ["RunSpec", "SweepConfig", "parse_choices", "parse_floats", "parse_ints"]

_SPEC_HELP = "expected START:STOP:NUM, START:STOP:NUM:log or a comma list such as 0.9,1,1.1"


def _number(name: str, text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}: cannot parse {spec!r}: {text!r} is not a number; "
                         f"{_SPEC_HELP}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name}: cannot parse {spec!r}: {text!r} is not finite")
    return value


def _no_duplicates(name: str, values: Sequence[Any]) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{name}: the grid repeats the value {v!r}; remove duplicates")
        seen.add(v)


def parse_floats(spec: str | float | Iterable[float], name: str = "value",
                 *, positive: bool = True) -> tuple[float, ...]:
    """Expand a numeric grid spec (see the module docstring) into a tuple of floats.

    Args:
        spec: ``"0.8:1.2:17"``, ``"1e-3:10:17:log"``, ``"0.9,1,1.1"``, a number, or an
            iterable of numbers.
        name: the option name used in error messages (e.g. ``"--sigma"``).
        positive: require every value to be > 0.

    Raises:
        ValueError: one line naming ``name``, if the spec does not parse, is empty,
            repeats a value, or (with ``positive``) has a value <= 0.

    Examples:
        >>> parse_floats("0.8:1.2:5")
        (0.8, 0.9, 1.0, 1.1, 1.2)
        >>> parse_floats("1e-2:1:3:log")
        (0.01, 0.1, 1.0)
    """
    if isinstance(spec, str):
        values = _parse_float_text(spec.strip(), name)
    elif isinstance(spec, (int, float)) and not isinstance(spec, bool):
        values = [_number(name, str(spec), str(spec))]
    else:
        try:
            values = [_number(name, str(v), str(v)) for v in spec]
        except TypeError:
            raise ValueError(f"{name} must be a grid spec string or a list of numbers, "
                             f"got {spec!r}") from None
    if not values:
        raise ValueError(f"{name}: the grid is empty; give at least one value ({_SPEC_HELP})")
    values = [float(f"{v:.12g}") for v in values]
    if positive and any(v <= 0 for v in values):
        bad = next(v for v in values if v <= 0)
        raise ValueError(f"{name}: every value must be > 0, got {bad!r}")
    _no_duplicates(name, values)
    return tuple(values)


def _parse_float_text(spec: str, name: str) -> list[float]:
    if not spec:
        return []
    if ":" not in spec:
        return [_number(name, part.strip(), spec) for part in spec.split(",")]
    parts = [p.strip() for p in spec.split(":")]
    log = len(parts) == 4 and parts[3].lower() == "log"
    if len(parts) not in (3, 4) or (len(parts) == 4 and not log):
        raise ValueError(f"{name}: cannot parse {spec!r}; {_SPEC_HELP}")
    start, stop = _number(name, parts[0], spec), _number(name, parts[1], spec)
    try:
        num = int(parts[2])
    except ValueError:
        raise ValueError(f"{name}: cannot parse {spec!r}: NUM must be an integer >= 1, "
                         f"got {parts[2]!r}") from None
    if num < 1:
        raise ValueError(f"{name}: the grid {spec!r} is empty; NUM must be an integer >= 1")
    if log:
        if start <= 0 or stop <= 0:
            raise ValueError(f"{name}: a log grid needs START and STOP > 0, got {spec!r}")
        return np.geomspace(start, stop, num).tolist()
    return np.linspace(start, stop, num).tolist()


def parse_ints(spec: str | int | Iterable[int], name: str = "value",
               *, minimum: int = 1) -> tuple[int, ...]:
    """Expand a comma list of integers (``"10,30"``; ``"0:3"`` = 0,1,2) into a tuple.

    Examples:
        >>> parse_ints("10,20,50", "--depth")
        (10, 20, 50)
        >>> parse_ints("0:3", "--seeds", minimum=0)
        (0, 1, 2)
    """
    if isinstance(spec, str):
        text = spec.strip()
        try:
            if ":" in text:
                lo, hi = (int(p) for p in text.split(":"))
                values = list(range(lo, hi))
            else:
                values = [int(p) for p in text.split(",")] if text else []
        except ValueError:
            raise ValueError(f"{name}: cannot parse {spec!r}; expected a comma list of "
                             "integers such as 10,30 or a range START:STOP such as 0:3") from None
    elif isinstance(spec, int) and not isinstance(spec, bool):
        values = [spec]
    else:
        try:
            values = list(spec)
        except TypeError:
            raise ValueError(f"{name} must be a comma list or a list of integers, "
                             f"got {spec!r}") from None
    if not values:
        raise ValueError(f"{name}: the grid is empty; give at least one integer")
    for v in values:
        check_int(name, v, minimum=minimum)
    _no_duplicates(name, values)
    return tuple(int(v) for v in values)


def parse_choices(spec: str | Iterable[str], name: str, choices: Sequence[str]) -> tuple[str, ...]:
    """Expand a comma list of names (``"identity,orthogonal"``), each one of ``choices``."""
    values = [p.strip() for p in spec.split(",")] if isinstance(spec, str) else list(spec)
    if not values or any(v == "" for v in values):
        raise ValueError(f"{name}: the grid is empty or has an empty item; give a comma list "
                         f"of {', '.join(choices)}")
    for v in values:
        if v not in choices:
            raise ValueError(f"{name}: {v!r} is not one of {', '.join(choices)}")
    _no_duplicates(name, values)
    return tuple(values)


@dataclass(frozen=True, order=True)
class RunSpec:
    """One point of the grid: a network trained once. Hashable; the key of a result row."""

    depth: int
    activation: str
    init: str
    sigma: float
    q0: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SweepConfig:
    """Everything that defines a sweep (stored as JSON next to its results).

    The grid fields accept grid specs (strings, see :func:`parse_floats`) or sequences;
    they are stored as tuples of values.

    Args:
        dataset: a name for :func:`idmlp.data.load_dataset` (default ``digits``).
        sigma: the identity scale (for the random inits: their gain) grid.
        q0: the input-variance grid; inputs are standardized on the training split and
            multiplied by :math:`\\sqrt{q_0}`.
        depth: depths :math:`L`.
        init: initializations, from :data:`idmlp.init.INIT_SCHEMES`.
        activation: activations, from :data:`idmlp.activations.ACTIVATIONS`.
        seeds: one run per seed (its own initialization and its own minibatch order).
        train: the training budget shared by every run.
        data_dir, test_size, data_seed: passed to :func:`idmlp.data.load_dataset`.
        max_configs: refuse grids with more runs than this.
        batch_configs: at most this many runs train together in one batched computation.
    """

    dataset: str = "digits"
    sigma: tuple[float, ...] = (1.0,)
    q0: tuple[float, ...] = (0.1,)
    depth: tuple[int, ...] = (10,)
    init: tuple[str, ...] = ("identity",)
    activation: tuple[str, ...] = ("hardtanh",)
    seeds: tuple[int, ...] = (0,)
    train: TrainSettings = field(default_factory=TrainSettings)
    data_dir: str | None = None
    test_size: float = 0.2
    data_seed: int = 0
    max_configs: int = 1000
    batch_configs: int = 64

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"dataset must be a dataset name, got {self.dataset!r}")
        set_(self, "sigma", parse_floats(self.sigma, "sigma"))
        set_(self, "q0", parse_floats(self.q0, "q0"))
        set_(self, "depth", parse_ints(self.depth, "depth", minimum=1))
        set_(self, "init", parse_choices(self.init, "init", INIT_SCHEMES))
        set_(self, "activation", parse_choices(self.activation, "activation", ACTIVATIONS))
        set_(self, "seeds", parse_ints(self.seeds, "seeds", minimum=0))
        if isinstance(self.train, dict):
            set_(self, "train", TrainSettings(**self.train))
        if not isinstance(self.train, TrainSettings):
            raise ValueError(f"train must be a TrainSettings, got {type(self.train).__name__}")
        if self.data_dir is not None:
            set_(self, "data_dir", str(self.data_dir))
        set_(self, "test_size", check_probability("test_size", self.test_size))
        set_(self, "data_seed", check_int("data_seed", self.data_seed, minimum=0))
        set_(self, "max_configs", check_int("max_configs", self.max_configs, minimum=1))
        set_(self, "batch_configs", check_int("batch_configs", self.batch_configs, minimum=1))
        if self.n_runs > self.max_configs:
            axes = " x ".join(
                f"{len(getattr(self, f))} {f}"
                for f in ("depth", "activation", "init", "sigma", "q0", "seeds")
            )
            raise ValueError(
                f"the grid has {self.n_runs} runs ({axes}), more than max_configs="
                f"{self.max_configs}; shrink the grid or raise --max-configs"
            )

    @property
    def n_runs(self) -> int:
        """Number of trained networks: the product of the axis lengths."""
        return math.prod(len(getattr(self, f)) for f in
                         ("depth", "activation", "init", "sigma", "q0", "seeds"))

    def runs(self) -> list[RunSpec]:
        """Every grid point, in a fixed order (depth, activation, init, sigma, q0, seed)."""
        return [
            RunSpec(d, a, i, s, q, seed)
            for d, a, i, s, q, seed in itertools.product(
                self.depth, self.activation, self.init, self.sigma, self.q0, self.seeds
            )
        ]

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("sigma", "q0", "depth", "init", "activation", "seeds"):
            d[key] = list(d[key])
        d["train"] = self.train.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown sweep config field(s): {', '.join(unknown)}")
        return cls(**d)

    def data_key(self) -> dict[str, Any]:
        """The fields that must match for results to be comparable (and resumable)."""
        return {"dataset": self.dataset, "test_size": self.test_size,
                "data_seed": self.data_seed, "train": self.train.to_dict()}

