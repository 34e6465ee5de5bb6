r"""FaithfulnessCorrelation (Bhatt, Weller and Moura, IJCAI 2020, "Evaluating and
aggregating feature-based model explanations").

For an image :math:`x`, class :math:`c` and map :math:`a`, draw ``runs`` random subsets
:math:`S` of ``subset_size`` pixels (seeded, without replacement), set them to a baseline
(``"min"``: the image's smallest value, Quantus' ``"black"``; or a number), and correlate
(Pearson, over the runs) the attribution the map puts on the subset with the drop of the
explained class's logit:

.. math::

    \mathrm{FC}(a; x) = \operatorname{corr}_S\Big(\sum_{i \in S} a_i,\;
        f_c(x) - f_c(x_{[x_S = b]})\Big).

*Higher is better* (1: the map's sums predict every drop). A map that is constant on
every subset sum (all zeros) has no correlation: NaN, left out of the mean. All images x
all runs go through ``logits_fn`` in chunks: no loop over images. The subsets and drops
depend on the images, not on the map, so :func:`correlation_probe` computes them once and
:meth:`CorrelationProbe.correlate` scores any number of maps of the same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._validation import check_int
from ._checks import check_xy, natural_inputs
from .perturbation import LogitsFn

__all__ = ["CorrelationProbe", "correlation_probe", "default_subset_size",
           "faithfulness_correlation"]


def default_subset_size(n_features: int) -> int:
    """``round(2 N / 7)``: Quantus' default of 224 pixels on a 28 x 28 image, as a fraction.

    Examples:
        >>> default_subset_size(784), default_subset_size(64)
        (224, 18)
    """
    return max(1, round(2 * check_int("n_features", n_features) / 7))


def _pearson(u: Tensor, v: Tensor) -> Tensor:
    u = u - u.mean(-1, keepdim=True)
    v = v - v.mean(-1, keepdim=True)
    den = (u.square().sum(-1) * v.square().sum(-1)).sqrt()
    return torch.where(den > 0, (u * v).sum(-1) / den.clamp_min(1e-300),
                       torch.full_like(den, float("nan")))


@torch.no_grad()
def faithfulness_correlation(
    logits_fn: LogitsFn,
    x: Tensor,
    y: Tensor,
    attribution: Tensor,
    *,
    subset_size: int | None = None,
    runs: int = 100,
    baseline: str | float = "min",
    seed: int = 0,
    chunk: int = 8192,
) -> Tensor:
    r"""FaithfulnessCorrelation of every map (see the module docstring).

    Args:
        logits_fn: ``(B, N) -> (B, C)`` (or ``(B, L, C)``: the last layer is read).
        x, y: images ``(B, N)`` (or in their shape ``(B, *S)``: ``logits_fn`` then sees that
            shape) and explained classes ``(B,)``.
        attribution: maps ``(B, N)`` (or ``(B, *S)``).
        subset_size: pixels per subset (default :func:`default_subset_size`).
        runs: subsets per image (>= 2).
        baseline: ``"min"`` (each image's minimum) or a number.
        seed: the subsets' seed (the same subsets for every map of the same images).
        chunk: perturbed images per forward call.

    Returns:
        ``(B,)`` float64 correlations (NaN where undefined).

    Examples:
        >>> w = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
        >>> x = torch.ones(1, 4)
        >>> float(faithfulness_correlation(lambda v: v @ w.T, x, torch.tensor([0]), x * w[0],
        ...                                subset_size=2, runs=10, baseline=0.0)[0])
        1.0
    """
    nat = natural_inputs(x)
    probe = correlation_probe(nat.logits_fn(logits_fn), nat.x, y, subset_size=subset_size,
                              runs=runs, baseline=baseline, seed=seed, chunk=chunk)
    return probe.correlate(nat.flat_map(attribution))


@dataclass(frozen=True, eq=False)
class CorrelationProbe:
    """The random subsets ``mask`` ``(B, R, N)`` of every image and the drops ``(B, R)`` of
    the explained class's logit when each subset is set to the baseline."""

    mask: Tensor
    drops: Tensor

    def correlate(self, attribution: Tensor) -> Tensor:
        """FaithfulnessCorrelation of maps ``(B, N)`` of these images: ``(B,)`` float64."""
        b, _, n = self.mask.shape
        a = torch.as_tensor(attribution, device=self.mask.device)
        if a.shape != (b, n):
            raise ValueError(f"attribution must have shape ({b}, {n}), got {tuple(a.shape)}")
        att = (a.double()[:, None] * self.mask).sum(-1)  # (B, R)
        return _pearson(att, self.drops).cpu()


@torch.no_grad()
def correlation_probe(
    logits_fn: LogitsFn,
    x: Tensor,
    y: Tensor,
    *,
    subset_size: int | None = None,
    runs: int = 100,
    baseline: str | float = "min",
    seed: int = 0,
    chunk: int = 8192,
) -> CorrelationProbe:
    """The subsets and logit drops of :func:`faithfulness_correlation` (same arguments),
    for scoring several maps of the same images."""
    x, y = check_xy(x, y)
    b, n = x.shape
    size = default_subset_size(n) if subset_size is None else check_int("subset_size",
                                                                       subset_size)
    if size > n:
        raise ValueError(f"subset_size must be in 1..{n} (N = number of features), got {size}")
    runs = check_int("runs", runs, minimum=2)
    chunk = check_int("chunk", chunk)
    if isinstance(baseline, str):
        if baseline != "min":
            raise ValueError(f"baseline must be 'min' or a number, got {baseline!r}")
        base = x.min(dim=1, keepdim=True).values.expand(b, n)
    else:
        base = torch.full_like(x, float(baseline))
    gen = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    # (B, R, N) random orders; the first `size` of each are the subset
    order = torch.rand(b, runs, n, generator=gen).argsort(-1)[..., :size].to(x.device)
    mask = torch.zeros(b, runs, n, dtype=torch.bool, device=x.device)
    mask.scatter_(-1, order, True)

    def score(v: Tensor, cls: Tensor) -> Tensor:
        out = logits_fn(v)
        out = out[:, -1] if out.ndim == 3 else out
        return out.double().gather(-1, cls[:, None]).squeeze(-1)

    full = score(x, y)
    flat = mask.reshape(b * runs, n)
    ib = torch.arange(b, device=x.device).repeat_interleave(runs)
    drops = torch.empty(b * runs, dtype=torch.float64, device=x.device)
    for s in range(0, b * runs, chunk):
        sl = slice(s, min(s + chunk, b * runs))
        xi = torch.where(flat[sl], base[ib[sl]], x[ib[sl]])
        drops[sl] = full[ib[sl]] - score(xi, y[ib[sl]])
    return CorrelationProbe(mask, drops.reshape(b, runs))
