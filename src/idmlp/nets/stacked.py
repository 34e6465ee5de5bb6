r"""``K`` interpretable MLPs of one depth, width and activation, trained as one module.

A trainability sweep (:mod:`idmlp.sweep`) trains one interpretable MLP
(:class:`~idmlp.nets.mlp.InterpretableMLP`, or the residual
:class:`~idmlp.nets.residual.ResidualMLP`) per grid point. Runs that share the depth and
the activation are stacked: layer :math:`\ell` holds the weights of all ``K`` runs as one
``(K, W, W)`` tensor, so a layer is one :func:`torch.bmm` for all of them, while each run
keeps its own :math:`\sigma`, :math:`q_0`, initialization scheme and seed. The stack is an
:class:`~idmlp.nets.base.InterpretableNet` with a leading run dimension ``R = (K,)``: its
readout, per-layer logits, maps and evidence split are those of the ``K`` networks, run by
run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..activations import Activation, value_and_derivative
from ..config import ModelConfig
from ..config.sweep import RunSpec, TrainSettings
from ..init import init_weight_
from .readout import LayerReadout
from .rules import ClassCoordinates, RuleSizes

__all__ = ["STACKABLE_ARCHS", "StackedMLP", "check_group", "run_seeds"]

#: The architectures a :class:`StackedMLP` trains (the same layers; the residual one adds
#: its skip connections and branch scales).
STACKABLE_ARCHS: tuple[str, ...] = ("mlp", "residual")


def run_seeds(seed: int) -> tuple[int, int]:
    """Two independent seeds, for the initialization and the minibatch order of a run.

    Derived with :class:`numpy.random.SeedSequence`, so runs with the same seed see the
    same minibatches whatever their initialization draws.

    Examples:
        >>> run_seeds(0) == run_seeds(0) != run_seeds(1)
        True
    """
    init_ss, order_ss = np.random.SeedSequence(seed).spawn(2)
    return int(init_ss.generate_state(1)[0]), int(order_ss.generate_state(1)[0])


def _init_weights(spec: RunSpec, width: int, model: ModelConfig | None = None,
                  num_classes: int = 0) -> Tensor:
    r"""``(L, W, W)`` weights (``nn.Linear`` layout, ``out x in``) for one run, layer by
    layer from the run's own generator, exactly as :class:`~idmlp.nets.mlp.MLP` does (and,
    for the residual arch, :class:`~idmlp.nets.residual.ResidualMLP`'s class-row filters
    after all layers, where a layer's class rows start exactly at :math:`\sigma I`)."""
    gen = torch.Generator().manual_seed(run_seeds(spec.seed)[0])
    w = torch.empty(spec.depth, width, width)
    for layer in w:
        init_weight_(layer, spec.init, spec.sigma, gen)
    std = model.options.class_init_std if model is not None and model.arch == "residual" else 0
    if std > 0:
        rows = slice(width - num_classes, width)
        eye = spec.sigma * torch.eye(width)[rows]
        for layer in w:
            if torch.equal(layer[rows], eye):
                layer[rows] += torch.randn((num_classes, width), generator=gen) * (
                    std / math.sqrt(width))
    return w


