r"""Gradient attributions of the field, through Captum (Kokhlikyan et al., 2020).

:func:`captum_attribution` explains one class of a model's logits with a Captum method and
returns a map in input space, ``(B, N)``. The model is any callable
``logits_fn(x: (B, N)) -> (B, C)`` or ``(B, L, C)``; for per-layer logits, ``layer``
(``1..L``, default the last) picks which layer's logits are explained, so the same
wrapper explains the interpretable MLP's readout at any depth.

Methods (``f_c`` the logit of the explained class ``c``, baseline :math:`\bar x = 0`):

* ``saliency`` (Simonyan et al., 2014): :math:`|\partial f_c / \partial x|`.
* ``input_x_gradient`` (Shrikumar et al., 2016): :math:`x \odot \partial f_c/\partial x`.
* ``integrated_gradients`` (Sundararajan et al., ICML 2017):
  :math:`x \odot \int_0^1 \partial f_c(\alpha x)/\partial x \, d\alpha`, ``steps``
  quadrature nodes (Captum's Gauss-Legendre rule).
* ``gradient_shap`` (Lundberg and Lee, NeurIPS 2017): expected gradients,
  :math:`\mathbb{E}_{\alpha \sim U(0,1)}[\partial f_c(\alpha x + \epsilon)/\partial x] \odot x`
  over ``steps`` random draws (seeded), zero baseline unless ``baselines=`` is given.
* ``deeplift`` (Shrikumar et al., ICML 2017), rescale rule, zero baseline. Captum
  applies the rule only to the nonlinearities it knows (ReLU, ELU, LeakyReLU, Sigmoid,
  Tanh, Softplus, Softmax, max-pooling modules); through any other activation (hard-tanh
  as :class:`~idmlp.activations.Activation` included) the gradient passes unchanged, and
  for a zero baseline the result equals ``input_x_gradient``.

Captum is an optional dependency (``pip install 'idmlp[xai]'``); it is imported only
when a method runs, and its absence raises :class:`MissingCaptumError` in one line.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._validation import check_choice, check_int

__all__ = [
    "CAPTUM_METHODS",
    "MissingCaptumError",
    "captum_attribution",
    "method_passes",
    "require_captum",
]

#: Captum methods :func:`captum_attribution` knows, by their idmlp names.
CAPTUM_METHODS: tuple[str, ...] = (
    "saliency",
    "input_x_gradient",
    "integrated_gradients",
    "gradient_shap",
    "deeplift",
)

_CAPTUM_CLASSES = {
    "saliency": "Saliency",
    "input_x_gradient": "InputXGradient",
    "integrated_gradients": "IntegratedGradients",
    "gradient_shap": "GradientShap",
    "deeplift": "DeepLift",
}

INSTALL_HINT = "Captum is not installed: pip install 'idmlp[xai]'"


class MissingCaptumError(ValueError):
    """Captum is needed and not installed; the message says how to install it."""


def require_captum() -> ModuleType:
    """Import and return ``captum.attr``, or raise :class:`MissingCaptumError` (one line).

    Examples:
        >>> require_captum().__name__
        'captum.attr'
    """
    try:
        return importlib.import_module("captum.attr")
    except ImportError:
        raise MissingCaptumError(INSTALL_HINT) from None


def method_passes(method: str, steps: int = 32) -> tuple[int, int]:
    """Forward and backward passes one explanation of ``method`` costs.

    Saliency, InputXGradient and DeepLift: 1 forward + 1 backward; IntegratedGradients
    with ``steps`` nodes and GradientShap with ``steps`` samples: ``steps`` of each.
    (Captum evaluates them as one batch of ``steps`` x B rows.)

    Examples:
        >>> method_passes("integrated_gradients", steps=32)
        (32, 32)
        >>> method_passes("saliency")
        (1, 1)
    """
    method = check_choice("method", method, CAPTUM_METHODS)
    steps = check_int("steps", steps)
    m = steps if method in ("integrated_gradients", "gradient_shap") else 1
    return m, m


class _LayerLogits(nn.Module):
    """``logits_fn`` restricted to one layer's logits, ``(B, C)``, as an ``nn.Module``.

    Holding ``logits_fn`` as a submodule (when it is one) lets Captum's DeepLift hook its
    nonlinearities.
    """

    def __init__(self, logits_fn: Callable[[Tensor], Tensor], layer: int | None) -> None:
        super().__init__()
        self.fn = logits_fn
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        out = self.fn(x)
        if out.ndim == 3:
            return out[:, -1 if self.layer is None else self.layer - 1]
        if out.ndim != 2:
            raise ValueError(f"logits_fn must return (B, C) or (B, L, C) logits, "
                             f"got shape {tuple(out.shape)}")
        if self.layer is not None:
            raise ValueError("layer= needs a logits_fn that returns per-layer logits (B, L, C)")
        return out


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's and numpy's global generators (Captum draws from both), then restore."""
    np_state = np.random.get_state()  # noqa: NPY002 (Captum uses the legacy global RNG)
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            np.random.seed(seed)  # noqa: NPY002
            yield
    finally:
        np.random.set_state(np_state)  # noqa: NPY002


