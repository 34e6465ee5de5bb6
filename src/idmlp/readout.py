"""Per-layer readouts of the interpretable MLP, as a first-class object.

For an input of ``N`` features and ``C`` classes, layer ``l`` of an
:class:`~idmlp.models.InterpretableMLP` has width ``N + C``: its first ``N`` dimensions,
minus the input, are the layer's *contribution map*; its last ``C`` dimensions, through
the same readout rule at every layer, are the layer's class logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["LayerReadout"]


@dataclass(frozen=True)
class LayerReadout:
    r"""Everything one forward pass says about every layer, for a batch of ``B`` inputs.

    Attributes:
        features: :math:`x^\ell_{1..N}` for :math:`\ell = 0..L`, shape ``(B, L+1, N)``
            (index 0 is the scaled input).
        logits: class logits of every layer, ``(B, L, C)``.
        image_shape: the shape of one input (``(28, 28)``, ``(8, 8)`` or ``(N,)``).
    """

    features: Tensor
    logits: Tensor
    image_shape: tuple[int, ...]

    @property
    def depth(self) -> int:
        return self.logits.shape[1]

    @property
    def contributions(self) -> Tensor:
        r"""Contribution maps :math:`x^\ell_{1..N} - x^0`, ``(B, L, N)``."""
        return self.features[:, 1:] - self.features[:, :1]

    def contribution_images(self) -> Tensor:
        """Contribution maps shaped as images, ``(B, L, *image_shape)``."""
        b, l, _ = self.contributions.shape
        return self.contributions.reshape(b, l, *self.image_shape)

    @property
    def probs(self) -> Tensor:
        """Class probabilities of every layer (softmax of :attr:`logits`), ``(B, L, C)``."""
        return torch.softmax(self.logits, dim=-1)

    @property
    def preds(self) -> Tensor:
        """Predicted class of every layer, ``(B, L)``."""
        return self.logits.argmax(dim=-1)

    def accuracy(self, y: Tensor) -> Tensor:
        """Accuracy of every layer against labels ``y`` (``(B,)``), shape ``(L,)``."""
        return (self.preds == y[:, None]).float().mean(dim=0)

    def true_class_probability(self, y: Tensor) -> Tensor:
        """Probability each layer gives to the true class, ``(B, L)``."""
        idx = y[:, None, None].expand(-1, self.depth, 1)
        return self.probs.gather(-1, idx).squeeze(-1)

    def to(self, device: torch.device | str) -> LayerReadout:
        return LayerReadout(self.features.to(device), self.logits.to(device), self.image_shape)

    @staticmethod
    def cat(parts: list[LayerReadout]) -> LayerReadout:
        """Concatenate readouts of several batches along the batch dimension."""
        return LayerReadout(
            torch.cat([p.features for p in parts]),
            torch.cat([p.logits for p in parts]),
            parts[0].image_shape,
        )
