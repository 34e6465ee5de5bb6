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

from .._validation import check_int, check_nonnegative
from ..activations import Activation, value_and_derivative
from ..config import MLPOptions, ModelConfig
from .base import DenseStack, LayerwiseNet, build_model, check_common
from .rules import ClassCoordinates

__all__ = ["MLP", "IdentityMLP", "InterpretableMLP", "build_model"]


def _check_sigma_b(sigma_b: float, bias: bool) -> float:
    sigma_b = check_nonnegative("sigma_b", sigma_b)
    if sigma_b > 0 and not bias:
        raise ValueError(f"sigma_b={sigma_b:g} > 0 needs bias=True (sigma_b must be 0 for a "
                         "network without biases)")
    return sigma_b


class MLP(DenseStack, nn.Module):
    r"""Deep square MLP, :math:`x^\ell = \phi(W^\ell x^{\ell-1} (+ b^\ell))`, ``l = 1..L``.

    Args:
        width: ``N``, the width of every layer (integer >= 1).
        depth: ``L``, the number of layers (integer >= 1).
        sigma: gain of the initialization (``W = sigma I`` for ``init="identity"``).
        activation: hardtanh, tanh, relu, leaky_relu, linear, sigmoid, gelu or selu.
        bias: whether layers have a bias (zero, or Gaussian with ``sigma_b``).
        init: a scheme of :data:`idmlp.config.INIT_SCHEMES` (:func:`idmlp.init.init_weight_`).
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
        check_common(depth, sigma, activation, init)
        self.sigma_b = _check_sigma_b(sigma_b, bias)
        self.width, self.depth, self.sigma, self.init_scheme = width, depth, float(sigma), init
        self.layers = self._dense_layers(width, depth, bias, dtype, device)
        self.act = Activation(activation)
        self.init_parameters(generator)

    def init_parameters(self, generator: torch.Generator | None = None) -> None:
        r"""Re-initialize every weight by the model's scheme, then every bias:
        :math:`N(0, \sigma_b^2)`, or zero for ``sigma_b = 0``.

        Not named ``reset_parameters`` on purpose: tools that randomize a model module by
        module (Quantus' ``MPRT``, the cascading randomization test) call
        ``reset_parameters`` on every module that has one, and the network's own would put
        every layer back to its identity start, which is no randomization (and gives the
        all-zero maps of a network that has learned nothing). Only the layers (``nn.Linear``,
        ``nn.Conv*``: their random initialization) answer to that name."""
        self._reset_dense(generator, self.sigma_b)

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



class InterpretableMLP(DenseStack, LayerwiseNet):
    r"""The paper's interpretable MLP: every layer of width ``N + C`` (``N + H + C`` with
    extra features), identity-initialized.

    The standardized input :math:`z \in \mathbb{R}^N` enters as
    :math:`x^0 = (\sqrt{q_0}\, z, 0_H, 0_C)` (:class:`~idmlp.nets.rules.ClassCoordinates`). At
    layer :math:`\ell`, the first ``N`` dimensions minus the input, :math:`f^\ell - f^0`, form
    the contribution map of layers :math:`1..\ell`; the last ``C`` dimensions give the class
    logits :math:`z^\ell = s \cdot k^\ell`. The scale :math:`s` (``logit_scale``, a
    temperature :math:`1/s`) is the same at every layer, so every layer is read by the same
    rule; hard-tanh bounds the class block to ``[-1, 1]``, and ``s > 1`` lets the softmax
    become confident. With ``learn_logit_scale=True`` the one shared :math:`\log s` is
    trained. The network's output is :math:`z^L`.

    **Extra features.** The paper's network is exactly as wide as its input plus its
    classes, so its capacity is tied to ``N``. ``extra_features = H`` adds ``H`` coordinates
    :math:`e` between the input-aligned and the class coordinates, :math:`x = (f, e, k)`,
    zero in :math:`x^0`. The rows of :math:`f` and :math:`k` start at :math:`\sigma I`; the
    ``H`` extra rows start as zero rows plus a symmetry-breaking random part,
    :math:`W_{e,:} = \epsilon\, G / \sqrt{N + H + C}` with :math:`G_{ij} \sim N(0, 1)` and
    :math:`\epsilon` = ``extra_init_std`` (the CNN's extra channels break the symmetry the
    same way, :mod:`idmlp.nets.cnn`): a coordinate that starts at zero and that nothing
    reads gets no gradient, so with :math:`\epsilon = 0` the extra coordinates stay at
    zero for ever. At initialization the network is therefore still exactly
    :math:`x^\ell_j = \phi(\sigma x^{\ell-1}_j)` on :math:`(f, k)` (zero logits, zero
    maps), and every layer's :math:`e^\ell = \phi(\epsilon G^\ell x^{\ell-1} / \sqrt{N+H+C})`
    holds fresh random features of the layer before (of variance about
    :math:`\epsilon^2 \|x^{\ell-1}\|^2 / (N + H + C)`, well inside hard-tanh's linear
    range) that the class rows learn to read. (Starting the extra rows at
    :math:`\sigma I` plus the random part instead makes :math:`e` a random walk over the
    layers that saturates hard-tanh; on MNIST-1D's validation split it trained to 0.49
    against 0.59 for the zero rows, 30 epochs.) The class evidence of a layer splits
    exactly over :math:`f`, :math:`e` and :math:`k` of the layer before
    (:meth:`evidence_terms`); the share through :math:`e`
    (:meth:`idmlp.nets.readout.LayerReadout.evidence_shares`) says how much of the decision
    the input-aligned map does not show.

    **The law of** :math:`JJ^\top` **at initialization.** Order the state as
    :math:`(f, k \mid e)`. The rows of :math:`f` and :math:`k` never read :math:`e`, so the
    input-output Jacobian :math:`J = \partial x^L / \partial x^0` is block lower triangular,
    :math:`J = \begin{pmatrix} \Lambda & 0 \\ B & E \end{pmatrix}` with
    :math:`\Lambda = \prod_\ell \sigma\,\mathrm{diag}(\phi'(\sigma x^{\ell-1}_{f,k}))` the
    (diagonal) Jacobian of the paper's ``N + C`` network at the same input. Hence the
    :math:`(f, k)` block of :math:`JJ^\top` is exactly :math:`\Lambda^2`: the paper's
    coordinate-wise law (:mod:`idmlp.theory`) is unchanged on that principal block, and by
    Cauchy's interlacing theorem the ``N + H + C`` eigenvalues :math:`\mu` of
    :math:`JJ^\top` interlace with its ``N + C`` eigenvalues :math:`\lambda`,
    :math:`\mu_i \le \lambda_i \le \mu_{i + H}` (ascending). What changes is ``H`` more
    eigenvalues, set by the random blocks :math:`B` (how the last extra coordinates depend
    on the input) and :math:`E` (products of the layers' :math:`\epsilon G_{ee} / \sqrt{W}`
    blocks, which shrink with depth); with ``extra_init_std = 0``, :math:`B = E = 0` and the
    eigenvalues are the paper's ``N + C`` and ``H`` zeros.

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
        init: ``identity`` (the paper), or another scheme of
            :data:`idmlp.config.INIT_SCHEMES` for the same structure with another start
            (trainability sweeps; ``zero`` and ``idinit`` are :math:`\sigma I` on these
            square layers, ``looks_linear`` needs an even width ``N + H + C``).
        extra_features: ``H``, extra feature coordinates (integer >= 0; 0: the paper's
            network).
        extra_init_std: :math:`\epsilon \ge 0`, the std of the extra rows' random start,
            times :math:`1/\sqrt{\text{fan in}}` (0: zero rows; the extra coordinates then
            never train).
        generator: random source of the random initializations.
        dtype, device: factory arguments as for :class:`torch.nn.Linear`.

    Examples:
        >>> net = InterpretableMLP(64, 10, depth=20, image_shape=(8, 8))
        >>> net.readout(torch.randn(5, 64)).logits.shape
        torch.Size([5, 20, 10])
        >>> InterpretableMLP(64, 10, depth=2, extra_features=30).width
        104
    """

    arch = "mlp"
    forward_is_stack = False

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
        extra_features: int = 0,
        extra_init_std: float = 1.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        in_features = check_int("in_features", in_features, minimum=1)
        num_classes = check_int("num_classes", num_classes, minimum=2)
        extra = check_int("extra_features", extra_features, minimum=0)
        self.extra_init_std = check_nonnegative("extra_init_std", extra_init_std)
        self.rule = ClassCoordinates(in_features, num_classes, tuple(image_shape or ()),
                                     extra=extra)
        check_common(depth, sigma, activation, init)
        self.width, self.depth, self.sigma, self.init_scheme = (
            self.rule.width, depth, float(sigma), init)
        self.layers = self._dense_layers(self.rule.width, depth, bias, dtype, device)
        self.act = Activation(activation)
        self.init_parameters(generator)
        self._init_readout(q0, logit_scale, learn_logit_scale, dtype, device)

    def init_parameters(self, generator: torch.Generator | None = None) -> None:
        r"""Re-initialize every weight by the model's scheme and every bias to zero; where
        the scheme starts the layers exactly at :math:`\sigma I` (identity, ZerO, IDInit on
        square layers), the extra rows start as zero rows plus their random part (class
        docstring)."""
        self._reset_dense(generator)
        rows = self.extra_rows
        if rows.stop == rows.start:
            return
        with torch.no_grad():
            eye = super().identity_weight()
            for layer in self.layers:
                w = layer.weight
                if not torch.equal(w, eye):  # a random start needs no symmetry breaking
                    continue
                noise = torch.randn((rows.stop - rows.start, w.shape[1]), generator=generator,
                                    dtype=w.dtype, device=w.device)
                w[rows] = noise * (self.extra_init_std / math.sqrt(w.shape[1]))

    def identity_weight(self) -> Tensor:
        r"""The deterministic part of every layer's start: :math:`\sigma I` with the extra
        rows zero (they start at their random part alone)."""
        w = super().identity_weight()
        w[self.extra_rows] = 0.0
        return w

    def identity_distance(self) -> Tensor:
        r""":math:`\|W^\ell - S\|_F / \|\sigma I\|_F` for every layer, ``(L,)``, with
        :math:`S` = :meth:`identity_weight` (:math:`\sigma I` without extra features)."""
        diff = self.weight_stack() - self.identity_weight()
        return torch.linalg.matrix_norm(diff) / (self.sigma * math.sqrt(self.width))

    @property
    def extra_features(self) -> int:
        """``H``, the extra feature coordinates."""
        return self.rule.extra

    @property
    def extra_rows(self) -> slice:
        """The extra coordinates' indices in the state, ``N .. N+H-1``."""
        return slice(self.in_features, self.rule.class_start)

    @property
    def class_rows(self) -> slice:
        """The class coordinates' indices in the state, ``N+H .. N+H+C-1``."""
        return slice(self.rule.class_start, self.rule.class_start + self.num_classes)

    def _init_context(self) -> tuple[str, str]:
        n, h, c = self.in_features, self.extra_features, self.num_classes
        sizes = (f"N + C = {n} + {c}" if h == 0 else f"N + H + C = {n} + {h} + {c}")
        fix = ("choose another --init (identity, zero, idinit, orthogonal, delta_orthogonal, "
               "xavier, he apply to every width)")
        if self.width % 2:
            fix = f"set --extra-features to {h + 1} (an even width), or {fix}"
        return f"this network's {self.width} x {self.width} layers (width {sizes})", fix

    @classmethod
    def from_config(cls, config: ModelConfig, *, generator: torch.Generator | None = None,
                    dtype: torch.dtype | None = None,
                    device: torch.device | str | None = None) -> InterpretableMLP:
        """Build the network a :class:`~idmlp.config.ModelConfig` describes (with the
        data's sizes filled in, :meth:`ModelConfig.for_data`)."""
        config.check_buildable("mlp", ("in_features", "num_classes"))
        opts = config.options
        return cls(config.in_features, config.num_classes, config.depth, config.sigma,
                   config.activation, config.bias, config.image_shape, config.logit_scale,
                   config.learn_logit_scale, q0=config.q0, init=config.init,
                   extra_features=opts.extra_for(config.in_features, config.num_classes),
                   extra_init_std=opts.extra_init_std,
                   generator=generator, dtype=dtype, device=device)

    @property
    def options(self) -> MLPOptions:
        return MLPOptions(self.extra_features, self.extra_init_std)

    @property
    def state_shape(self) -> tuple[int, ...]:
        return (self.width,)

    def describe(self) -> str:
        """One line: the network's shape (for report subtitles)."""
        extra = f"{self.extra_features} extra + " if self.extra_features else ""
        return (f"MLP of depth {self.depth}, width {self.width} = {self.in_features} + "
                f"{extra}{self.num_classes}")

    def layer_stack(self) -> nn.Module:
        r"""The layer stack :math:`x^0 \mapsto x^L` on states ``(B, N + C)`` as a plain
        :class:`MLP` sharing this network's layers (the structured Jacobians apply)."""
        return _DenseView(self)

    def evidence_terms(self, states: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        r"""Split each layer's change of class coordinate ``target`` over the coordinates of
        the layer before (:meth:`idmlp.nets.readout.LayerReadout.evidence_terms`).

        One batched product: the rows :math:`(W^\ell - \sigma I)_{k_c,:}` of every layer for
        every example's class, times the states :math:`x^{\ell-1}`, times the derivative
        :math:`\phi'` at the class coordinate's pre-activation. With extra features the
        columns :math:`j` run over :math:`f`, :math:`e` and :math:`k`; the sum is the same
        exact class change.

        Args:
            states: :math:`x^0 .. x^L`, ``(B, L+1, N + H + C)``.
            target: classes ``(B,)``.

        Returns:
            ``((B, L, N), (B, L, H + C))``: the feature-column terms and the extra- and
            class-column terms (in state order).
        """
        self._check_target(states, target)
        n, rows = self.in_features, self.class_rows
        # only the C class rows of every layer: (L, C, W)
        w = torch.stack([layer.weight.detach()[rows] for layer in self.layers])
        w = w.to(states.dtype)
        eye = torch.eye(self.width, dtype=w.dtype, device=w.device)[rows]  # (C, W)
        rows_w = w[:, target].transpose(0, 1)  # (B, L, W): W^l[N+c_b, :]
        diff = rows_w - self.sigma * eye[target][:, None]  # D^l[k_b, :]
        prev = states[:, :-1]  # x^{l-1}, (B, L, W)
        pre = (rows_w * prev).sum(-1)  # (B, L)
        if self.has_bias:
            bias = torch.stack([layer.bias.detach() for layer in self.layers]).to(states.dtype)
            pre = pre + bias[:, rows.start + target].T
        _, gate = value_and_derivative(self.act.fn, pre)
        terms = diff * prev * gate[..., None]
        return terms[..., :n], terms[..., n : rows.stop]

    def block_identity_distance(self) -> dict[str, Tensor]:
        r"""Identity distance per layer, split into the feature rows, the class rows and
        (with extra features) the extra rows.

        ``feature``: :math:`\|W^\ell_{f,:} - \sigma I_{f,:}\|_F / (\sigma\sqrt N)`;
        ``class``: :math:`\|W^\ell_{k,:} - \sigma I_{k,:}\|_F / (\sigma\sqrt C)`;
        ``extra``: :math:`\|W^\ell_{e,:}\|_F / (\sigma\sqrt H)` over the ``H`` extra rows,
        whose deterministic start is zero (:meth:`identity_weight`; about
        ``extra_init_std`` at initialization, from the random part).
        """
        diff = self.weight_stack() - self.identity_weight()
        blocks = {"feature": slice(0, self.in_features), "class": self.class_rows}
        if self.extra_features:
            blocks["extra"] = self.extra_rows
        return {name: torch.linalg.matrix_norm(diff[:, rows])
                / (self.sigma * math.sqrt(rows.stop - rows.start))
                for name, rows in blocks.items()}


class _DenseView(DenseStack, nn.Module):
    """:meth:`InterpretableMLP.layer_stack`: the shared layers as a plain dense stack."""

    def __init__(self, net: InterpretableMLP) -> None:
        super().__init__()
        self.layers, self.act = net.layers, net.act
        self.sigma, self.init_scheme, self.depth = net.sigma, net.init_scheme, net.depth

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = self.act(layer(x))
        return x
