r"""The model-randomization reference (Adebayo et al., NeurIPS 2018, "Sanity checks for
saliency maps").

Spearman's rank correlation, per image, between a method's map on the trained model and on
a reference model (:func:`reference_model`), on the signed maps and on their absolute
values (:func:`~idmlp.faithfulness.statistics.rank_correlation`). A map that barely changes
explains the architecture, not the learning: lower is better.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .._validation import check_choice, check_int

__all__ = ["REFERENCES", "reference_model"]

#: References of the model-randomization check (:func:`reference_model`).
REFERENCES: tuple[str, ...] = ("shuffled", "identity")


def reference_model(model: nn.Module, kind: str = "shuffled", seed: int = 0) -> nn.Module:
    r"""The reference network of the model-randomization check (Adebayo et al., 2018).

    * ``shuffled``: every layer's learned change :math:`D^\ell = W^\ell - \sigma I` with its
      entries permuted at random within the layer (seeded): the weights' statistics are
      kept, what was learned is destroyed. The analogue of re-initializing the weights.
    * ``identity``: the untrained, identity-initialized network. Its class coordinates
      never move, so every gradient map and the class evidence are exactly zero there:
      their rank correlation is undefined (reported as such).

    Examples:
        >>> from idmlp.nets.mlp import InterpretableMLP
        >>> net = InterpretableMLP(4, 2, depth=3)
        >>> with torch.no_grad():
        ...     net.layers[0].weight[5, 0] = 0.5
        >>> ref = reference_model(net)
        >>> float(ref.layers[0].weight.detach().sum()), float(net.layers[0].weight.detach().sum())
        (6.5, 6.5)
    """
    check_choice("reference", kind, REFERENCES)
    ref = copy.deepcopy(model).eval()
    gen = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    with torch.no_grad():
        eye = model.identity_weight()  # sigma I, or sigma times the Dirac kernel of a CNN
        for layer in ref.layers:
            w = layer.weight
            delta = (w - eye).flatten()
            if kind == "identity":
                delta.zero_()
            else:
                delta = delta[torch.randperm(delta.numel(), generator=gen).to(delta.device)]
            w.copy_(eye + delta.view_as(w))
            if layer.bias is not None and kind == "identity":
                layer.bias.zero_()
    return ref
