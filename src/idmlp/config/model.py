r"""The network's configuration: :class:`ModelConfig`, shared fields plus the options of its
architecture (:mod:`idmlp.config.archs`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .._validation import check_choice, check_int, check_positive
from ..data.registry import LAYOUTS
from .archs import ARCHITECTURES, ARCHS, option_owners
from .fields import check_bool, field_names, from_dict, meta, put, route

__all__ = ["ACTIVATIONS", "INIT_SCHEMES", "ModelConfig"]

#: Elementwise activations (:mod:`idmlp.activations` maps each name to its function).
ACTIVATIONS: tuple[str, ...] = (
    "hardtanh", "tanh", "relu", "leaky_relu", "linear", "sigmoid", "gelu", "selu",
)
#: Weight initializations (:func:`idmlp.init.init_weight_`): the paper's identity, three
#: random ones, and the identity family of :mod:`idmlp.init.family` (ZerO, IDInit,
#: looks-linear, delta-orthogonal; each refuses the layer shapes it does not apply to).
INIT_SCHEMES: tuple[str, ...] = ("identity", "orthogonal", "xavier", "he", "zero", "idinit",
                                 "looks_linear", "delta_orthogonal")


@dataclass(frozen=True)
class ModelConfig:
    r"""The network: an interpretable network of the registry (:data:`~idmlp.config.ARCHS`)
    and its initialization.

    Layer :math:`\ell` computes :math:`x^\ell` from :math:`x^{\ell-1}` starting at
    :math:`x^0 = (\sqrt{q_0}\, z, 0_C)`, where ``z`` is the standardized input; every
    layer's class block, times ``logit_scale``, gives that layer's class logits.
    ``in_features``, ``num_classes`` and ``image_shape`` come from the data
    (:meth:`for_data`). ``options`` holds what the architecture alone has (a
    :class:`~idmlp.config.CNNOptions` for ``arch="cnn"``, ...): ``None`` or a dict give
    its defaults or the named ones; :meth:`replace` routes option names into it.

    Examples:
        >>> ModelConfig(depth=10, q0=0.5).for_data(64, 10, (8, 8)).width  # 64 + H + 10
        256
        >>> ModelConfig().replace(extra_features=0).for_data(64, 10, (8, 8)).width
        74
        >>> ModelConfig(arch="cnn").replace(kernel_size=5).options.kernel_size
        5
    """

    arch: str = field(default="mlp", metadata=meta(
        "architecture: " + "; ".join(f"{a.name} ({a.summary}"
                                     + (", also sets " + ", ".join(
                                         f"{k}={v}" for k, v in a.presets.items())
                                        + " unless given" if a.presets else "") + ")"
                                     for a in ARCHS.values())))
    depth: int = field(default=20, metadata=meta("number of layers L"))
    sigma: float = field(default=1.0, metadata=meta(
        "initialization scale: W = sigma I for identity init, the gain otherwise"))
    q0: float = field(default=1.0, metadata=meta(
        "input variance: x^0 = (sqrt(q0) z, 0_C) for standardized inputs z"))
    activation: str = field(default="hardtanh", metadata=meta(
        f"activation: {', '.join(ACTIVATIONS)}"))
    init: str = field(default="identity", metadata=meta(
        f"weight initialization: {', '.join(INIT_SCHEMES)}"))
    bias: bool = field(default=False, metadata=meta("layers with a bias (initialized to 0)"))
    logit_scale: float = field(default=8.0, metadata=meta(
        "s in logits = s * class block, the same at every layer"))
    learn_logit_scale: bool = field(default=False, metadata=meta(
        "train log s with the weights"))
    in_features: int | None = field(default=None, metadata=meta("N", cli=False))
    num_classes: int | None = field(default=None, metadata=meta("C", cli=False))
    image_shape: tuple[int, ...] | None = field(default=None, metadata=meta(
        "shape of one input", cli=False))
    options: Any = field(default=None, metadata=meta(
        "the architecture's own options", cli=False))
    input_layout: str | None = field(default=None, metadata=meta(
        "what one input is (signal, image, features; the data's layout)", cli=False))

    def __post_init__(self) -> None:
        check_choice("arch", self.arch, ARCHITECTURES)
        put(self, "depth", check_int("depth", self.depth))
        for name in ("sigma", "q0", "logit_scale"):
            put(self, name, check_positive(name, getattr(self, name)))
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("init", self.init, INIT_SCHEMES)
        check_bool("bias", self.bias)
        check_bool("learn_logit_scale", self.learn_logit_scale)
        if self.in_features is not None:
            put(self, "in_features", check_int("in_features", self.in_features))
        if self.num_classes is not None:
            put(self, "num_classes", check_int("num_classes", self.num_classes, minimum=2))
        opts_cls = ARCHS[self.arch].options
        if self.options is None or isinstance(self.options, dict):
            put(self, "options", from_dict(opts_cls, self.options or {},
                                           where=f"arch {self.arch}: "))
        elif not isinstance(self.options, opts_cls):
            raise ValueError(f"the options of arch {self.arch!r} must be a "
                             f"{opts_cls.__name__}, got {type(self.options).__name__}")
        if self.image_shape is not None:
            shape = tuple(self.image_shape)
            if not shape or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1
                                    for s in shape):
                raise ValueError(f"image_shape must be positive integers, got "
                                 f"{self.image_shape!r}")
            if self.in_features is not None and math.prod(shape) != self.in_features:
                raise ValueError(f"image_shape {shape} has {math.prod(shape)} pixels but "
                                 f"in_features is {self.in_features}")
            put(self, "image_shape", shape)
        if self.input_layout is not None:
            check_choice("input_layout", self.input_layout, LAYOUTS)
        if self.image_shape is not None:
            self.options.check_shape(self.image_shape, self.input_layout)

    # -- changes by flat name -----------------------------------------------------------

    @staticmethod
    def option_names() -> set[str]:
        """The option fields of every registered architecture."""
        return set(option_owners())

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with fields replaced by flat name, option fields of the (new) architecture
        included; an option of another architecture is refused in one line.

        Changing ``arch`` starts the new architecture's options from their defaults."""
        parts = route(changes, {"own": field_names(ModelConfig) - {"options"},
                                "options": self.option_names()}, what="model setting")
        own, opts = parts["own"], parts["options"]
        arch = own.get("arch", self.arch)
        check_choice("arch", arch, ARCHITECTURES)
        opts_cls = ARCHS[arch].options
        foreign = sorted(set(opts) - field_names(opts_cls))
        if foreign:
            owners = option_owners()[foreign[0]]
            names = " and ".join(repr(o) for o in owners)
            raise ValueError(f"{foreign[0]} applies to arch {names} only; drop it or set "
                             f"arch to {owners[0]}")
        base = self.options if arch == self.arch else opts_cls()
        return dataclasses.replace(self, **own, options=dataclasses.replace(base, **opts))

    @staticmethod
    def upgrade_dict(d: dict[str, Any]) -> dict[str, Any]:
        """Model dicts of earlier versions: the CNN's options were flat fields (``None`` for
        the MLP); ``image_shape`` is stored as a list."""
        owners = option_owners()
        flat = {k: d.pop(k) for k in list(d) if k in owners}
        flat = {k: v for k, v in flat.items() if v is not None}
        if flat:
            opts = d.get("options")
            d["options"] = {**flat, **(opts if isinstance(opts, dict) else {})}
        if isinstance(d.get("image_shape"), list):
            d["image_shape"] = tuple(d["image_shape"])
        return d

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (``image_shape`` a list, ``options`` a dict)."""
        d = dataclasses.asdict(self)
        if d["image_shape"] is not None:
            d["image_shape"] = list(d["image_shape"])
        return d

    # -- sizes from the data -------------------------------------------------------------

    def for_data(self, in_features: int, num_classes: int,
                 image_shape: tuple[int, ...] | None = None,
                 layout: str | None = None) -> ModelConfig:
        """A copy with the data's sizes (and the layout of one sample) filled in."""
        return dataclasses.replace(self, in_features=in_features, num_classes=num_classes,
                                   image_shape=tuple(image_shape) if image_shape else None,
                                   input_layout=layout)

    def check_buildable(self, arch: str, needs: tuple[str, ...]) -> None:
        """Refuse, in one line, building an ``arch`` network from this config when its arch
        differs or a data size in ``needs`` is not filled in (:meth:`for_data`)."""
        if self.arch != arch:
            raise ValueError(f"this network needs a ModelConfig with arch {arch!r}, got "
                             f"{self.arch!r} (idmlp.nets.build_model dispatches)")
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"the ModelConfig needs {' and '.join(missing)} "
                             "(ModelConfig.for_data)")

    @property
    def width(self) -> int:
        """``N + H + C``, the width of every layer of the MLP (``H`` its extra features,
        0 for other architectures; needs :meth:`for_data`)."""
        if self.in_features is None or self.num_classes is None:
            raise ValueError("the model's width needs in_features and num_classes "
                             "(ModelConfig.for_data)")
        extra_for = getattr(self.options, "extra_for", None)
        extra = extra_for(self.in_features, self.num_classes) if extra_for else 0
        return self.in_features + extra + self.num_classes
