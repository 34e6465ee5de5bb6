r"""A sweep's configuration: the grid-spec mini language, the runs a grid expands to and the
settings every run shares.

A sweep trains one network per point of the grid

.. math::
    \text{depth} \times \text{activation} \times \text{init} \times \sigma \times q_0
    \times \text{seed},

each for the same budget (:class:`TrainSettings`). A numeric axis is
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

import dataclasses
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .._validation import MAX_SEED, check_choice, check_int, check_probability
from .archs import option_owners
from .data import DataConfig
from .fields import field_names, from_dict, meta, route
from .model import ACTIVATIONS, INIT_SCHEMES, ModelConfig
from .optim import OptimConfig

__all__ = [
    "AXES",
    "BACKENDS",
    "CONFIG_FILE",
    "DTYPES",
    "RESULTS_FILE",
    "RunSpec",
    "SWEEP_FIXED_OPTIM",
    "SweepConfig",
    "TrainSettings",
    "parse_choices",
    "parse_floats",
    "parse_ints",
]

#: Floating-point types a sweep can train in.
DTYPES: tuple[str, ...] = ("float32", "float64")
#: Where the batches of a sweep run (:func:`idmlp.sweep.run`).
BACKENDS: tuple[str, ...] = ("inprocess", "ray")
#: The files of a sweep folder.
RESULTS_FILE, CONFIG_FILE = "results.csv", "sweep.json"

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
                 *, positive: bool = True, max_values: int | None = None) -> tuple[float, ...]:
    """Expand a numeric grid spec (see the module docstring) into a tuple of floats.

    Args:
        spec: ``"0.8:1.2:17"``, ``"1e-3:10:17:log"``, ``"0.9,1,1.1"``, a number, or an
            iterable of numbers.
        name: the option name used in error messages (e.g. ``"--sigma"``).
        positive: require every value to be > 0.
        max_values: refuse (before expanding it) a spec with more values than this.

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
        values = _parse_float_text(spec.strip(), name, max_values)
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


def _too_many(name: str, num: int, max_values: int | None) -> None:
    if max_values is not None and num > max_values:
        raise ValueError(f"{name}: the grid has {num} values, more than the {max_values} runs "
                         "allowed; shrink it or raise --max-configs")


def _parse_float_text(spec: str, name: str, max_values: int | None = None) -> list[float]:
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
    _too_many(name, num, max_values)
    import numpy as np

    if log:
        if start <= 0 or stop <= 0:
            raise ValueError(f"{name}: a log grid needs START and STOP > 0, got {spec!r}")
        return np.geomspace(start, stop, num).tolist()
    return np.linspace(start, stop, num).tolist()


def parse_ints(spec: str | int | Iterable[int], name: str = "value",
               *, minimum: int = 1, max_values: int | None = None) -> tuple[int, ...]:
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
            else:
                values = [int(p) for p in text.split(",")] if text else []
        except ValueError:
            raise ValueError(f"{name}: cannot parse {spec!r}; expected a comma list of "
                             "integers such as 10,30 or a range START:STOP such as 0:3") from None
        if ":" in text:
            _too_many(name, hi - lo, max_values)
            values = list(range(lo, hi))
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

    def model_config(self, base: ModelConfig) -> ModelConfig:
        """``base`` with this run's depth, activation, init, sigma and q0."""
        return dataclasses.replace(base, depth=self.depth, activation=self.activation,
                                   init=self.init, sigma=self.sigma, q0=self.q0)


#: Optimization fields a sweep does not vary or record: each run's seed is its own column,
#: its engine trains on clean inputs (``input_noise`` is 0) with softmax cross-entropy (the
#: loss the theory's trainability question is asked with).
SWEEP_FIXED_OPTIM: tuple[str, ...] = ("seed", "input_noise", "loss")

#: The grid axes: fields of :class:`RunSpec` that a sweep varies (``seed`` is ``seeds``).
AXES: tuple[str, ...] = ("depth", "activation", "init", "sigma", "q0", "seeds")


def _sweep_model() -> ModelConfig:
    # the paper's network (no extra features): what the theory columns describe
    return ModelConfig(logit_scale=1.0, options={"extra_features": 0})


def _sweep_optim() -> OptimConfig:
    return OptimConfig(lr=1e-3, momentum=0.0, schedule="constant", label_smoothing=0.0,
                       input_noise=0.0, layer_loss="last", batch_size=64, steps=300)


