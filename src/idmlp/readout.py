r"""Per-layer readouts of an interpretable network, as a first-class object.

One forward pass of an interpretable network gives the state :math:`x^\ell` of every
layer; a :class:`LayerReadout` holds them with the network's
:class:`~idmlp.core.ReadoutRule`, and exposes what each layer says: its class logits
(the same rule at every layer), its input-aligned features, and the contribution maps
:math:`f^\ell - f^0`. Nothing assumes a flat feature vector: the feature part of a state
may be a vector (MLP) or channels x height x width (CNN), and leading run dimensions
(``K`` stacked networks) pass through.

Models that are not interpretable (a plain classifier) give a readout with logits only,
one "layer" (:func:`as_readout`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .core import ReadoutRule

__all__ = ["LayerReadout", "as_readout"]


@dataclass(frozen=True, eq=False)
class LayerReadout:
    r"""Everything one forward pass says about every layer, for a batch of ``B`` inputs.

    Shapes: ``R`` leading run dimensions (none for one network), ``L`` layers, ``C``
    classes, ``S`` the shape of one state and ``F`` of its feature part.

    Attributes:
        logits: class logits of every layer, ``(*R, B, L, C)``.
        states: the states :math:`x^0 .. x^L`, ``(*R, B, L+1, *S)`` (``None`` for a plain
            classifier).
        rule: the network's readout rule (``None`` for a plain classifier).
    """

    logits: Tensor
    states: Tensor | None = None
    rule: ReadoutRule | None = None

    @classmethod
    def from_states(cls, states: Tensor, rule: ReadoutRule,
                    logit_scale: Tensor | float) -> LayerReadout:
        """Read ``states`` ``(*R, B, L+1, *S)`` by ``rule`` at every layer ``1..L``."""
        layer_dim = -(rule.state_ndim + 1)
        return cls(rule.logits(states.narrow(layer_dim, 1, states.shape[layer_dim] - 1),
                               logit_scale), states, rule)

    def _need_states(self) -> tuple[Tensor, ReadoutRule]:
        if self.states is None or self.rule is None:
            raise ValueError("this readout has logits only (a plain classifier); features "
                             "and maps need an interpretable network's readout()")
        return self.states, self.rule

    @property
    def depth(self) -> int:
        """``L``, the number of layers read."""
        return self.logits.shape[-2]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self._need_states()[1].image_shape

    @property
    def features(self) -> Tensor:
        r"""Input-aligned features :math:`f^\ell` for :math:`\ell = 0..L`, ``(*R, B, L+1, *F)``
        (index 0 is the scaled input)."""
        states, rule = self._need_states()
        return rule.features(states)

    @property
    def contributions(self) -> Tensor:
        r"""Contribution maps :math:`f^\ell - f^0`, ``(*R, B, L, *F)``."""
        f = self.features
        dim = f.ndim - self._need_states()[1].state_ndim - 1
        return f.narrow(dim, 1, f.shape[dim] - 1) - f.narrow(dim, 0, 1)

    def contribution_images(self) -> Tensor:
        """Contribution maps shaped as images, ``(*R, B, L, *image_shape)``."""
        c = self.contributions
        lead = c.shape[: c.ndim - self._need_states()[1].state_ndim]
        return c.reshape(*lead, *self.image_shape)

    @property
    def probs(self) -> Tensor:
        """Class probabilities of every layer (softmax of :attr:`logits`), ``(*R, B, L, C)``."""
        return torch.softmax(self.logits, dim=-1)

    @property
    def preds(self) -> Tensor:
        """Predicted class of every layer, ``(*R, B, L)``."""
        return self.logits.argmax(dim=-1)

    def accuracy(self, y: Tensor) -> Tensor:
        """Accuracy of every layer against labels ``y`` (``(B,)``), shape ``(*R, L)``."""
        return (self.preds == y[:, None]).float().mean(dim=-2)

    def true_class_probability(self, y: Tensor) -> Tensor:
        """Probability each layer gives to the true class, ``(*R, B, L)``."""
        idx = y[:, None, None].expand(*self.logits.shape[:-1], 1)
        return self.probs.gather(-1, idx).squeeze(-1)

    def to(self, device: torch.device | str) -> LayerReadout:
        states = None if self.states is None else self.states.to(device)
        return LayerReadout(self.logits.to(device), states, self.rule)

    @staticmethod
    def cat(parts: list[LayerReadout]) -> LayerReadout:
        """Concatenate readouts of several batches along the batch dimension."""
        first = parts[0]
        bdim = first.logits.ndim - 3
        states = None if first.states is None else torch.cat([p.states for p in parts], bdim)
        return LayerReadout(torch.cat([p.logits for p in parts], bdim), states, first.rule)


def as_readout(model: nn.Module | Any, x: Tensor) -> LayerReadout:
    """``model.readout(x)`` for an interpretable network; for any other classifier mapping
    ``(B, N)`` to logits ``(B, C)``, a readout of one layer with its logits only."""
    readout = getattr(model, "readout", None)
    if callable(readout):
        return readout(x)
    return LayerReadout(model(x).unsqueeze(-2))
