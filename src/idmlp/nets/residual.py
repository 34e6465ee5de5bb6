r"""The residual interpretable MLP: every block starts as the identity through a zero scale.

ReZero (Bachlechner et al., "ReZero is all you need", 2020; SkipInit, De and Smith, NeurIPS
2020, is the same idea with batch norm) writes each block as the identity plus a branch
scaled by a learned scalar that starts at zero:

.. math::
    x^\ell = x^{\ell-1} + \alpha_\ell\, \phi(W^\ell x^{\ell-1} (+ b^\ell)),
    \qquad \alpha_\ell = \alpha_0 = 0 \text{ at initialization},

so the network is exactly the identity map at initialization whatever :math:`W^\ell`, and its
input-output Jacobian is :math:`I` (every singular value 1). Here it keeps the paper's
``N + C`` state and readout (:class:`~idmlp.nets.rules.ClassCoordinates`): the input enters
as :math:`x^0 = (\sqrt{q_0}\,z, 0_C)`, every layer's logits are :math:`s\,k^\ell`, and the
branch weights start at :math:`W^\ell = \sigma I` (the identity family; ``init`` chooses a
random start instead).

**The start.** With :math:`\alpha = 0` the scales get the gradient
:math:`\partial \mathcal L / \partial \alpha_\ell = \delta^\ell \cdot \phi(W^\ell x^{\ell-1})`
and the weights none. The loss reads only the class coordinates, and with
:math:`W^\ell = \sigma I` exactly their branch is :math:`\phi(\sigma \cdot 0) = 0` (they start
at zero), while no gradient reaches the feature coordinates (nothing reads them while
:math:`\alpha = 0`): the exact identity start is a stationary point and nothing trains. As
for the CNN's extra channels, the class rows of the branch weights therefore start as
:math:`\sigma I` plus a small random filter over all coordinates (``class_init_std`` times
:math:`1/\sqrt{\text{fan in}}`): the network is still exactly the identity (:math:`\alpha = 0`),
the feature rows are still :math:`\sigma I`, and the class branches read the input at once.

**Class evidence.** The skip path carries :math:`x^{\ell-1}_{N+c}` unchanged, so the layer's
change of class coordinate :math:`c` is the branch alone; with
:math:`h = W^\ell_{N+c,:}\, x^{\ell-1}` and :math:`g = \phi'(h)`,

.. math::
    x^\ell_{N+c} - x^{\ell-1}_{N+c} = \alpha_\ell\, \phi(h)
    = \sum_j \underbrace{\alpha_\ell\, g\, W^\ell_{N+c,j}\, x^{\ell-1}_j}_{e^\ell_j}

exactly where hard-tanh is unsaturated (:math:`\phi(h) = h`, :math:`g = 1`) and there is no
bias; where it saturates, :math:`g = 0` drops the layer's terms (they have no effect on the
class coordinate there), and for a smooth :math:`\phi` the split is first order, as for the
MLP. Unlike the MLP, the whole row :math:`W^\ell_{N+c,:}` enters (the identity part is the
skip connection, not :math:`\sigma I`), so the class column :math:`j = N + c` carries the
branch's reuse of the score already formed. Summed over layers the terms add up to the final
class coordinate (unsaturated, no bias).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..activations import secant_gate, value_and_derivative
from ..config import ModelConfig, ResidualOptions
from .mlp import InterpretableMLP

__all__ = ["ResidualMLP"]


class ResidualMLP(InterpretableMLP):
    r"""Interpretable MLP with ReZero blocks :math:`x^\ell = x^{\ell-1} + \alpha_\ell
    \phi(W^\ell x^{\ell-1})` (see the module docstring).

    Args:
        in_features, num_classes, depth, sigma, activation, bias, image_shape, logit_scale,
            learn_logit_scale, q0, init, generator, dtype, device: as for
            :class:`~idmlp.nets.mlp.InterpretableMLP` (``sigma`` is the branch weights'
            identity scale).
        alpha_init: :math:`\alpha_0`, the start of every branch scale (0: ReZero/SkipInit,
            the network starts as the identity).
        class_init_std: with ``init="identity"``, the std of the random filters added to
            the branch weights' class rows, times :math:`1/\sqrt{\text{fan in}}` (0: the exact
            :math:`\sigma I`, a stationary start; see the module docstring).

    Examples:
        >>> net = ResidualMLP(6, 3, depth=4)
        >>> z = torch.randn(2, 6)
        >>> torch.equal(net.hidden_states(z)[:, -1], net.embed(z))  # identity at init
        True
    """

    arch = "residual"

    def __init__(self, in_features: int, num_classes: int, depth: int, sigma: float = 1.0,
                 activation: str = "hardtanh", bias: bool = False,
                 image_shape: tuple[int, ...] | None = None, logit_scale: float = 1.0,
                 learn_logit_scale: bool = False, *, q0: float = 1.0, init: str = "identity",
                 alpha_init: float = 0.0, class_init_std: float = 1.0,
                 generator: torch.Generator | None = None,
                 dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None) -> None:
        opts = ResidualOptions(alpha_init, class_init_std)  # validates
        # read by init_parameters, which the MLP's constructor calls
        self.alpha_init, self.class_init_std = opts.alpha_init, opts.class_init_std
        super().__init__(in_features, num_classes, depth, sigma, activation, bias, image_shape,
                         logit_scale, learn_logit_scale, q0=q0, init=init,
                         generator=generator, dtype=dtype, device=device)
        self.alpha = nn.Parameter(torch.full((depth,), self.alpha_init, dtype=dtype,
                                             device=self.log_logit_scale.device))

    @classmethod
    def from_config(cls, config: ModelConfig, *, generator: torch.Generator | None = None,
                    dtype: torch.dtype | None = None,
                    device: torch.device | str | None = None) -> ResidualMLP:
        """Build the network a :class:`~idmlp.config.ModelConfig` with
        ``arch="residual"`` describes."""
        config.check_buildable("residual", ("in_features", "num_classes"))
        return cls(config.in_features, config.num_classes, config.depth, config.sigma,
                   config.activation, config.bias, config.image_shape, config.logit_scale,
                   config.learn_logit_scale, q0=config.q0, init=config.init,
                   alpha_init=config.options.alpha_init,
                   class_init_std=config.options.class_init_std, generator=generator,
                   dtype=dtype, device=device)

    @property
    def options(self) -> ResidualOptions:
        return ResidualOptions(self.alpha_init, self.class_init_std)

    def describe(self) -> str:
        return (f"residual MLP (ReZero blocks, alpha_0 = {self.alpha_init:g}) of depth "
                f"{self.depth}, width {self.width} = {self.in_features} + {self.num_classes}")

    def init_parameters(self, generator: torch.Generator | None = None) -> None:
        r"""The MLP's initialization, plus the class rows' random filters where they start
        exactly as :math:`\sigma I` (identity, ZerO and IDInit on these square layers; module
        docstring)."""
        super().init_parameters(generator)
        std = self.class_init_std
        if std == 0:
            return
        n, c = self.in_features, self.num_classes
        with torch.no_grad():
            for layer in self.layers:
                w = layer.weight
                eye = torch.eye(*w.shape, dtype=w.dtype, device=w.device)[n : n + c]
                if not torch.equal(w[n : n + c], self.sigma * eye):
                    continue
                noise = torch.randn((c, w.shape[1]), generator=generator, dtype=w.dtype,
                                    device=w.device)
                w[n : n + c] += noise * (std / math.sqrt(w.shape[1]))

    def step(self, l: int, x: Tensor) -> Tensor:
        r""":math:`x^{l+1} = x^l + \alpha_{l+1} \phi(W^{l+1} x^l)`."""
        return x + self.alpha[l] * self.act(self.layers[l](x))

    def gated_step(self, l: int, x: Tensor) -> Tensor:
        r""":math:`x + \alpha_{\ell+1}\, \gamma \odot W^{\ell+1} x` with the secant gate
        fixed (see :meth:`LayerwiseNet.gated_step`)."""
        h = self.layers[l](x)
        return x + self.alpha[l].detach() * secant_gate(self.act.fn, h.detach()) * h

    def identity_step(self, x: Tensor) -> Tensor:
        r"""The untrained twin's layer (:math:`W = \sigma I`, :math:`\alpha = \alpha_0`):
        :math:`x + \alpha_0 \phi(\sigma x)`, elementwise (:math:`x` itself for ReZero)."""
        return x + self.alpha_init * self.act(self.sigma * x) if self.alpha_init else x

    def layer_stack(self) -> nn.Module:
        r"""The layer stack :math:`x^0 \mapsto x^L` (with the skip connections) as a module
        on states ``(B, N + C)`` (differentiated by autograd)."""
        return super(InterpretableMLP, self).layer_stack()

    def evidence_terms(self, states: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        r"""The exact split of each layer's class change (module docstring):
        :math:`e^\ell_j = \alpha_\ell\, \phi'(h)\, W^\ell_{N+c,j}\, x^{\ell-1}_j`, one batched
        product for all layers and examples.

        Returns:
            ``((B, L, N), (B, L, C))``: the feature-column and class-column terms.
        """
        self._check_target(states, target)
        n, c = self.in_features, self.num_classes
        w = torch.stack([layer.weight.detach()[n : n + c] for layer in self.layers])
        rows = w.to(states.dtype)[:, target].transpose(0, 1)  # (B, L, W): W^l[N+c_b, :]
        prev = states[:, :-1]  # x^{l-1}
        pre = (rows * prev).sum(-1)
        if self.has_bias:
            bias = torch.stack([layer.bias.detach() for layer in self.layers]).to(states.dtype)
            pre = pre + bias[:, n + target].T
        _, gate = value_and_derivative(self.act.fn, pre)
        scale = self.alpha.detach().to(states.dtype) * gate  # (B, L)
        terms = rows * prev * scale[..., None]
        return terms[..., :n], terms[..., n : n + c]

    def layer_metrics(self) -> dict[str, Any]:
        """The MLP's weight metrics and every branch scale :math:`\\alpha_\\ell`."""
        return {**super().layer_metrics(), "alpha": self.alpha.detach().cpu().tolist()}
