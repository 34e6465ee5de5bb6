"""Elementwise activations shared by the models and the theory.

One registry maps a name to a torch function, so the theory's scalar recursion and the
networks use exactly the same nonlinearity (and the same derivative, via autograd).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._validation import check_choice
from .config import ACTIVATIONS

__all__ = ["ACTIVATIONS", "Activation", "get_activation", "value_and_derivative"]

ActivationFn = Callable[[Tensor], Tensor]

_FUNCTIONS: dict[str, ActivationFn] = {
    "hardtanh": F.hardtanh,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "linear": lambda x: x,
    "sigmoid": torch.sigmoid,
    "gelu": F.gelu,
    "selu": F.selu,
}

assert tuple(_FUNCTIONS) == ACTIVATIONS  # the names live in idmlp.config


def get_activation(name: str) -> ActivationFn:
    """Return the elementwise function registered under ``name``.

    Valid names: hardtanh, tanh, relu, leaky_relu (slope 0.01), linear, sigmoid, gelu, selu.
    """
    return _FUNCTIONS[check_choice("activation", name, ACTIVATIONS)]


class Activation(nn.Module):
    """``nn.Module`` wrapper around a registered activation (keeps its name for configs)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.fn = get_activation(name)
        self.name = name

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name


def value_and_derivative(fn: ActivationFn, h: Tensor) -> tuple[Tensor, Tensor]:
    r"""Return :math:`\phi(h)` and :math:`\phi'(h)` elementwise (detached).

    The derivative comes from autograd (one backward pass of :math:`\sum \phi(h)`), so it is
    exactly the one that training sees, kinks included: hard-tanh has
    :math:`\phi'(\pm 1) = 0`, ReLU has :math:`\phi'(0) = 0`.
    """
    with torch.enable_grad():
        h = h.detach().requires_grad_(True)
        y = fn(h)
        (d,) = torch.autograd.grad(y.sum(), h)
    return y.detach(), d
