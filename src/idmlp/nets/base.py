r"""The interface every interpretable network implements, and what they share.

An interpretable network (Kubota et al., ICASSP 2021, and its convolutional and residual
relatives) keeps a state :math:`x^\ell` per layer that holds the input-aligned features and
``C`` class coordinates; it is built from its input by a readout rule
(:class:`~idmlp.nets.rules.ReadoutRule`: :math:`x^0 = (\sqrt{q_0}\,z, 0_C)`) and every layer
is read by the same rule, :math:`z^\ell = s \cdot k^\ell` (the class block, or the spatial
mean of the class channels). An architecture only adds its layer map
:math:`x^{\ell-1} \mapsto x^\ell` (:meth:`LayerwiseNet.step`), the state its untrained
twin reaches (:meth:`LayerwiseNet.identity_step`) and the exact split of a layer's
class change over the coordinates of the layer before
(:meth:`InterpretableNet.evidence_terms`); the forward passes, the per-layer logits, the
:class:`~idmlp.nets.readout.LayerReadout`, the config round trip and the weight metrics
live here once.

The registry :data:`idmlp.config.ARCHS` maps each architecture name to its class;
:func:`build_model` builds the network a :class:`~idmlp.config.ModelConfig` names. Code that
takes "any interpretable network" types it as :class:`InterpretableNet` and calls these
methods: nothing dispatches on the concrete classes.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from .._validation import check_int, check_positive
from ..activations import Activation, secant_gate
from ..config import ACTIVATIONS, ARCHS, INIT_SCHEMES, ModelConfig
from ..init import init_weight_
from .readout import LayerReadout
from .rules import ReadoutRule, RuleSizes

__all__ = ["DenseStack", "InterpretableNet", "LayerwiseNet", "build_model", "check_common",
           "check_factory", "check_size", "init_layer_"]


@runtime_checkable
class InterpretableNet(Protocol):
    r"""What every interpretable network is: the interface the training loop, the
    evaluator, the interpretation, the probes, the faithfulness measures and the sweeps
    use, whatever the architecture.

    A network maps flattened standardized inputs ``(B, N)`` to the class logits of its last
    layer (``forward``) and of every layer (``layer_logits``, ``(*R, B, L, C)``); its
    :attr:`rule` builds :math:`x^0` and reads every layer; :meth:`readout` gives the
    :class:`~idmlp.nets.readout.LayerReadout` of one forward pass, and
    :meth:`evidence_terms` splits each layer's class change exactly over the coordinates
    of the layer before. Implementations: :class:`LayerwiseNet` and its subclasses
    (:class:`~idmlp.nets.mlp.InterpretableMLP`, :class:`~idmlp.nets.cnn.InterpretableCNN`,
    :class:`~idmlp.nets.residual.ResidualMLP`: one network each) and
    :class:`~idmlp.nets.stacked.StackedMLP` (``K`` MLPs trained as one, a leading run
    dimension ``R = (K,)``).
    """

    rule: ReadoutRule
    depth: int

    @classmethod
    def from_config(cls, config: ModelConfig, **kwargs: Any) -> InterpretableNet: ...

    def describe(self) -> str: ...

    def forward(self, z: Tensor) -> Tensor: ...

    def layer_logits(self, z: Tensor) -> Tensor: ...

    def readout(self, z: Tensor) -> LayerReadout: ...

    def evidence_terms(self, states: Tensor, target: Tensor) -> tuple[Tensor, Tensor]: ...


def check_common(depth: int, sigma: float, activation: str, init: str) -> None:
    """The checks every network's constructor makes (one line each)."""
    check_int("depth", depth, minimum=1)
    check_positive("sigma", sigma)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    if init not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {', '.join(INIT_SCHEMES)}; got {init!r}")


