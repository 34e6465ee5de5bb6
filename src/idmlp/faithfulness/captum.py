r"""Captum (Kokhlikyan et al., 2020), wrapped: one call explains one class of any logits
function and returns a map in input space, ``(B, N)``.

The model is any callable ``logits_fn(x: (B, N)) -> (B, C)`` or ``(B, L, C)``; for
per-layer logits, ``layer`` (``1..L``, default the last) picks which layer's logits are
explained, so the same wrapper explains the interpretable MLP's readout at any depth.
The methods, their papers and costs are the registry's
(:data:`idmlp.faithfulness.methods.METHODS`, family ``captum``); the public entry point is
:func:`idmlp.attribution.captum_attribution`.

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

from .._validation import check_int

__all__ = ["INSTALL_HINT", "MissingCaptumError", "require_captum", "run_captum"]

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


def run_captum(
    captum_class: str,
    logits_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    target: Tensor,
    *,
    name: str | None = None,
    layer: int | None = None,
    steps: int = 32,
    steps_arg: str | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> Tensor:
    r"""Explain class ``target`` of ``logits_fn`` at ``x`` with the Captum class
    ``captum_class`` (``captum.attr.<captum_class>``); what
    :func:`idmlp.attribution.captum_attribution` runs for a method of the registry.

    Args:
        captum_class: e.g. ``"IntegratedGradients"``.
        logits_fn: ``x (B, N) -> (B, C)`` or ``(B, L, C)`` logits (an ``nn.Module`` for
            ``DeepLift``). Put a model in eval mode yourself.
        x: inputs ``(B, N)``, floating point.
        target: the class to explain for each input, ``(B,)`` integers.
        name: the method's name in messages (default ``captum_class``).
        layer: for per-layer logits, the layer ``1..L`` to explain (default: the last).
        steps, steps_arg: ``attribute(..., **{steps_arg: steps})`` (IntegratedGradients'
            ``n_steps``, GradientShap's ``n_samples``); unused without ``steps_arg``.
        batch_size: inputs per Captum call (bounds memory: IntegratedGradients holds
            ``steps * batch_size`` rows); default all at once.
        seed: seeds random draws (Captum draws from torch's and numpy's global
            generators; both are seeded here and restored afterwards).
        **kwargs: passed to Captum's ``attribute`` (e.g. ``baselines=``, ``abs=False``).

    Returns:
        The attribution map, ``(B, N)``, detached, in ``x``'s dtype.

    Raises:
        MissingCaptumError: Captum is not installed.
    """
    name = name or captum_class
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
    if captum_class == "DeepLift" and not isinstance(logits_fn, nn.Module):
        raise ValueError(f"{name} needs logits_fn to be an nn.Module (its nonlinearities are "
                         "hooked); pass the model itself")
    attr = require_captum()
    explainer = getattr(attr, captum_class)(_LayerLogits(logits_fn, layer))
    kw: dict[str, Any] = {} if steps_arg is None else {steps_arg: steps}
    kw.update(kwargs)
    if captum_class == "GradientShap" and "baselines" not in kw:
        kw["baselines"] = torch.zeros(1, x.shape[1], dtype=x.dtype, device=x.device)
    target = target.long()
    out = []
    with _seeded(seed, x.device), torch.enable_grad():
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].detach().requires_grad_(True)
            a = explainer.attribute(xb, target=target[start : start + batch_size], **kw)
            out.append(a.detach())
    return torch.cat(out).to(x.dtype)