@dataclass(frozen=True)
class TrainSettings:
    """What every run of a sweep shares: the model's fixed settings, the optimization and
    the measurements.

    Args:
        model: the :class:`~idmlp.config.ModelConfig` whose ``depth``, ``activation``,
            ``init``, ``sigma`` and ``q0`` each run replaces (default: logit scale 1, the
            paper's MLP without extra features).
        optim: the :class:`~idmlp.config.OptimConfig` (default: Adam, lr 1e-3, batch 64,
            300 steps, constant rate); its ``seed`` is unused (each run has its own).
        eval_every: evaluate the training accuracy every this many steps (and at the end);
            ``steps_to_target`` is the first such step where it reaches ``target_acc``.
        target_acc: the accuracy target, in [0, 1].
        eval_size: the periodic evaluation uses the first ``eval_size`` training samples
            (the final metrics use all of them).
        jacobian_samples: training inputs at which the Jacobian at initialization is taken.
        dtype: ``float32`` or ``float64``.

    Examples:
        >>> TrainSettings.make(steps=50, lr=1e-2, eval_every=5).optim.steps
        50
    """

    model: ModelConfig = field(default_factory=_sweep_model)
    optim: OptimConfig = field(default_factory=_sweep_optim)
    eval_every: int = field(default=10, metadata=meta(
        "evaluate the training accuracy every this many steps"))
    target_acc: float = field(default=0.9, metadata=meta(
        "training accuracy whose first evaluated step is steps_to_target"))
    eval_size: int = field(default=512, metadata=meta(
        "training samples of the periodic evaluation"))
    jacobian_samples: int = field(default=32, metadata=meta(
        "training inputs at which the Jacobian at initialization is taken"))
    dtype: str = field(default="float32", metadata=meta(f"{', '.join(DTYPES)}"))

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if isinstance(self.model, dict):
            set_(self, "model", from_dict(ModelConfig, self.model))
        if isinstance(self.optim, dict):
            set_(self, "optim", from_dict(OptimConfig, self.optim))
        if not isinstance(self.model, ModelConfig) or not isinstance(self.optim, OptimConfig):
            raise ValueError("model and optim must be idmlp.config ModelConfig and OptimConfig")
        if self.optim.input_noise:
            raise ValueError(f"a sweep trains on clean inputs (its batched engine has no "
                             f"input noise); input_noise must be 0, got "
                             f"{self.optim.input_noise!r}")
        if self.optim.loss != "cross_entropy":
            raise ValueError(f"a sweep trains with cross_entropy; loss must be cross_entropy, "
                             f"got {self.optim.loss!r}")
        set_(self, "eval_every", check_int("eval_every", self.eval_every, minimum=1))
        set_(self, "target_acc",
             check_probability("target_acc", self.target_acc, open_interval=False))
        set_(self, "eval_size", check_int("eval_size", self.eval_size, minimum=1))
        set_(self, "jacobian_samples",
             check_int("jacobian_samples", self.jacobian_samples, minimum=1))
        set_(self, "dtype", check_choice("dtype", self.dtype, DTYPES))

    @classmethod
    def make(cls, **options: Any) -> TrainSettings:
        """Settings from flat field names of any part (``steps=``, ``lr=``,
        ``logit_scale=``, ``eval_every=``, ...), the rest default."""
        return cls().replace(**options)

    def replace(self, **options: Any) -> TrainSettings:
        """A copy with flat field names of any part replaced (the grid axes excepted)."""
        parts = route(options, {
            "own": field_names(TrainSettings) - {"model", "optim"},
            "model": (field_names(ModelConfig) - {"options", *AXES})
            | ModelConfig.option_names(),
            "optim": field_names(OptimConfig)}, what="sweep training setting")
        own, model, optim = parts["own"], parts["model"], parts["optim"]
        return dataclasses.replace(
            self, **own, model=self.model.replace(**model) if model else self.model,
            optim=dataclasses.replace(self.optim, **optim) if optim else self.optim)

    @property
    def torch_dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype)

    def columns(self) -> dict[str, Any]:
        """The settings as flat result columns (the model's per-run fields and the unused
        optimizer seed left out)."""
        model = {k: getattr(self.model, k) for k in MODEL_COLUMNS}
        model.update({k: getattr(self.model.options, k, None) for k in OPTION_COLUMNS})
        optim = {k: v for k, v in dataclasses.asdict(self.optim).items() if k in OPTIM_COLUMNS}
        own = {k: getattr(self, k) for k in OWN_COLUMNS}
        return {**model, **optim, **own}

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model"]["image_shape"] = None
        return d


#: Result columns of the fixed model settings (the grid axes have their own).
MODEL_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in fields(ModelConfig)
    if f.metadata.get("cli")
    and f.name not in (*RunSpec.__dataclass_fields__, "options"))
