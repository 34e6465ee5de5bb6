r"""Configuration: what a run is made of, as three small composable dataclasses.

Following nanoGPT's ``GPTConfig -> GPT(config)``, every object that a run builds comes from
one frozen dataclass:

* :class:`DataConfig`: which dataset, which split, how inputs are standardized
  (:meth:`DataConfig.load`);
* :class:`ModelConfig`: the network (:func:`idmlp.nets.mlp.build_model`,
  ``InterpretableMLP.from_config``), including :math:`q_0`, the input variance the
  network's first state :math:`x^0 = (\sqrt{q_0}\,z, 0_C)` is scaled to;
* :class:`OptimConfig`: the optimizer, its schedule and the loss over layers
  (:meth:`OptimConfig.build`), shared by ``idmlp train`` and ``idmlp sweep``;
* :class:`DynamicsConfig`: what a run records *during* training (snapshots of every
  layer, :mod:`idmlp.analysis.dynamics`); a run-folder setting, not part of a sweep.

Every field is validated on construction (a one-line ``ValueError`` naming the field and
its valid range). The command-line flags (:func:`add_arguments`) and the columns of a
sweep's ``results.csv`` (:func:`field_types`) are derived from the fields, so a new setting
is one field, its validation and its help text.

This module imports neither torch nor numpy, so the command line parses (and ``--help``
answers) without loading them; :meth:`OptimConfig.build` imports torch when called.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .._validation import (
    check_choice,
    check_int,
    check_positive,
    check_probability,
    check_real,
)

__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "CNN_DEFAULTS",
    "CNN_RECOMMENDED",
    "DATASETS",
    "DEVICES",
    "INIT_SCHEMES",
    "LAYER_LOSSES",
    "OPTIMIZERS",
    "SCALINGS",
    "SCHEDULES",
    "DataConfig",
    "DynamicsConfig",
    "ModelConfig",
    "OptimConfig",
    "add_arguments",
    "arguments_given",
    "field_types",
    "from_dict",
    "parse_dilations",
]

#: Elementwise activations (:mod:`idmlp.activations` maps each name to its function).
ACTIVATIONS: tuple[str, ...] = (
    "hardtanh", "tanh", "relu", "leaky_relu", "linear", "sigmoid", "gelu", "selu",
)
#: Weight initializations (:func:`idmlp.init.init_weight_`).
INIT_SCHEMES: tuple[str, ...] = ("identity", "orthogonal", "xavier", "he")
#: Dataset names for :func:`idmlp.data.load_dataset`; ``npz:PATH`` stands for any file.
DATASETS: tuple[str, ...] = ("digits", "mnist5k", "mnist", "fashion-mnist", "kmnist", "npz:PATH")
#: Input standardization: one mean and deviation over all features, one per feature, or
#: ``auto`` (global for image data, per feature otherwise).
SCALINGS: tuple[str, ...] = ("auto", "global", "feature")
#: Network architectures of :class:`ModelConfig`: the interpretable MLP
#: (:class:`idmlp.nets.mlp.InterpretableMLP`) or CNN (:class:`idmlp.nets.cnn.InterpretableCNN`).
ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn")
#: The :class:`ModelConfig` fields of ``arch="cnn"`` alone, and their defaults there.
CNN_DEFAULTS: dict[str, Any] = {"extra_channels": 16, "kernel_size": 3, "dilations": "1,2,4,8",
                                "extra_init_std": 1.0}
#: The run settings that ``--arch cnn`` brings on the command line, unless given: chosen on
#: mnist5k's validation split (README, "Convolutional networks").
CNN_RECOMMENDED: dict[str, Any] = {"depth": 8, "lr": 1e-2, "warmup_epochs": 0.5,
                                   "epochs": 10}
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
SCHEDULES: tuple[str, ...] = ("constant", "cosine", "step")
#: Which layers' class readouts enter the loss (:meth:`OptimConfig.layer_weights`).
LAYER_LOSSES: tuple[str, ...] = ("last", "all", "ramp")
DEVICES: tuple[str, ...] = ("cpu", "cuda", "auto")

C = TypeVar("C")


def _help(text: str, *, cli: bool = True, flag: str | None = None) -> dict[str, Any]:
    """Field metadata: the flag's help text; ``cli=False`` keeps a field off the CLI."""
    return {"help": text, "cli": cli, "flag": flag}


