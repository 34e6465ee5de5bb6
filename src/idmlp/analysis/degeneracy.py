r"""ZerO's "training degeneracy" measured: the rank of :math:`W - W_0` during training.

Zhao, Schaefer and Anandkumar ("ZerO Initialization: Initializing Neural Networks with only
Zeros and Ones", TMLR 2022, Theorem 1): in a network whose width grows, a layer started as
the plain partial identity :math:`I_{m \times n}` (:math:`m > n`) leaves :math:`m - n` units
at zero, and with ReLU they stay there (:math:`\mathrm{relu}'(0) = 0` stops their
gradient): every later layer only ever changes on the :math:`n` live inputs, so
:math:`\operatorname{rank}(W - W_0) \le n` however long it trains. ZerO's Hadamard
transform at the widening layer (:func:`idmlp.init.zero_`) spreads the :math:`n` inputs
over all :math:`m` units and the bound goes. IDInit's repeated identity
(:func:`idmlp.init.idinit_`) copies the inputs instead, so no unit starts dead.

:func:`bottleneck_mlp` builds the MLP (widths changing, e.g. ``64 -> 64 -> 16 -> 64 -> 64 ->
10``, a bottleneck of 16), :func:`rank_trajectory` trains it with plain SGD (as the
paper's experiment) and records :func:`numerical_rank` of every layer's
:math:`W^\ell - W^\ell_0`; :func:`idmlp.plots.degeneracy.degeneracy_figure` draws it.

Examples:
    >>> net = bottleneck_mlp((8, 4, 8, 3), "identity")
    >>> [tuple(layer.weight.shape) for layer in net if hasattr(layer, "weight")]
    [(4, 8), (8, 4), (3, 8)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from .._validation import check_choice, check_int, check_positive
from ..activations import Activation
from ..init import init_weight_

__all__ = ["DEGENERACY_INITS", "RankTrajectory", "bottleneck_mlp", "numerical_rank",
           "rank_trajectory"]

#: The widening layer's initializations compared: the plain partial identity (zero-padded,
#: :func:`idmlp.init.identity_`), ZerO (Hadamard where the layer widens) and IDInit
#: (identity repeated).
DEGENERACY_INITS: tuple[str, ...] = ("identity", "zero", "idinit")


def numerical_rank(matrix: Tensor, rtol: float = 1e-4) -> Tensor:
    r"""The numerical rank of a matrix (or of every matrix of a batch ``(..., m, n)``): how
    many singular values exceed ``rtol`` times the largest one; 0 for a zero matrix.

    Examples:
        >>> u, v = torch.randn(2, 6, 3, dtype=torch.float64).unbind()
        >>> int(numerical_rank(u @ v.T)), int(numerical_rank(torch.zeros(4, 5)))
        (3, 0)
    """
    if not isinstance(matrix, Tensor) or matrix.ndim < 2:
        raise ValueError("numerical_rank needs a matrix (..., m, n)")
    check_positive("rtol", rtol)
    s = torch.linalg.svdvals(matrix)
    top = s[..., :1]
    return ((s > rtol * top) & (top > 0)).sum(-1)


def bottleneck_mlp(widths: Sequence[int], init: str, activation: str = "relu", *,
                   dtype: torch.dtype = torch.float32) -> nn.Sequential:
    r"""An MLP ``widths[0] -> widths[1] -> ... -> widths[-1]`` without biases, every weight
    :math:`W \in \mathbb{R}^{m \times n}` initialized by ``init`` (one of
    :data:`DEGENERACY_INITS`; deterministic), the activation between layers (none after
    the last: it gives the logits).

    Examples:
        >>> net = bottleneck_mlp((4, 2, 4), "zero", dtype=torch.float64)
        >>> net[2].weight.detach().numpy().tolist()  # the Hadamard layer 2 -> 4
        [[0.5, 0.5], [0.5, -0.5], [0.5, 0.5], [0.5, -0.5]]
    """
    init = check_choice("init", init, DEGENERACY_INITS)
    widths = [check_int("width", w) for w in widths]
    if len(widths) < 2:
        raise ValueError(f"widths needs at least an input and an output width, got {widths}")
    layers: list[nn.Module] = []
    for k, (n, m) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        lin = nn.Linear(n, m, bias=False, dtype=dtype)
        init_weight_(lin.weight, init)
        layers.append(lin)
        if k < len(widths) - 2:
            layers.append(Activation(activation))
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class RankTrajectory:
    """What :func:`rank_trajectory` records.

    Attributes:
        init: the initialization.
        widths: the layer widths.
        steps: the recorded steps, ``(T,)`` (0 is the initialization).
        ranks: :math:`\\operatorname{rank}(W^\\ell - W^\\ell_0)` per recorded step and layer,
            ``(T, L)``.
        loss: the training loss at each recorded step (on the whole training set), ``(T,)``.
        accuracy: the training accuracy at each recorded step, ``(T,)``.
    """

    init: str
    widths: tuple[int, ...]
    steps: NDArray[np.int64]
    ranks: NDArray[np.int64]
    loss: NDArray[np.float64]
    accuracy: NDArray[np.float64]

    def bound(self) -> list[int | None]:
        """Theorem 1's bound per layer for the plain partial identity: the narrowest width
        before a widening that the layer's inputs passed through (``None`` where no
        widening came before the layer)."""
        out: list[int | None] = []
        narrowest, widened = self.widths[0], False
        for m in self.widths[1:]:
            out.append(narrowest if widened else None)
            widened = widened or m > narrowest
            narrowest = min(narrowest, m)
        return out


def rank_trajectory(x: Tensor, y: Tensor, widths: Sequence[int], init: str, *,
                    activation: str = "relu", steps: int = 500, lr: float = 0.05,
                    batch_size: int = 64, record_every: int = 10, seed: int = 0,
                    rtol: float = 1e-4) -> RankTrajectory:
    r"""Train :func:`bottleneck_mlp` on ``(x, y)`` with plain SGD (cross-entropy, minibatches
    drawn by ``seed``) and record the numerical rank (:func:`numerical_rank`) of every
    layer's change :math:`W^\ell - W^\ell_0` every ``record_every`` steps.

    Args:
        x: inputs ``(n, widths[0])``.
        y: classes ``(n,)`` in ``0 .. widths[-1] - 1``.
        widths: the layer widths, e.g. ``(64, 64, 16, 64, 64, 10)``.
        init: one of :data:`DEGENERACY_INITS`.
        activation: the activation between layers (ReLU, as the paper's theorem).
        steps, lr, batch_size: the SGD budget (no momentum, no weight decay).
        record_every: the recording period in steps.
        seed: the minibatch order.
        rtol: the rank's relative tolerance.

    Examples:
        >>> x, y = torch.randn(32, 6), torch.arange(32) % 3
        >>> t = rank_trajectory(x, y, (6, 2, 6, 3), "identity", steps=20, batch_size=8,
        ...                     record_every=10)
        >>> t.steps.tolist(), int(t.ranks[-1, 2]) <= 2
        ([0, 10, 20], True)
    """
    widths = tuple(check_int("width", w) for w in widths)
    if x.ndim != 2 or x.shape[1] != widths[0] or y.shape != x.shape[:1]:
        raise ValueError(f"x must be (n, {widths[0]}) and y (n,), got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    steps = check_int("steps", steps, minimum=0)
    record_every = check_int("record_every", record_every)
    batch_size = check_int("batch_size", batch_size)
    net = bottleneck_mlp(widths, init, activation, dtype=x.dtype)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    start = [lin.weight.detach().clone() for lin in linears]
    opt = torch.optim.SGD(net.parameters(), lr=check_positive("lr", lr))
    gen = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    y = y.long()
    log: dict[str, list] = {"steps": [], "ranks": [], "loss": [], "accuracy": []}

    def record(step: int) -> None:
        with torch.no_grad():
            logits = net(x)
            log["steps"].append(step)
            log["ranks"].append([int(numerical_rank(lin.weight - w0, rtol))
                                 for lin, w0 in zip(linears, start, strict=True)])
            log["loss"].append(float(nn.functional.cross_entropy(logits, y)))
            log["accuracy"].append(float((logits.argmax(1) == y).double().mean()))

    record(0)
    for step in range(1, steps + 1):
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=gen)
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % record_every == 0 or step == steps:
            record(step)
    return RankTrajectory(init, widths, np.array(log["steps"]), np.array(log["ranks"]),
                          np.array(log["loss"]), np.array(log["accuracy"]))
