r"""Variants of the class-evidence map of the interpretable MLP (issue 20, item 3).

The study's default attribution map is now the positive part of the *logit split*
(:meth:`idmlp.nets.readout.LayerReadout.logit_split`: the contrastive logit split exactly
over the input with every unit's secant gate fixed), chosen on validation images among
these variants and others (splits pushed down to the input through the identity path or
the secant gates, with and without the contrast to the mean logit). The variants here stay
as maps of the study. The class-evidence map sums, over layers, the split of class coordinate
``c``'s change into terms per feature coordinate, :math:`g^\ell D^\ell_{N+c,j} x^{\ell-1}_j`
(:meth:`idmlp.nets.readout.LayerReadout.class_evidence`), and keeps its positive part. It
leaves out (i) the negative evidence, (ii) what flows into class coordinate ``c`` from the
*other class coordinates* (the class-to-class block of :math:`W^\ell`), and (iii) the carry of
the class coordinate itself through the identity path when it saturates (the derivative
gate :math:`g = \phi'` is 0 there, while the coordinate keeps its value).

**Propagated evidence.** With the secant gate :math:`\gamma^\ell_k = \phi(h^\ell_k)/h^\ell_k`
(:math:`\phi'(0)` at 0), every class coordinate is exactly
:math:`x^\ell_{N+k} = \gamma^\ell_k h^\ell_{N+k}` and
:math:`h^\ell_{N+k} = \sum_{j \le N} D^\ell_{N+k,j} x^{\ell-1}_j + \sum_{k'} W^\ell_{N+k,N+k'}
x^{\ell-1}_{N+k'}` (no bias; the identity has no feature-to-class entries). Unrolling the
class path from the top, with :math:`\rho^L = s\,e_c` and
:math:`\rho^{\ell-1}_{k'} = \sum_k \rho^\ell_k \gamma^\ell_k W^\ell_{N+k,N+k'}`,

.. math::

    z^L_c = s\,x^L_{N+c} = \sum_{\ell=1}^{L} \sum_{j \le N}
        \underbrace{x^{\ell-1}_j \sum_k \rho^\ell_k \gamma^\ell_k D^\ell_{N+k,j}}_{E_j^{\ell}},

since :math:`x^0` has zero class coordinates: the map :math:`\sum_\ell E^\ell` splits the
logit *exactly* over the feature coordinates (input-aligned), including the evidence that
reaches class ``c`` through the other class coordinates and the identity carry. One
batched recursion over layers of ``(B, C)`` vectors; no backward pass.

**Relative to the blank image.** The evidence of ``x`` minus that of the blank image (every
pixel at the image's minimum, the background): what the image's content adds.

**Contrast.** Softmax depends on logit differences only; the contrastive map explains
:math:`z_c - \frac1C\sum_{c'} z_{c'}` (the map of ``c`` minus the mean map of all classes).

Written with the network's public members (``layers``, ``identity_weight()``,
``readout()``, ``act``, ``logit_scale``); MLP only (``ClassCoordinates`` rule).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..activations import secant_gate, value_and_derivative

__all__ = ["EVIDENCE_VARIANTS", "evidence_variant", "propagated_evidence"]

#: The variants compared (issue 20, item 3), by name.
EVIDENCE_VARIANTS: tuple[str, ...] = (
    "cumulative", "last layer", "propagated", "propagated (derivative gate)",
    "propagated contrast", "cumulative contrast", "cumulative - blank", "propagated - blank",
)


def _class_rows(net: nn.Module, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """``(W^l[N:N+C], D^l[N:N+C])`` of every layer, ``(L, C, W)`` each."""
    n, c = net.in_features, net.num_classes
    w = torch.stack([layer.weight.detach()[n : n + c] for layer in net.layers]).to(dtype)
    eye = net.identity_weight().to(dtype)[n : n + c]
    return w, w - eye


def propagated_evidence(net: nn.Module, x: Tensor, targets: Tensor, *,
                        gate: str = "secant") -> Tensor:
    r"""Class evidence propagated through the class path (module docstring), ``(B, T, N)``
    for ``targets`` ``(B, T)`` (several explained classes per input at once).

    ``gate="secant"`` (exact split of the logit) or ``"derivative"`` (first order).

    Examples:
        >>> from idmlp.nets.mlp import InterpretableMLP
        >>> net = InterpretableMLP(4, 2, depth=3, logit_scale=2.0, dtype=torch.float64)
        >>> with torch.no_grad():
        ...     for layer in net.layers:
        ...         _ = layer.weight.add_(0.3 * torch.randn(6, 6, dtype=torch.float64))
        >>> x = torch.randn(5, 4, dtype=torch.float64)
        >>> e = propagated_evidence(net, x, torch.zeros(5, 1, dtype=torch.long))
        >>> torch.allclose(e.sum(-1)[:, 0], net(x)[:, 0])  # exact when no bias
        True
    """
    if gate not in ("secant", "derivative"):
        raise ValueError(f"gate must be secant or derivative, got {gate!r}")
    n, c = net.in_features, net.num_classes
    with torch.no_grad():
        states = net.readout(x).states  # (B, L+1, W)
        w, d = _class_rows(net, states.dtype)
        prev = states[:, :-1]  # x^{l-1}
        h = torch.einsum("blw,lcw->blc", prev, w)  # class pre-activations (B, L, C)
        if net.has_bias:
            h = h + torch.stack([layer.bias.detach()[n : n + c] for layer in net.layers]
                                ).to(h.dtype)
        g = (secant_gate(net.act.fn, h) if gate == "secant"
             else value_and_derivative(net.act.fn, h)[1])
        b, t = targets.shape
        rho = torch.zeros(b, t, c, dtype=h.dtype, device=h.device)
        rho.scatter_(-1, targets[..., None], float(net.logit_scale.detach()))
        out = torch.zeros(b, t, n, dtype=h.dtype, device=h.device)
        for l in range(len(net.layers) - 1, -1, -1):
            q = rho * g[:, l, None, :]  # (B, T, C)
            out += prev[:, l, None, :n] * torch.einsum("btc,cn->btn", q, d[l][:, :n])
            rho = torch.einsum("btc,ck->btk", q, w[l][:, n : n + c])
    return out


def evidence_variant(net: nn.Module, x: Tensor, y: Tensor, variant: str) -> Tensor:
    """The signed map ``(B, N)`` of ``variant`` (:data:`EVIDENCE_VARIANTS`) explaining
    ``y`` at the last layer."""
    if variant not in EVIDENCE_VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(EVIDENCE_VARIANTS)}; got "
                         f"{variant!r}")
    c = net.num_classes
    if variant.endswith(" - blank"):  # relative to the blank image (every pixel at x's min)
        base = variant.removesuffix(" - blank")
        blank = x.min(dim=1, keepdim=True).values.expand_as(x)
        return evidence_variant(net, x, y, base) - evidence_variant(net, blank, y, base)
    if variant == "cumulative":
        return net.readout(x).class_evidence(y, part="signed")[:, -1]
    if variant == "last layer":
        return net.readout(x).class_evidence(y, cumulative=False, part="signed")[:, -1]
    if variant == "cumulative contrast":
        r = net.readout(x)
        every = torch.stack([r.class_evidence(k, part="signed")[:, -1] for k in range(c)], 1)
        return every[torch.arange(len(y)), y] - every.mean(1)
    gate = "derivative" if "derivative" in variant else "secant"
    if variant == "propagated contrast":
        every = propagated_evidence(net, x, torch.arange(c).expand(len(y), c))
        return every[torch.arange(len(y)), y] - every.mean(1)
    return propagated_evidence(net, x, y[:, None], gate=gate)[:, 0]