def _put(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def parse_dilations(value: object) -> tuple[int, ...]:
    """Dilations from ``"1,2,4"``, one integer or a sequence of integers: a non-empty tuple
    of integers >= 1.

    Examples:
        >>> parse_dilations("1, 2,4"), parse_dilations(2)
        ((1, 2, 4), (2,))
    """
    items: Any = value
    if isinstance(value, int) and not isinstance(value, bool):
        items = (value,)
    elif isinstance(value, str):
        items = value.split(",")
    try:
        out = tuple(int(v) if isinstance(v, str) else v for v in items)
    except (TypeError, ValueError):
        out = ()
    if not out or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                          for v in out):
        raise ValueError(f"dilations must be a comma list of integers >= 1 (e.g. 1,2,4,8), "
                         f"got {value!r}")
    return out


def check_dataset_name(name: object) -> str:
    """Return ``name`` if it names a dataset of :data:`DATASETS` (or ``npz:PATH``)."""
    if not isinstance(name, str) or not (
        (name.startswith("npz:") and len(name) > 4) or name.strip().lower() in DATASETS[:-1]
    ):
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {name!r}")
    return name


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split and standardized.

    Examples:
        >>> DataConfig(dataset="digits").test_size
        0.2
    """

    dataset: str = field(default="mnist5k", metadata=_help(
        f"dataset: {', '.join(DATASETS)}"))
    data_dir: str | None = field(default=None, metadata=_help(
        "folder with the IDX files of mnist, fashion-mnist, kmnist"))
    download: bool = field(default=False, metadata=_help(
        "download missing IDX files (MD5-checked)"))
    test_size: float = field(default=0.2, metadata=_help(
        "test fraction of datasets without an official split"))
    val_size: float = field(default=0.1, metadata=_help(
        "fraction of the training split held out for validation (0: none); every choice "
        "made by measurement is made on it"))
    split_seed: int = field(default=0, metadata=_help("seed of the stratified splits"))
    scaling: str = field(default="auto", metadata=_help(
        "input standardization: 'global' (one mean and deviation for all features: keeps "
        "an image's structure), 'feature' (per feature, with a floor on the deviation) or "
        "'auto' (global for images, feature otherwise)"))
    std_floor: float = field(default=0.1, metadata=_help(
        "'feature' scaling: floor on each deviation, as a fraction of the RMS deviation"))

    def __post_init__(self) -> None:
        check_dataset_name(self.dataset)
        if self.data_dir is not None:
            if not isinstance(self.data_dir, (str, Path)):
                raise ValueError(f"data_dir must be a path or None, got {self.data_dir!r}")
            _put(self, "data_dir", str(self.data_dir))
        _check_bool("download", self.download)
        _put(self, "test_size", check_probability("test_size", self.test_size))
        _put(self, "val_size", check_real("val_size", self.val_size))
        if not 0.0 <= self.val_size < 1.0:
            raise ValueError(f"val_size must lie in [0, 1), got {self.val_size!r}")
        _put(self, "split_seed", check_int("split_seed", self.split_seed, minimum=0))
        check_choice("scaling", self.scaling, SCALINGS)
        _put(self, "std_floor", check_real("std_floor", self.std_floor))
        if not 0.0 <= self.std_floor <= 1.0:
            raise ValueError(f"std_floor must lie in [0, 1], got {self.std_floor!r}")

    def load(self) -> Any:
        """The :class:`~idmlp.data.Dataset` this config names (raw features, the split)."""
        from ..data import load_dataset

        ds = load_dataset(self.dataset, data_dir=self.data_dir, test_size=self.test_size,
                          seed=self.split_seed, download=self.download)
        return ds.with_validation(self.val_size, self.split_seed) if self.val_size else ds

    def resolved_scaling(self, image_shape: tuple[int, ...]) -> str:
        """``global`` or ``feature``: what ``auto`` means for data of ``image_shape``."""
        if self.scaling != "auto":
            return self.scaling
        return "global" if len(image_shape) >= 2 else "feature"

    def scaler(self, dataset: Any) -> Any:
        """The :class:`~idmlp.data.InputScaler` of this config, fitted on ``dataset``'s
        training split."""
        return dataset.fit_scaler(self.resolved_scaling(dataset.image_shape), self.std_floor)


@dataclass(frozen=True)
class ModelConfig:
    r"""The network: an interpretable MLP of width ``N + C`` or CNN with ``C`` class channels
    (and its initialization).

    Layer :math:`\ell` computes :math:`x^\ell = \phi(W^\ell x^{\ell-1} (+ b^\ell))` from
    :math:`x^0 = (\sqrt{q_0}\, z, 0_C)`, where ``z`` is the standardized input; every
    layer's class block, times ``logit_scale``, gives that layer's class logits.
    ``in_features``, ``num_classes`` and ``image_shape`` come from the data
    (:meth:`for_data`). With ``arch="cnn"`` (:class:`idmlp.nets.cnn.InterpretableCNN`),
    :math:`W^\ell` is a same-size convolution of ``C_in + extra_channels + C`` channels
    and the logits are the spatial means of the class channels; the fields of
    :data:`CNN_DEFAULTS` apply to it alone (``None`` takes its default there, and an MLP
    refuses them).

    Examples:
        >>> ModelConfig(depth=10, q0=0.5).for_data(64, 10, (8, 8)).width
        74
    """

    arch: str = field(default="mlp", metadata=_help(
        f"architecture: {', '.join(ARCHITECTURES)}; on the command line, cnn also sets "
        + ", ".join(f"{k}={v}" for k, v in CNN_RECOMMENDED.items()) + " unless given"))
    depth: int = field(default=20, metadata=_help("number of layers L"))
    sigma: float = field(default=1.0, metadata=_help(
        "initialization scale: W = sigma I for identity init, the gain otherwise"))
    q0: float = field(default=1.0, metadata=_help(
        "input variance: x^0 = (sqrt(q0) z, 0_C) for standardized inputs z"))
    activation: str = field(default="hardtanh", metadata=_help(
        f"activation: {', '.join(ACTIVATIONS)}"))
    init: str = field(default="identity", metadata=_help(
        f"weight initialization: {', '.join(INIT_SCHEMES)}"))
    bias: bool = field(default=False, metadata=_help("layers with a bias (initialized to 0)"))
    logit_scale: float = field(default=8.0, metadata=_help(
        "s in logits = s * class block, the same at every layer"))
    learn_logit_scale: bool = field(default=False, metadata=_help(
        "train log s with the weights"))
    in_features: int | None = field(default=None, metadata=_help("N", cli=False))
    num_classes: int | None = field(default=None, metadata=_help("C", cli=False))
    image_shape: tuple[int, ...] | None = field(default=None, metadata=_help(
        "shape of one input", cli=False))
    extra_channels: int | None = field(default=None, metadata=_help(
        "cnn: K extra feature channels, starting at zero (default there: "
        f"{CNN_DEFAULTS['extra_channels']})"))
    kernel_size: int | None = field(default=None, metadata=_help(
        f"cnn: odd convolution kernel size (default there: {CNN_DEFAULTS['kernel_size']})"))
    dilations: str | None = field(default=None, metadata=_help(
        "cnn: dilation of each layer, a comma list cycled over the layers, e.g. 1,2,4,8 "
        f"(default there: {CNN_DEFAULTS['dilations']})"))
    extra_init_std: float | None = field(default=None, metadata=_help(
        "cnn: std of the random filters in the extra channels' identity-initialized rows, "
        "times 1/sqrt(fan in); 0 gives the exact Dirac start (default there: "
        f"{CNN_DEFAULTS['extra_init_std']})"))

    def __post_init__(self) -> None:
        check_choice("arch", self.arch, ARCHITECTURES)
        _put(self, "depth", check_int("depth", self.depth))
        for name in ("sigma", "q0", "logit_scale"):
            _put(self, name, check_positive(name, getattr(self, name)))
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("init", self.init, INIT_SCHEMES)
        _check_bool("bias", self.bias)
        _check_bool("learn_logit_scale", self.learn_logit_scale)
        if self.in_features is not None:
            _put(self, "in_features", check_int("in_features", self.in_features))
        if self.num_classes is not None:
            _put(self, "num_classes", check_int("num_classes", self.num_classes, minimum=2))
        if self.image_shape is not None:
            shape = tuple(self.image_shape)
            if not shape or not all(isinstance(s, int) and s >= 1 for s in shape):
                raise ValueError(f"image_shape must be positive integers, got {self.image_shape!r}")
            if self.in_features is not None and math.prod(shape) != self.in_features:
                raise ValueError(f"image_shape {shape} has {math.prod(shape)} pixels but "
                                 f"in_features is {self.in_features}")
            _put(self, "image_shape", shape)
        self._check_arch_fields()

    def _check_arch_fields(self) -> None:
        if self.arch != "cnn":
            given = [k for k in CNN_DEFAULTS if getattr(self, k) is not None]
            if given:
                raise ValueError(f"{given[0]} applies to arch 'cnn' only; drop it or set "
                                 f"arch to cnn")
            return
        for name, default in CNN_DEFAULTS.items():
            if getattr(self, name) is None:
                _put(self, name, default)
        _put(self, "extra_channels", check_int("extra_channels", self.extra_channels,
                                               minimum=0))
        _put(self, "kernel_size", check_int("kernel_size", self.kernel_size))
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (a same-size convolution needs a "
                             f"centre tap), got {self.kernel_size}")
        _put(self, "dilations", ",".join(map(str, parse_dilations(self.dilations))))
        _put(self, "extra_init_std", check_real("extra_init_std", self.extra_init_std))
        if self.extra_init_std < 0:
            raise ValueError(f"extra_init_std must be >= 0, got {self.extra_init_std!r}")
        if self.image_shape is not None and len(self.image_shape) not in (2, 3):
            raise ValueError(f"arch cnn needs images: image_shape (H, W) or (C, H, W), got "
                             f"{self.image_shape}; use arch mlp for flat features")

    def for_data(self, in_features: int, num_classes: int,
                 image_shape: tuple[int, ...] | None = None) -> ModelConfig:
        """A copy with the data's sizes filled in."""
        return dataclasses.replace(self, in_features=in_features, num_classes=num_classes,
                                   image_shape=tuple(image_shape) if image_shape else None)

    def check_buildable(self, arch: str, needs: tuple[str, ...]) -> None:
        """Refuse, in one line, building an ``arch`` network from this config when its arch
        differs or a data size in ``needs`` is not filled in (:meth:`for_data`)."""
        if self.arch != arch:
            raise ValueError(f"this network needs a ModelConfig with arch {arch!r}, got "
                             f"{self.arch!r} (idmlp.nets.mlp.build_model dispatches)")
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"the ModelConfig needs {' and '.join(missing)} "
                             "(ModelConfig.for_data)")

    @property
    def width(self) -> int:
        """``N + C``, the width of every layer (needs :meth:`for_data`)."""
        if self.in_features is None or self.num_classes is None:
            raise ValueError("the model's width needs in_features and num_classes "
                             "(ModelConfig.for_data)")
        return self.in_features + self.num_classes


