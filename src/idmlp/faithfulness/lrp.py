r"""LRP-epsilon for the interpretable networks (Bach et al., PLoS ONE 2015; the epsilon rule
as in Montavon et al., "Layer-wise relevance propagation: an overview", 2019).

The explained logit is linear in the last state, :math:`f_c = \langle r, x^L\rangle`
(:math:`r = \partial f_c/\partial x^L`: :math:`s` on class coordinate ``c`` of the MLP,
:math:`s/HW` on every pixel of class channel ``c`` of the CNN), so the relevance starts as
:math:`R^L = r \odot x^L` (it sums to :math:`f_c`). Elementwise activations pass relevance
unchanged; through each layer's linear map :math:`h^\ell = W^\ell x^{\ell-1}` (a matrix or
a convolution) the epsilon rule redistributes it,

.. math::

    R^{\ell-1}_j = x^{\ell-1}_j \sum_k \frac{W^\ell_{kj}\, R^\ell_k}
                   {h^\ell_k + \epsilon\,\operatorname{sign}(h^\ell_k)}
    = x^{\ell-1} \odot \Big(W^{\ell\top} \frac{R^\ell}{h^\ell + \epsilon \operatorname{sign}
      h^\ell}\Big)_j,

(sign 0 counts as +), computed for the whole batch with one vector-Jacobian product per
layer (``W^T v`` by autograd, so the same code serves matrices and convolutions). The map is
the relevance of the input-aligned coordinates of :math:`x^0`, ``(B, N)``. With
:math:`\epsilon \to 0`, no bias and every unit in its linear range it equals
InputXGradient and conserves :math:`\sum_j R^0_j = f_c`.

Written here because neither library applies to these networks: Captum's ``LRP`` refuses
the network (its hard-tanh is an :class:`~idmlp.activations.Activation` module that Captum
has no rule for, and that one module is applied at every layer, which Captum's hooks do
not support), and zennit 0.5 does not import without torchvision.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._validation import check_int, check_nonnegative

__all__ = ["lrp_epsilon"]


def lrp_epsilon(model: nn.Module, x: Tensor, target: Tensor, *, epsilon: float = 1e-6,
                layer: int | None = None) -> Tensor:
    r"""LRP-epsilon maps of an interpretable network (see the module docstring).

    Args:
        model: an interpretable network (``embed``, ``layers``, ``act``, ``rule``,
            ``logit_scale``), in eval mode.
        x: inputs ``(B, N)``.
        target: the explained class of every input, ``(B,)``.
        epsilon: the stabilizer :math:`\epsilon \ge 0`.
        layer: explain layer ``layer``'s logit (``1..L``; default the last).

    Returns:
        ``(B, N)`` relevance of the input features, detached, in ``x``'s dtype.

    Examples:
        >>> from idmlp.nets.mlp import InterpretableMLP
        >>> net = InterpretableMLP(3, 2, depth=1)
        >>> with torch.no_grad():
        ...     net.layers[0].weight[3, :3] = torch.tensor([1.0, -2.0, 0.5])
        >>> lrp_epsilon(net, torch.tensor([[0.2, 0.1, 0.4]]), torch.tensor([0]), epsilon=0.0)
        tensor([[ 0.2000, -0.2000,  0.2000]])
    """
    epsilon = check_nonnegative("epsilon", epsilon)
    depth = len(model.layers)
    layer = depth if layer is None else check_int("layer", layer)
    if layer > depth:
        raise ValueError(f"layer must be in 1..{depth}, got {layer}")
    target = torch.as_tensor(target, device=x.device).long()
    if target.shape != (len(x),):
        raise ValueError(f"target must hold one class per input, shape ({len(x)},)")
    with torch.no_grad():
        states = [model.embed(x)]
        pre = []
        for lin in list(model.layers)[:layer]:
            pre.append(lin(states[-1]))
            states.append(model.act(pre[-1]))
    with torch.enable_grad():
        top = states[-1].detach().requires_grad_(True)
        logits = model.rule.logits(top, model.logit_scale.detach())
        (r,) = torch.autograd.grad(logits.gather(-1, target[:, None]).sum(), top)
        rel = r * top.detach()
        for lin, h, a in zip(reversed(list(model.layers)[:layer]), reversed(pre),
                             reversed(states[:-1]), strict=True):
            denom = h + epsilon * torch.where(h >= 0, 1.0, -1.0)
            ratio = torch.where(denom != 0, rel / denom, torch.zeros_like(rel))
            inp = a.detach().requires_grad_(True)
            (back,) = torch.autograd.grad(lin(inp), inp, grad_outputs=ratio)
            rel = inp.detach() * back
    return model.rule.features(rel).flatten(1).detach().to(x.dtype)
