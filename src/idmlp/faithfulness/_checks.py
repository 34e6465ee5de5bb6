"""Validation shared by the faithfulness measures (inputs, labels, layers, baselines)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from .._validation import check_real

__all__ = ["baseline_image", "check_layers", "check_xy"]


def check_xy(x: object, y: object) -> tuple[Tensor, Tensor]:
    """Inputs ``(B, N)`` (floating point, non-empty) and one class ``>= 0`` per row, as
    ``(x, y.long())`` on ``x``'s device."""
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