@dataclass(frozen=True)
class OptimConfig:
    r"""How a network is trained: optimizer, schedule, loss over layers and budget.

    Learning-rate schedules are per optimizer step :math:`t = 0 .. T-1` with an optional
    linear warmup over the first :math:`W` steps,
    :math:`\eta_t = \eta\, \min(1, (t+1)/W)\, f_t`:

    * ``constant``: :math:`f_t = 1`;
    * ``cosine``: :math:`f_t = \tfrac12 (1 + \cos(\pi \max(0, t - W) / (T - W)))`;
    * ``step``: :math:`f_t = \gamma^{\lfloor t / (S \cdot \text{steps per epoch}) \rfloor}`.

    The loss is :math:`\sum_\ell w_\ell\, \mathrm{CE}(s\, x^\ell_{N+1..N+C}, y)` over the
    layers' readouts, with weights :meth:`layer_weights` (``last``: only the last layer).

    Examples:
        >>> OptimConfig(layer_loss="ramp").layer_weights(4)
        [0.1, 0.2, 0.3, 0.4]
    """

    optimizer: str = field(default="adam", metadata=_help(
        f"optimizer: {', '.join(OPTIMIZERS)}"))
    lr: float = field(default=3e-4, metadata=_help("learning rate"))
    momentum: float = field(default=0.9, metadata=_help("SGD momentum in [0, 1) (sgd only)"))
    weight_decay: float = field(default=0.0, metadata=_help("L2 coefficient >= 0"))
    schedule: str = field(default="cosine", metadata=_help(
        f"learning-rate schedule: {', '.join(SCHEDULES)}"))
    warmup_epochs: float = field(default=0.0, metadata=_help("linear warmup length in epochs"))
    step_epochs: int = field(default=10, metadata=_help("'step' schedule period in epochs"))
    gamma: float = field(default=0.1, metadata=_help("'step' schedule factor in (0, 1]"))
    label_smoothing: float = field(default=0.1, metadata=_help(
        "cross-entropy label smoothing in [0, 1)"))
    layer_loss: str = field(default="all", metadata=_help(
        "layers in the loss: 'last', 'all' (mean over layers) or 'ramp' (weights rising "
        "with depth)"))
    batch_size: int = field(default=128, metadata=_help("minibatch size"))
    epochs: int = field(default=15, metadata=_help("passes over the training set"))
    steps: int | None = field(default=None, metadata=_help(
        "total optimizer steps (overrides epochs)"))
    seed: int = field(default=0, metadata=_help("seed of the initialization and shuffling"))

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _put(self, "lr", check_positive("lr", self.lr))
        for name in ("momentum", "weight_decay", "warmup_epochs", "gamma", "label_smoothing"):
            _put(self, name, check_real(name, getattr(self, name)))
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        check_choice("schedule", self.schedule, SCHEDULES)
        _put(self, "step_epochs", check_int("step_epochs", self.step_epochs))
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must lie in (0, 1], got {self.gamma!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing!r}")
        check_choice("layer_loss", self.layer_loss, LAYER_LOSSES)
        _put(self, "batch_size", check_int("batch_size", self.batch_size))
        _put(self, "epochs", check_int("epochs", self.epochs))
        if self.steps is not None:
            _put(self, "steps", check_int("steps", self.steps))
        _put(self, "seed", check_int("seed", self.seed, minimum=0))
        if not 0.0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(f"warmup_epochs must lie in [0, epochs={self.epochs}], "
                             f"got {self.warmup_epochs!r}")

    def steps_per_epoch(self, n_train: int) -> int:
        """Optimizer steps in one pass over ``n_train`` examples (the last batch may be
        smaller)."""
        return math.ceil(n_train / self.batch_size)

    def total_steps(self, n_train: int) -> int:
        """:attr:`steps` if set, else ``epochs`` passes over ``n_train`` examples."""
        return self.steps if self.steps is not None else self.epochs * self.steps_per_epoch(
            n_train)

    def layer_weights(self, depth: int) -> list[float]:
        r"""Loss weight of each layer's readout, summing to 1.

        ``last``: :math:`w_L = 1`; ``all``: :math:`w_\ell = 1/L`; ``ramp``:
        :math:`w_\ell = \ell / \sum_k k`, rising with depth.
        """
        depth = check_int("depth", depth)
        if self.layer_loss == "last":
            return [0.0] * (depth - 1) + [1.0]
        if self.layer_loss == "all":
            return [1.0 / depth] * depth
        total = depth * (depth + 1) / 2
        return [(l + 1) / total for l in range(depth)]

    def lr_factor(self, steps_per_epoch: int, total_steps: int) -> typing.Callable[[int], float]:
        """The multiplier of :attr:`lr` at optimizer step ``t`` (see the class docstring)."""
        warmup = round(self.warmup_epochs * steps_per_epoch)
        decay_every = self.step_epochs * steps_per_epoch
        schedule, gamma = self.schedule, self.gamma

        def factor(t: int) -> float:
            w = min(1.0, (t + 1) / warmup) if warmup else 1.0
            if schedule == "cosine":
                return w * 0.5 * (1.0 + math.cos(
                    math.pi * max(0, t - warmup) / max(1, total_steps - warmup)))
            if schedule == "step":
                return w * gamma ** (t // decay_every)
            return w

        return factor

    def build(self, params: Any, *, steps_per_epoch: int, total_steps: int,
              fused: bool | None = None) -> tuple[Any, Any]:
        """The optimizer over ``params`` and its per-step learning-rate scheduler.

        ``torch.optim.Adam`` or ``torch.optim.SGD`` (with :attr:`momentum`), coupled
        :attr:`weight_decay`, and a ``LambdaLR`` stepped after every batch. ``fused=True``
        asks for torch's single-kernel implementation (the same update, about 5x faster
        for Adam over large tensors on CPU) where torch has one for the parameters' device.
        """
        import torch

        params = [p for p in params if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters")
        cls = torch.optim.Adam if self.optimizer == "adam" else torch.optim.SGD
        kw: dict[str, Any] = {"lr": self.lr, "weight_decay": self.weight_decay}
        if self.optimizer == "sgd":
            kw["momentum"] = self.momentum
        try:
            opt = cls(params, **kw, **({"fused": True} if fused else {}))
        except (RuntimeError, TypeError, ValueError):
            if not fused:
                raise
            opt = cls(params, **kw)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, self.lr_factor(steps_per_epoch, total_steps))
        return opt, sched


@dataclass(frozen=True)
class DynamicsConfig:
    r"""Snapshots of the network during training (:mod:`idmlp.analysis.dynamics`).

    ``snapshots = K`` records ``K`` snapshots at optimizer steps log-spaced from step 0
    (the initialization) to the last step (:func:`idmlp.analysis.dynamics.snapshot_steps`), on the
    first ``snapshot_examples`` examples of the validation split (the test split when
    the run has none): per-layer accuracy, identity distances and the maps of one example
    per class. ``snapshot_spectra`` of them (evenly spread over the snapshots, so
    log-spaced in steps, the first and the last included) also hold the singular values
    of the input-output Jacobian at ``snapshot_jacobians`` examples: in float64 one
    costs about five training steps at width 794, so a spectrum at every snapshot would
    not fit the budget. ``K = 16`` with the other defaults adds under 10 % to the paper's
    mnist5k run (``benchmarks/bench_snapshots.py``).

    Examples:
        >>> DynamicsConfig(snapshots=16).snapshot_examples
        256
    """

    snapshots: int = field(default=0, metadata=_help(
        "snapshots of every layer during training, log-spaced in optimizer steps from "
        "step 0 to the last step (an integer >= 2, at most the number of steps; 0: none; "
        "16 adds under a tenth to the training time)"))
    snapshot_examples: int = field(default=256, metadata=_help(
        "held-out examples scored at every snapshot (the first of the validation split, "
        "else of the test split)"))
    snapshot_jacobians: int = field(default=1, metadata=_help(
        "inputs (one per class, in label order) at which a snapshot computes the singular "
        "values of the input-output Jacobian (0: none)"))
    snapshot_spectra: int = field(default=4, metadata=_help(
        "snapshots, evenly spread over them (the first and the last included), that hold "
        "the Jacobian spectrum (all of them if larger than --snapshots; 0: none)"))

    def __post_init__(self) -> None:
        _put(self, "snapshots", check_int("snapshots", self.snapshots, minimum=0))
        if self.snapshots == 1:
            raise ValueError("snapshots must be 0 (none) or an integer >= 2 (step 0 and the "
                             "last step at least), got 1")
        _put(self, "snapshot_examples", check_int("snapshot_examples", self.snapshot_examples))
        _put(self, "snapshot_jacobians",
             check_int("snapshot_jacobians", self.snapshot_jacobians, minimum=0))
        _put(self, "snapshot_spectra",
             check_int("snapshot_spectra", self.snapshot_spectra, minimum=0))


# -- fields as command-line flags and typed columns ---------------------------------------


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """``(T, optional)`` of an annotation ``T`` or ``T | None``."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return tp, False


def field_types(cls: type) -> dict[str, type]:
    """``{field: int | float | str | bool | tuple}`` for every field of a config class
    (``T | None`` gives ``T``): the types of a sweep's CSV columns."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        tp, _ = _unwrap(hints[f.name])
        out[f.name] = typing.get_origin(tp) or tp
    return out


def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser | Any, cls: type, *,
                  defaults: Any = None, exclude: tuple[str, ...] = (),
                  title: str | None = None) -> list[str]:
    """Add one flag per CLI field of the config class ``cls`` (``--name-with-dashes``).

    Every flag defaults to ``None``, so :func:`arguments_given` tells an explicit value from
    a default; the help text shows the default of ``defaults`` (an instance of ``cls``,
    default ``cls()``). Values are parsed by type only; validation is the dataclass's.
    Returns the field names added.
    """
    group = parser.add_argument_group(title) if title else parser
    defaults = defaults if defaults is not None else cls()
    hints = typing.get_type_hints(cls)
    names = []
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", False) or f.name in exclude:
            continue
        tp, _ = _unwrap(hints[f.name])
        default = getattr(defaults, f.name)
        shown = "none" if default is None else default
        help_ = f"{f.metadata['help']} (default: {shown})"
        if tp is bool:
            group.add_argument(_flag(f), dest=f.name, action=argparse.BooleanOptionalAction,
                               default=None, help=help_)
        else:
            group.add_argument(_flag(f), dest=f.name, type=_parser_for(tp, _flag(f)),
                               default=None, metavar=f.name.upper(), help=help_)
        names.append(f.name)
    return names


def _parser_for(tp: type, flag: str) -> typing.Callable[[str], Any]:
    if tp is int:
        def parse(text: str) -> int:
            try:
                return int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        return parse
    if tp is float:
        def parse_float(text: str) -> float:
            try:
                value = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
            if not math.isfinite(value):
                raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
            return value
        return parse_float
    return str


def arguments_given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` given explicitly on the command line (not ``None``)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def from_dict(cls: type[C], d: Any, *, where: str = "") -> C:
    """Build the config class ``cls`` from a dict; unknown keys are a one-line error
    (missing keys take their defaults)."""
    if not isinstance(d, dict):
        raise ValueError(f"{where}a {cls.__name__} needs a dict, got {type(d).__name__}")
    unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"{where}unknown {cls.__name__} field(s): {', '.join(unknown)}")
    if "image_shape" in d and d["image_shape"] is not None:
        d = {**d, "image_shape": tuple(d["image_shape"])}
    return cls(**d)
