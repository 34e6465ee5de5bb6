r"""The interpretable core: how inputs enter the network's state and how every layer is read.

The paper's structure (Kubota et al., ICASSP 2021) adds ``C`` class dimensions to every
layer: the state of layer :math:`\ell` is :math:`x^\ell = (f^\ell, k^\ell)`, ``N`` feature
coordinates that keep the input's layout and ``C`` class coordinates. The input enters as
:math:`x^0 = (\sqrt{q_0}\, z, 0_C)` for a standardized input ``z``, and *every* layer is read
by the same rule, :math:`\mathrm{logits}^\ell = s \cdot k^\ell`. A :class:`ReadoutRule` is
that pair of maps (embed, read); the models (one weight stack, or ``K`` stacked ones in the
sweep engine) only add the layers in between, and :class:`~idmlp.nets.readout.LayerReadout` reads
their states through the rule.

:class:`ClassCoordinates` is the rule of the MLP: the state is a vector of width
``N + C`` (or wider, with zero padding), any leading dimensions allowed (``(B, W)`` for one
network, ``(K, B, W)`` for ``K`` stacked ones). A convolutional network implements the same
interface with class *channels* read by their spatial mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import torch.nn.functional as F
from torch import Tensor

from .._validation import check_int

__all__ = ["ClassCoordinates", "ReadoutRule", "RuleSizes"]


@runtime_checkable
class ReadoutRule(Protocol):
    """How an interpretable network's state is built from its input and read at every layer.

    ``state_ndim`` is the number of trailing dimensions of one state (1 for a vector, 3 for
    channels x height x width); everything before them is batch (and run) dimensions.
    """

    num_classes: int
    image_shape: tuple[int, ...]
    state_ndim: ClassVar[int]

    def embed(self, z: Tensor, input_scale: Tensor | float = 1.0) -> Tensor:
        """:math:`x^0` from standardized inputs ``z``."""
        ...

    def features(self, x: Tensor) -> Tensor:
        """The input-aligned feature part of states ``x``."""
        ...

    def logits(self, x: Tensor, logit_scale: Tensor | float) -> Tensor:
        """Class logits of states ``x``: ``(..., C)``."""
        ...


@dataclass(frozen=True)
class ClassCoordinates:
    r"""The MLP's readout rule: state :math:`x = (f_{1..N}, e_{1..H}, k_{1..C}, 0_{P})`.

    Args:
        in_features: ``N``, the input features (and feature coordinates of every layer).
        num_classes: ``C``, the class coordinates of every layer.
        image_shape: the shape of one input (``(28, 28)``; default ``(N,)``), for maps.
        width: the state's width, ``N + H + C`` plus ``P`` zero-padding coordinates (the
            sweep engine pads to a multiple of 16 for faster GEMMs); default ``N + H + C``.
        extra: ``H``, extra feature coordinates between the input-aligned and the class
            coordinates, zero in :math:`x^0` (integer >= 0; the paper's network has none).

    Examples:
        >>> rule = ClassCoordinates(3, 2)
        >>> x0 = rule.embed(torch.ones(1, 3), input_scale=0.5)
        >>> x0, rule.logits(x0 + 1, logit_scale=8.0)
        (tensor([[0.5000, 0.5000, 0.5000, 0.0000, 0.0000]]), tensor([[8., 8.]]))
        >>> ClassCoordinates(3, 2, extra=4).class_start, ClassCoordinates(3, 2, extra=4).width
        (7, 9)
    """

    in_features: int
    num_classes: int
    image_shape: tuple[int, ...] = ()
    width: int = 0
    extra: int = 0

    state_ndim: ClassVar[int] = 1

    def __post_init__(self) -> None:
        check_int("in_features", self.in_features)
        check_int("num_classes", self.num_classes)
        check_int("extra", self.extra, minimum=0)
        shape = tuple(self.image_shape) or (self.in_features,)
        if math.prod(shape) != self.in_features:
            raise ValueError(f"image_shape {shape} has {math.prod(shape)} pixels but "
                             f"in_features is {self.in_features}")
        object.__setattr__(self, "image_shape", shape)
        need = self.in_features + self.extra + self.num_classes
        width = self.width or need
        if width < need:
            raise ValueError(f"width must be at least in_features + extra + num_classes = "
                             f"{need}, got {width}")
        object.__setattr__(self, "width", width)

    @property
    def class_start(self) -> int:
        """Index of the first class coordinate, ``N + H``."""
        return self.in_features + self.extra

    def embed(self, z: Tensor, input_scale: Tensor | float = 1.0) -> Tensor:
        r""":math:`x^0 = (\sqrt{q_0}\, z, 0)` of width :attr:`width`; ``input_scale`` is
        :math:`\sqrt{q_0}`, a number or a tensor broadcasting against ``z`` (one per run)."""
        if z.shape[-1] != self.in_features:
            raise ValueError(f"expected inputs with {self.in_features} features, got "
                             f"{z.shape[-1]}")
        if not isinstance(input_scale, Tensor) and input_scale == 1.0:
            return F.pad(z, (0, self.width - self.in_features))
        return F.pad(z * input_scale, (0, self.width - self.in_features))

    def features(self, x: Tensor) -> Tensor:
        """The feature coordinates :math:`f = x_{1..N}`."""
        return x[..., : self.in_features]

    def class_block(self, x: Tensor) -> Tensor:
        """The class coordinates :math:`k = x_{N+H+1..N+H+C}`."""
        return x[..., self.class_start : self.class_start + self.num_classes]

    def logits(self, x: Tensor, logit_scale: Tensor | float) -> Tensor:
        """The readout rule, the same at every layer: :math:`s \\cdot k`."""
        return self.class_block(x) * logit_scale


class RuleSizes:
    """The sizes of a network read by ``self.rule`` (a :class:`ReadoutRule`), as
    properties: ``in_features``, ``num_classes`` and ``image_shape``."""

    rule: ReadoutRule

    @property
    def in_features(self) -> int:
        return self.rule.in_features

    @property
    def num_classes(self) -> int:
        return self.rule.num_classes

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self.rule.image_shape
