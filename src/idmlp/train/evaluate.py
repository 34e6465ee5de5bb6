r"""The layer-wise evaluator: one pass over a labelled set, every layer's readout scored.

:func:`evaluate` is the one loop over a dataset that training, interpretation, probes and
sweeps share. It runs ``model.readout`` (or a plain classifier's forward, as one layer:
:func:`~idmlp.nets.readout.as_readout`) on chunks of the inputs, without gradients and in eval
mode, and accumulates for every layer :math:`\ell` with logits :math:`z^\ell`

.. math::

    \mathrm{acc}_\ell = \tfrac1n \textstyle\sum_i [\arg\max z^\ell_i = y_i], \quad
    \bar p_\ell = \tfrac1n \textstyle\sum_i \mathrm{softmax}(z^\ell_i)_{y_i}, \quad
    \mathrm{CE}_\ell = -\tfrac1n \textstyle\sum_i \log \mathrm{softmax}(z^\ell_i)_{y_i},

and the confusion matrix of the last layer. An example whose logits are not finite counts
as wrong (a diverged network). Leading run dimensions of the readout (``K`` networks
trained as one, :mod:`idmlp.sweep.engine`) give metrics of shape ``(K, L)``. Anything else
a caller needs from the same pass (maps of chosen examples, class means, hidden features)
comes through ``on_batch`` hooks, which see each chunk's :class:`~idmlp.nets.readout.LayerReadout`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_int
from ..nets.readout import LayerReadout, as_readout

__all__ = ["Z95", "Batch", "LayerMetrics", "evaluate", "pick_samples", "wilson_interval"]

#: The 97.5% quantile of the standard normal: two-sided 95% intervals.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Batch:
    """One chunk of :func:`evaluate`: its readout, labels and position in the set."""

    readout: LayerReadout
    y: Tensor
    start: int

    @property
    def stop(self) -> int:
        return self.start + len(self.y)


@dataclass(frozen=True, eq=False)
class LayerMetrics:
    """Per-layer scores of a model on ``n`` labelled examples (float64 tensors, on the CPU).

    Attributes:
        n: number of examples.
        accuracy: ``(*R, L)``.
        loss: mean cross-entropy, ``(*R, L)``.
        true_class_prob: mean softmax probability of the true class, ``(*R, L)``.
        confusion: ``(C, C)`` int64 counts of the last layer (rows: true class), or ``None``
            for stacked runs.
        seconds: wall time of the pass.
    """

    n: int
    accuracy: Tensor
    loss: Tensor
    true_class_prob: Tensor
    confusion: Tensor | None
    seconds: float

    @property
    def depth(self) -> int:
        return self.accuracy.shape[-1]

    def interval(self, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
        """Wilson score interval of every layer's accuracy (95% by default)."""
        return wilson_interval(self.accuracy.numpy(), self.n, z)


def wilson_interval(p: np.ndarray | float, n: int, z: float = Z95
                    ) -> tuple[np.ndarray, np.ndarray]:
    r"""Wilson score interval (Wilson, 1927) of a binomial proportion ``p`` out of ``n``:

    .. math::
        \frac{p + \frac{z^2}{2n} \pm z \sqrt{\frac{p(1-p)}{n} + \frac{z^2}{4n^2}}}
             {1 + \frac{z^2}{n}}

    Examples:
        >>> lo, hi = wilson_interval(0.9, 1000)
        >>> round(float(lo), 4), round(float(hi), 4)
        (0.8798, 0.9171)
    """
    n = check_int("n", n)
    p = np.asarray(p, dtype=np.float64)
    if p.size and not (np.all(p >= 0) and np.all(p <= 1)):
        raise ValueError("p must hold proportions in [0, 1]")
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    # exact at p = 0 and p = 1 (where rounding could leave the bound a hair off)
    return np.clip(np.minimum(centre - half, p), 0, 1), np.clip(np.maximum(centre + half, p), 0, 1)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Put ``model`` in eval mode (and no grad) for the block, then restore its mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _param(model: nn.Module) -> Tensor | None:
    return next(iter(model.parameters()), None)