def init_layer_(weight: Tensor, scheme: str, sigma: float, generator: torch.Generator | None,
                where: str, fix: str) -> Tensor:
    """:func:`~idmlp.init.init_weight_` for one layer of a network: a scheme that does not
    apply to the layer's shape is refused in one line that names the valid shapes (the
    scheme's own message), what this network's layers are (``where``) and the fix."""
    try:
        return init_weight_(weight, scheme, sigma, generator)
    except ValueError as err:
        raise ValueError(f"init {scheme} does not apply to {where}: {err}; {fix}") from None


def check_factory(dtype: object, device: object) -> tuple[torch.dtype | None, Any]:
    """The ``dtype`` and ``device`` factory arguments, validated in one line: a floating
    :class:`torch.dtype` (or its name, ``"float32"``, ``"float64"``) or ``None``; a
    :class:`torch.device`, its name or ``None``."""
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, dtype)
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating torch.dtype such as torch.float32 or "
                         f"torch.float64 (or None), got {dtype!r}")
    if device is not None and not isinstance(device, torch.device):
        try:
            device = torch.device(device)  # type: ignore[arg-type]
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must be a torch.device or a name such as 'cpu' or "
                             f"'cuda', got {device!r}") from err
    return dtype, device


def check_size(n_params: float, dtype: torch.dtype | None, what: str) -> None:
    """Refuse, before anything is allocated, a network whose weights cannot fit in memory
    (:func:`idmlp.runtime.check_memory`: one line, exit 1 on the command line)."""
    from ..runtime import check_memory

    itemsize = (dtype or torch.get_default_dtype()).itemsize
    check_memory(float(n_params) * itemsize, f"the weights of {what}",
                 "use a smaller depth or width (or fewer channels)")


class _LayerStack:
    """What every idmlp network reads off its ``layers`` and ``act``."""

    act: Activation
    layers: nn.ModuleList

    @property
    def activation(self) -> str:
        return self.act.name

    @property
    def has_bias(self) -> bool:
        return self.layers[0].bias is not None


class DenseStack(_LayerStack):
    r"""Dense layers :math:`x^\ell = \phi(W^\ell x^{\ell-1} (+ b^\ell))`, one ``nn.Linear``
    each, started by an initialization scheme: what the structured Jacobians of
    :mod:`idmlp.jacobian` differentiate without autograd.

    ``forward_is_stack`` says whether the module's own ``forward`` is the plain layer stack
    :math:`x^0 \mapsto x^L` (the structured Jacobians apply to the module itself) or not
    (an interpretable MLP embeds and reads logits: its :meth:`LayerwiseNet.layer_stack`
    is the stack).
    """

    sigma: float
    init_scheme: str
    depth: int
    forward_is_stack: ClassVar[bool] = True

    def _dense_layers(self, width: int, depth: int, bias: bool, dtype: torch.dtype | None,
                      device: torch.device | str | None) -> nn.ModuleList:
        dtype, device = check_factory(dtype, device)
        check_size(depth * (width * width + (width if bias else 0)), dtype,
                   f"{depth} dense layers of width {width}")
        # skip_init: nn.Linear's own random init would be overwritten by init_parameters.
        device = device if device is not None else torch.get_default_device()
        return nn.ModuleList(
            nn.utils.skip_init(nn.Linear, width, width, bias=bias, dtype=dtype, device=device)
            for _ in range(depth))

    def _reset_dense(self, generator: torch.Generator | None, sigma_b: float = 0.0) -> None:
        r"""Every weight by the scheme, then every bias: :math:`N(0, \sigma_b^2)`, or zero."""
        where, fix = self._init_context()
        for layer in self.layers:
            init_layer_(layer.weight, self.init_scheme, self.sigma, generator, where, fix)
        for layer in self.layers:
            if layer.bias is None:
                continue
            with torch.no_grad():
                if sigma_b > 0:
                    layer.bias.normal_(0.0, sigma_b, generator=generator)
                else:
                    layer.bias.zero_()

    def _init_context(self) -> tuple[str, str]:
        """What a refused initialization names: this network's layers and the fix."""
        w = self.layers[0].weight.shape[0]
        return f"layers of width {w}", "choose another init or width"

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


