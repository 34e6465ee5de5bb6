"""Elementwise activations shared by the models and the theory.

One registry maps a name to a torch function, so the theory's scalar recursion and the
networks use exactly the same nonlinearity (and the same derivative, via autograd).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._validation import check_choice
from .config import ACTIVATIONS

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "get_activation",
    "log_abs_derivative",
    "secant_gate",
    "value_and_derivative",
]

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


def secant_gate(fn: ActivationFn, h: Tensor) -> Tensor:
    r"""The secant gate :math:`\gamma = \phi(h)/h` elementwise (detached), and
    :math:`\phi'(h)` where :math:`|h|` is at most the dtype's eps.

    With these gates fixed, :math:`\phi(h) = \gamma \odot h` holds exactly, so a bias-free
    network is, at one input, the linear map it gates (used to split a logit exactly over
    the input: :meth:`idmlp.nets.base.LayerwiseNet.logit_split`). Hard-tanh: 1 in the
    linear range, :math:`1/|h|` where it clips.

    Examples:
        >>> import torch.nn.functional as F
        >>> secant_gate(F.hardtanh, torch.tensor([0.0, 0.5, -4.0])).tolist()
        [1.0, 1.0, 0.25]
    """
    value, deriv = value_and_derivative(fn, h)
    small = h.abs() <= torch.finfo(h.dtype).eps
    return torch.where(small, deriv, value / torch.where(small, torch.ones_like(h), h.detach()))


_LOG2 = math.log(2.0)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_abs_gelu_derivative(h: Tensor) -> Tensor:
    r""":math:`\log|\Phi(h) + h\,\varphi(h)|` without underflow.

    For :math:`h < 0`, :math:`\Phi(h) = \varphi(h)\sqrt{\pi/2}\,\operatorname{erfcx}(-h/\sqrt2)`
    (the Mills ratio), so :math:`\log|\phi'| = \log\varphi(h) + \log|\sqrt{\pi/2}\,
    \operatorname{erfcx}(-h/\sqrt2) + h|`, finite for every finite :math:`h`.
    """
    neg = torch.clamp(h, max=0.0)
    mills = math.sqrt(math.pi / 2) * torch.special.erfcx(-neg / math.sqrt(2.0))
    log_neg = -0.5 * neg**2 - _LOG_SQRT_2PI + torch.log(torch.abs(mills + neg))
    pos = torch.clamp(h, min=0.0)
    # h * pdf(h) vanishes (and would be inf * 0) for huge h.
    tail = torch.where(pos < 40.0, pos * torch.exp(-0.5 * pos**2 - _LOG_SQRT_2PI), 0.0)
    log_pos = torch.log(torch.special.ndtr(pos) + tail)
    return torch.where(h < 0, log_neg, log_pos)


def log_abs_derivative(name: str, h: Tensor) -> Tensor:
    r"""Return :math:`\log|\phi'(h)|` elementwise, exact where :math:`\phi'` underflows.

    :func:`value_and_derivative` takes :math:`\phi'` from autograd, which rounds to 0 in
    float64 where the true derivative is merely tiny (:math:`1 - \tanh^2 h = 0` for
    :math:`|h| > 19`). The closed forms below stay finite there, so a product of
    derivatives over many layers can be summed in log space:

    - tanh: :math:`\log \operatorname{sech}^2 h = 2(\log 2 - |h| - \log(1 + e^{-2|h|}))`;
    - sigmoid: :math:`-\operatorname{softplus}(h) - \operatorname{softplus}(-h)`;
    - gelu: :math:`\log|\Phi(h) + h\varphi(h)|` via the scaled complementary error function;
    - selu: :math:`\log s + [h \le 0](\log\alpha + h)`;
    - leaky_relu: :math:`[h \le 0] \log 0.01`; linear: 0;
    - hardtanh and relu: 0 where :math:`\phi' = 1`, :math:`-\infty` where it is exactly 0.

    Kinks follow autograd (hard-tanh :math:`\phi'(\pm 1) = 0`, ReLU :math:`\phi'(0) = 0`,
    leaky ReLU and SELU take their left slope at 0), so :math:`-\infty` appears exactly
    where the network's own derivative is a genuine zero, never from underflow.

    Args:
        name: a registered activation (see :data:`ACTIVATIONS`).
        h: pre-activations, any shape, floating dtype.

    Examples:
        >>> h = torch.tensor([0.0, 30.0, 2.0], dtype=torch.float64)
        >>> log_abs_derivative("tanh", h)
        tensor([  0.0000, -58.6137,  -2.6500], dtype=torch.float64)
        >>> log_abs_derivative("hardtanh", torch.tensor([0.5, 1.0]))
        tensor([0., -inf])
    """
    name = check_choice("activation", name, ACTIVATIONS)
    if name == "tanh":
        a = torch.abs(h)
        return 2.0 * (_LOG2 - a - torch.log1p(torch.exp(-2.0 * a)))
    if name == "sigmoid":
        return -F.softplus(h) - F.softplus(-h)
    if name == "gelu":
        return _log_abs_gelu_derivative(h)
    if name == "selu":
        return math.log(_SELU_SCALE) + torch.where(h > 0, 0.0, math.log(_SELU_ALPHA) + h)
    zero = torch.zeros_like(h)
    if name == "linear":
        return zero
    if name == "leaky_relu":
        return torch.where(h > 0, zero, math.log(0.01))
    if name == "relu":
        return torch.where(h > 0, zero, -math.inf)
    return torch.where(torch.abs(h) < 1, zero, -math.inf)  # hardtanh