def evaluate(
    model: nn.Module,
    X: Tensor,
    y: Tensor,
    *,
    batch_size: int = 1024,
    on_batch: Sequence[Callable[[Batch], Any]] = (),
    confusion: bool = True,
) -> LayerMetrics:
    """Score every layer's readout of ``model`` on ``(X, y)`` in one chunked pass.

    Args:
        model: an interpretable network (``readout(x)``), ``K`` stacked ones, or any
            classifier mapping ``(B, N)`` to logits ``(B, C)`` (one "layer").
        X: inputs ``(n, N)`` as the model takes them (moved per chunk to the model's
            device and dtype).
        y: integer labels ``(n,)``.
        batch_size: examples per chunk (bounds memory; the result depends on it only by
            float rounding).
        on_batch: callables receiving every chunk as a :class:`Batch`.
        confusion: also count the last layer's confusion matrix (single networks only).

    Returns:
        :class:`LayerMetrics`.

    Examples:
        >>> from idmlp.nets.mlp import InterpretableMLP
        >>> net = InterpretableMLP(4, 3, depth=5)
        >>> m = evaluate(net, 0.5 * torch.randn(20, 4), torch.arange(20) % 3)
        >>> m.accuracy.shape, m.confusion.sum().item()
        (torch.Size([5]), 20)
    """
    batch_size = check_int("batch_size", batch_size)
    n = len(y)
    if n == 0 or len(X) != n:
        raise ValueError(f"X and y must hold the same positive number of examples, got "
                         f"{len(X)} and {n}")
    param = _param(model)
    device = param.device if param is not None else X.device
    dtype = param.dtype if param is not None and param.is_floating_point() else X.dtype
    y = torch.as_tensor(y).long()
    t0 = time.perf_counter()
    correct = loss = p_true = conf = None
    with eval_mode(model):
        for start in range(0, n, batch_size):
            yb = y[start : start + batch_size].to(device)
            r = _readout(model, X[start : start + batch_size].to(device=device, dtype=dtype),
                         bool(on_batch))
            logits = r.logits  # (*R, b, L, C)
            logp = F.log_softmax(logits.double(), dim=-1)
            idx = yb[:, None, None].expand(*logits.shape[:-1], 1)
            nll = -logp.gather(-1, idx).squeeze(-1)  # (*R, b, L)
            ok = (logits.argmax(-1) == yb[:, None]) & logits.isfinite().all(-1)
            parts = (ok.sum(-2).double(), nll.sum(-2), nll.neg().exp().sum(-2))
            if correct is None:
                correct, loss, p_true = parts
            else:
                correct, loss, p_true = correct + parts[0], loss + parts[1], p_true + parts[2]
            if confusion and logits.ndim == 3:
                c = logits.shape[-1]
                counts = torch.bincount(yb * c + logits[:, -1].argmax(-1), minlength=c * c)
                conf = counts if conf is None else conf + counts
            for hook in on_batch:
                hook(Batch(r, yb, start))
    return LayerMetrics(
        n=n, accuracy=(correct / n).cpu(), loss=(loss / n).cpu(),
        true_class_prob=(p_true / n).cpu(),
        confusion=None if conf is None else conf.reshape(c, c).cpu(),
        seconds=time.perf_counter() - t0,
    )


def _readout(model: nn.Module, x: Tensor, full: bool) -> LayerReadout:
    """The readout of a chunk: the whole one when a hook reads it (features, maps), else
    the logits of every layer only (``layer_logits``: the same values, without stacking
    the states and the identity twin's, about a quarter of an MLP's evaluation)."""
    layer_logits = getattr(model, "layer_logits", None)
    if full or not callable(layer_logits):
        return as_readout(model, x)
    return LayerReadout(layer_logits(x))


def pick_samples(y: Tensor | np.ndarray, k: int | None = None, num_classes: int | None = None
                 ) -> tuple[int, ...]:
    """Deterministic example choice: the first example of each class, then the second, ...

    Classes are visited in label order (round robin), so ``k = C`` gives the first example
    of every class and ``k = None`` means one per class present.

    Examples:
        >>> pick_samples(np.array([2, 0, 0, 1, 2]))
        (1, 3, 0)
        >>> pick_samples(np.array([2, 0, 0, 1, 2]), k=5)
        (1, 3, 0, 2, 4)
    """
    y = np.asarray(y.cpu() if isinstance(y, Tensor) else y).reshape(-1)
    c = int(num_classes) if num_classes is not None else int(y.max()) + 1 if y.size else 0
    k = len(np.unique(y)) if k is None else check_int("k", k)
    # rank of each example within its class; order by (rank, label, position)
    order = np.argsort(y, kind="stable")
    starts = np.searchsorted(y[order], np.arange(c))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(y)) - starts[y[order]]
    chosen = np.lexsort((np.arange(len(y)), y, rank))[: min(k, len(y))]
    return tuple(int(i) for i in chosen)
