r"""Perturbation curves: deletion and insertion (pixel flipping), their orderings and AUC.

A map :math:`a \in \mathbb{R}^N` of an input :math:`x` orders its pixels by importance
(descending; ties broken at random, seeded). Generic over models: a model is any callable
``logits_fn(x: (B, N)) -> (B, C)`` (explained at its output) or ``(B, L, C)`` (logits of
every layer, as :meth:`idmlp.nets.mlp.InterpretableMLP.readout` gives; layer ``l``'s map is
then measured against layer ``l``'s own logits).

* **Deletion** (pixel flipping, Samek et al., IEEE TNNLS 2017; Petsiuk et al., BMVC
  2018): the top-``k`` pixels of the ordering are set to a baseline value :math:`b`
  (default 0, the scaled mean), and the softmax probability of the explained class
  :math:`p_c(x^{(k)})` is followed as ``k`` grows. A faithful map makes it fall fast:
  *lower* area is better.
* **Insertion** (Petsiuk et al., 2018): start from the baseline image and put back the
  top-``k`` pixels; *higher* area is better.
* **AUC**: the trapezoid area under :math:`p_c` over the fraction :math:`f = k/N`,
  divided by the span of ``f`` (1 for the default schedule ``k = 0..N``), so it is the
  mean probability along the curve, in ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .._validation import check_choice, check_int
from ._checks import baseline_image, check_layers, check_xy, natural_inputs

__all__ = ["LogitsFn", "MapFn", "curve_auc", "check_ks", "perturbation_curve",
           "perturbation_schedule", "pixel_ranks"]

LogitsFn = Callable[[Tensor], Tensor]
MapFn = Callable[[Tensor, Tensor], Tensor]


def pixel_ranks(attribution: Tensor, *, seed: int = 0) -> Tensor:
    r"""Rank of every pixel in its map's descending order (0 = most important).

    Along the last dimension; ties are broken by a uniformly random permutation drawn
    from ``seed``, the same for every map of the same shape, so a constant map orders
    pixels at random and a positive rescaling of a map never changes its ranks.

    Examples:
        >>> pixel_ranks(torch.tensor([[0.1, 3.0, -2.0, 0.5]]))
        tensor([[2, 0, 3, 1]])
    """
    a = torch.as_tensor(attribution)
    seed = check_int("seed", seed, minimum=0)
    if a.ndim < 1 or a.shape[-1] == 0:
        raise ValueError(f"attribution must have a non-empty last dimension, got {tuple(a.shape)}")
    if a.is_floating_point() and not bool(torch.isfinite(a).all()):
        raise ValueError("attribution must be finite (no NaN or inf)")
    gen = torch.Generator().manual_seed(seed)
    perm = torch.rand(a.shape, generator=gen).argsort(dim=-1).to(a.device)
    order = perm.gather(-1, a.gather(-1, perm).argsort(dim=-1, descending=True, stable=True))
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(a.shape[-1], device=a.device).expand_as(order))
    return ranks


def perturbation_schedule(n_features: int, steps: int = 20,
                          include: Sequence[int] = (25, 50, 100)) -> np.ndarray:
    r"""Numbers of perturbed pixels ``k``: ``steps + 1`` evenly spaced in ``0..N``, and ``include``.

    ``k = round(i N / steps)`` for ``i = 0..steps``, joined with the values of ``include``
    that are ``<= N``; sorted, unique, always containing 0 and ``N``.

    Examples:
        >>> perturbation_schedule(100, steps=4, include=(25, 30, 500)).tolist()
        [0, 25, 30, 50, 75, 100]
    """
    n = check_int("n_features", n_features)
    steps = check_int("steps", steps)
    extra = [check_int("include", int(v) if isinstance(v, np.integer) else v, minimum=0)
             for v in include]
    ks = np.rint(np.linspace(0, n, steps + 1)).astype(np.int64)
    return np.unique(np.concatenate([ks, [v for v in extra if v <= n]]).astype(np.int64))


def check_ks(ks: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    """``ks`` as strictly increasing int64 values in ``0..n`` (ValueError otherwise)."""
    arr = np.asarray(ks)
    if arr.ndim != 1 or arr.size < 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ks must be a list of at least two integers in 0..{n}, got {ks!r}")
    if arr.min() < 0 or arr.max() > n or np.any(np.diff(arr) <= 0):
        raise ValueError(f"ks must be strictly increasing integers in 0..{n} (N = number of "
                         f"features), got {arr.tolist()}")
    return arr.astype(np.int64)


def curve_auc(curves: Tensor | np.ndarray, ks: Sequence[int] | np.ndarray,
              n_features: int) -> np.ndarray:
    r"""Normalized area under perturbation curves, over the fraction :math:`f = k/N`.

    .. math:: \mathrm{AUC} = \frac{1}{f_K - f_1}\int_{f_1}^{f_K} p(f)\,df

    by the trapezoid rule on the schedule's points: the mean value along the curve, so a
    curve in ``[0, 1]`` has an AUC in ``[0, 1]`` and a flat curve has its own value.

    Args:
        curves: ``(..., K)``, one value per ``k``.
        ks: the schedule, ``(K,)`` strictly increasing integers in ``0..N``.
        n_features: ``N``.

    Returns:
        ``(...)`` float64 array.

    Examples:
        >>> curve_auc(np.array([1.0, 0.5, 0.0]), [0, 2, 4], 4)
        array(0.5)
    """
    n = check_int("n_features", n_features)
    ks = check_ks(ks, n)
    c = curves.detach().cpu().double().numpy() if isinstance(curves, Tensor) else np.asarray(
        curves, dtype=np.float64)
    if c.shape[-1:] != ks.shape:
        raise ValueError(f"curves must have {len(ks)} values (one per k) on their last "
                         f"dimension, got shape {c.shape}")
    f = ks / n
    return np.asarray(np.trapezoid(c, f, axis=-1) / (f[-1] - f[0]))


@torch.no_grad()
def perturbation_curve(
    logits_fn: LogitsFn,
    x: Tensor,
    y: Tensor,
    attribution: Tensor,
    *,
    mode: str = "deletion",
    ks: Sequence[int] | np.ndarray | None = None,
    baseline: float | Tensor = 0.0,
    layers: Sequence[int] | None = None,
    score: str = "probability",
    seed: int = 0,
    max_elements: int = 2**21,
) -> Tensor:
    r"""Deletion or insertion curves of maps (Samek et al., 2017; Petsiuk et al., 2018).

    With :math:`R_k` the ``k`` top-ranked pixels of the map (:func:`pixel_ranks`) and
    :math:`b` the baseline image,

    .. math::

        \text{deletion: } x^{(k)}_j = b_j \ (j \in R_k), \ x_j \text{ otherwise}; \qquad
        \text{insertion: } x^{(k)}_j = x_j \ (j \in R_k), \ b_j \text{ otherwise},

    and the curve is :math:`\mathrm{softmax}(z(x^{(k)}))_{y}` (``score="probability"``) or
    the logit :math:`z_y(x^{(k)})` (``score="logit"``), for every ``k`` of the schedule.
    All images x all ``k`` (x all layers) go through ``logits_fn`` in chunks of at most
    ``max_elements`` input values; no loop over images.

    Layers: a map ``(B, N)`` is measured at the model's output (the last layer's logits if
    ``logits_fn`` returns ``(B, L, C)``), or, with ``layers``, against each listed layer's
    logits. A per-layer map needs per-layer logits ``(B, L, C)``: a stack ``(B, L, N)``
    (every layer; map ``l`` against layer ``l``'s logits, for every layer or the listed
    ones) or ``(B, len(layers), N)`` (map ``i`` for the ``i``-th listed layer).

    Args:
        logits_fn: ``(B, N) -> (B, C)`` or ``(B, L, C)`` logits (eval mode: your job).
        x: inputs ``(B, N)``, in the model's (scaled) input space, or in their natural
            shape ``(B, *S)`` (``(B, C, H, W)``, ...: ``logits_fn`` is then called with
            that shape, and the maps may have it too, ``(B, *S)`` or ``(B, L, *S)``).
        y: the explained class of each input, ``(B,)`` integers.
        attribution: maps ``(B, N)`` or per-layer maps ``(B, L, N)`` or
            ``(B, len(layers), N)``; finite.
        mode: ``"deletion"`` or ``"insertion"``.
        ks: numbers of pixels, strictly increasing in ``0..N``; default
            :func:`perturbation_schedule` (21 steps plus 25, 50, 100).
        baseline: the value of a removed pixel: a number, or a tensor broadcastable to
            ``(B, N)`` (default 0, the mean of standardized inputs).
        layers: layers ``1..L`` to measure (per-layer mode); default all for a per-layer map.
        score: ``"probability"`` or ``"logit"`` of the explained class.
        seed: tie-breaking seed of the ordering.
        max_elements: input values per forward call (integer >= N), bounds memory.

    Returns:
        ``(B, K)``, or ``(B, len(layers), K)`` in per-layer mode, in the logits' dtype.

    Examples:
        >>> w = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
        >>> x, y = torch.ones(1, 3), torch.tensor([0])
        >>> perturbation_curve(lambda v: v @ w.T, x, y, x * w[0], ks=[0, 1, 2, 3],
        ...                    score="logit")
        tensor([[3., 1., 0., 0.]])
    """
    mode = check_choice("mode", mode, ("deletion", "insertion"))
    score = check_choice("score", score, ("probability", "logit"))
    if not callable(logits_fn):
        raise ValueError(f"logits_fn must be callable, got {type(logits_fn).__name__}")
    nat = natural_inputs(x)
    logits_fn, attribution = nat.logits_fn(logits_fn), nat.flat_map(attribution)
    x, y = check_xy(nat.x, y)
    b, n = x.shape
    a = torch.as_tensor(attribution, device=x.device)
    if a.ndim not in (2, 3) or a.shape[0] != b or a.shape[-1] != n:
        raise ValueError(f"attribution must have shape ({b}, {n}) or ({b}, L, {n}) to match x, "
                         f"got {tuple(a.shape)}")
    ks = perturbation_schedule(n) if ks is None else check_ks(ks, n)
    max_elements = check_int("max_elements", max_elements, minimum=n)
    base = baseline_image(baseline, x)

    probe = logits_fn(x[:1])
    if probe.ndim not in (2, 3) or probe.shape[0] != 1:
        raise ValueError(f"logits_fn must return (B, C) or (B, L, C) logits, got shape "
                         f"{tuple(probe.shape)} for one input")
    depth = probe.shape[1] if probe.ndim == 3 else None
    if probe.shape[-1] < 2 and score == "probability":
        raise ValueError("logits_fn must return at least 2 classes for score='probability'")
    if int(y.max()) >= probe.shape[-1]:
        raise ValueError(f"y must hold classes in 0..{probe.shape[-1] - 1}, got {int(y.max())}")
    per_layer = a.ndim == 3 or layers is not None
    if per_layer and depth is None:
        raise ValueError("per-layer maps (B, L, N) or layers= need a logits_fn that returns "
                         "per-layer logits (B, L, C)")
    if per_layer:
        sel = check_layers(layers, depth) if layers is not None else tuple(range(1, depth + 1))
        layer_idx = torch.tensor(sel, device=x.device) - 1
        if a.ndim == 2:
            maps = a[:, None].expand(b, len(sel), n)
        elif a.shape[1] == depth:
            maps = a[:, layer_idx]
        elif a.shape[1] == len(sel):
            maps = a
        else:
            raise ValueError(f"attribution has {a.shape[1]} layers; expected {depth} (every "
                             f"layer of logits_fn) or {len(sel)} (one per listed layer)")
    else:
        layer_idx = torch.tensor([-1 if depth else 0], device=x.device)
        maps = a[:, None]
    ranks = pixel_ranks(maps, seed=seed) if a.ndim == 3 else pixel_ranks(
        maps[:, :1], seed=seed).expand_as(maps)

    n_layers, n_k = maps.shape[1], len(ks)
    ks_t = torch.as_tensor(ks, device=x.device)
    total = b * n_layers * n_k
    rows = max(1, max_elements // n)
    out = torch.empty(total, dtype=probe.dtype, device=x.device)
    for start in range(0, total, rows):
        idx = torch.arange(start, min(start + rows, total), device=x.device)
        ib, il, ik = idx // (n_layers * n_k), (idx // n_k) % n_layers, idx % n_k
        mask = ranks[ib, il] < ks_t[ik, None]
        src, fill = (x[ib], base[ib]) if mode == "deletion" else (base[ib], x[ib])
        logits = logits_fn(torch.where(mask, fill, src))
        if depth is not None:
            logits = logits[torch.arange(len(idx), device=x.device), layer_idx[il]]
        if score == "probability":
            logits = F.log_softmax(logits, dim=-1)
        val = logits.gather(-1, y[ib, None]).squeeze(-1)
        out[start : start + len(idx)] = val.exp() if score == "probability" else val
    out = out.reshape(b, n_layers, n_k)
    return out if per_layer else out[:, 0]
