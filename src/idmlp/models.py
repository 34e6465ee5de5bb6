r"""Identity-initialized MLPs.

:class:`MLP` is a square deep MLP :math:`x^\ell = \phi(W^\ell x^{\ell-1} + b^\ell)`
with a choice of initialization; :class:`IdentityMLP` fixes :math:`W^\ell = \sigma I`.
:class:`InterpretableMLP` is the paper's interpretable structure: width ``N + C``, input
padded with ``C`` zeros, and the class block of every layer read out as class logits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._validation import check_int, check_positive
from .activations import ACTIVATIONS, Activation
from .init import INIT_SCHEMES, init_weight_
from .readout import LayerReadout

__all__ = ["MLP", "IdentityMLP", "InterpretableMLP", "MLPConfig", "build_model"]


@dataclass(frozen=True)
class MLPConfig:
    """Everything needed to rebuild a model (saved with every checkpoint)."""

    kind: str  # "mlp" or "interpretable"
    width: int
    depth: int
    sigma: float = 1.0
    activation: str = "hardtanh"
    bias: bool = False
    init: str = "identity"
    in_features: int | None = None
    num_classes: int | None = None
    image_shape: tuple[int, ...] | None = None
    logit_scale: float = 1.0
    learn_logit_scale: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_shape"] = list(self.image_shape) if self.image_shape else None
        return d


def _check_common(depth: int, sigma: float, activation: str, init: str) -> None:
    check_int("depth", depth, minimum=1)
    check_positive("sigma", sigma)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    if init not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {', '.join(INIT_SCHEMES)}; got {init!r}")


class MLP(nn.Module):
    r"""Deep square MLP, :math:`x^\ell = \phi(W^\ell x^{\ell-1} (+ b^\ell))`, ``l = 1..L``.

    Args:
        width: ``N``, the width of every layer (integer >= 1).
        depth: ``L``, the number of layers (integer >= 1).
        sigma: gain of the initialization (``W = sigma I`` for ``init="identity"``).
        activation: hardtanh, tanh, relu, leaky_relu, linear, sigmoid, gelu or selu.
        bias: whether layers have a bias (initialized to zero).
        init: identity, orthogonal, xavier or he (see :func:`idmlp.init.init_weight_`).
        generator: random source for the random initializations.
        dtype, device: factory arguments as for :class:`torch.nn.Linear` (build in
            ``torch.float64`` for float64 analysis: ``sigma`` is then not rounded to float32).

    Examples:
        >>> net = MLP(16, 10, init="orthogonal")
        >>> net(torch.randn(4, 16)).shape
        torch.Size([4, 16])
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
    ) -> None:
        super().__init__()
        check_int("width", width, minimum=1)
        _check_common(depth, sigma, activation, init)
        self.width, self.depth, self.sigma, self.init_scheme = width, depth, float(sigma), init
        # skip_init: nn.Linear's own random init would be overwritten by reset_parameters.
        device = device if device is not None else torch.get_default_device()
        self.layers = nn.ModuleList(
            nn.utils.skip_init(nn.Linear, width, width, bias=bias, dtype=dtype, device=device)
            for _ in range(depth)
        )
        self.act = Activation(activation)
        self.reset_parameters(generator)

    @property
    def activation(self) -> str:
        return self.act.name

    @property
    def has_bias(self) -> bool:
        return self.layers[0].bias is not None

    @property
    def config(self) -> MLPConfig:
        return MLPConfig(
            "mlp", self.width, self.depth, self.sigma, self.activation, self.has_bias,
            self.init_scheme,
        )

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Re-initialize every weight by the model's scheme and every bias to zero."""
        for layer in self.layers:
            init_weight_(layer.weight, self.init_scheme, self.sigma, generator)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = self.act(layer(x))
        return x

    def forward_layers(self, x: Tensor) -> Tensor:
        """Every layer's output, ``(B, L+1, N)``; index 0 is the input :math:`x^0`."""
        outs = [x]
        for layer in self.layers:
            x = self.act(layer(x))
            outs.append(x)
        return torch.stack(outs, dim=1)

    def weight_stack(self) -> Tensor:
        """All weights stacked, ``(L, N, N)`` (a copy, detached)."""
        return torch.stack([layer.weight.detach() for layer in self.layers])

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

    def __init__(
        self,
        width: int,
        depth: int,
        sigma: float = 1.0,
        activation: str = "hardtanh",
        bias: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(width, depth, sigma, activation, bias, init="identity", dtype=dtype,
                         device=device)


class InterpretableMLP(MLP):
    r"""The paper's interpretable MLP: every layer of width ``N + C``, identity-initialized.

    The input :math:`x^0 \in \mathbb{R}^N` is padded with ``C`` zeros. At layer
    :math:`\ell`, the first ``N`` dimensions minus the input, :math:`x^\ell_{1..N} - x^0`,
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
        sigma: identity scale.
        activation: elementwise activation name.
        bias: whether layers have a bias.
        image_shape: shape of one input for maps (default ``(N,)``); must multiply to ``N``.
        logit_scale: :math:`s > 0`.
        learn_logit_scale: train :math:`\log s` with the weights.

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
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        in_features = check_int("in_features", in_features, minimum=1)
        num_classes = check_int("num_classes", num_classes, minimum=2)
        image_shape = tuple(image_shape) if image_shape is not None else (in_features,)
        if math.prod(image_shape) != in_features:
            raise ValueError(
                f"image_shape {image_shape} has {math.prod(image_shape)} pixels but "
                f"in_features is {in_features}"
            )
        logit_scale = check_positive("logit_scale", logit_scale)
        super().__init__(in_features + num_classes, depth, sigma, activation, bias,
                         dtype=dtype, device=device)
        self.in_features, self.num_classes, self.image_shape = in_features, num_classes, image_shape
        self.log_logit_scale = nn.Parameter(
            torch.tensor(math.log(logit_scale), dtype=dtype, device=device),
            requires_grad=learn_logit_scale,
        )

    @property
    def logit_scale(self) -> Tensor:
        return self.log_logit_scale.exp()

    @property
    def config(self) -> MLPConfig:
        return MLPConfig(
            "interpretable", self.width, self.depth, self.sigma, self.activation, self.has_bias,
            "identity", self.in_features, self.num_classes, self.image_shape,
            float(self.logit_scale.detach()), self.log_logit_scale.requires_grad,
        )

    def pad(self, x: Tensor) -> Tensor:
        """Append ``C`` zeros to each input: :math:`x^0 = (u, 0_C)`."""
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"expected inputs with {self.in_features} features, got {x.shape[-1]}"
            )
        return F.pad(x, (0, self.num_classes))

    def class_logits(self, h: Tensor) -> Tensor:
        """The readout rule, the same at every layer: :math:`s \\cdot x_{N+1..N+C}`."""
        return h[..., self.in_features :] * self.logit_scale

    def forward(self, x: Tensor) -> Tensor:
        return self.class_logits(super().forward(self.pad(x)))

    def readout(self, x: Tensor) -> LayerReadout:
        """Features, contribution maps and class logits of every layer (one forward pass)."""
        hs = self.forward_layers(self.pad(x))
        return LayerReadout(
            features=hs[..., : self.in_features],
            logits=self.class_logits(hs[:, 1:]),
            image_shape=self.image_shape,
        )

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


def build_model(config: MLPConfig | dict[str, Any]) -> MLP:
    """Rebuild a model (freshly initialized) from its :class:`MLPConfig` or its dict."""
    if isinstance(config, dict):
        config = dict(config)
        if config.get("image_shape") is not None:
            config["image_shape"] = tuple(config["image_shape"])
        config = MLPConfig(**config)
    if config.kind == "interpretable":
        return InterpretableMLP(
            config.in_features, config.num_classes, config.depth, config.sigma,
            config.activation, config.bias, config.image_shape, config.logit_scale,
            config.learn_logit_scale,
        )
    if config.kind == "mlp":
        return MLP(config.width, config.depth, config.sigma, config.activation, config.bias,
                   config.init)
    raise ValueError(f"unknown model kind {config.kind!r}; expected 'mlp' or 'interpretable'")