class StackedMLP(RuleSizes, nn.Module):
    r"""``K`` interpretable MLPs of the same depth, width and activation, as one module.

    Layer ``l`` holds the transposed weights of all runs, ``(K, W_in, W_out)``, so the
    forward pass is :math:`x^\ell = \phi(\mathrm{bmm}(x^{\ell-1}, W^{\ell\top}) (+ b^\ell))`
    from :math:`x^0` of the shared readout rule (:class:`~idmlp.nets.rules.ClassCoordinates`),
    one :math:`\sqrt{q_0}` per run. With ``settings.model.arch == "residual"`` every layer
    is a ReZero block :math:`x^\ell = x^{\ell-1} + \alpha_\ell \phi(\ldots)`, one scale
    per run and layer (:attr:`alphas`, ``(K, 1, 1)`` each, starting at ``alpha_init``).

    When :math:`\phi(0) = 0` the stored width is rounded up to a multiple of 16 (CPU GEMM
    kernels are much faster on such sizes, e.g. 80 against 74) with dead coordinates:
    their weights start at zero, their activations are :math:`\phi(0) = 0`, so every
    gradient reaching those weights is exactly zero and Adam/SGD leave them at zero. The
    network computed is exactly the ``W``-wide one.

    Args:
        specs: the runs (all with the same ``depth`` and ``activation``).
        in_features: ``N``.
        num_classes: ``C``.
        settings: the model's fixed settings (``arch``, mlp or residual, its options,
            ``bias``, ``logit_scale``, ``learn_logit_scale``) come from ``settings.model``.
    """

    def __init__(self, specs: Sequence[RunSpec], in_features: int, num_classes: int,
                 settings: TrainSettings | None = None) -> None:
        super().__init__()
        check_group(specs)
        base = (settings or TrainSettings()).model
        if base.arch not in STACKABLE_ARCHS:
            raise ValueError(f"a StackedMLP trains arch {' or '.join(STACKABLE_ARCHS)}; got "
                             f"{base.arch!r}")
        self.act = Activation(specs[0].activation)
        width = in_features + num_classes
        dead = self.act(torch.zeros(1)).item() == 0.0
        self.rule = ClassCoordinates(in_features, num_classes,
                                     width=-(-width // 16) * 16 if dead else width)
        pad = self.rule.width - width
        weights = torch.stack([_init_weights(s, width, base, num_classes) for s in specs],
                              dim=1)  # (L, K, W, W)
        self.weights_t = nn.ParameterList(
            nn.Parameter(torch.nn.functional.pad(w.mT, (0, pad, 0, pad)).contiguous())
            for w in weights)
        k = len(specs)
        self.biases = nn.ParameterList(
            nn.Parameter(torch.zeros(k, 1, self.rule.width)) for _ in range(specs[0].depth)
        ) if base.bias else None
        self.log_logit_scale = nn.Parameter(torch.full((k, 1, 1), math.log(base.logit_scale)),
                                            requires_grad=base.learn_logit_scale)
        self.alpha_init = float(base.options.alpha_init) if base.arch == "residual" else None
        self.alphas = nn.ParameterList(
            nn.Parameter(torch.full((k, 1, 1), self.alpha_init)) for _ in range(specs[0].depth)
        ) if self.alpha_init is not None else None
        self.register_buffer("input_scale",
                             torch.tensor([math.sqrt(s.q0) for s in specs])[:, None, None])
        self.register_buffer("sigmas", torch.tensor([s.sigma for s in specs])[:, None, None])

    @classmethod
    def from_config(cls, config: ModelConfig, *, seed: int = 0,
                    settings: TrainSettings | None = None) -> StackedMLP:
        """A stack of one run: the MLP of ``config`` (its sizes filled in,
        :meth:`ModelConfig.for_data`) initialized from the run seed ``seed``."""
        config.check_buildable(config.arch if config.arch in STACKABLE_ARCHS else "mlp",
                               ("in_features", "num_classes"))
        spec = RunSpec(config.depth, config.activation, config.init, config.sigma, config.q0,
                       seed)
        base = dataclasses.replace(settings or TrainSettings(), model=config)
        return cls([spec], config.in_features, config.num_classes, base)

    def describe(self) -> str:
        """One line: the stack's shape."""
        kind = "residual MLPs (ReZero blocks)" if self.alphas is not None else "MLPs"
        return (f"{self.k} {kind} of depth {self.depth}, width {self.in_features} + "
                f"{self.num_classes}, trained as one")

    @property
    def k(self) -> int:
        return self.input_scale.shape[0]

    @property
    def depth(self) -> int:
        return len(self.weights_t)

    def weight_stack(self) -> Tensor:
        """All weights, ``(K, L, W, W)`` in the ``nn.Linear`` layout (a detached copy)."""
        width = self.in_features + self.num_classes
        w = torch.stack([w.detach().mT for w in self.weights_t], dim=1)
        return w[..., :width, :width].contiguous()

    def alpha_stack(self) -> Tensor | None:
        """The residual scales, ``(K, L)`` (a detached copy), or ``None`` (not residual)."""
        if self.alphas is None:
            return None
        return torch.stack([a.detach()[:, 0, 0] for a in self.alphas], dim=1)

    def bias_stack(self) -> Tensor | None:
        """All biases, ``(K, L, W)`` (a detached copy), or ``None``."""
        if self.biases is None:
            return None
        width = self.in_features + self.num_classes
        return torch.stack([b.detach()[:, 0, :width] for b in self.biases], dim=1)

    def states(self, z: Tensor) -> Iterator[Tensor]:
        """The states :math:`x^1 .. x^L` of every run, each ``(K, B, W)``, for standardized
        inputs ``z`` of shape ``(K, B, N)`` (or ``(B, N)``, shared by all runs)."""
        for _, h in self._states(z):
            yield h

    def _states(self, z: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """``(x^{l-1}, x^l)`` for ``l = 1..L`` (:meth:`states` with the input of each)."""
        h = self.rule.embed(z, self.input_scale)
        if h.ndim == 2 or h.shape[0] != self.k:
            h = h.expand(self.k, *h.shape[-2:])
        for layer, w in enumerate(self.weights_t):
            pre = torch.bmm(h, w) if self.biases is None else torch.baddbmm(
                self.biases[layer], h, w)
            if self.alphas is None:
                prev, h = h, self.act(pre)
            else:
                prev, h = h, h + self.alphas[layer] * self.act(pre)
            yield prev, h

    def forward(self, z: Tensor) -> Tensor:
        """Class logits of the last layer, ``(K, B, C)``."""
        for h in self.states(z):  # noqa: B007 (the last state is the output)
            pass
        return self.rule.logits(h, self.log_logit_scale.exp())

    def layer_logits(self, z: Tensor) -> Tensor:
        """Class logits of every layer, ``(K, B, L, C)``."""
        blocks = [self.rule.class_block(h) for h in self.states(z)]
        return torch.stack(blocks, dim=-2) * self.log_logit_scale.exp()[..., None]

    def readout(self, z: Tensor) -> LayerReadout:
        r"""Every run's states, logits and maps, ``(K, B, L+1, W)`` states (the identity
        twins' elementwise recursion, one :math:`\sigma` per run, alongside)."""
        pairs = list(self._states(z))
        states = torch.stack([pairs[0][0], *(h for _, h in pairs)], dim=-2)
        ident = [states[..., 0, :]]
        for _ in range(self.depth):
            twin = self.act(self.sigmas.to(states.dtype) * ident[-1])
            if self.alpha_init is not None:  # the residual twin: x + alpha_0 phi(sigma x)
                twin = ident[-1] + self.alpha_init * twin
            ident.append(twin)
        return LayerReadout.from_states(
            states, self.rule, self.log_logit_scale.exp()[..., None],
            identity_states=torch.stack(ident, dim=-2), network=self)

    def evidence_terms(self, states: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        r"""Every run's exact split of each layer's class change (as
        :meth:`idmlp.nets.mlp.InterpretableMLP.evidence_terms`, run by run):
        :math:`e^\ell_j = \phi'(h)\,(W^\ell - \sigma I)_{N+c,j}\, x^{\ell-1}_j`.

        Args:
            states: ``(K, B, L+1, W)`` (:meth:`readout`'s).
            target: ``(K, B)`` or ``(B,)`` classes.

        Returns:
            ``((K, B, L, N), (K, B, L, C))``.
        """
        n, c = self.in_features, self.num_classes
        k, b = states.shape[0], states.shape[1]
        target = torch.as_tensor(target, device=states.device).long().expand(k, b)
        if (target < 0).any() or (target >= c).any():
            raise ValueError(f"target must hold classes in 0..{c - 1}")
        width = states.shape[-1]
        # rows N + c of every layer and run: W^l[N+c, :] = W_t^l[:, N+c], (K, L, C, W)
        w = torch.stack([wt.detach()[:, :, n : n + c].mT for wt in self.weights_t], 1)
        w = w.to(states.dtype)
        idx = target[:, :, None, None].expand(k, b, self.depth, width)  # per example
        rows_w = w[:, None].expand(k, b, self.depth, c, width).gather(
            3, idx[:, :, :, None]).squeeze(3)  # (K, B, L, W)
        eye = torch.zeros(k, b, width, dtype=states.dtype, device=states.device)
        eye.scatter_(2, (n + target)[..., None], 1.0)
        if self.alphas is None:
            rows = rows_w - self.sigmas.to(states.dtype)[..., None] * eye[:, :, None]
        else:  # residual: the skip carries the identity, the whole row is the branch's
            rows = rows_w
        prev = states[:, :, :-1]
        pre = (rows_w * prev).sum(-1)  # (K, B, L)
        if self.biases is not None:
            bias = torch.stack([bb.detach()[:, 0] for bb in self.biases], 1)  # (K, L, W)
            pre = pre + bias.to(states.dtype).gather(
                2, (n + target)[:, None, :].expand(k, self.depth, b)).transpose(1, 2)
        _, gate = value_and_derivative(self.act.fn, pre)
        if self.alphas is not None:
            gate = gate * self.alpha_stack().to(states.dtype)[:, None, :]
        terms = rows * prev * gate[..., None]
        return terms[..., :n], terms[..., n : n + c]


def check_group(specs: Sequence[RunSpec]) -> None:
    """Refuse, in one line, runs that cannot train as one stack."""
    if not specs:
        raise ValueError("specs must hold at least one run")
    if len({(s.depth, s.activation) for s in specs}) != 1:
        raise ValueError("runs trained together must share depth and activation")
