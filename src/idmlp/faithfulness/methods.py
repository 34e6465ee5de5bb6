r"""The one registry of attribution methods that the faithfulness study knows.

Every method has a name (what ``idmlp faithfulness --maps/--methods`` and
:func:`~idmlp.faithfulness.faithfulness_run` take), a family, its paper, a cost model
(forward and backward passes per explanation) and whether it needs Captum; and
:meth:`Method.map_fn` says how to compute its map. The command line, ``reproduce`` and the
evaluation all read :data:`METHODS`; there is no second list.

Families:

* ``builtin``: the interpretable network's own maps (:data:`idmlp.nets.readout.MAPS`),
  read off the one forward pass that also gives every layer's logits: 1 forward pass
  for all layers, no backward pass.
* ``lrp``: LRP-epsilon written for these networks (:mod:`idmlp.faithfulness.lrp`): one
  forward and one backward pass, needs the network.
* ``captum``: gradient methods through Captum (:mod:`idmlp.faithfulness.captum`), on any
  ``logits_fn``.
* ``baseline``: orderings that need no model, ``abs_input`` (:math:`|x|`) and ``random``.

This module imports nothing heavy (the command line's ``--help`` reads it); the
implementations are imported when a map is computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

    MapFn = Callable[[Tensor, Tensor], Tensor]

__all__ = [
    "BASELINE_ORDERINGS",
    "BUILTIN_MAPS",
    "CAPTUM_METHODS",
    "DEFAULT_ATTRIBUTION",
    "DEFAULT_REFERENCE",
    "DEFAULT_VARIANT",
    "DEFAULT_MAPS",
    "DEFAULT_METHODS",
    "FAMILIES",
    "METHODS",
    "Method",
    "captum_attribution",
    "method_names",
    "method_passes",
]

FAMILIES: tuple[str, ...] = ("builtin", "lrp", "captum", "baseline")


@dataclass(frozen=True)
class Method:
    r"""One attribution method of the registry.

    Attributes:
        name: its name in the study (and on the command line).
        family: ``builtin``, ``lrp``, ``captum`` or ``baseline`` (see the module
            docstring).
        paper: where it comes from.
        summary: what the map is, in one line (the math).
        passes: forward and backward passes of one explanation (for ``per_step``
            methods: of one of their ``steps`` nodes or samples).
        per_step: the cost scales with ``steps`` (IntegratedGradients' nodes,
            GradientShap's samples).
        key: how it is computed: the map's name in :data:`idmlp.nets.readout.MAPS`
            (builtin), the Captum class (captum), unused for baselines.
        steps_arg: the Captum ``attribute`` argument that receives ``steps``.
        default: measured by default (``idmlp faithfulness``, ``reproduce``).
        archs: the architectures it is defined for (``builtin`` and ``lrp``).

    Examples:
        >>> METHODS["integrated_gradients"].cost(steps=16)
        (16, 16)
        >>> METHODS["class evidence"].needs_captum
        False
        >>> METHODS["propagated evidence"].archs
        ('mlp',)
    """

    name: str
    family: str
    paper: str
    summary: str
    passes: tuple[int, int]
    per_step: bool = False
    key: str = ""
    steps_arg: str | None = None
    default: bool = False
    archs: tuple[str, ...] = ("mlp", "cnn")

    @property
    def needs_captum(self) -> bool:
        return self.family == "captum"

    @property
    def needs_network(self) -> bool:
        """Computed from an interpretable network (not from any ``logits_fn``)."""
        return self.family in ("builtin", "lrp")

    def cost(self, steps: int = 32) -> tuple[int, int]:
        """Forward and backward passes per explanation, with ``steps`` for a per-step
        method."""
        m = steps if self.per_step else 1
        return self.passes[0] * m, self.passes[1] * m

    def map_fn(self, *, model: Any = None, logits_fn: Callable | None = None,
               layer: int | None = None, steps: int = 32, seed: int = 0) -> MapFn:
        """``fn(x, y) -> map``: the map of inputs ``x`` explaining classes ``y``.

        ``builtin`` needs ``model`` (an interpretable network; maps of every layer,
        ``(B, L, N)``, except ``logit split``: ``(B, N)``, explaining ``layer``, ``1..L``,
        default the last); ``lrp`` needs ``model`` too (``(B, N)``, explaining ``layer``);
        ``captum`` needs ``logits_fn`` (``(B, N) -> (B, C)`` or
        ``(B, L, C)``; ``layer`` picks the explained layer) and gives ``(B, N)``;
        ``baseline`` needs neither.
        """
        if self.family == "builtin":
            if model is None:
                raise ValueError(f"{self.name!r} is a map of an interpretable network: "
                                 "pass model=")
            return _builtin_fn(model, self.key, layer)
        if self.family == "lrp":
            if model is None:
                raise ValueError(f"{self.name!r} propagates through the network: pass model=")
            return _lrp_fn(model, layer)
        if self.family == "captum":
            if logits_fn is None:
                raise ValueError(f"{self.name!r} explains a logits function: pass logits_fn=")
            return _captum_fn(self.name, logits_fn, layer, steps, seed)
        return _baseline_fn(self.name, seed)


#: The registry, by name.
METHODS: dict[str, Method] = {m.name: m for m in (
    Method("logit split", "builtin", "this project (issue 20, item 3)",
           "the contrastive logit z_c - mean z split exactly over the input, every unit's "
           "secant gate phi(h)/h fixed (= LRP-0 / DeepLIFT-rescale with zero baseline on "
           "z_c - mean z); its positive part is the default map", (1, 1), key="logit_split",
           default=True),
    Method("class evidence", "builtin", "this project (interpretation.md)",
           "signed class evidence of the explained class, summed over layers 1..l "
           "(the per-layer readout's map; its positive part is the default of the "
           "layer-wise figures)", (1, 0), key="evidence_signed", default=True),
    Method("propagated evidence", "builtin", "this project (issue 20, item 3)",
           "class evidence propagated exactly through the class coordinates (secant gate): "
           "splits the logit over the input-aligned coordinates", (1, 0),
           key="propagated", archs=("mlp",)),
    Method("class channels", "builtin", "Zhou et al., CVPR 2016 (class activation map)",
           "the CNN's class channel c at every position, scaled to sum to the logit z_c: "
           "where the network holds the class's evidence (one forward pass)", (1, 0),
           key="class_channels", archs=("cnn",), default=True),
    Method("x^l - x^0", "builtin", "Kubota et al., ICASSP 2021",
           "change of the features from the input (the paper's reading)", (1, 0),
           key="change", default=True),
    Method("x^l - x^l_id", "builtin", "this project (interpretation.md)",
           "what training changed, against the identity network at the same input", (1, 0),
           key="trained", default=True),
    Method("lrp_epsilon", "lrp", "Bach et al., PLoS ONE 2015 (epsilon rule: Montavon et "
           "al., 2019)", "relevance of f_c redistributed layer by layer by the epsilon rule "
           "(eps = 1e-6)", (1, 1), default=True),
    Method("saliency", "captum", "Simonyan et al., ICLR workshop 2014",
           "|d f_c / d x|", (1, 1), key="Saliency", default=True),
    Method("input_x_gradient", "captum", "Shrikumar et al., arXiv 2016",
           "x * d f_c / d x", (1, 1), key="InputXGradient", default=True),
    Method("integrated_gradients", "captum", "Sundararajan et al., ICML 2017",
           "x * integral_0^1 d f_c(a x)/d x da, zero baseline", (1, 1), per_step=True,
           key="IntegratedGradients", steps_arg="n_steps", default=True),
    Method("gradient_shap", "captum", "Lundberg and Lee, NeurIPS 2017",
           "expected gradients over random points between 0 and x, times x", (1, 1),
           per_step=True, key="GradientShap", steps_arg="n_samples"),
    Method("deeplift", "captum", "Shrikumar et al., ICML 2017",
           "rescale rule, zero baseline (= input_x_gradient through hard-tanh)", (1, 1),
           key="DeepLift"),
    Method("abs_input", "baseline", "Adebayo et al., NeurIPS 2018 (edge-detector control)",
           "|x|: ignores the model", (0, 0)),
    Method("random", "baseline", "Samek et al., IEEE TNNLS 2017",
           "uniform random ordering (seeded)", (0, 0)),
)}


def method_names(*families: str, default: bool = False) -> tuple[str, ...]:
    """Names of the registry's methods of ``families`` (all if none), in order; with
    ``default``, only those measured by default.

    Examples:
        >>> method_names("baseline")
        ('abs_input', 'random')
    """
    bad = [f for f in families if f not in FAMILIES]
    if bad:
        raise ValueError(f"families must be among {', '.join(FAMILIES)}; got {bad[0]!r}")
    return tuple(n for n, m in METHODS.items()
                 if (not families or m.family in families) and (m.default or not default))


#: Captum methods (:func:`idmlp.attribution.captum_attribution`), by their idmlp names.
CAPTUM_METHODS: tuple[str, ...] = method_names("captum")
#: The default attribution map: the positive part of the logit split (its row name in a
#: :class:`~idmlp.faithfulness.result.FaithfulnessResult`), the best on validation images
#: of the variants of issue 20, item 3 (README: the default attribution map). The signed
#: split ranks a little better under ROAD but fails the model-randomization test (its
#: absolute map keeps the input's magnitudes); the positive part passes it.
DEFAULT_ATTRIBUTION = "logit split+"
#: The variant of a signed map that the default is (``+``: its positive part).
DEFAULT_VARIANT = "positive"
#: What the default map is compared with: IntegratedGradients, the same (positive) part.
DEFAULT_REFERENCE = "integrated_gradients+"
#: The built-in maps measured by default.
DEFAULT_MAPS: tuple[str, ...] = method_names("builtin", default=True)
#: The methods of other papers measured by default (LRP and Captum's).
DEFAULT_METHODS: tuple[str, ...] = method_names("lrp", "captum", default=True)
#: Orderings that need no model: by :math:`|x|`, and uniformly random (seeded).
BASELINE_ORDERINGS: tuple[str, ...] = method_names("baseline")
#: The interpretable network's own maps, as measured: display name -> map of
#: :data:`idmlp.nets.readout.MAPS` (signed; the positive part of ``logit split`` is the default,
#: :data:`DEFAULT_ATTRIBUTION`).
BUILTIN_MAPS: dict[str, str] = {n: METHODS[n].key for n in method_names("builtin")}


def method_passes(method: str, steps: int = 32) -> tuple[int, int]:
    """Forward and backward passes one explanation of a Captum ``method`` costs.

    Saliency, InputXGradient and DeepLift: 1 forward + 1 backward; IntegratedGradients
    with ``steps`` nodes and GradientShap with ``steps`` samples: ``steps`` of each.
    (Captum evaluates them as one batch of ``steps`` x B rows.)

    Examples:
        >>> method_passes("integrated_gradients", steps=32)
        (32, 32)
        >>> method_passes("saliency")
        (1, 1)
    """
    from .._validation import check_choice, check_int

    method = check_choice("method", method, CAPTUM_METHODS)
    return METHODS[method].cost(check_int("steps", steps))


def captum_attribution(
    method: str,
    logits_fn: Callable,
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
        method: one of :data:`CAPTUM_METHODS` (see :mod:`idmlp.attribution` for the math).
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
        >>> import torch
        >>> w = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
        >>> x = torch.tensor([[3.0, 1.0]])
        >>> captum_attribution("input_x_gradient", lambda v: v @ w.T, x, torch.tensor([0]))
        tensor([[ 3., -2.]])
    """
    from .._validation import check_choice
    from .captum import run_captum

    spec = METHODS[check_choice("method", method, CAPTUM_METHODS)]
    return run_captum(spec.key, logits_fn, x, target, name=spec.name, layer=layer,
                      steps=steps, steps_arg=spec.steps_arg, batch_size=batch_size, seed=seed,
                      **kwargs)


def _builtin_fn(net: Any, name: str, layer: int | None = None) -> MapFn:
    import torch

    if name == "propagated":
        from .evidence import propagated_evidence

        return lambda v, c: propagated_evidence(net, v, c[:, None])[:, 0]
    if name == "logit_split":  # the explained layer only: K layers cost K passes
        def split(v: Tensor, c: Tensor) -> Tensor:
            top = net.depth if layer is None else layer
            x0 = net.embed(v.detach())
            return net.logit_split(x0, c, layers=[top])[:, 0].flatten(1)
        return split

    def fn(v: Tensor, c: Tensor) -> Tensor:
        with torch.no_grad():  # (B, L, N): a CNN's maps (C_in, H, W) flattened
            return net.readout(v).maps(name, target=c).flatten(2)
    return fn


def _lrp_fn(net: Any, layer: int | None) -> MapFn:
    from .lrp import lrp_epsilon

    return lambda xb, yb: lrp_epsilon(net, xb, yb, layer=layer)


def _captum_fn(method: str, logits_fn: Callable, layer: int | None, steps: int,
               seed: int) -> MapFn:
    return lambda xb, yb: captum_attribution(method, logits_fn, xb, yb, layer=layer,
                                             steps=steps, seed=seed)


def _baseline_fn(name: str, seed: int) -> MapFn:
    import torch

    def fn(x: Tensor, y: Tensor) -> Tensor:
        if name == "abs_input":
            return x.abs()
        gen = torch.Generator().manual_seed(seed + 1)
        return torch.rand(x.shape, generator=gen, dtype=torch.float64).to(x.device)
    return fn
