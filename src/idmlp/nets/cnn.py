r"""Identity-initialized convolutional networks with class channels.

The interpretable MLP (Kubota et al., ICASSP 2021) widens every layer by ``C`` class
coordinates; its convolutional counterpart widens every layer by ``C`` class *channels*.
The state of layer :math:`\ell` is an image of :math:`C_{in} + K + C` channels,
:math:`x^\ell = (f^\ell, e^\ell, k^\ell)`: the input's channels :math:`f`, ``K`` extra
feature channels :math:`e` and ``C`` class channels :math:`k`, every one of height ``H`` and
width ``W``. The input enters as :math:`x^0 = (\sqrt{q_0}\,z, 0_K, 0_C)`
(:class:`ClassChannels`), every layer is a same-size convolution
:math:`x^\ell = \phi(W^\ell \star x^{\ell-1})` (stride 1, padding that keeps ``H x W``)
that starts as :math:`\sigma` times the Dirac kernel (:func:`idmlp.init.identity_`), and
every layer is read by the same rule, the spatial mean of its class channels,

.. math::

    z^\ell_c = s \cdot \frac{1}{HW} \sum_{h, w} k^\ell_{c, h, w},

so every layer is a classifier with no extra training, and :math:`f^\ell - f^0` is a
contribution map per input channel, as for the MLP.

At the Dirac initialization (no bias) every pixel of every channel evolves on its own,
:math:`x^\ell_{o,h,w} = \phi(\sigma x^{\ell-1}_{o,h,w})`, so the input-output Jacobian is
diagonal and the law of the eigenvalues of :math:`J J^T` is the MLP's coordinate-wise law
(:func:`idmlp.theory.spectrum`).

A zero-started channel that nothing reads is a saddle of the loss: with an exact Dirac
start, the extra channels :math:`e` stay at zero (their activations and their
back-propagated errors are both zero, so are their weights' gradients). The extra channels'
rows therefore start as the Dirac kernel plus a small random filter of every channel
(``extra_init_std``, the symmetry breaking of Yu and Koltun, ICLR 2016, restricted to the
rows nobody reads yet): the network's map is still exactly :math:`\sigma` times the identity
on the input and class channels (zero logits, zero contribution maps at initialization),
and the extra channels hold random features that the class channels learn to read.
``extra_init_std=0`` gives the exact Dirac start of every row.

**Signals.** A 1-D signal of ``C_in`` channels and length ``L`` (``layout="signal"``, shape
``(L,)`` or ``(C_in, L)``; flat features given to the CNN are read as one signal
``(1, N)``) runs through the same network with ``Conv1d`` layers: the state is
``(C_in + K + C, L)``, every kernel starts as the 1-D Dirac kernel, dilations grow the same
way, and the class channels are read by their mean over the length. Everything above holds
with :math:`(h, w)` replaced by the one position along the signal. Which of ``(C, L)`` and
``(H, W)`` a two-element shape means is the data's ``layout``
(:attr:`idmlp.data.Dataset.layout`): an image unless the dataset says ``signal``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_int
from ..activations import Activation, value_and_derivative
from ..config import CNNOptions, ModelConfig, conv_layout, parse_dilations
from .base import LayerwiseNet, check_common, check_factory, check_size, init_layer_

__all__ = ["ClassChannels", "InterpretableCNN", "conv_layout", "image_channels"]


def image_channels(image_shape: tuple[int, ...], layout: str | None = None
                   ) -> tuple[int, ...]:
    """The shape a convolution sees, channels first: ``(C_in, H, W)`` of an image
    ``(H, W)`` (one channel) or ``(C_in, H, W)``; ``(C_in, L)`` of a signal ``(L,)`` or
    ``(C_in, L)``; ``(1, N)`` for flat features (see :func:`conv_layout`).

    Examples:
        >>> image_channels((28, 28)), image_channels((3, 32, 32)), image_channels((40,))
        ((1, 28, 28), (3, 32, 32), (1, 40))
        >>> image_channels((40,), "features"), image_channels((2, 40), "signal")
        ((1, 40), (2, 40))
    """
    shape = tuple(image_shape)
    spatial = 1 if conv_layout(shape, layout) == "signal" else 2
    return (1, *shape) if len(shape) == spatial else shape


@dataclass(frozen=True)
class ClassChannels:
    r"""The CNN's readout rule: state :math:`x = (f, e, k)` of shape ``(..., C_in + K + C,
    H, W)`` (images) or ``(..., C_in + K + C, L)`` (signals).

    :math:`x^0 = (\sqrt{q_0}\, z, 0_K, 0_C)` for a standardized input ``z`` given flattened,
    ``(..., C_in H W)`` (row-major over ``(C_in, H, W)``, as datasets store images); the
    logits of a state are :math:`s` times the spatial mean of its ``C`` class channels,
    and its features are its first ``C_in`` channels (the input's layout).

    Args:
        image_shape: the shape of one input, ``(H, W)`` (one channel) or ``(C_in, H, W)``;
            a signal ``(L,)`` or ``(C_in, L)``.
        num_classes: ``C`` (integer >= 2).
        extra_channels: ``K``, feature channels that start at zero (integer >= 0).
        layout: the data's layout, ``signal``, ``image``, ``features`` (one signal) or
            ``None`` (from the shape); how the convolutions read it is :attr:`reading`
            (:func:`conv_layout`).

    Examples:
        >>> rule = ClassChannels((2, 2), 3, extra_channels=1)
        >>> x0 = rule.embed(torch.ones(1, 4), input_scale=0.5)
        >>> x0.shape, rule.logits(x0 + 1, logit_scale=8.0)
        (torch.Size([1, 5, 2, 2]), tensor([[8., 8., 8.]]))
        >>> ClassChannels((40,), 10).embed(torch.ones(1, 40)).shape
        torch.Size([1, 11, 40])
    """

    image_shape: tuple[int, ...]
    num_classes: int
    extra_channels: int = 0
    layout: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_shape", tuple(self.image_shape))
        conv_layout(self.image_shape, self.layout)  # refuses what is neither
        check_int("num_classes", self.num_classes, minimum=2)
        check_int("extra_channels", self.extra_channels, minimum=0)

    @property
    def reading(self) -> str:
        """``signal`` (1-D convolutions) or ``image`` (2-D): :func:`conv_layout`."""
        return conv_layout(self.image_shape, self.layout)

    @property
    def channel_shape(self) -> tuple[int, ...]:
        """``(C_in, H, W)`` or ``(C_in, L)``: one input as the convolutions see it."""
        return image_channels(self.image_shape, self.layout)

    @property
    def state_ndim(self) -> int:
        """Trailing dimensions of one state: 3 for images, 2 for signals."""
        return len(self.channel_shape)

    @property
    def is_signal(self) -> bool:
        """Whether the convolutions are 1-D."""
        return self.reading == "signal"

    @property
    def in_channels(self) -> int:
        """``C_in``, the input's channels."""
        return self.channel_shape[0]

    @property
    def spatial(self) -> tuple[int, ...]:
        """``(H, W)``, or ``(L,)`` for a signal."""
        return self.channel_shape[1:]

    @property
    def in_features(self) -> int:
        """``C_in H W``, the length of a flattened input."""
        return math.prod(self.image_shape)

    @property
    def channels(self) -> int:
        """``C_in + K + C``, the channels of every state."""
        return self.in_channels + self.extra_channels + self.num_classes

    @property
    def class_start(self) -> int:
        """Index of the first class channel, ``C_in + K``."""
        return self.in_channels + self.extra_channels

    def embed(self, z: Tensor, input_scale: Tensor | float = 1.0) -> Tensor:
        r""":math:`x^0 = (\sqrt{q_0}\, z, 0_K, 0_C)`, ``(..., C_in + K + C, *spatial)``, from
        flattened inputs ``(..., C_in H W)``; ``input_scale`` is :math:`\sqrt{q_0}`."""
        if z.shape[-1] != self.in_features:
            raise ValueError(f"expected flattened inputs with {self.in_features} features "
                             f"(image_shape {self.image_shape}), got {z.shape[-1]}")
        x = z.reshape(*z.shape[:-1], *self.channel_shape)
        if isinstance(input_scale, Tensor) or input_scale != 1.0:
            x = x * input_scale
        pad = (0, 0) * len(self.spatial) + (0, self.extra_channels + self.num_classes)
        return F.pad(x, pad)

    def _channels(self, x: Tensor, start: int, length: int) -> Tensor:
        return x.narrow(-self.state_ndim, start, length)

    def features(self, x: Tensor) -> Tensor:
        """The input-aligned channels :math:`f = x_{1..C_{in}}`, ``(..., C_in, *spatial)``."""
        return self._channels(x, 0, self.in_channels)

    def class_block(self, x: Tensor) -> Tensor:
        """The class channels :math:`k`, ``(..., C, *spatial)``."""
        return self._channels(x, self.class_start, self.num_classes)

    def logits(self, x: Tensor, logit_scale: Tensor | float) -> Tensor:
        r"""The readout rule, the same at every layer: :math:`s` times the spatial mean of
        the class channels, ``(..., C)``."""
        dims = tuple(range(-len(self.spatial), 0))
        return self.class_block(x).mean(dim=dims) * logit_scale


class InterpretableCNN(LayerwiseNet):
    r"""Identity-initialized CNN whose every layer is read as a classifier.

    ``L`` same-size convolutions of :math:`C_{in} + K + C` channels (kernel ``k``, stride
    1, dilation :math:`d_\ell`, zero padding :math:`d_\ell (k-1)/2`), each followed by the
    activation, each starting as :math:`\sigma` times the Dirac kernel: see the module
    docstring for the state, the readout rule and the theory. Inputs are flattened images
    ``(B, C_in H W)``, as for :class:`~idmlp.nets.mlp.InterpretableMLP`, so training,
    evaluation, interpretation and probes take either network.

    Layer :math:`\ell` sees a square of side :meth:`receptive_field` of the input; with
    dilations growing with depth (``dilations=(1, 2, 4, 8)``, cycled) it covers a 28 x 28
    image after 4 layers of 3 x 3 kernels, where constant dilation 1 needs 14.

    Args:
        image_shape: one input's shape, ``(H, W)`` or ``(C_in, H, W)``.
        num_classes: ``C`` (integer >= 2).
        depth: ``L`` (integer >= 1).
        sigma: scale of the Dirac start (the gain of the other initializations).
        activation: elementwise activation name (hard-tanh by default).
        bias: whether the convolutions have a bias (initialized to zero).
        logit_scale: :math:`s > 0`.
        learn_logit_scale: train :math:`\log s` with the weights.
        q0: the input variance (inputs are multiplied by :math:`\sqrt{q_0}`).
        init: ``identity`` (Dirac), or another scheme of :data:`idmlp.config.INIT_SCHEMES`
            (``zero``: Dirac at these equal channels; ``delta_orthogonal``: an orthogonal
            matrix at the centre tap; ``idinit``: patch-maintain, not the Dirac kernel;
            ``looks_linear``: an even channel count; random ones: a standard-init CNN of
            the same shape and readout).
        extra_channels: ``K`` extra feature channels (integer >= 0).
        kernel_size: ``k``, odd.
        dilations: dilation of each layer, cycled over the layers (positive integers, or
            a comma list ``"1,2,4,8"``).
        extra_init_std: where the extra channels' rows start exactly as the Dirac kernel
            (``identity``, ``zero``), the standard deviation of the random filters added
            to them, as a multiple of :math:`1/\sqrt{\text{fan in}}` (0: the exact Dirac
            start).
        layout: ``signal`` (1-D convolutions over ``(L,)`` or ``(C_in, L)``), ``image``,
            ``features`` (one signal of length ``N``) or ``None`` (from the shape:
            :func:`conv_layout`).
        generator: random source of the random parts of the initialization.
        dtype, device: factory arguments as for :class:`torch.nn.Conv2d`.

    Examples:
        >>> net = InterpretableCNN((8, 8), 10, depth=4, extra_channels=2)
        >>> r = net.readout(torch.randn(5, 64))
        >>> r.logits.shape, r.contributions.shape, net.receptive_field()
        (torch.Size([5, 4, 10]), torch.Size([5, 4, 1, 8, 8]), [3, 7, 15, 31])
        >>> sig = InterpretableCNN((40,), 10, depth=4)  # a 1-D signal: Conv1d layers
        >>> sig.readout(torch.randn(5, 40)).contributions.shape
        torch.Size([5, 4, 1, 40])
    """

    arch = "cnn"

    def __init__(
        self,
        image_shape: tuple[int, ...],
        num_classes: int,
        depth: int,
        sigma: float = 1.0,
        activation: str = "hardtanh",
        bias: bool = False,
        logit_scale: float = 1.0,
        learn_logit_scale: bool = False,
        *,
        q0: float = 1.0,
        init: str = "identity",
        extra_channels: int = CNNOptions.extra_channels,
        kernel_size: int = CNNOptions.kernel_size,
        dilations: tuple[int, ...] | str = CNNOptions.dilations,
        extra_init_std: float = CNNOptions.extra_init_std,
        layout: str | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        rule = ClassChannels(tuple(image_shape), check_int("num_classes", num_classes, minimum=2),
                             check_int("extra_channels", extra_channels, minimum=0), layout)
        check_common(depth, sigma, activation, init)
        opts = CNNOptions(extra_channels, kernel_size, ",".join(
            map(str, parse_dilations(dilations))), extra_init_std)
        self.dilations = parse_dilations(opts.dilations)
        self.extra_init_std, self.kernel_size = opts.extra_init_std, opts.kernel_size
        self.rule, self.depth, self.sigma, self.init_scheme = rule, depth, float(sigma), init
        ch = rule.channels
        dtype, device = check_factory(dtype, device)
        check_size(depth * ch * (ch * kernel_size ** len(rule.spatial) + int(bias)), dtype,
                   f"{depth} convolutions of {ch} channels")
        device = device if device is not None else torch.get_default_device()
        conv = nn.Conv1d if rule.is_signal else nn.Conv2d
        self.layers = nn.ModuleList(
            nn.utils.skip_init(conv, ch, ch, kernel_size, padding=d * (kernel_size // 2),
                               dilation=d, bias=bias, dtype=dtype, device=device)
            for d in self.layer_dilations())
        if not rule.is_signal:
            for layer in self.layers:
                # channels-last kernels make oneDNN's convolutions (and the activations they
                # produce) channels-last: about 1.5x faster steps on CPU for 27 channels.
                layer.weight.data = layer.weight.data.contiguous(
                    memory_format=torch.channels_last)
        self.act = Activation(activation)
        self._init_readout(q0, logit_scale, learn_logit_scale, dtype, device)
        self.init_parameters(generator)

    @classmethod
    def from_config(cls, config: ModelConfig, *, generator: torch.Generator | None = None,
                    dtype: torch.dtype | None = None,
                    device: torch.device | str | None = None) -> InterpretableCNN:
        """Build the network a :class:`~idmlp.config.ModelConfig` with ``arch="cnn"``
        describes (with the data's sizes filled in, :meth:`ModelConfig.for_data`)."""
        config.check_buildable("cnn", ("image_shape", "num_classes"))
        return cls(config.image_shape, config.num_classes, config.depth, config.sigma,
                   config.activation, config.bias, config.logit_scale,
                   config.learn_logit_scale, q0=config.q0, init=config.init,
                   extra_channels=config.options.extra_channels,
                   kernel_size=config.options.kernel_size, dilations=config.options.dilations,
                   extra_init_std=config.options.extra_init_std,
                   layout=config.input_layout,
                   generator=generator, dtype=dtype, device=device)

    @property
    def options(self) -> CNNOptions:
        return CNNOptions(self.rule.extra_channels, self.kernel_size,
                          ",".join(map(str, self.dilations)), self.extra_init_std)

    # -- structure -----------------------------------------------------------------------

    @property
    def channels(self) -> int:
        """``C_in + K + C``, the channels of every layer."""
        return self.rule.channels

    @property
    def width(self) -> int:
        """Numbers per state, ``(C_in + K + C) H W`` (what an MLP layer's width is)."""
        return self.channels * math.prod(self.rule.spatial)

    @property
    def state_shape(self) -> tuple[int, ...]:
        return (self.channels, *self.rule.spatial)

    def layer_dilations(self) -> list[int]:
        """The dilation of every layer, ``dilations`` cycled over ``1..L``."""
        return [self.dilations[l % len(self.dilations)] for l in range(self.depth)]

    def receptive_field(self) -> list[int]:
        r"""The side of the input square each layer's pixel sees:
        :math:`1 + (k - 1) \sum_{i \le \ell} d_i` for layers ``1..L``."""
        out, side = [], 1
        for d in self.layer_dilations():
            side += (self.kernel_size - 1) * d
            out.append(side)
        return out

    def describe(self) -> str:
        """One line: the network's shape and what each layer sees (for report subtitles)."""
        if self.rule.is_signal:
            c_in, length = self.rule.channel_shape
            return (f"1-D CNN of depth {self.depth}, {self.channels} = {c_in} + "
                    f"{self.rule.extra_channels} + {self.num_classes} channels of length "
                    f"{length}, kernels of {self.kernel_size}, dilations "
                    f"{','.join(map(str, self.dilations))} (layer 1..{self.depth} sees "
                    f"{', '.join(map(str, self.receptive_field()))} samples)")
        c_in, h, w = self.rule.channel_shape
        return (f"CNN of depth {self.depth}, {self.channels} = {c_in} + "
                f"{self.rule.extra_channels} + {self.num_classes} channels of {h} x {w}, "
                f"{self.kernel_size} x {self.kernel_size} kernels, dilations "
                f"{','.join(map(str, self.dilations))} (layer 1..{self.depth} sees "
                f"{', '.join(map(str, self.receptive_field()))} px squares)")

    def init_parameters(self, generator: torch.Generator | None = None) -> None:
        """Re-initialize every kernel by the model's scheme (plus the extra channels'
        random filters where their rows start as the exact Dirac kernel, see
        :attr:`extra_init_std`) and every bias to zero."""
        rows = slice(self.rule.in_channels, self.rule.class_start)
        noisy = self.extra_init_std > 0 and rows.stop > rows.start
        dirac = self.dirac()
        c_in, k, c = self.rule.in_channels, self.rule.extra_channels, self.num_classes
        where = (f"this CNN's {self.channels}-channel {self.kernel_size} x {self.kernel_size} "
                 f"convolutions (C_in + K + C = {c_in} + {k} + {c})")
        fix = ("choose another --init (identity, zero, idinit, orthogonal, delta_orthogonal, "
               "xavier, he apply to these convolutions)")
        if self.channels % 2:
            fix = (f"set --extra-channels to {k + 1}" + (f" or {k - 1}" if k else "")
                   + f" (an even channel count), or {fix}")
        for layer in self.layers:
            # a contiguous copy: torch.nn.init.orthogonal_ views the kernel as a matrix
            w = init_layer_(torch.empty_like(layer.weight, memory_format=torch.contiguous_format),
                            self.init_scheme, self.sigma, generator, where, fix)
            # rows that start exactly as the Dirac kernel (identity, ZerO) stay at a saddle
            if noisy and torch.equal(w[rows], dirac[rows].to(w.dtype)):
                std = self.extra_init_std / math.sqrt(w[0].numel())  # times 1/sqrt(fan in)
                w[rows] += torch.randn(w[rows].shape, generator=generator, dtype=w.dtype,
                                       device=w.device) * std
            with torch.no_grad():
                layer.weight.copy_(w)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def dirac(self) -> Tensor:
        r""":math:`\sigma` times the Dirac kernel, ``(Ch, Ch, k, k)`` (``(Ch, Ch, k)`` for
        signals): every layer's start."""
        w = self.layers[0].weight
        ch, k, dims = self.channels, self.kernel_size, len(self.rule.spatial)
        d = torch.zeros(ch, ch, *(k,) * dims, dtype=w.dtype, device=w.device)
        d[(torch.arange(ch), torch.arange(ch), *(k // 2,) * dims)] = self.sigma
        return d

    def identity_weight(self) -> Tensor:
        r"""The kernel every layer starts from at identity initialization (:meth:`dirac`)."""
        return self.dirac()

    def weight_stack(self) -> Tensor:
        """All kernels stacked, ``(L, Ch, Ch, k, k)`` or ``(L, Ch, Ch, k)`` (a copy,
        detached)."""
        return torch.stack([layer.weight.detach() for layer in self.layers])

    def identity_distance(self) -> Tensor:
        r""":math:`\|W^\ell - \sigma D\|_F / \|\sigma D\|_F` for every layer, ``(L,)``, with
        :math:`D` the Dirac kernel (:math:`\|\sigma D\|_F = \sigma \sqrt{Ch}`)."""
        diff = (self.weight_stack() - self.dirac()).flatten(1)
        return torch.linalg.vector_norm(diff, dim=1) / (self.sigma * math.sqrt(self.channels))

    def block_identity_distance(self) -> dict[str, Tensor]:
        r"""Distance from the Dirac kernel per layer, ``(L,)`` each, split by the rows
        (output channels) it is measured on,
        :math:`\|W^\ell_{rows} - \sigma D_{rows}\|_F / (\sigma \sqrt{|rows|})`:

        ``feature``: the input's channels (the input-aligned rows, as the MLP's feature
        block); ``class``: the class channels; ``extra``: the ``K`` extra channels (they
        start :attr:`extra_init_std` away; the last layer's are never read, so they keep
        their start).
        """
        diff = self.weight_stack() - self.dirac()
        norm = torch.linalg.vector_norm
        blocks = {"feature": slice(0, self.rule.in_channels),
                  "class": slice(self.rule.class_start, self.channels),
                  "extra": slice(self.rule.in_channels, self.rule.class_start)}
        return {name: norm(diff[:, rows].flatten(1), dim=1)
                / (self.sigma * math.sqrt(max(1, rows.stop - rows.start)))
                for name, rows in blocks.items()}

    def evidence_terms(self, states: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        r"""Split each layer's change of class ``target``'s logit over the coordinates of
        the layer before (:meth:`idmlp.nets.readout.LayerReadout.evidence_terms`).

        Class ``c``'s score is the spatial mean of its channel, so with
        :math:`D^\ell = K^\ell - \sigma\,\mathrm{Dirac}` and :math:`g = \phi'` at the
        class channel's pre-activation, pixel by pixel,

        .. math::
            \frac{1}{HW} \sum_p \big(x^\ell_{c,p} - \sigma x^{\ell-1}_{c,p}\big)
            = \sum_{j,q} x^{\ell-1}_{j,q}\,
              \frac{1}{HW}\big(D^{\ell\top}_{c} \star g\big)_{j,q}

        (unsaturated hard-tanh, no bias): the adjoint convolution (a transposed
        convolution) of the gate carries each output pixel's share back to the input
        coordinates. One grouped convolution and one grouped transposed convolution per
        layer for the whole batch (1-D for signals, with :math:`p` a position along it).

        Returns:
            ``((B, L, C_in, *spatial), (B, L, K + C))``: the terms on the input channels
            (the map) and, summed over positions, on the extra and class channels.
        """
        self._check_target(states, target)
        b, ch, spatial = states.shape[0], self.channels, self.rule.spatial
        signal = self.rule.is_signal
        conv_fn, back_fn = ((F.conv1d, F.conv_transpose1d) if signal
                            else (F.conv2d, F.conv_transpose2d))
        dims = tuple(range(-len(spatial), 0))
        rows = self.rule.class_start + target  # each example's class channel
        dirac = self.dirac().to(states.dtype)
        feats, others = [], []
        for l, layer in enumerate(self.layers):
            prev = states[:, l]  # x^{l-1}, (B, Ch, *spatial)
            kernel = layer.weight.detach().to(states.dtype)
            conv = {"padding": layer.padding, "dilation": layer.dilation, "groups": b}
            pre = conv_fn(prev.reshape(1, b * ch, *spatial), kernel[rows], **conv
                          ).reshape(b, *spatial)
            if layer.bias is not None:
                pre = pre + layer.bias.detach().to(states.dtype)[rows].reshape(
                    b, *(1,) * len(spatial))
            _, gate = value_and_derivative(self.act.fn, pre)
            back = back_fn(gate.reshape(1, b, *spatial), (kernel - dirac)[rows],
                           **conv).reshape(b, ch, *spatial)
            terms = prev * back / math.prod(spatial)
            feats.append(terms[:, : self.rule.in_channels])
            others.append(terms[:, self.rule.in_channels :].sum(dims))
        return torch.stack(feats, dim=1), torch.stack(others, dim=1)
