"""Validation shared by the faithfulness measures (inputs, labels, layers, baselines), and
inputs in their natural shape (:func:`natural_inputs`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .._validation import check_real

__all__ = ["NaturalInputs", "baseline_image", "check_layers", "check_xy", "natural_inputs"]


class _Reshaped(nn.Module):
    """``fn`` on flattened inputs ``(B, N)``: it is called with ``(B, *shape)`` (a module, so
    that Captum's DeepLift finds the nonlinearities of ``fn``)."""

    def __init__(self, fn: Callable[[Tensor], Tensor], shape: tuple[int, ...]) -> None:
        super().__init__()
        self.fn, self.shape = fn, shape

    def forward(self, v: Tensor) -> Tensor:
        return self.fn(v.reshape(*v.shape[:-1], *self.shape))


@dataclass(frozen=True)
class NaturalInputs:
    """Inputs given in their natural shape ``(B, *shape)`` (images ``(B, C, H, W)``,
    signals, ...), flattened for the measures, which perturb ``(B, N)`` vectors; the
    model and the map functions still see the natural shape.

    Attributes:
        x: the inputs, ``(B, N)``.
        shape: one input's shape (``(N,)`` for inputs given flat).
        natural: whether the inputs came in a shape of their own.
    """

    x: Tensor
    shape: tuple[int, ...]
    natural: bool

    def logits_fn(self, fn: Any) -> Any:
        """``fn`` as the measures call it, on ``(B, N)``: itself for flat inputs."""
        if not self.natural or fn is None:
            return fn
        if not callable(fn):
            raise ValueError(f"logits_fn must be callable, got {type(fn).__name__}")
        return _Reshaped(fn, self.shape)

    def flat_map(self, a: Any) -> Any:
        """A map ``(B, *shape)`` or per-layer ``(B, L, *shape)`` flattened to ``(B, N)`` or
        ``(B, L, N)``, one image ``shape`` (a baseline) to ``(N,)``; any other value as it
        is, for the measure to refuse."""
        if not self.natural or not isinstance(a, (Tensor, np.ndarray)):
            return a
        a = torch.as_tensor(a)
        k = len(self.shape)
        if tuple(a.shape) == self.shape:  # one image for all (a baseline)
            return a.reshape(-1)
        if a.ndim >= k + 1 and tuple(a.shape[a.ndim - k:]) == self.shape:
            return a.reshape(*a.shape[: a.ndim - k], math.prod(self.shape))
        return a

    def map_fn(self, fn: Any) -> Any:
        """A map function ``fn(x, y)`` as the measures call it, on ``(B, N)`` inputs."""
        if not self.natural or fn is None:
            return fn

        def flat(v: Tensor, c: Tensor) -> Tensor:
            return self.flat_map(fn(v.reshape(len(v), *self.shape), c))

        return flat


def natural_inputs(x: object, image_shape: Sequence[int] | None = None) -> NaturalInputs:
    """``x`` as ``(B, N)`` and one input's shape: inputs ``(B, N)`` as they are (with
    ``image_shape``, default ``(N,)``), inputs of more dimensions flattened, their shape
    kept (``image_shape`` may name it too; it must then agree).

    Examples:
        >>> nat = natural_inputs(torch.zeros(2, 1, 3, 3))
        >>> nat.x.shape, nat.shape, nat.flat_map(torch.ones(2, 5, 1, 3, 3)).shape
        (torch.Size([2, 9]), (1, 3, 3), torch.Size([2, 5, 9]))
    """
    t = torch.as_tensor(x)
    given = None if image_shape is None else tuple(int(v) for v in image_shape)
    if t.ndim <= 2:
        n = t.shape[-1] if t.ndim == 2 else 0
        return NaturalInputs(t, given or (n,), False)
    shape = tuple(int(d) for d in t.shape[1:])
    if given is not None and given != shape:
        raise ValueError(f"image_shape {given} differs from the inputs' own shape {shape}; "
                         "drop image_shape or give flat inputs (B, N)")
    return NaturalInputs(t.reshape(len(t), -1), shape, True)


def check_xy(x: object, y: object) -> tuple[Tensor, Tensor]:
    """Inputs ``(B, N)`` (floating point, non-empty; :func:`natural_inputs` flattens those
    in their natural shape first) and one class ``>= 0`` per row, as ``(x, y.long())`` on
    ``x``'s device."""
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.ndim != 2 or not x.is_floating_point() or len(x) == 0:
        raise ValueError(f"x must be a non-empty floating-point (B, N) tensor, got {x.dtype} "
                         f"{tuple(x.shape)}")
    if y.shape != (len(x),) or y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"y must hold one integer class per row of x, shape ({len(x)},); got "
                         f"{y.dtype} {tuple(y.shape)}")
    if int(y.min()) < 0:
        raise ValueError(f"y must hold classes >= 0, got {int(y.min())}")
    return x, y.long().to(x.device)


def check_layers(layers: Sequence[int], depth: int) -> tuple[int, ...]:
    """Sorted unique layer numbers in ``1..depth``."""
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers:
        raise ValueError(f"layers must be a non-empty list of layer numbers in 1..{depth}")
    out = []
    for v in layers:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= depth:
            raise ValueError(f"layers must hold integers in 1..{depth} (the model's depth), "
                             f"got {v!r}")
        out.append(int(v))
    return tuple(sorted(set(out)))


def baseline_image(baseline: float | Tensor, x: Tensor) -> Tensor:
    """The baseline as a full image per input: a number, or a tensor broadcast to ``x``."""
    if isinstance(baseline, Tensor):
        try:
            return baseline.to(device=x.device, dtype=x.dtype).expand_as(x)
        except RuntimeError:
            raise ValueError(f"baseline must be a number or broadcast to x's shape "
                             f"{tuple(x.shape)}, got {tuple(baseline.shape)}") from None
    return torch.full_like(x, check_real("baseline", baseline))