class LayerwiseNet(RuleSizes, _LayerStack, nn.Module, ABC):
    r"""The base of the single interpretable networks (MLP, CNN, residual MLP): an
    identity-initialized network whose every layer is read as a classifier; it implements
    :class:`InterpretableNet` once for all of them.

    Inputs are flattened, standardized ``z`` of shape ``(B, N)`` (an image row-major over
    its :attr:`image_shape`); :meth:`embed` makes :math:`x^0`, :meth:`step` is layer
    :math:`\ell`, and the readout rule :attr:`rule` gives every layer's logits. Subclasses
    set :attr:`arch` (their registry name) and build ``rule``, ``layers``, ``act``,
    ``depth``, ``sigma``, ``init_scheme``, ``q0`` and the logit scale
    (:meth:`_init_readout`), and implement the abstract methods.

    Shapes: ``B`` inputs, ``L`` layers, ``C`` classes, ``S`` the shape of one state
    (:attr:`state_shape`).
    """

    arch: ClassVar[str]
    rule: ReadoutRule
    depth: int
    sigma: float
    init_scheme: str
    q0: float
    input_scale: float
    log_logit_scale: nn.Parameter

    def _init_readout(self, q0: float, logit_scale: float, learn_logit_scale: bool,
                      dtype: torch.dtype | None, device: torch.device | str | None) -> None:
        """The input variance and the shared logit scale (registered after the layers, so
        the parameters keep their order in checkpoints and optimizer states)."""
        dtype, device = check_factory(dtype, device)
        self.q0 = check_positive("q0", q0)
        self.input_scale = math.sqrt(self.q0)
        self.log_logit_scale = nn.Parameter(
            torch.tensor(math.log(check_positive("logit_scale", logit_scale)), dtype=dtype,
                         device=device), requires_grad=learn_logit_scale)

    # -- configuration -------------------------------------------------------------------

    @classmethod
    @abstractmethod
    def from_config(cls, config: ModelConfig, *, generator: torch.Generator | None = None,
                    dtype: torch.dtype | None = None,
                    device: torch.device | str | None = None) -> LayerwiseNet:
        """Build the network a :class:`~idmlp.config.ModelConfig` of this architecture
        describes (with the data's sizes filled in, :meth:`ModelConfig.for_data`)."""

    @property
    @abstractmethod
    def options(self) -> Any:
        """This network's architecture options (the dataclass of its registry entry)."""

    @property
    def config(self) -> ModelConfig:
        """The :class:`~idmlp.config.ModelConfig` that rebuilds this network."""
        return ModelConfig(
            self.arch, self.depth, self.sigma, self.q0, self.activation, self.init_scheme,
            self.has_bias, float(self.logit_scale.detach()),
            self.log_logit_scale.requires_grad, self.in_features, self.num_classes,
            self.image_shape, options=self.options, input_layout=self.layout)

    @abstractmethod
    def describe(self) -> str:
        """One line: the network's shape (for report subtitles)."""

    # -- sizes (in_features, num_classes, image_shape: RuleSizes) -------------------

    @property
    def layout(self) -> str | None:
        """What one input is for this network (``signal``, ``image``, ``features``), where
        its readout rule says (the CNN's); ``None`` for networks that flatten inputs."""
        return getattr(self.rule, "layout", None)

    @property
    @abstractmethod
    def state_shape(self) -> tuple[int, ...]:
        """The shape of one state :math:`x^\\ell` (``(N + C,)``, ``(Ch, H, W)``, ...)."""

    @property
    def logit_scale(self) -> Tensor:
        return self.log_logit_scale.exp()

    # -- forward -------------------------------------------------------------------------

    def flat_inputs(self, z: Tensor) -> Tensor:
        """A batch of inputs as ``(B, N)``: flattened ``(B, N)`` as they are, or in their
        natural shape, ``(B, *image_shape)``, flattened row-major; dimensions of size 1 do
        not count, so an image ``(H, W)`` also comes as ``(B, 1, H, W)`` (Captum's and
        Quantus' channel axis). A numpy array, or a tensor of integers or of another
        floating type, is converted to the network's dtype and device. Any other shape or
        type is refused in one line.

        Examples:
            >>> from idmlp.nets.mlp import InterpretableMLP
            >>> net = InterpretableMLP(64, 10, depth=2, image_shape=(8, 8))
            >>> net.flat_inputs(torch.zeros(5, 1, 8, 8)).shape, net(torch.zeros(5, 8, 8)).shape
            (torch.Size([5, 64]), torch.Size([5, 10]))
        """
        if not isinstance(z, Tensor):
            import numpy as np

            if not isinstance(z, np.ndarray):
                raise TypeError(f"inputs must be a torch.Tensor or numpy array of shape "
                                f"(B, {self.in_features}), got {type(z).__name__}")
            z = torch.from_numpy(np.asarray(z))
        weight = self.log_logit_scale
        if z.dtype != weight.dtype or z.device != weight.device:
            if z.is_complex():
                raise TypeError(f"inputs must be real numbers, got {z.dtype}")
            z = z.to(device=weight.device, dtype=weight.dtype)
        shape, n = tuple(z.shape[1:]), self.in_features
        if shape == (n,) or tuple(z.shape) == (n,):  # a batch, or one unbatched input
            return z
        if z.ndim >= 2 and _squeezed(shape) == _squeezed(self.image_shape):
            return z.reshape(len(z), n)
        one = tuple(self.image_shape)
        forms = f"(B, {n})" + (f" or (B, {', '.join(map(str, one))})" if one != (n,) else "")
        raise ValueError(f"expected inputs with {n} features, of shape {forms}, got "
                         f"{tuple(z.shape)}")

    def embed(self, z: Tensor) -> Tensor:
        r""":math:`x^0 = (\sqrt{q_0}\, z, 0)` from standardized inputs ``z``, flattened
        ``(B, N)`` or in their natural shape (:meth:`flat_inputs`)."""
        return self.rule.embed(self.flat_inputs(z), self.input_scale)

    def step(self, l: int, x: Tensor) -> Tensor:
        r"""Layer ``l`` (0-based): :math:`x^{l+1} = \phi(W^{l+1} x^l)` by default."""
        return self.act(self.layers[l](x))

    def identity_step(self, x: Tensor) -> Tensor:
        r"""One layer of the identity-initialized twin, elementwise: :math:`\phi(\sigma x)`
        by default (:math:`W = \sigma I`, no bias)."""
        return self.act(self.sigma * x)

    def states(self, x: Tensor) -> Iterator[Tensor]:
        r"""The layer stack from a state :math:`x^0`: yields :math:`x^1, \ldots, x^L`."""
        for l in range(self.depth):
            x = self.step(l, x)
            yield x

    def stack(self, x: Tensor) -> Tensor:
        r"""The layer stack :math:`x^0 \mapsto x^L` on states."""
        for x in self.states(x):  # noqa: B020, B007 (the last state is the output)
            pass
        return x

    def forward_layers(self, x: Tensor) -> Tensor:
        """Every layer's state from a state :math:`x^0`, ``(B, L+1, *S)``."""
        return torch.stack([x, *self.states(x)], dim=1)

    def forward(self, z: Tensor) -> Tensor:
        """Class logits of the last layer, ``(B, C)``."""
        return self.rule.logits(self.stack(self.embed(z)), self.logit_scale)

    def layer_logits(self, z: Tensor) -> Tensor:
        """Class logits of every layer, ``(B, L, C)`` (what a loss over layers needs)."""
        blocks = [self.rule.logits(x, 1.0) for x in self.states(self.embed(z))]
        return torch.stack(blocks, dim=-2) * self.logit_scale

    def hidden_states(self, z: Tensor) -> Tensor:
        """The states :math:`x^0, \\ldots, x^L`, flattened per layer, ``(B, L+1, prod(S))``
        (the features a linear probe reads)."""
        return self.forward_layers(self.embed(z)).flatten(2)

    def identity_states(self, x: Tensor) -> Tensor:
        r"""The states of this network's identity-initialized twin at the same state
        :math:`x^0`, ``(B, L+1, *S)`` (:meth:`identity_step` repeated)."""
        out = [x]
        for _ in range(self.depth):
            out.append(self.identity_step(out[-1]))
        return torch.stack(out, dim=1)

    def readout(self, z: Tensor) -> LayerReadout:
        """Features, class logits and maps of every layer, from one forward pass (and the
        identity twin's elementwise recursion alongside)."""
        x0 = self.embed(z)
        return LayerReadout.from_states(self.forward_layers(x0), self.rule, self.logit_scale,
                                        identity_states=self.identity_states(x0), network=self)

    @abstractmethod
    def evidence_terms(self, states: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        r"""Split each layer's change of class ``target`` over the coordinates of the layer
        before (:meth:`idmlp.nets.readout.LayerReadout.evidence_terms`).

        Args:
            states: :math:`x^0 .. x^L`, ``(B, L+1, *S)``.
            target: classes ``(B,)``.

        Returns:
            ``(feature_terms, other_terms)``: ``(B, L, *F)`` on the input-aligned
            coordinates (the map) and ``(B, L, K + C)`` on the others (extra and class
            coordinates, in state order).
        """

    def _check_target(self, states: Tensor, target: Tensor) -> None:
        c = self.num_classes
        if target.shape != states.shape[:1] or (target < 0).any() or (target >= c).any():
            raise ValueError(f"target must hold one class in 0..{c - 1} per example")

    def gated_step(self, l: int, x: Tensor) -> Tensor:
        r"""Layer ``l`` (0-based) with its activation replaced by its secant gate at ``x``,
        :math:`\gamma \odot h` with :math:`h = W^{\ell+1} x` and
        :math:`\gamma = \phi(h)/h` held fixed (:func:`~idmlp.activations.secant_gate`,
        detached): the value of :meth:`step`, and linear in ``x`` for the gradient."""
        h = self.layers[l](x)
        return secant_gate(self.act.fn, h.detach()) * h

    def logit_split(self, x0: Tensor, target: Tensor, *, contrast: bool = True,
                    layers: Sequence[int] | None = None) -> Tensor:
        r"""Split the class score of layers ``layers`` exactly over the input coordinates.

        Fix every unit's secant gate :math:`\gamma^\ell = \phi(h^\ell)/h^\ell` at the
        input (:func:`~idmlp.activations.secant_gate`): the bias-free network is then, at
        this input, the linear map :math:`x^\ell = \gamma^\ell \odot W^\ell x^{\ell-1}`
        (:meth:`gated_step`), so the score :math:`S^\ell = w^\top z^\ell` of layer
        :math:`\ell`, with :math:`w = e_c - \tfrac1C \mathbf 1` (``contrast``: the logit of
        ``c`` against the mean logit, all that softmax sees) or :math:`w = e_c`, splits as

        .. math::
            S^\ell = \sum_j a^\ell_j, \qquad
            a^\ell_j = x^0_j\, \frac{\partial S^\ell}{\partial x^0_j}\Big|_{\gamma\
            \text{fixed}},

        over the input-aligned coordinates :math:`j` (:math:`x^0` is zero elsewhere): every
        path through the features, the extra coordinates and the class coordinates, each
        unit passing on the share :math:`\gamma` of what reaches it (for hard-tanh: all of
        it in the linear range, :math:`1/|h|` where it clips). For this network it is the
        epsilon rule of LRP at :math:`\epsilon = 0` (Bach et al., 2015) and DeepLIFT's
        rescale rule with the zero baseline, on the contrastive logit. With biases their
        share is not in the map. One forward and one backward pass of ``K = len(layers)``
        copies of the batch (stacked on the batch dimension).

        Args:
            x0: the input state :math:`x^0` (:meth:`embed`), ``(B, *S)``.
            target: classes ``(B,)``.
            contrast: explain :math:`z_c - \bar z` (default) or :math:`z_c`.
            layers: the explained layers, ``1..L`` (default: all).

        Returns:
            ``(B, K, *F)``: the input-aligned maps, summing to each layer's score.
        """
        self._check_target(x0[:, None], target)
        ks = list(range(1, self.depth + 1)) if layers is None else [int(k) for k in layers]
        if not ks or any(not 1 <= k <= self.depth for k in ks):
            raise ValueError(f"layers must be in 1..{self.depth}, got {list(layers or [])}")
        b, shape, top, k = x0.shape[0], x0.shape[1:], max(ks), len(ks)
        x0 = x0.detach()
        weight = nn.functional.one_hot(target, self.num_classes).to(x0.dtype)
        if contrast:
            weight = weight - 1.0 / self.num_classes
        with torch.enable_grad():
            start = x0.repeat(k, *(1,) * len(shape)).requires_grad_(True)  # (K B, *S)
            x, score = start, start.new_zeros(())
            for l in range(top):
                x = self.gated_step(l, x)
                read = [i for i, kk in enumerate(ks) if kk == l + 1]
                if read:
                    z = self.rule.logits(x.reshape(k, b, *shape)[read], self.logit_scale)
                    score = score + (z * weight).sum()
            (grad,) = torch.autograd.grad(score, start)
        split = (x0 * grad.reshape(k, b, *shape)).transpose(0, 1)
        return self.rule.features(split)

    def layer_stack(self) -> nn.Module:
        r"""The layer stack :math:`x^0 \mapsto x^L` as a module on flattened states
        ``(B, prod(S))``, sharing this network's weights: what :mod:`idmlp.jacobian`
        differentiates (``singular_values(net.layer_stack(), net.embed(z).flatten(1))``)."""
        return _FlatStack(self)

    # -- the weights ---------------------------------------------------------------------

    @abstractmethod
    def identity_distance(self) -> Tensor:
        """Relative distance of every layer's weight from its identity start, ``(L,)``."""

    @abstractmethod
    def block_identity_distance(self) -> dict[str, Tensor]:
        """The identity distance per layer split by the rows it is measured on:
        ``feature``, ``class`` (and ``extra`` where the state has extra coordinates)."""

    def layer_metrics(self) -> dict[str, Any]:
        """What training records about the weights after every epoch: the block identity
        distances and the logit scale (plain floats)."""
        dist = self.block_identity_distance()
        return {"identity_distance": {k: v.cpu().tolist() for k, v in dist.items()},
                "logit_scale": float(self.logit_scale)}


class _FlatStack(nn.Module):
    """:meth:`LayerwiseNet.layer_stack`: flattened states in, flattened states out."""

    def __init__(self, net: LayerwiseNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        shape = self.net.state_shape
        out = self.net.stack(x.reshape(*x.shape[:-1], *shape))
        return out.flatten(-len(shape)) if len(shape) > 1 else out


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def build_model(config: ModelConfig, **kwargs: Any) -> LayerwiseNet:
    """The network of ``config`` (freshly initialized), whatever its architecture: the
    class that :data:`idmlp.config.ARCHS` names for ``config.arch``; ``kwargs`` go to its
    ``from_config`` (``generator``, ``dtype``, ``device``)."""
    if not isinstance(config, ModelConfig):
        raise ValueError(f"config must be an idmlp.config.ModelConfig, got "
                         f"{type(config).__name__}")
    return ARCHS[config.arch].load().from_config(config, **kwargs)