def captum_attribution(
    method: str,
    logits_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    target: Tensor,
    *,
    layer: int | None = None,
    steps: int = 32,
    batch_size: int | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> Tensor:
    r"""Explain class ``target`` of ``logits_fn`` at ``x`` with a Captum method.

    Args:
        method: one of :data:`CAPTUM_METHODS` (see the module docstring for the math).
        logits_fn: ``x (B, N) -> (B, C)`` or ``(B, L, C)`` logits (an ``nn.Module`` for
            ``deeplift``). Put a model in eval mode yourself.
        x: inputs ``(B, N)``, floating point.
        target: the class to explain for each input, ``(B,)`` integers.
        layer: for per-layer logits, the layer ``1..L`` to explain (default: the last).
        steps: IntegratedGradients' ``n_steps`` and GradientShap's ``n_samples``.
        batch_size: inputs per Captum call (bounds memory: IntegratedGradients holds
            ``steps * batch_size`` rows); default all at once.
        seed: seeds GradientShap's draws (Captum draws from torch's and numpy's global
            generators; both are seeded here and restored afterwards).
        **kwargs: passed to Captum's ``attribute`` (e.g. ``baselines=``, ``abs=False``).

    Returns:
        The attribution map, ``(B, N)``, detached, in ``x``'s dtype.

    Raises:
        MissingCaptumError: Captum is not installed.

    Examples:
        >>> w = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
        >>> x = torch.tensor([[3.0, 1.0]])
        >>> captum_attribution("input_x_gradient", lambda v: v @ w.T, x, torch.tensor([0]))
        tensor([[ 3., -2.]])
    """
    method = check_choice("method", method, CAPTUM_METHODS)
    steps = check_int("steps", steps)
    if not callable(logits_fn):
        raise ValueError(f"logits_fn must be callable, got {type(logits_fn).__name__}")
    x, target = torch.as_tensor(x), torch.as_tensor(target)
    if x.ndim != 2 or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point (B, N) tensor, got {x.dtype} "
                         f"{tuple(x.shape)}")
    if target.shape != (len(x),) or target.is_floating_point():
        raise ValueError(f"target must hold one integer class per input, shape ({len(x)},); "
                         f"got {target.dtype} {tuple(target.shape)}")
    if layer is not None:
        layer = check_int("layer", layer)
    batch_size = len(x) if batch_size is None else check_int("batch_size", batch_size)
    if method == "deeplift" and not isinstance(logits_fn, nn.Module):
        raise ValueError("deeplift needs logits_fn to be an nn.Module (its nonlinearities are "
                         "hooked); pass the model itself")
    attr = require_captum()
    forward = _LayerLogits(logits_fn, layer)
    explainer = getattr(attr, _CAPTUM_CLASSES[method])(forward)
    kw: dict[str, Any] = {}
    if method == "integrated_gradients":
        kw["n_steps"] = steps
    elif method == "gradient_shap":
        kw["n_samples"] = steps
    kw.update(kwargs)
    if method == "gradient_shap" and "baselines" not in kw:
        kw["baselines"] = torch.zeros(1, x.shape[1], dtype=x.dtype, device=x.device)
    target = target.long()
    out = []
    with _seeded(seed, x.device), torch.enable_grad():
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].detach().requires_grad_(True)
            a = explainer.attribute(xb, target=target[start : start + batch_size], **kw)
            out.append(a.detach())
    return torch.cat(out).to(x.dtype)
