r"""Identity-initialized MLPs.

:class:`MLP` is a square deep MLP :math:`x^\ell = \phi(W^\ell x^{\ell-1} + b^\ell)`
with a choice of initialization; :class:`IdentityMLP` fixes :math:`W^\ell = \sigma I`.
:class:`InterpretableMLP` is the paper's interpretable structure: width ``N + C``, input
padded with ``C`` zeros, and the class block of every layer read out as class logits.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from .._validation import check_int, check_nonnegative, check_positive
from ..activations import Activation, value_and_derivative
from ..config import ACTIVATIONS, INIT_SCHEMES, ModelConfig
from ..init import init_weight_
from .readout import LayerReadout
from .rules import ClassCoordinates, RuleSizes

__all__ = ["MLP", "IdentityMLP", "InterpretableMLP", "build_model"]


def _readout_config(net: Any, arch: str, **extra: Any) -> ModelConfig:
    """The :class:`~idmlp.config.ModelConfig` fields every interpretable network has
    (MLP and CNN), read back from the built network, plus its own ``extra``."""
    return ModelConfig(
        arch, net.depth, net.sigma, net.q0, net.activation, net.init_scheme, net.has_bias,
        float(net.logit_scale.detach()), net.log_logit_scale.requires_grad,
        net.in_features, net.num_classes, net.image_shape, **extra,
    )


def _check_common(depth: int, sigma: float, activation: str, init: str) -> None:
    check_int("depth", depth, minimum=1)
    check_positive("sigma", sigma)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    if init not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {', '.join(INIT_SCHEMES)}; got {init!r}")


def _check_sigma_b(sigma_b: float, bias: bool) -> float:
    sigma_b = check_nonnegative("sigma_b", sigma_b)
    if sigma_b > 0 and not bias:
        raise ValueError(f"sigma_b={sigma_b:g} > 0 needs bias=True (sigma_b must be 0 for a "
                         "network without biases)")
    return sigma_b


class _LayerStack:
    """What every idmlp network reads off its ``layers`` and ``act`` (MLP and CNN)."""

    act: Activation
    layers: nn.ModuleList

    @property
    def activation(self) -> str:
        return self.act.name

    @property
    def has_bias(self) -> bool:
        return self.layers[0].bias is not None


class MLP(_LayerStack, nn.Module):
    r"""Deep square MLP, :math:`x^\ell = \phi(W^\ell x^{\ell-1} (+ b^\ell))`, ``l = 1..L``.

    Args:
        width: ``N``, the width of every layer (integer >= 1).
        depth: ``L``, the number of layers (integer >= 1).
        sigma: gain of the initialization (``W = sigma I`` for ``init="identity"``).
        activation: hardtanh, tanh, relu, leaky_relu, linear, sigmoid, gelu or selu.
        bias: whether layers have a bias (zero, or Gaussian with ``sigma_b``).
        init: identity, orthogonal, xavier or he (see :func:`idmlp.init.init_weight_`).
        generator: random source for the random initializations.
        dtype, device: factory arguments as for :class:`torch.nn.Linear` (build in
            ``torch.float64`` for float64 analysis: ``sigma`` is then not rounded to float32).
        sigma_b: bias initialization :math:`b^\ell_i \sim N(0, \sigma_b^2)`, a finite
            number >= 0 (0: zero biases; > 0 needs ``bias=True``). The mean-field theory of
            random networks (Poole et al., NeurIPS 2016; Schoenholz et al., ICLR 2017) needs
            :math:`\sigma_b > 0` to reach the critical line :math:`\chi = 1` with hard-tanh
            (:func:`idmlp.theory.critical_point`). Biases are drawn after all weights, so the
            weights do not depend on ``sigma_b``.

    Examples:
        >>> net = MLP(16, 10, init="orthogonal")
        >>> net(torch.randn(4, 16)).shape
        torch.Size([4, 16])
        >>> net = MLP(500, 2, 1.0, "tanh", bias=True, init="xavier", sigma_b=0.1,
        ...           generator=torch.Generator().manual_seed(0))
        >>> round(float(net.layers[0].bias.detach().std()), 1)
        0.1
    """

    def __init__(
        self,
        width: int,
        depth: int,
        sigma: float = 1.0,
        activation: str = "hardtanh",
        bias: bool = False,
        init: str = "identity",
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        sigma_b: float = 0.0,
    ) -> None:
        super().__init__()
        check_int("width", width, minimum=1)
        _check_common(depth, sigma, activation, init)
        self.sigma_b = _check_sigma_b(sigma_b, bias)
        self.width, self.depth, self.sigma, self.init_scheme = width, depth, float(sigma), init
        # skip_init: nn.Linear's own random init would be overwritten by reset_parameters.
        device = device if device is not None else torch.get_default_device()
        self.layers = nn.ModuleList(
            nn.utils.skip_init(nn.Linear, width, width, bias=bias, dtype=dtype, device=device)
            for _ in range(depth)
        )
        self.act = Activation(activation)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        r"""Re-initialize every weight by the model's scheme, then every bias:
        :math:`N(0, \sigma_b^2)`, or zero for ``sigma_b = 0``."""
        for layer in self.layers:
            init_weight_(layer.weight, self.init_scheme, self.sigma, generator)
        for layer in self.layers:
            if layer.bias is None:
                continue
            with torch.no_grad():
                if self.sigma_b > 0:
                    layer.bias.normal_(0.0, self.sigma_b, generator=generator)
                else:
                    layer.bias.zero_()

    def states(self, x: Tensor) -> Iterator[Tensor]:
        r"""The forward pass, one layer at a time: yields :math:`x^1, \ldots, x^L`."""
        for layer in self.layers:
            x = self.act(layer(x))
            yield x

    def forward(self, x: Tensor) -> Tensor:
        for h in self.states(x):  # noqa: B007 (the last state is the output)
            pass
        return h

    def forward_layers(self, x: Tensor) -> Tensor:
        """Every layer's output, ``(B, L+1, N)``; index 0 is the input :math:`x^0`."""
        return torch.stack([x, *self.states(x)], dim=1)

    def identity_states(self, x: Tensor) -> Tensor:
        r"""The states of this network's identity-initialized twin (:math:`W = \sigma I`, no
        bias) at the same input, ``(B, L+1, N)``: the elementwise recursion
        :math:`x^\ell_{\mathrm{id}} = \phi(\sigma x^{\ell-1}_{\mathrm{id}})`."""
        out = [x]
        for _ in range(self.depth):
            out.append(self.act(self.sigma * out[-1]))
        return torch.stack(out, dim=1)

    def weight_stack(self) -> Tensor:
        """All weights stacked, ``(L, N, N)`` (a copy, detached)."""
        return torch.stack([layer.weight.detach() for layer in self.layers])

    def identity_weight(self) -> Tensor:
        r"""The weight every layer starts from at identity initialization, :math:`\sigma I`."""
        w = self.layers[0].weight
        return self.sigma * torch.eye(*w.shape, dtype=w.dtype, device=w.device)

    def identity_distance(self) -> Tensor:
        r""":math:`\|W^\ell - \sigma I\|_F / \|\sigma I\|_F` for every layer, ``(L,)``."""
        w = self.weight_stack()
        eye = self.sigma * torch.eye(w.shape[-1], out=torch.empty_like(w[0]))
        return torch.linalg.matrix_norm(w - eye) / (self.sigma * math.sqrt(w.shape[-1]))