#: Result columns of the architectures' own options (empty where the arch has none).
OPTION_COLUMNS: tuple[str, ...] = tuple(option_owners())
#: Result columns of the optimization (the per-run seed has its own).
OPTIM_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(OptimConfig)
                                      if f.name not in SWEEP_FIXED_OPTIM)
#: Result columns of the measurement settings.
OWN_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(TrainSettings)
                                     if f.name not in ("model", "optim"))


@dataclass(frozen=True)
class SweepConfig:
    """Everything that defines a sweep (stored as JSON next to its results).

    The grid fields accept grid specs (strings, see :func:`parse_floats`) or sequences;
    they are stored as tuples of values.

    Args:
        data: the :class:`~idmlp.config.DataConfig` (default: scikit-learn's digits,
            standardized per feature, no validation split: the theory's setting).
        sigma: the identity scale (for the random inits: their gain) grid.
        q0: the input-variance grid; inputs are standardized on the training split and
            the network multiplies them by :math:`\\sqrt{q_0}`.
        depth: depths :math:`L`.
        init: initializations, from :data:`idmlp.config.INIT_SCHEMES`.
        activation: activations, from :data:`idmlp.config.ACTIVATIONS`.
        seeds: one run per seed (its own initialization and its own minibatch order).
        train: the :class:`TrainSettings` shared by every run.
        max_configs: refuse grids with more runs than this (checked before any axis is
            expanded).
        batch_configs: at most this many runs train together in one batched computation.

    Examples:
        >>> SweepConfig(sigma="0.9,1.1", q0="1e-2:1:3:log", depth="3,5").n_runs
        12
    """

    data: DataConfig = field(default_factory=lambda: DataConfig(
        dataset="digits", val_size=0.0, scaling="feature", std_floor=0.0))
    sigma: tuple[float, ...] = (1.0,)
    q0: tuple[float, ...] = (0.1,)
    depth: tuple[int, ...] = (10,)
    init: tuple[str, ...] = ("identity",)
    activation: tuple[str, ...] = ("hardtanh",)
    seeds: tuple[int, ...] = (0,)
    train: TrainSettings = field(default_factory=TrainSettings)
    max_configs: int = 1000
    batch_configs: int = 64

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if isinstance(self.data, dict):
            set_(self, "data", from_dict(DataConfig, self.data))
        if not isinstance(self.data, DataConfig):
            raise ValueError(f"data must be a DataConfig, got {type(self.data).__name__}")
        set_(self, "max_configs", check_int("max_configs", self.max_configs, minimum=1))
        set_(self, "batch_configs", check_int("batch_configs", self.batch_configs, minimum=1))
        top = self.max_configs
        set_(self, "sigma", parse_floats(self.sigma, "sigma", max_values=top))
        set_(self, "q0", parse_floats(self.q0, "q0", max_values=top))
        set_(self, "depth", parse_ints(self.depth, "depth", minimum=1, max_values=top))
        set_(self, "init", parse_choices(self.init, "init", INIT_SCHEMES))
        set_(self, "activation", parse_choices(self.activation, "activation", ACTIVATIONS))
        set_(self, "seeds", parse_ints(self.seeds, "seeds", minimum=0, max_values=top))
        for seed in self.seeds:
            check_int("seeds", seed, minimum=0, maximum=MAX_SEED)
        if isinstance(self.train, dict):
            set_(self, "train", TrainSettings(**self.train))
        if not isinstance(self.train, TrainSettings):
            raise ValueError(f"train must be a TrainSettings, got {type(self.train).__name__}")
        if self.n_runs > self.max_configs:
            axes = " x ".join(f"{len(getattr(self, f))} {f}" for f in AXES)
            raise ValueError(
                f"the grid has {self.n_runs} runs ({axes}), more than max_configs="
                f"{self.max_configs}; shrink the grid or raise --max-configs"
            )

    @property
    def n_runs(self) -> int:
        """Number of trained networks: the product of the axis lengths."""
        return math.prod(len(getattr(self, f)) for f in AXES)

    def runs(self) -> list[RunSpec]:
        """Every grid point, in a fixed order (depth, activation, init, sigma, q0, seed)."""
        return [RunSpec(*point) for point in itertools.product(*(getattr(self, f) for f in AXES))]

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in AXES:
            d[key] = list(d[key])
        d["data"] = dataclasses.asdict(self.data)
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
        data = dataclasses.asdict(self.data)
        for env in ("data_dir", "download"):
            data.pop(env)
        return {"data": data, "train": self.train.to_dict()}
