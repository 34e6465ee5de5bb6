r"""Per-layer readouts of an interpretable network, as a first-class object.

One forward pass of an interpretable network gives the state :math:`x^\ell` of every
layer; a :class:`LayerReadout` holds them with the network's
:class:`~idmlp.nets.rules.ReadoutRule`, and exposes what each layer says: its class logits
(the same rule at every layer), its input-aligned features :math:`f^\ell`, and three maps
in the input's layout (``interpretation.md`` in the docs):

* ``change``: :math:`f^\ell - f^0`, the paper's literal reading (the change of the
  features from the input). For hard-tanh it contains the clipping
  :math:`\phi(\sigma u) - u` that the untrained network already makes.
* ``trained``: :math:`f^\ell - f^\ell_{\mathrm{id}}`, where :math:`x^\ell_{\mathrm{id}}` is
  the same input through the identity-initialized network: what training changed (zero
  for the untrained network by construction).
* ``evidence``: the class evidence. Where class coordinate :math:`c` is unsaturated at
  layer :math:`\ell`, its change :math:`x^\ell_{N+c} - \sigma x^{\ell-1}_{N+c}` splits
  exactly into one term per coordinate :math:`j` of the layer before,
  :math:`(W^\ell - \sigma I)_{N+c,j}\, x^{\ell-1}_j` (for a smooth :math:`\phi`, weighted by
  :math:`\phi'` at the pre-activation: first order). The feature columns :math:`j \le N`
  keep the input's layout; summed over layers :math:`1..\ell` (cumulative) their positive
  part is the evidence for class :math:`c` up to layer :math:`\ell`, the default map of
  the layer-wise figures.
* ``logit_split``: layer :math:`\ell`'s contrastive logit
  :math:`z^\ell_c - \frac1C\sum_k z^\ell_k` split exactly over the input, with every unit's
  secant gate :math:`\phi(h)/h` fixed (:meth:`LayerReadout.logit_split`): it follows every
  path to the input and sums to the score; its positive part is the default attribution
  map of the faithfulness study (issue 20: best of the variants measured on validation
  images).

All maps come from the one forward pass of ``model.readout``: the identity network's
states are an elementwise recursion computed alongside, and the evidence terms are a
batched product of the states with the weights' departure from :math:`\sigma I`, computed
on request (:meth:`LayerReadout.evidence_terms`).

Nothing assumes a flat feature vector: the feature part of a state may be a vector (MLP)
or channels x height x width (CNN), and leading run dimensions (``K`` stacked networks)
pass through. Models that are not interpretable (a plain classifier) give a readout with
logits only, one "layer" (:func:`as_readout`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from .rules import ReadoutRule

__all__ = ["DEFAULT_MAP", "LAYERWISE_MAPS", "MAPS", "Explainable", "LayerReadout",
           "as_readout"]

#: The named maps of :meth:`LayerReadout.maps`, the default first.
MAPS: dict[str, str] = {
    "evidence": "class evidence for the explained class, summed over layers 1..l: its "
                "positive part",
    "evidence_signed": "class evidence (for minus against) for the explained class, summed "
                       "over layers 1..l",
    "change": "x^l - x^0: the change of the features from the input (the paper's reading)",
    "trained": "x^l - x^l_id: what training changed, against the identity-initialized "
               "network at the same input",
    "logit_split": "layer l's contrastive logit z_c - mean z split exactly over the input "
                   "(every unit's secant gate phi(h)/h fixed: the network as the linear map "
                   "it is at x)",
    "class_channels": "where layer l holds class c's evidence: a CNN's class channel c at "
                      "every position, scaled to sum to the logit z_c (the class activation "
                      "map at the input's resolution)",
}
DEFAULT_MAP = "evidence"
#: The maps read off the one forward pass (the layer-wise figures keep these by default;
#: ``logit_split`` costs one forward and one backward pass per explained layer).
LAYERWISE_MAPS: tuple[str, ...] = ("evidence", "evidence_signed", "change", "trained")


class Explainable(Protocol):
    """A network whose readout can split each layer's change of a class coordinate into
    terms per coordinate of the layer before (see :meth:`LayerReadout.evidence_terms`)."""

    def evidence_terms(self, states: Tensor, target: Tensor) -> tuple[Tensor, Tensor]: ...


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
        identity_states: the states of the identity-initialized network at the same
            inputs, ``(*R, B, L+1, *S)`` (``None`` if the network did not give them).
        network: the network, for :meth:`evidence_terms` (``None`` if it cannot split).

    Examples:
        >>> from idmlp.nets.mlp import InterpretableMLP
        >>> r = InterpretableMLP(6, 3, depth=4).readout(torch.randn(2, 6))
        >>> r.logits.shape, r.maps("trained").shape, r.class_evidence(torch.tensor([0, 2])).shape
        (torch.Size([2, 4, 3]), torch.Size([2, 4, 6]), torch.Size([2, 4, 6]))
        >>> sorted(r.evidence_shares(torch.tensor([0, 2])))
        ['class', 'extra', 'feature']
    """

    logits: Tensor
    states: Tensor | None = None
    rule: ReadoutRule | None = None
    identity_states: Tensor | None = None
    network: Explainable | None = None

    @classmethod
    def from_states(cls, states: Tensor, rule: ReadoutRule, logit_scale: Tensor | float, *,
                    identity_states: Tensor | None = None,
                    network: Explainable | None = None) -> LayerReadout:
        """Read ``states`` ``(*R, B, L+1, *S)`` by ``rule`` at every layer ``1..L``."""
        layer_dim = -(rule.state_ndim + 1)
        logits = rule.logits(states.narrow(layer_dim, 1, states.shape[layer_dim] - 1),
                             logit_scale)
        return cls(logits, states, rule, identity_states, network)

    def _need_states(self) -> tuple[Tensor, ReadoutRule]:
        if self.states is None or self.rule is None:
            raise ValueError("this readout has logits only (a plain classifier); features "
                             "and maps need an interpretable network's readout()")
        return self.states, self.rule

    def _layer_dim(self, t: Tensor) -> int:
        return t.ndim - self._need_states()[1].state_ndim - 1

    def _layers(self, t: Tensor) -> Tensor:
        """``t[..., 1:, ...]`` along the layer dimension: layers 1..L of x^0..x^L."""
        dim = self._layer_dim(t)
        return t.narrow(dim, 1, t.shape[dim] - 1)

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
        r"""Contribution maps :math:`f^\ell - f^0` (the ``change`` map), ``(*R, B, L, *F)``."""
        f = self.features
        dim = self._layer_dim(f)
        return self._layers(f) - f.narrow(dim, 0, 1)

    @property
    def identity_features(self) -> Tensor:
        r""":math:`f^\ell_{\mathrm{id}}`, the features of the identity-initialized network,
        ``(*R, B, L+1, *F)``."""
        if self.identity_states is None:
            raise ValueError("this readout has no identity-network states")
        return self._need_states()[1].features(self.identity_states)

    @property
    def clipping(self) -> Tensor:
        r""":math:`f^\ell_{\mathrm{id}} - f^0`: the change the untrained network already
        makes (for hard-tanh, its clipping), ``(*R, B, L, *F)``."""
        f = self.identity_features
        return self._layers(f) - f.narrow(self._layer_dim(f), 0, 1)

    def evidence_terms(self, target: Tensor | int | None = None) -> tuple[Tensor, Tensor]:
        r"""The exact split of each layer's change of class coordinate ``target``.

        For layer :math:`\ell` and class :math:`c`, with :math:`D^\ell = W^\ell - \sigma I`
        and :math:`g^\ell = \phi'(h^\ell_{N+c})` at the class coordinate's pre-activation
        (hard-tanh: 1 where unsaturated, else 0),

        .. math::
            e^\ell_j = g^\ell\, D^\ell_{N+c,\,j}\, x^{\ell-1}_j, \qquad
            \textstyle\sum_j e^\ell_j = x^\ell_{N+c} - \sigma x^{\ell-1}_{N+c}
            \ \text{(unsaturated, no bias)}.

        Args:
            target: the explained class of each example, ``(B,)`` (an int for all);
                default: each example's prediction at the last layer.

        Returns:
            ``(feature_terms, class_terms)``: ``(*R, B, L, *F)`` over the feature
            coordinates (the map) and ``(*R, B, L, C)`` over the class coordinates.
        """
        if self.network is None:
            raise ValueError("this readout cannot split the class changes (the network "
                             "gave no evidence_terms)")
        states, _ = self._need_states()
        return self.network.evidence_terms(states, self._target(target))

    def evidence_shares(self, target: Tensor | int | None = None) -> dict[str, Tensor]:
        r"""Per layer, the share of the class evidence that flows through each block of
        the layer before: the input-aligned features :math:`f` (what the maps show), the
        extra coordinates :math:`e` (the MLP's extra features, the CNN's extra channels)
        and the class coordinates :math:`k`,

        .. math::
            \rho^\ell_{B} = \frac{\sum_{j \in B} |e^\ell_j|}{\sum_j |e^\ell_j|},
            \qquad B \in \{f, e, k\},

        over the exact terms of :meth:`evidence_terms` (they sum to the layer's class
        change). :math:`\rho_f` says how complete the input-aligned map is: the evidence
        through :math:`e` and :math:`k` is real but has no place in the input's layout.
        NaN where a layer changed nothing (hard-tanh saturated).

        Returns:
            ``{"feature", "extra", "class"}``, each ``(*R, B, L)`` (``extra`` is zero for
            networks without extra coordinates).
        """
        feats, others = self.evidence_terms(target)
        c = self.logits.shape[-1]
        layer_dim = self._layer_dim(feats)
        f = feats.abs().flatten(layer_dim + 1).sum(-1)
        extra = others[..., : others.shape[-1] - c].abs().sum(-1)
        cls = others[..., others.shape[-1] - c :].abs().sum(-1)
        total = f + extra + cls
        nan = torch.full_like(total, float("nan"))
        return {name: torch.where(total > 0, part / total, nan)
                for name, part in (("feature", f), ("extra", extra), ("class", cls))}

    def mean_evidence_shares(self, target: Tensor | int | None = None) -> dict[str, Tensor]:
        """:meth:`evidence_shares` averaged over the batch (examples whose layer changed
        nothing left out): ``{"feature", "extra", "class"}``, each ``(*R, L)``."""
        shares = self.evidence_shares(target)
        batch_dim = shares["feature"].ndim - 2
        return {k: v.detach().nanmean(batch_dim) for k, v in shares.items()}

    def _target(self, target: Tensor | int | None) -> Tensor:
        batch = self.logits.shape[:-2]
        if target is None:
            return self.logits[..., -1, :].argmax(-1)
        t = torch.as_tensor(target, device=self.logits.device).long()
        return t.expand(batch) if t.ndim == 0 else t

    def class_evidence(self, target: Tensor | int | None = None, *, cumulative: bool = True,
                       part: str = "positive") -> Tensor:
        r"""Class-evidence maps for class ``target``, ``(*R, B, L, *F)``.

        Args:
            target: the explained class (see :meth:`evidence_terms`).
            cumulative: sum the terms over layers :math:`1..\ell` (the evidence behind
                layer :math:`\ell`'s readout); else layer :math:`\ell`'s terms alone.
            part: of the (summed) evidence: ``positive`` (for the class), ``negative``
                (against it, as a magnitude) or ``signed``.
        """
        if part not in ("positive", "negative", "signed"):
            raise ValueError(f"part must be positive, negative or signed; got {part!r}")
        terms, _ = self.evidence_terms(target)
        if cumulative:
            terms = terms.cumsum(self._layer_dim(terms))
        if part == "positive":
            return terms.clamp(min=0)
        return (-terms).clamp(min=0) if part == "negative" else terms

    def logit_split(self, target: Tensor | int | None = None, *, contrast: bool = True,
                    layers: Any = None) -> Tensor:
        r"""The score of class ``target`` at every layer (or at ``layers``, ``1..L``) split
        exactly over the input coordinates, ``(B, K, *F)``: the contrastive logit
        :math:`z^\ell_c - \frac1C \sum_k z^\ell_k` (``contrast=False``: :math:`z^\ell_c`)
        of the network with every unit's secant gate :math:`\phi(h)/h` fixed
        (:meth:`idmlp.nets.base.LayerwiseNet.logit_split`). Unlike :meth:`class_evidence` it
        follows every path to the input (through the features, the extra and the class
        coordinates), and its maps sum to the score. Not for stacked runs (``R``)."""
        if self.network is None or not hasattr(self.network, "logit_split"):
            raise ValueError("this readout cannot split the logits (the network gave no "
                             "logit_split)")
        states, _ = self._need_states()
        return self.network.logit_split(states[:, 0], self._target(target), contrast=contrast,
                                        layers=layers)

    def class_channels(self, target: Tensor | int | None = None) -> Tensor:
        r"""Where every layer holds class ``target``'s evidence, ``(B, L, *F)``: a CNN's
        class channel :math:`k^\ell_c(p)` at every position :math:`p`, times :math:`s/P`
        (``P`` positions) and spread evenly over the input channels, so that the map sums
        exactly to the logit :math:`z^\ell_c = \frac{s}{P} \sum_p k^\ell_c(p)`. The class
        activation map (Zhou et al., CVPR 2016) of a network whose class score is a spatial
        mean, at the input's resolution (same-size convolutions), read off the forward
        pass. It says *where* the evidence sits, not which pixels' values made it (that is
        :meth:`logit_split`). Networks with class channels only; not for stacked runs."""
        states, rule = self._need_states()
        spatial = getattr(rule, "spatial", None)
        scale = getattr(self.network, "logit_scale", None)
        if spatial is None or scale is None:
            raise ValueError("class_channels needs a network with class channels (--arch cnn)")
        layers = self._layers(states)  # (B, L, channels, *S)
        if layers.ndim != 3 + len(spatial):
            raise ValueError("class_channels reads one network, not stacked runs")
        k = rule.class_block(layers)  # (B, L, C, *S)
        b, depth = k.shape[:2]
        t = self._target(target).view(b, 1, 1, *(1 for _ in spatial))
        kc = k.gather(2, t.expand(b, depth, 1, *spatial))
        per = scale.detach() / (math.prod(spatial) * rule.in_channels)
        return (kc * per).expand(b, depth, rule.in_channels, *spatial)

    def maps(self, name: str = DEFAULT_MAP, target: Tensor | int | None = None) -> Tensor:
        """The named map of every layer, ``(*R, B, L, *F)`` (see :data:`MAPS`);
        ``target`` is the explained class of the evidence maps."""
        if name == "evidence":
            return self.class_evidence(target)
        if name == "evidence_signed":
            return self.class_evidence(target, part="signed")
        if name == "change":
            return self.contributions
        if name == "logit_split":
            return self.logit_split(target)
        if name == "class_channels":
            return self.class_channels(target)
        if name == "trained":
            f, fid = self.features, self.identity_features
            return self._layers(f) - self._layers(fid)
        raise ValueError(f"map must be one of {', '.join(MAPS)}; got {name!r}")

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


def as_readout(model: nn.Module | Any, x: Tensor) -> LayerReadout:
    """``model.readout(x)`` for an interpretable network; for any other classifier mapping
    ``(B, N)`` to logits ``(B, C)``, a readout of one layer with its logits only."""
    readout = getattr(model, "readout", None)
    if callable(readout):
        return readout(x)
    return LayerReadout(model(x).unsqueeze(-2))