class IdentityMLP(MLP):
    r"""Deep MLP with identity initialization :math:`W^\ell = \sigma I` (Kubota et al., 2021).

    Examples:
        >>> net = IdentityMLP(width=8, depth=20, sigma=1.0, activation="hardtanh")
        >>> torch.equal(net(torch.full((1, 8), 0.5)), torch.full((1, 8), 0.5))
        True
    """

    def __init__(self, width: int, depth: int, sigma: float = 1.0,
                 activation: str = "hardtanh", bias: bool = False, *,
                 sigma_b: float = 0.0, generator: torch.Generator | None = None,
                 **factory: Any) -> None:
        r"""``sigma_b`` and ``generator``: Gaussian biases :math:`N(0, \sigma_b^2)` (needs
        ``bias=True``); ``factory``: ``dtype`` and ``device``, as for :class:`MLP`."""
        super().__init__(width, depth, sigma, activation, bias, init="identity",
                         generator=generator, sigma_b=sigma_b, **factory)



class InterpretableMLP(RuleSizes, MLP):
    r"""The paper's interpretable MLP: every layer of width ``N + C``, identity-initialized.

    The standardized input :math:`z \in \mathbb{R}^N` enters as
    :math:`x^0 = (\sqrt{q_0}\, z, 0_C)` (:class:`~idmlp.nets.rules.ClassCoordinates`). At layer
    :math:`\ell`, the first ``N`` dimensions minus the input, :math:`x^\ell_{1..N} - x^0_{1..N}`,
    form the contribution map of layers :math:`1..\ell`; the last ``C`` dimensions give the
    class logits :math:`z^\ell = s \cdot x^\ell_{N+1..N+C}`. The scale :math:`s`
    (``logit_scale``, a temperature :math:`1/s`) is the same at every layer, so every
    layer is read by the same rule; hard-tanh bounds the class block to ``[-1, 1]``, and
    ``s > 1`` lets the softmax become confident. With ``learn_logit_scale=True`` the one
    shared :math:`\log s` is trained. The network's output is :math:`z^L`.

    Args:
        in_features: ``N``, the number of input features.
        num_classes: ``C`` (integer >= 2).
        depth: ``L`` (integer >= 1).
        sigma: identity scale (the gain of the other initializations).
        activation: elementwise activation name.
        bias: whether layers have a bias.
        image_shape: shape of one input for maps (default ``(N,)``); must multiply to ``N``.
        logit_scale: :math:`s > 0`.
        learn_logit_scale: train :math:`\log s` with the weights.
        q0: the input variance :math:`q_0 > 0` (inputs are multiplied by
            :math:`\sqrt{q_0}`; pass already scaled inputs with the default 1).
        init: ``identity`` (the paper), or ``orthogonal``, ``xavier``, ``he`` for the
            same structure with a random start (trainability sweeps).
        generator: random source of the random initializations.
        dtype, device: factory arguments as for :class:`torch.nn.Linear`.

    Examples:
        >>> net = InterpretableMLP(64, 10, depth=20, image_shape=(8, 8))
        >>> net.readout(torch.randn(5, 64)).logits.shape
        torch.Size([5, 20, 10])
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        depth: int,
        sigma: float = 1.0,
        activation: str = "hardtanh",
        bias: bool = False,
        image_shape: tuple[int, ...] | None = None,
        logit_scale: float = 1.0,
        learn_logit_scale: bool = False,
        *,
        q0: float = 1.0,
        init: str = "identity",
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        in_features = check_int("in_features", in_features, minimum=1)
        num_classes = check_int("num_classes", num_classes, minimum=2)
        rule = ClassCoordinates(in_features, num_classes, tuple(image_shape or ()))
        logit_scale = check_positive("logit_scale", logit_scale)
        q0 = check_positive("q0", q0)
        super().__init__(rule.width, depth, sigma, activation, bias, init, generator,
                         dtype=dtype, device=device)
        self.rule, self.q0, self.input_scale = rule, q0, math.sqrt(q0)
        self.log_logit_scale = nn.Parameter(
            torch.tensor(math.log(logit_scale), dtype=dtype, device=device),
            requires_grad=learn_logit_scale,
        )

    @classmethod
    def from_config(cls, config: ModelConfig, *, generator: torch.Generator | None = None,
                    dtype: torch.dtype | None = None,
                    device: torch.device | str | None = None) -> InterpretableMLP:
        """Build the network a :class:`~idmlp.config.ModelConfig` describes (with the
        data's sizes filled in, :meth:`ModelConfig.for_data`)."""
        config.check_buildable("mlp", ("in_features", "num_classes"))
        return cls(config.in_features, config.num_classes, config.depth, config.sigma,
                   config.activation, config.bias, config.image_shape, config.logit_scale,
                   config.learn_logit_scale, q0=config.q0, init=config.init,
                   generator=generator, dtype=dtype, device=device)

    @property
    def logit_scale(self) -> Tensor:
        return self.log_logit_scale.exp()

    @property
    def config(self) -> ModelConfig:
        """The :class:`~idmlp.config.ModelConfig` that rebuilds this network."""
        return _readout_config(self, "mlp")

    def describe(self) -> str:
        """One line: the network's shape (for report subtitles)."""
        return (f"MLP of depth {self.depth}, width {self.width} = {self.in_features} + "
                f"{self.num_classes}")

    def embed(self, z: Tensor) -> Tensor:
        r""":math:`x^0 = (\sqrt{q_0}\, z, 0_C)`."""
        return self.rule.embed(z, self.input_scale)

    def forward(self, z: Tensor) -> Tensor:
        """Class logits of the last layer, ``(B, C)``."""
        return self.rule.logits(super().forward(self.embed(z)), self.logit_scale)

    def layer_logits(self, z: Tensor) -> Tensor:
        """Class logits of every layer, ``(B, L, C)`` (what a loss over layers needs)."""
        blocks = [self.rule.class_block(x) for x in self.states(self.embed(z))]
        return torch.stack(blocks, dim=-2) * self.logit_scale

    def hidden_states(self, z: Tensor) -> Tensor:
        """The states :math:`x^0, \\ldots, x^L`, ``(B, L+1, N + C)``."""
        return self.forward_layers(self.embed(z))

    def readout(self, z: Tensor) -> LayerReadout:
        """Features, class logits and maps of every layer (one forward pass, and the
        identity network's elementwise recursion alongside)."""
        x0 = self.embed(z)
        return LayerReadout.from_states(self.forward_layers(x0), self.rule, self.logit_scale,
                                        identity_states=self.identity_states(x0), network=self)

    def evidence_terms(self, states: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        r"""Split each layer's change of class coordinate ``target`` over the coordinates of
        the layer before (:meth:`idmlp.nets.readout.LayerReadout.evidence_terms`).

        One batched product: the rows :math:`(W^\ell - \sigma I)_{N+c,:}` of every layer for
        every example's class, times the states :math:`x^{\ell-1}`, times the derivative
        :math:`\phi'` at the class coordinate's pre-activation.

        Args:
            states: :math:`x^0 .. x^L`, ``(B, L+1, N + C)``.
            target: classes ``(B,)``.

        Returns:
            ``((B, L, N), (B, L, C))``: the feature-column and class-column terms.
        """
        n, c = self.in_features, self.num_classes
        if target.shape != states.shape[:1] or (target < 0).any() or (target >= c).any():
            raise ValueError(f"target must hold one class in 0..{c - 1} per example")
        # only the C class rows of every layer: (L, C, W)
        w = torch.stack([layer.weight.detach()[n : n + c] for layer in self.layers])
        w = w.to(states.dtype)
        eye = torch.eye(self.width, dtype=w.dtype, device=w.device)[n : n + c]  # (C, W)
        rows_w = w[:, target].transpose(0, 1)  # (B, L, W): W^l[N+c_b, :]
        rows = rows_w - self.sigma * eye[target][:, None]  # D^l[N+c_b, :]
        prev = states[:, :-1]  # x^{l-1}, (B, L, W)
        pre = (rows_w * prev).sum(-1)  # (B, L)
        if self.has_bias:
            bias = torch.stack([layer.bias.detach() for layer in self.layers]).to(states.dtype)
            pre = pre + bias[:, n + target].T
        _, gate = value_and_derivative(self.act.fn, pre)
        terms = rows * prev * gate[..., None]
        return terms[..., :n], terms[..., n : n + c]

    def block_identity_distance(self) -> dict[str, Tensor]:
        r"""Identity distance per layer, split into the feature rows and the class rows.

        ``feature``: :math:`\|W^\ell_{1..N,:} - \sigma I_{1..N,:}\|_F / (\sigma\sqrt N)`;
        ``class``: :math:`\|W^\ell_{N+1..,:} - \sigma I_{N+1..,:}\|_F / (\sigma\sqrt C)`.
        """
        w = self.weight_stack()
        diff = w - self.sigma * torch.eye(self.width, dtype=w.dtype, device=w.device)
        n, c = self.in_features, self.num_classes
        return {
            "feature": torch.linalg.matrix_norm(diff[:, :n]) / (self.sigma * math.sqrt(n)),
            "class": torch.linalg.matrix_norm(diff[:, n:]) / (self.sigma * math.sqrt(c)),
        }

    def layer_metrics(self) -> dict[str, Any]:
        """What training records about the weights after every epoch: the block identity
        distances and the logit scale (plain floats)."""
        dist = self.block_identity_distance()
        return {"identity_distance": {k: v.cpu().tolist() for k, v in dist.items()},
                "logit_scale": float(self.logit_scale)}


def build_model(config: ModelConfig, **kwargs: Any) -> nn.Module:
    """The network of ``config`` (freshly initialized): an :class:`InterpretableMLP`, or an
    :class:`~idmlp.nets.cnn.InterpretableCNN` for ``arch="cnn"``; ``kwargs`` go to
    ``from_config`` (``generator``, ``dtype``, ``device``)."""
    if not isinstance(config, ModelConfig):
        raise ValueError(f"config must be an idmlp.config.ModelConfig, got "
                         f"{type(config).__name__}")
    if config.arch == "cnn":
        from .cnn import InterpretableCNN

        return InterpretableCNN.from_config(config, **kwargs)
    return InterpretableMLP.from_config(config, **kwargs)
