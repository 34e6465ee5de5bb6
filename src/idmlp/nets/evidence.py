r"""Class evidence as an attribution with Captum's calling convention (:class:`ClassEvidence`).

An interpretable network (Kubota et al., ICASSP 2021) splits every layer's change of class
coordinate :math:`c` exactly over the coordinates of the layer before
(:meth:`idmlp.nets.readout.LayerReadout.evidence_terms`): with
:math:`D^k = W^k - \sigma I` and the gate :math:`g^k = \phi'(h^k_{N+c})`,

.. math::

    e^k_j = g^k\, D^k_{N+c,\,j}\, x^{k-1}_j, \qquad
    A^\ell_j = \Big[\textstyle\sum_{k=1}^{\ell} e^k_j\Big]_+ \quad (j \le N),

the evidence for class :math:`c` up to layer :math:`\ell` on input coordinate :math:`j`
(``signed=True`` keeps the sum, evidence for minus against). :class:`ClassEvidence` gives
:math:`A^\ell` the way Captum's attribution methods give theirs: ``attribute(inputs,
target)`` returns a map of the inputs' own shape, from one forward pass (no gradient), so it
drops into code written for Captum, and an instance is a Quantus ``explain_func``.

Hand-written rather than a Captum ``Attribution`` subclass: Captum's base classes assume a
gradient through ``forward_func``; this map is read off one forward pass, and Captum stays
an optional dependency.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["ClassEvidence"]


class ClassEvidence:
    r"""The class-evidence map of an interpretable network, as a Captum-style attribution.

    ``ClassEvidence(model).attribute(x, target=y)`` equals
    ``model.readout(x).maps("evidence", target=y)[:, -1]`` reshaped to ``x.shape`` (see the
    module docstring for the math).

    ``ClassEvidence(model, map="logit_split")`` gives instead the default attribution map
    of the faithfulness study: layer ``layer``'s contrastive logit split exactly over the
    input (:meth:`~idmlp.nets.readout.LayerReadout.logit_split`), its positive part unless
    ``signed``; one forward and one backward pass.

    Args:
        model: an interpretable network (:class:`~idmlp.nets.base.LayerwiseNet`: the MLP,
            the CNN, the residual MLP), trained by idmlp or by any loop of your own; it
            takes standardized inputs, flattened or in their natural shape.
        map: ``"evidence"`` (the class evidence, default) or ``"logit_split"``.

    Examples:
        >>> from idmlp.nets.mlp import InterpretableMLP
        >>> net = InterpretableMLP(16, 3, depth=4, image_shape=(4, 4))
        >>> x = torch.randn(2, 1, 4, 4)
        >>> ClassEvidence(net).attribute(x, target=torch.tensor([0, 2])).shape
        torch.Size([2, 1, 4, 4])
    """

    def __init__(self, model: Any, map: str = "evidence") -> None:  # noqa: A002
        if map not in ("evidence", "logit_split"):
            raise ValueError(f"map must be evidence or logit_split, got {map!r}")
        self.map = map
        if not (callable(getattr(model, "readout", None))
                and callable(getattr(model, "flat_inputs", None))):
            raise ValueError(f"ClassEvidence needs an interpretable network (idmlp.nets: "
                             f"InterpretableMLP, InterpretableCNN, ResidualMLP), got "
                             f"{type(model).__name__}")
        self.model = model

    def has_convergence_delta(self) -> bool:
        """Captum's query: this map has no approximation error to report (it is exact)."""
        return False

    def attribute(self, inputs: Tensor | np.ndarray, target: Any = None, layer: int = -1,
                  signed: bool = False) -> Tensor | np.ndarray:
        """The class evidence behind layer ``layer``'s readout, in the inputs' shape.

        Args:
            inputs: standardized inputs ``(B, N)`` or in their natural shape
                (``(B, C, H, W)``, ...); a tensor or a numpy array.
            target: the explained class of every input: an int, ``(B,)`` classes (tensor,
                array, list), or ``None`` for the model's prediction at its last layer.
            layer: the layer whose readout is explained, ``1..L`` or counted from the end
                (``-1``, the default: the last layer).
            signed: the evidence for minus against the class; default its positive part.

        Returns:
            The maps, ``inputs.shape``: a tensor on the model's device, or a numpy array for
            numpy inputs.
        """
        depth = int(self.model.depth)
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not (
                1 <= layer <= depth or -depth <= layer <= -1):
            raise ValueError(f"layer must be in 1..{depth} or -{depth}..-1 (from the end), "
                             f"got {layer!r}")
        if not isinstance(signed, bool):
            raise ValueError(f"signed must be True or False, got {signed!r}")
        param = next(self.model.parameters())
        is_numpy = isinstance(inputs, np.ndarray)
        x = torch.as_tensor(inputs, dtype=param.dtype, device=param.device)
        if not isinstance(inputs, (Tensor, np.ndarray)) or x.ndim < 2 or len(x) == 0:
            raise ValueError(f"inputs must be a non-empty batch (B, ...) of a tensor or numpy "
                             f"array, got {type(inputs).__name__}")
        flat = self.model.flat_inputs(x)
        if target is not None and not isinstance(target, (int, np.integer)):
            target = torch.as_tensor(np.asarray(target) if not isinstance(target, Tensor)
                                     else target, device=param.device).long().reshape(-1)
        if self.map == "logit_split":
            if target is None:
                with torch.no_grad():
                    target = self.model(flat).argmax(-1)
            elif isinstance(target, (int, np.integer)):
                target = torch.full((len(flat),), int(target), device=param.device)
            split = self.model.logit_split(self.model.embed(flat), target,
                                           layers=[layer if layer > 0 else depth + 1 + layer])
            out = (split if signed else split.clamp(min=0))[:, 0].reshape(x.shape)
            return out.cpu().numpy() if is_numpy else out
        with torch.no_grad():
            maps = self.model.readout(flat).maps(
                "evidence_signed" if signed else "evidence", target=target)
        out = maps[:, layer - 1 if layer > 0 else layer].reshape(x.shape)
        return out.cpu().numpy() if is_numpy else out

    def __call__(self, model: Any = None, inputs: Any = None, targets: Any = None, *,
                 layer: int = -1, signed: bool = False, device: Any = None) -> np.ndarray:
        """Quantus' ``explain_func``: ``explain_func(model=..., inputs=..., targets=...,
        **explain_func_kwargs)`` returns numpy maps of the inputs' shape. The ``model``
        Quantus passes is explained (a randomized copy, in its randomization tests), else
        this instance's; ``layer`` and ``signed`` as for :meth:`attribute`; ``device``
        (which Quantus passes) is ignored: the maps are computed where the model is."""
        explainer = (self if model is None or model is self.model
                     else ClassEvidence(model, map=self.map))
        out = explainer.attribute(inputs if isinstance(inputs, Tensor) else np.asarray(inputs),
                                  target=targets, layer=layer, signed=signed)
        return out.detach().cpu().numpy() if isinstance(out, Tensor) else out
