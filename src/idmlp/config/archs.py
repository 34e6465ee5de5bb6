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
    "AUTO_MIN_WIDTH",
    "Arch",
    "CNNOptions",
    "MLPOptions",
    "ResidualOptions",
    "conv_layout",
    "option_owners",
    "parse_dilations",
]


def conv_layout(image_shape: tuple[int, ...], layout: str | None = None) -> str:
    """``"signal"`` or ``"image"``: how the CNN reads samples of ``image_shape`` whose data
    ``layout`` (:attr:`idmlp.data.Dataset.layout`) is ``"signal"`` (``(L,)`` or
    ``(C, L)``), ``"image"`` (``(H, W)`` or ``(C, H, W)``), ``"features"`` (flat features
    ``(N,)``: read as one signal of length N) or ``None`` (from the shape alone: ``(L,)`` a
    signal, ``(H, W)`` and ``(C, H, W)`` an image). Anything else is refused in one line.

    Examples:
        >>> conv_layout((40,)), conv_layout((2, 40), "signal"), conv_layout((28, 28))
        ('signal', 'signal', 'image')
    """
    shape = tuple(image_shape)
    if not shape or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1
                            for s in shape):
        raise ValueError(f"image_shape must be positive integers, got {shape}")
    if layout == "features" and len(shape) == 1:
        return "signal"
    if layout in (None, "features"):
        layout = "signal" if len(shape) == 1 else "image"
    forms = {"signal": (1, 2), "image": (2, 3)}
    if layout not in forms:
        raise ValueError(f"layout must be signal, image or features, got {layout!r}")
    if len(shape) not in forms[layout]:
        article = "an" if layout[0] in "aeiou" else "a"
        raise ValueError(f"arch cnn needs a signal (L,) or (C, L) or an image (H, W) or "
                         f"(C, H, W); got {article} {layout} of shape {shape}")
    return layout


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


#: The width below which ``extra_features=None`` (auto) widens the interpretable MLP:
#: ``H = max(0, AUTO_MIN_WIDTH - N - C)``, chosen on the validation splits of the dev
#: datasets (README, "Defaults").
AUTO_MIN_WIDTH = 256


@dataclass(frozen=True)
class MLPOptions:
    """Options of the interpretable MLP alone (:class:`idmlp.nets.mlp.InterpretableMLP`).

    Examples:
        >>> MLPOptions().extra_for(40, 10), MLPOptions().extra_for(784, 10)
        (206, 0)
        >>> MLPOptions(extra_features=0).extra_for(40, 10)
        0
    """

    extra_features: int | None = field(default=None, metadata=meta(
        f"mlp: H extra feature coordinates between the input-aligned and the class "
        f"coordinates (state (f, e, k), width N + H + C; 0: the paper's network; default: "
        f"auto, H = max(0, {AUTO_MIN_WIDTH} - N - C), extra capacity only for narrow inputs)"))
    extra_init_std: float = field(default=1.0, metadata=meta(
        "mlp and cnn: std of the random part of the extra rows (features or channels) of "
        "an identity start, times 1/sqrt(fan in); 0 gives the exact identity start, where "
        "the extra rows never train"))

    def __post_init__(self) -> None:
        if self.extra_features is not None:
            put(self, "extra_features", check_int("extra_features", self.extra_features,
                                                  minimum=0))
        put(self, "extra_init_std", check_nonnegative("extra_init_std", self.extra_init_std))

    def extra_for(self, in_features: int, num_classes: int) -> int:
        r"""``H`` for data of ``in_features`` and ``num_classes``: the given value, or the
        automatic one, :math:`\max(0, 256 - N - C)`."""
        if self.extra_features is not None:
            return self.extra_features
        return max(0, AUTO_MIN_WIDTH - in_features - num_classes)

    def check_shape(self, image_shape: tuple[int, ...], layout: str | None = None) -> None:
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

    def check_shape(self, image_shape: tuple[int, ...], layout: str | None = None) -> None:
        """Refuse inputs that are neither signals nor images, in one line
        (:func:`conv_layout`)."""
        conv_layout(image_shape, layout)


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

    def check_shape(self, image_shape: tuple[int, ...], layout: str | None = None) -> None:
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
         presets={"depth": 8, "lr": 1e-2, "warmup_epochs": 0.5, "epochs": 30,
                  "batch_size": 64, "input_noise": 0.0}),
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
