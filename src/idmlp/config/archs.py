"""The registry of network architectures: each name, its class, its own options and the run
settings it brings.

:data:`ARCHS` maps an architecture name (``--arch``) to an :class:`Arch`: where its class
lives (imported on first use, so the command line parses without torch), the small frozen
dataclass of the options that architecture alone has (:class:`MLPOptions`,
:class:`CNNOptions`, ...), and the run settings that choosing it brings unless given
(:meth:`idmlp.config.RunConfig.from_changes`). The configs, the command line, the sweep and
the run loader all read it: adding an architecture is its module under :mod:`idmlp.nets`,
its entry here and its test.

Every class in the registry is a :class:`idmlp.nets.base.LayerwiseNet` (an
:class:`~idmlp.nets.base.InterpretableNet`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._validation import check_int, check_nonnegative, check_real
from .fields import field_names, meta, put

__all__ = [
    "ARCHITECTURES",
    "ARCHS",
    "Arch",
    "CNNOptions",
    "MLPOptions",
    "ResidualOptions",
    "option_owners",
    "parse_dilations",
]


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


@dataclass(frozen=True)
class MLPOptions:
    """Options of the interpretable MLP alone (:class:`idmlp.nets.mlp.InterpretableMLP`):
    none beyond the shared ones of :class:`~idmlp.config.ModelConfig`."""

    def check_shape(self, image_shape: tuple[int, ...]) -> None:
        """Any input shape works: the MLP flattens it."""


@dataclass(frozen=True)
class CNNOptions:
    """Options of the interpretable CNN alone (:class:`idmlp.nets.cnn.InterpretableCNN`).

    Examples:
        >>> CNNOptions(dilations="1, 2").dilations
        '1,2'
    """

    extra_channels: int = field(default=16, metadata=meta(
        "cnn: K extra feature channels, starting at zero"))
    kernel_size: int = field(default=3, metadata=meta("cnn: odd convolution kernel size"))
    dilations: str = field(default="1,2,4,8", metadata=meta(
        "cnn: dilation of each layer, a comma list cycled over the layers, e.g. 1,2,4,8"))
    extra_init_std: float = field(default=1.0, metadata=meta(
        "cnn: std of the random filters in the extra channels' identity-initialized rows, "
        "times 1/sqrt(fan in); 0 gives the exact Dirac start"))

    def __post_init__(self) -> None:
        put(self, "extra_channels", check_int("extra_channels", self.extra_channels,
                                              minimum=0))
        put(self, "kernel_size", check_int("kernel_size", self.kernel_size))
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (a same-size convolution needs a "
                             f"centre tap), got {self.kernel_size}")
        put(self, "dilations", ",".join(map(str, parse_dilations(self.dilations))))
        put(self, "extra_init_std", check_nonnegative("extra_init_std", self.extra_init_std))

    def check_shape(self, image_shape: tuple[int, ...]) -> None:
        """Refuse inputs that are not images, in one line."""
        if len(image_shape) not in (2, 3):
            raise ValueError(f"arch cnn needs images: image_shape (H, W) or (C, H, W), got "
                             f"{tuple(image_shape)}; use arch mlp for flat features")


@dataclass(frozen=True)
class ResidualOptions:
    r"""Options of the residual interpretable MLP alone
    (:class:`idmlp.nets.residual.ResidualMLP`).

    Examples:
        >>> ResidualOptions().alpha_init
        0.0
    """

    alpha_init: float = field(default=0.0, metadata=meta(
        "residual: start value of every branch scale alpha_l in "
        "x^l = x^(l-1) + alpha_l phi(W^l x^(l-1)); 0 (ReZero, SkipInit) starts the network "
        "as the identity"))
    class_init_std: float = field(default=1.0, metadata=meta(
        "residual: std of the random filters added to the class rows of branch weights that "
        "start exactly at sigma I (identity, zero, idinit), times 1/sqrt(fan in) (with alpha "
        "= 0 and W = sigma I exactly, no gradient reaches the scales or the weights)"))

    def __post_init__(self) -> None:
        put(self, "alpha_init", check_real("alpha_init", self.alpha_init))
        put(self, "class_init_std", check_nonnegative("class_init_std", self.class_init_std))

    def check_shape(self, image_shape: tuple[int, ...]) -> None:
        """Any input shape works: the MLP flattens it."""


@dataclass(frozen=True)
class Arch:
    """One registered architecture.

    Attributes:
        name: the ``--arch`` name.
        target: ``"module:Class"`` of its :class:`~idmlp.nets.base.LayerwiseNet`.
        options: the dataclass of the options this architecture alone has.
        summary: one line for help texts.
        presets: run settings (flat names) that choosing this architecture brings unless
            given explicitly, chosen on validation splits (see the README).
    """

    name: str
    target: str
    options: type
    summary: str
    presets: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        put(self, "presets", MappingProxyType(dict(self.presets)))

    def load(self) -> Any:
        """The network class (imports torch)."""
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


ARCHS: Mapping[str, Arch] = MappingProxyType({arch.name: arch for arch in (
    Arch("mlp", "idmlp.nets.mlp:InterpretableMLP", MLPOptions,
         "the paper's interpretable MLP, width N + C, W = sigma I"),
    Arch("cnn", "idmlp.nets.cnn:InterpretableCNN", CNNOptions,
         "same-size convolutions with C class channels, Dirac-initialized",
         presets={"depth": 8, "lr": 1e-2, "warmup_epochs": 0.5, "epochs": 10}),
    Arch("residual", "idmlp.nets.residual:ResidualMLP", ResidualOptions,
         "x^l = x^(l-1) + alpha_l phi(W^l x^(l-1)) with alpha_l = 0 at init (ReZero)"),
)})
#: The architecture names, in registry order.
ARCHITECTURES: tuple[str, ...] = tuple(ARCHS)


def option_owners() -> dict[str, tuple[str, ...]]:
    """``{option field: architectures that have it}`` over the registry.

    Examples:
        >>> option_owners()["kernel_size"]
        ('cnn',)
    """
    out: dict[str, tuple[str, ...]] = {}
    for arch in ARCHS.values():
        for name in sorted(field_names(arch.options)):
            out[name] = (*out.get(name, ()), arch.name)
    return out
