r"""Measured faithfulness of attribution maps: deletion, insertion, sanity checks, cost.

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
* **Drop at k** (the issue's summary): :math:`p_c(x) - p_c(x^{(k)})` on the deletion
  curve, at ``k = 25, 50, 100`` by default, and their mean.
* **Model randomization** (Adebayo et al., NeurIPS 2018, "Sanity checks for saliency
  maps"): Spearman's rank correlation, per image, between a method's map on the trained
  model and on a reference model (for identity initialization: the untrained,
  identity-initialized network), on the signed maps and on their absolute values. A map
  that barely changes explains the architecture, not the learning.
* **Cost**: forward and backward passes per explanation, and seconds per explanation
  measured in the same run.
* Intervals: percentile bootstrap over images (:func:`scipy.stats.bootstrap`), seeded.

:func:`evaluate_faithfulness` runs all of it for a dict of named maps, the chosen Captum
methods (:mod:`idmlp.attribution`) and the baseline orderings ``abs_input`` (:math:`|x|`)
and ``random``, and returns a :class:`FaithfulnessResult` (``to_dict``, ``to_csv``,
``summary``; figures in :mod:`idmlp.plots.faithfulness`).
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import Tensor, nn

from .._io import atomic_write_text
from .._validation import check_choice, check_int, check_probability, check_real
from ..attribution import CAPTUM_METHODS, captum_attribution, method_passes, require_captum
from ..runtime import progress_bar

__all__ = [
    "BASELINE_ORDERINGS",
    "BUILTIN_MAPS",
    "REFERENCES",
    "DEFAULT_DROP_AT",
    "METRICS",
    "VARIANTS",
    "Cost",
    "Explainer",
    "FaithfulnessResult",
    "Interval",
    "MethodFaithfulness",
    "bootstrap_interval",
    "curve_auc",
    "evaluate_faithfulness",
    "faithfulness_run",
    "perturbation_curve",
    "perturbation_schedule",
    "pixel_ranks",
    "rank_correlation",
    "reference_model",
]

#: Orderings that need no model: by :math:`|x|`, and uniformly random (seeded).
BASELINE_ORDERINGS: tuple[str, ...] = ("abs_input", "random")
#: The issue's summary: mean drop of the explained class's probability at these k.
DEFAULT_DROP_AT: tuple[int, ...] = (25, 50, 100)
#: Per-image summaries of a method (:meth:`FaithfulnessResult.per_image`).
METRICS: tuple[str, ...] = ("deletion_auc", "insertion_auc", "mean_drop")
#: Transforms of a signed map: as is, its positive part ``name+``, its magnitude ``abs(name)``.
VARIANTS: tuple[str, ...] = ("signed", "positive", "abs")

LogitsFn = Callable[[Tensor], Tensor]
MapFn = Callable[[Tensor, Tensor], Tensor]


# --------------------------------------------------------------------------- orderings


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


def _check_ks(ks: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
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
    ks = _check_ks(ks, n)
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
        x: inputs ``(B, N)``, in the model's (scaled) input space.
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
    x, y = _check_xy(x, y)
    b, n = x.shape
    a = torch.as_tensor(attribution, device=x.device)
    if a.ndim not in (2, 3) or a.shape[0] != b or a.shape[-1] != n:
        raise ValueError(f"attribution must have shape ({b}, {n}) or ({b}, L, {n}) to match x, "
                         f"got {tuple(a.shape)}")
    ks = perturbation_schedule(n) if ks is None else _check_ks(ks, n)
    max_elements = check_int("max_elements", max_elements, minimum=n)
    base = _baseline_image(baseline, x)

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
        sel = _check_layers(layers, depth) if layers is not None else tuple(range(1, depth + 1))
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


# --------------------------------------------------------------------------- statistics


class Interval(NamedTuple):
    """A mean over images with its bootstrap interval, and the number of images used."""

    mean: Any
    low: Any
    high: Any
    n: Any


def bootstrap_interval(values: Tensor | np.ndarray | Sequence[float], *,
                       n_resamples: int = 2000, confidence: float = 0.95,
                       seed: int = 0) -> Interval:
    r"""Mean over images (axis 0) with a percentile bootstrap interval (Efron, 1979).

    :func:`scipy.stats.bootstrap` (vectorized, ``method="percentile"``) draws
    ``n_resamples`` resamples of the images with replacement from ``seed``; the interval
    is the ``(1 - confidence)/2`` and ``(1 + confidence)/2`` quantiles of the resampled
    means. NaN values (an undefined per-image statistic) are left out, column by column;
    with fewer than 2 values the interval is NaN.

    Args:
        values: ``(n,)`` or ``(n, m)`` (one interval per column).

    Returns:
        :class:`Interval` of floats (1-D input) or ``(m,)`` arrays.

    Examples:
        >>> iv = bootstrap_interval(np.arange(10.0), seed=0)
        >>> float(iv.mean), bool(iv.low < 4.5 < iv.high), int(iv.n)
        (4.5, True, 10)
    """
    n_resamples = check_int("n_resamples", n_resamples)
    confidence = check_probability("confidence", confidence)
    seed = check_int("seed", seed, minimum=0)
    v = values.detach().cpu().double().numpy() if isinstance(values, Tensor) else np.asarray(
        values, dtype=np.float64)
    if v.ndim not in (1, 2):
        raise ValueError(f"values must be (n,) or (n, m), got shape {v.shape}")
    cols = v.reshape(len(v), -1)
    mean, low, high, count = (np.full(cols.shape[1], np.nan) for _ in range(4))
    ok = ~np.isnan(cols)
    full = ok.all(axis=0)
    groups = ([np.flatnonzero(full)] if full.any() else []) + [[j] for j in np.flatnonzero(~full)]
    for cs in groups:
        data = cols[:, cs][ok[:, cs[0]]] if len(cs) == 1 else cols[:, cs]
        count[cs] = len(data)
        if len(data):
            mean[cs] = data.mean(axis=0)
        if len(data) >= 2:
            ci = stats.bootstrap((data,), np.mean, axis=0, vectorized=True,
                                 method="percentile", n_resamples=n_resamples,
                                 confidence_level=confidence, rng=np.random.default_rng(seed)
                                 ).confidence_interval
            low[cs], high[cs] = ci.low, ci.high
    if v.ndim == 1:
        return Interval(float(mean[0]), float(low[0]), float(high[0]), int(count[0]))
    return Interval(mean, low, high, count.astype(np.int64))


def rank_correlation(a: Tensor | np.ndarray, b: Tensor | np.ndarray, *,
                     absolute: bool = False) -> np.ndarray:
    r"""Spearman's rank correlation between paired maps, one value per map.

    :math:`\rho = \mathrm{corr}(\mathrm{rank}(a), \mathrm{rank}(b))` over the flattened
    trailing dimensions (average ranks for ties, :func:`scipy.stats.rankdata`), as
    :func:`scipy.stats.spearmanr` computes it for one pair, vectorized over the leading
    dimension. ``absolute=True`` ranks :math:`|a|` and :math:`|b|` (the variant of
    Adebayo et al., 2018, that ignores sign). A constant map has no ranking: NaN.

    Args:
        a, b: maps of the same shape ``(B, ...)``.

    Returns:
        ``(B,)`` float64.

    Examples:
        >>> rank_correlation(np.array([[1.0, 2.0, 3.0]]), np.array([[10.0, 30.0, 20.0]]))
        array([0.5])
    """
    a = a.detach().cpu().double().numpy() if isinstance(a, Tensor) else np.asarray(a, float)
    b = b.detach().cpu().double().numpy() if isinstance(b, Tensor) else np.asarray(b, float)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"a and b must be maps of the same shape (B, ...), got {a.shape} and "
                         f"{b.shape}")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if absolute:
        a, b = np.abs(a), np.abs(b)
    ra = stats.rankdata(a, axis=-1)
    rb = stats.rankdata(b, axis=-1)
    ra -= ra.mean(axis=-1, keepdims=True)
    rb -= rb.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra * rb).sum(-1) / np.sqrt((ra * ra).sum(-1) * (rb * rb).sum(-1))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Explainer:
    r"""A named map's recipe: ``fn(x, y) -> (B, N)`` or per-layer ``(B, L, N)``, and its cost.

    Attributes:
        fn: the map of the trained model, for inputs ``x`` and explained classes ``y``.
        forward_passes, backward_passes: passes per explanation (``None``: unknown). The
            interpretable MLP's built-in maps: 1 forward, 0 backward, for all layers.
        reference_fn: the same map on the reference model (model-randomization check).

    Examples:
        >>> e = Explainer(lambda x, y: x.abs(), forward_passes=0, backward_passes=0)
        >>> e.fn(torch.tensor([[-1.0, 2.0]]), torch.tensor([0]))
        tensor([[1., 2.]])
    """

    fn: MapFn
    forward_passes: float | None = None
    backward_passes: float | None = None
    reference_fn: MapFn | None = None


@dataclass(frozen=True)
class Cost:
    """Passes per explanation (``None``: unknown) and measured seconds per explanation
    (NaN: the map was given precomputed)."""

    forward_passes: float | None
    backward_passes: float | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"forward_passes": self.forward_passes, "backward_passes": self.backward_passes,
                "seconds_per_explanation": _finite_or_none(self.seconds)}


@dataclass(frozen=True, eq=False)
class MethodFaithfulness:
    """Per-image measurements of one method (float64 numpy arrays).

    Attributes:
        name: the method's name (``integrated_gradients+`` is the positive part of
            ``integrated_gradients``, ``abs(name)`` its magnitude).
        kind: ``"captum"``, ``"map"`` (given by the caller) or ``"baseline"``.
        deletion, insertion: curves at the model's output, ``(B, K)``.
        layer_deletion, layer_insertion: per-layer curves ``(B, len(layers), K)`` or None.
        sanity, sanity_abs: rank correlation with the reference model's map, signed and
            absolute, ``(B,)``, or None when there is no reference for this method.
        cost: :class:`Cost`.
    """

    name: str
    kind: str
    deletion: np.ndarray
    insertion: np.ndarray
    layer_deletion: np.ndarray | None
    layer_insertion: np.ndarray | None
    sanity: np.ndarray | None
    sanity_abs: np.ndarray | None
    cost: Cost


def _finite_or_none(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass(frozen=True, eq=False)
class FaithfulnessResult:
    r"""Faithfulness of several attribution methods on the same model and images.

    Per-image measurements are kept (:class:`MethodFaithfulness`); means and bootstrap
    intervals are computed on demand with the stored ``n_resamples``, ``confidence`` and
    ``seed``. Deletion AUC: lower is better; insertion AUC and drops: higher is better.

    Attributes:
        methods: name -> :class:`MethodFaithfulness`, in evaluation order.
        ks: the schedule, ``(K,)``; n_features: ``N``; n_images: ``B``.
        layers: layers ``1..L`` with per-layer curves (empty: none); depth: ``L`` or None
            for a model with one output.
        drop_at: the ``k`` of the drop summary.
        score: ``"probability"`` or ``"logit"``; baseline: the removed pixels' value
            (None when given as a tensor).
    """

    methods: dict[str, MethodFaithfulness]
    ks: np.ndarray
    n_features: int
    n_images: int
    layers: tuple[int, ...] = ()
    depth: int | None = None
    drop_at: tuple[int, ...] = (25, 50, 100)
    score: str = "probability"
    baseline: float | None = 0.0
    n_resamples: int = 2000
    confidence: float = 0.95
    seed: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.methods)

    def _method(self, name: str) -> MethodFaithfulness:
        if name not in self.methods:
            raise ValueError(f"unknown method {name!r}; have {', '.join(self.methods)}")
        return self.methods[name]

    def curves(self, name: str, mode: str, layer: int | None = None) -> np.ndarray:
        """Per-image curves ``(B, K)`` at the output (``layer=None``) or at ``layer``."""
        m = self._method(name)
        mode = check_choice("mode", mode, ("deletion", "insertion"))
        if layer is None:
            return m.deletion if mode == "deletion" else m.insertion
        if layer not in self.layers:
            raise ValueError(f"layer must be one of the measured layers {list(self.layers)}, "
                             f"got {layer!r}")
        arr = m.layer_deletion if mode == "deletion" else m.layer_insertion
        assert arr is not None
        return arr[:, self.layers.index(layer)]

    def auc(self, name: str, mode: str, layer: int | None = None) -> np.ndarray:
        """Per-image AUC ``(B,)`` (:func:`curve_auc`)."""
        return curve_auc(self.curves(name, mode, layer), self.ks, self.n_features)

    def drops(self, name: str, layer: int | None = None) -> np.ndarray:
        r"""Per-image drops :math:`p(x) - p(x^{(k)})` at ``drop_at``, ``(B, len(drop_at))``."""
        c = self.curves(name, "deletion", layer)
        pos = np.searchsorted(self.ks, self.drop_at)
        return c[:, :1] - c[:, pos]

    def interval(self, values: np.ndarray) -> Interval:
        """Mean and bootstrap interval over images with this result's settings."""
        return bootstrap_interval(values, n_resamples=self.n_resamples,
                                  confidence=self.confidence, seed=self.seed)

    def per_image(self, name: str, metric: str, layer: int | None = None) -> np.ndarray:
        """Per-image values ``(B,)`` of ``metric``: ``deletion_auc``, ``insertion_auc`` or
        ``mean_drop`` (mean of :meth:`drops`)."""
        metric = check_choice("metric", metric, METRICS)
        if metric == "mean_drop":
            return self.drops(name, layer).mean(axis=1)
        return self.auc(name, metric.removesuffix("_auc"), layer)

    def compare(self, name: str, reference: str, metric: str = "mean_drop",
                layer: int | None = None) -> Interval:
        r"""Ratio of means :math:`\bar m_{name} / \bar m_{reference}` over the same images,
        with a paired percentile bootstrap interval (images resampled together).

        E.g. ``compare("class evidence+", "integrated_gradients+")`` for "reaches 85% of
        IntegratedGradients' drop". For ``deletion_auc`` lower is better, so a ratio
        below 1 favours ``name``.
        """
        a, b = self.per_image(name, metric, layer), self.per_image(reference, metric, layer)
        ratio = float(a.mean() / b.mean()) if b.mean() != 0 else math.nan
        if len(a) < 2:
            return Interval(ratio, math.nan, math.nan, len(a))

        def stat(u: np.ndarray, v: np.ndarray, axis: int) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore"):
                return u.mean(axis=axis) / v.mean(axis=axis)

        ci = stats.bootstrap((a, b), stat, paired=True, vectorized=True, method="percentile",
                             n_resamples=self.n_resamples, confidence_level=self.confidence,
                             rng=np.random.default_rng(self.seed)).confidence_interval
        return Interval(ratio, float(ci.low), float(ci.high), len(a))

    def band(self, name: str, mode: str, layer: int | None = None) -> Interval:
        """Pointwise mean curve and bootstrap band over images, ``(K,)`` arrays."""
        return self.interval(self.curves(name, mode, layer))

    def rows(self) -> list[dict[str, Any]]:
        """One row per method at the output (``layer="last"``), then one per method and
        measured layer: AUCs, drops, sanity correlations (intervals as ``_lo``/``_hi``)
        and costs. NaN where undefined."""
        out = []
        for name, m in self.methods.items():
            for layer in (None, *self.layers):
                row: dict[str, Any] = {"method": name, "kind": m.kind,
                                       "layer": "last" if layer is None else layer,
                                       "n_images": self.n_images}
                for k, v in zip(self.drop_at, self.drops(name, layer).mean(axis=0),
                                strict=True):
                    row[f"drop_{k}"] = float(v)
                for metric in METRICS:
                    iv = self.interval(self.per_image(name, metric, layer))
                    row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = iv[:3]
                for key, arr in (("sanity_rho", m.sanity), ("sanity_abs_rho", m.sanity_abs)):
                    iv = (self.interval(arr) if arr is not None and layer is None
                          else Interval(math.nan, math.nan, math.nan, 0))
                    row[key], row[f"{key}_lo"], row[f"{key}_hi"] = iv[:3]
                    row[f"{key}_n"] = iv.n  # images where it is defined
                row["has_reference"] = m.sanity is not None and layer is None
                row["forward_passes"] = m.cost.forward_passes
                row["backward_passes"] = m.cost.backward_passes
                row["seconds_per_explanation"] = m.cost.seconds
                out.append(row)
        return out

    def to_csv(self, path: str | Path | None = None) -> str:
        """:meth:`rows` as CSV text (empty cells for undefined values); written atomically
        to ``path`` when given."""
        rows = self.rows()
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None or (isinstance(v, float) and math.isnan(v))
                                 else v) for k, v in row.items()})
        text = buf.getvalue()
        if path is not None:
            atomic_write_text(path, text)
        return text

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON (NaN -> null): settings, :meth:`rows`, and the mean curves with
        their pointwise bands at the output."""
        curves = {}
        for name in self.methods:
            curves[name] = {}
            for mode in ("deletion", "insertion"):
                iv = self.band(name, mode)
                curves[name][mode] = {"mean": iv.mean.tolist(), "lo": iv.low.tolist(),
                                      "hi": iv.high.tolist()}
        return _strict_json({
            "n_images": self.n_images,
            "n_features": self.n_features,
            "depth": self.depth,
            "layers": list(self.layers),
            "ks": self.ks.tolist(),
            "drop_at": list(self.drop_at),
            "score": self.score,
            "baseline": self.baseline,
            "bootstrap": {"n_resamples": self.n_resamples, "confidence": self.confidence,
                          "seed": self.seed},
            "meta": self.meta,
            "costs": {name: m.cost.to_dict() for name, m in self.methods.items()},
            "rows": self.rows(),
            "curves": curves,
        })

    def summary_table(self) -> tuple[list[str], list[list[str]], str]:
        """The table at the output (header, rows of strings, and a footnote): cost,
        deletion and insertion AUC, mean drop and sanity correlation, each
        ``mean [lo, hi]``. What :meth:`summary` prints and the report shows."""
        def iv(r: dict[str, Any], key: str) -> str:
            if key.startswith("sanity") and r["has_reference"] and r[key + "_n"] == 0:
                return "undefined (constant map)"
            if r[key] is None or math.isnan(r[key]):
                return "-"
            return f"{r[key]:.3f} [{r[key + '_lo']:.3f}, {r[key + '_hi']:.3f}]"

        def passes(r: dict[str, Any]) -> str:
            f, b = r["forward_passes"], r["backward_passes"]
            return "?" if f is None or b is None else f"{f:g}F+{b:g}B"

        rows = [r for r in self.rows() if r["layer"] == "last"]
        drops = "/".join(str(k) for k in self.drop_at)
        head = ["method", "passes", "ms/expl", "deletion AUC (lower better)",
                "insertion AUC", f"mean drop k={drops}", "sanity rho"]
        table = [[r["method"], passes(r),
                  "-" if math.isnan(r["seconds_per_explanation"])
                  else f"{1e3 * r['seconds_per_explanation']:.3g}",
                  iv(r, "deletion_auc"), iv(r, "insertion_auc"), iv(r, "mean_drop"),
                  iv(r, "sanity_rho")] for r in rows]
        pct = round(100 * self.confidence)
        note = (f"{self.n_images} images, {pct}% bootstrap intervals over images, "
                f"{self.score} of the explained class; sanity rho: Spearman correlation with "
                "the reference model's map")
        return head, table, note

    def summary(self) -> str:
        """:meth:`summary_table` as aligned plain text (and, for a run's maps, the share
        of the evidence the input-aligned map does not show)."""
        head, table, note = self.summary_table()
        width = [max(len(str(line[i])) for line in [head, *table]) for i in range(len(head))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, width, strict=True)).rstrip()
                 for line in [head, *table]]
        shares = self.meta.get("evidence_shares")
        extra = [] if not shares else [evidence_share_line(shares)]
        return "\n".join([*lines, f"({note})", *extra])

    def __repr__(self) -> str:
        return (f"FaithfulnessResult(methods={self.names}, n_images={self.n_images}, "
                f"K={len(self.ks)}, layers={list(self.layers)})")


def evidence_share_line(shares: dict[str, Sequence[float]]) -> str:
    """One line: the mean share of the class evidence through the input-aligned features
    and through the extra and class coordinates, over the layers (and at the last one)."""
    def mean(key: str) -> float:
        values = np.asarray(shares.get(key, []), dtype=float)
        return float(np.nanmean(values)) if values.size and np.isfinite(values).any() else 0.0

    last = {k: float(np.asarray(v, dtype=float)[-1]) for k, v in shares.items() if len(v)}
    return (f"evidence through the input-aligned features (what the maps show): "
            f"{mean('feature'):.1%} of |evidence| over the layers ({last.get('feature', 0):.1%} "
            f"at the last); through extra coordinates {mean('extra'):.1%}, class coordinates "
            f"{mean('class'):.1%}")


def _strict_json(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict_json(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return _finite_or_none(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# --------------------------------------------------------------------------- evaluation


def _check_xy(x: object, y: object) -> tuple[Tensor, Tensor]:
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.ndim != 2 or not x.is_floating_point() or len(x) == 0:
        raise ValueError(f"x must be a non-empty floating-point (B, N) tensor, got {x.dtype} "
                         f"{tuple(x.shape)}")
    if y.shape != (len(x),) or y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"y must hold one integer class per row of x, shape ({len(x)},); got "
                         f"{y.dtype} {tuple(y.shape)}")
    if int(y.min()) < 0:
        raise ValueError(f"y must hold classes >= 0, got {int(y.min())}")
    return x, y.long().to(x.device)


def _check_layers(layers: Sequence[int], depth: int) -> tuple[int, ...]:
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers:
        raise ValueError(f"layers must be a non-empty list of layer numbers in 1..{depth}")
    out = []
    for v in layers:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= depth:
            raise ValueError(f"layers must hold integers in 1..{depth} (the model's depth), "
                             f"got {v!r}")
        out.append(int(v))
    return tuple(sorted(set(out)))


def _baseline_image(baseline: float | Tensor, x: Tensor) -> Tensor:
    if isinstance(baseline, Tensor):
        try:
            return baseline.to(device=x.device, dtype=x.dtype).expand_as(x)
        except RuntimeError:
            raise ValueError(f"baseline must be a number or broadcast to x's shape "
                             f"{tuple(x.shape)}, got {tuple(baseline.shape)}") from None
    return torch.full_like(x, check_real("baseline", baseline))


def _variant(a: Tensor, variant: str) -> Tensor:
    return a if variant == "signed" else a.clamp_min(0) if variant == "positive" else a.abs()


def _variant_name(name: str, variant: str) -> str:
    return name if variant == "signed" else f"{name}+" if variant == "positive" else f"abs({name})"


def _timed_map(fn: MapFn, x: Tensor, y: Tensor, batch_size: int) -> tuple[Tensor, float]:
    """``fn`` over chunks of ``batch_size`` inputs; (maps, seconds per explanation).

    A warm-up call on two inputs first keeps one-time costs (first-call allocations,
    lazy imports) out of the time."""
    fn(x[:2], y[:2])
    out = []
    t0 = time.perf_counter()
    for s in range(0, len(x), batch_size):
        out.append(torch.as_tensor(fn(x[s : s + batch_size], y[s : s + batch_size])).detach())
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    return torch.cat(out), (time.perf_counter() - t0) / len(x)


def evaluate_faithfulness(
    logits_fn: LogitsFn,
    x: Tensor,
    y: Tensor,
    maps: Mapping[str, Tensor | MapFn | Explainer] | None = None,
    *,
    methods: Sequence[str] = ("saliency", "input_x_gradient", "integrated_gradients"),
    baselines: Sequence[str] = BASELINE_ORDERINGS,
    variants: Sequence[str] = ("signed",),
    reference_logits_fn: LogitsFn | None = None,
    layers: Sequence[int] | None = None,
    steps: int = 32,
    schedule: int | Sequence[int] = 20,
    drop_at: Sequence[int] | None = None,
    baseline: float | Tensor = 0.0,
    score: str = "probability",
    batch_size: int = 64,
    max_elements: int = 2**21,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    progress: bool = False,
) -> FaithfulnessResult:
    r"""Deletion, insertion, sanity check and cost of named maps, Captum methods and baselines.

    For every method: its maps of ``x`` explaining ``y`` (timed, per explanation), then
    :func:`perturbation_curve` for deletion and insertion at the model's output (and at
    ``layers``), then, where a reference exists, :func:`rank_correlation` between its map on
    the trained and on the reference model (Adebayo et al., NeurIPS 2018).

    Args:
        logits_fn: ``(B, N) -> (B, C)`` or ``(B, L, C)`` logits of the trained model (an
            ``nn.Module`` for ``deeplift``); eval mode is the caller's job.
        x: inputs ``(B, N)`` in the model's input space; y: explained classes ``(B,)``.
        maps: name -> a precomputed map (``(B, N)`` or ``(B, L, N)`` tensor; no cost, no
            sanity check), a callable ``fn(x, y)`` (timed; passes unknown) or an
            :class:`Explainer` (timed, passes and reference map given). A per-layer map is
            measured at the output by its last layer.
        methods: Captum methods (:data:`idmlp.attribution.CAPTUM_METHODS`), explaining
            ``y`` at the output (and, with ``layers``, at each listed layer: one Captum run
            per layer).
        baselines: orderings from :data:`BASELINE_ORDERINGS`.
        variants: transforms of every map and method except the baselines, from
            :data:`VARIANTS`: ``signed`` (as is, name unchanged), ``positive`` (``name+``),
            ``abs`` (``abs(name)``); they share the cost of their map.
        reference_logits_fn: the reference model for the sanity check of the Captum
            methods (for identity initialization: the untrained network).
        layers: layers ``1..L`` for per-layer curves (needs per-layer logits); maps
            without layers are measured at every listed layer with the same ordering.
        steps: IntegratedGradients' steps and GradientShap's samples.
        schedule: number of evenly spaced steps of ``k`` in ``0..N`` (``drop_at`` is added),
            or the explicit list of ``k`` (must contain ``0`` and ``drop_at``).
        drop_at: ``k`` values of the drop summary; default those of 25, 50, 100 that are
            ``<= N`` (``ceil(N/4)`` if none is).
        baseline, score, max_elements: as for :func:`perturbation_curve`.
        batch_size: inputs per map call (and per Captum call).
        n_resamples, confidence: the bootstrap over images.
        seed: seeds the random ordering, the tie-breaking, GradientShap and the bootstrap.
        progress: a tqdm bar over methods.

    Returns:
        A :class:`FaithfulnessResult`.

    Examples:
        >>> w = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))
        >>> x = torch.randn(8, 16, generator=torch.Generator().manual_seed(1))
        >>> res = evaluate_faithfulness(lambda v: v @ w.T, x, (x @ w.T).argmax(1),
        ...     {"x*w": lambda v, c: v * w[c]}, methods=(), schedule=4, drop_at=(2,),
        ...     n_resamples=200)
        >>> res.names
        ['x*w', 'abs_input', 'random']
        >>> bool(res.auc("x*w", "deletion").mean() < res.auc("random", "deletion").mean())
        True
    """
    x, y = _check_xy(x, y)
    b, n = x.shape
    maps = dict(maps or {})
    methods = tuple(check_choice("methods", m, CAPTUM_METHODS) for m in methods)
    baselines = tuple(check_choice("baselines", m, BASELINE_ORDERINGS) for m in baselines)
    variants = tuple(dict.fromkeys(check_choice("variants", v, VARIANTS) for v in variants))
    if not variants:
        raise ValueError(f"variants must name at least one of {', '.join(VARIANTS)}")
    steps = check_int("steps", steps)
    batch_size = check_int("batch_size", batch_size)
    score = check_choice("score", score, ("probability", "logit"))
    max_elements = check_int("max_elements", max_elements, minimum=n)
    _baseline_image(baseline, x)
    n_resamples = check_int("n_resamples", n_resamples)
    confidence = check_probability("confidence", confidence)
    seed = check_int("seed", seed, minimum=0)
    if drop_at is None:
        drop_at = tuple(k for k in DEFAULT_DROP_AT if k <= n) or (math.ceil(n / 4),)
    drop_at = tuple(check_int("drop_at", int(k) if isinstance(k, np.integer) else k, minimum=1)
                    for k in drop_at)
    if not drop_at or any(k > n for k in drop_at):
        raise ValueError(f"drop_at must hold k in 1..{n} (N = number of features), got "
                         f"{list(drop_at)}")
    if isinstance(schedule, (int, np.integer)) and not isinstance(schedule, bool):
        ks = perturbation_schedule(n, int(schedule), include=drop_at)
    else:
        ks = _check_ks(schedule, n)
        if ks[0] != 0 or not set(drop_at) <= set(ks.tolist()):
            raise ValueError(f"schedule must contain k = 0 and every drop_at {list(drop_at)}")
    for name, m in maps.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"maps must be keyed by non-empty names, got {name!r}")
        if not (isinstance(m, (Tensor, Explainer)) or callable(m)):
            raise ValueError(f"maps[{name!r}] must be a tensor, a callable fn(x, y) or an "
                             f"Explainer, got {type(m).__name__}")
    if methods:
        require_captum()  # fail before any work, in one line
    all_names = [_variant_name(nm, v) for nm in (*maps, *methods) for v in variants]
    all_names += list(baselines)
    if len(set(all_names)) != len(all_names):
        raise ValueError(f"method names must be unique, got {all_names}")

    with torch.no_grad():
        probe = logits_fn(x[:1])
    depth = probe.shape[1] if probe.ndim == 3 else None
    if layers is not None and depth is None:
        raise ValueError("layers= needs a logits_fn that returns per-layer logits (B, L, C)")
    sel = () if layers is None else _check_layers(layers, depth)

    for name, m in maps.items():
        if isinstance(m, Tensor) and m.shape not in ((b, n), (b, depth, n)):
            raise ValueError(f"map {name!r} must have shape ({b}, {n})"
                             + (f" or ({b}, {depth}, {n})" if depth else "")
                             + f", got {tuple(m.shape)}")

    curve_kw = dict(ks=ks, baseline=baseline, score=score, seed=seed, max_elements=max_elements)

    def measure(name: str, kind: str, a: Tensor, a_layers: Tensor | None,
                ref: Tensor | None, cost: Cost) -> MethodFaithfulness:
        a = a.to(x.device)
        if a.ndim == 3:  # a per-layer map of every layer: its last layer at the output
            if a.shape[1] != depth:
                raise ValueError(f"map {name!r} has {a.shape[1]} layers but logits_fn returns "
                                 + (f"{depth}" if depth else "no per-layer logits"))
            a_layers, a = a, a[:, -1]
        if a.shape != (b, n):
            raise ValueError(f"map {name!r} must have shape ({b}, {n}) or ({b}, L, {n}), got "
                             f"{tuple(a.shape)}")
        curves = [perturbation_curve(logits_fn, x, y, a, mode=mode, **curve_kw)
                  for mode in ("deletion", "insertion")]
        layer_curves: list[Tensor | None] = [None, None]
        if sel:
            src = a if a_layers is None else a_layers
            layer_curves = [perturbation_curve(logits_fn, x, y, src, mode=mode, layers=sel,
                                               **curve_kw) for mode in ("deletion", "insertion")]
        if ref is not None and ref.ndim == 3:
            ref = ref[:, -1]
        sanity = None if ref is None else rank_correlation(a, ref)
        sanity_abs = None if ref is None else rank_correlation(a, ref, absolute=True)
        return MethodFaithfulness(
            name, kind, *(c.cpu().double().numpy() for c in curves),
            *(None if c is None else c.cpu().double().numpy() for c in layer_curves),
            sanity, sanity_abs, cost)

    results: dict[str, MethodFaithfulness] = {}
    todo = [("map", nm) for nm in maps] + [("captum", m) for m in methods]
    todo += [("baseline", m) for m in baselines]
    bar = progress_bar(todo, enabled=progress, desc="faithfulness", leave=False)
    for kind, name in bar:
        bar.set_postfix_str(name)
        a_layers = ref = None
        if kind == "map":
            spec = maps[name]
            if isinstance(spec, Tensor):
                a, cost = spec, Cost(None, None, math.nan)
            else:
                ex = spec if isinstance(spec, Explainer) else Explainer(spec)
                a, sec = _timed_map(ex.fn, x, y, batch_size)
                cost = Cost(ex.forward_passes, ex.backward_passes, sec)
                if ex.reference_fn is not None:
                    ref = _timed_map(ex.reference_fn, x, y, batch_size)[0].to(x.device)
        elif kind == "captum":
            def explain(fn: LogitsFn, layer: int | None, method: str = name) -> MapFn:
                return lambda xb, yb: captum_attribution(
                    method, fn, xb, yb, layer=layer, steps=steps, seed=seed)
            a, sec = _timed_map(explain(logits_fn, None), x, y, batch_size)
            cost = Cost(*method_passes(name, steps), sec)
            if sel:
                a_layers = torch.stack([_timed_map(explain(logits_fn, s), x, y, batch_size)[0]
                                        for s in sel], dim=1)
            if reference_logits_fn is not None:
                ref = _timed_map(explain(reference_logits_fn, None), x, y, batch_size)[0]
        else:
            t0 = time.perf_counter()
            if name == "abs_input":
                a = x.abs()
            else:
                gen = torch.Generator().manual_seed(seed + 1)
                a = torch.rand(b, n, generator=gen, dtype=torch.float64).to(x.device)
            cost = Cost(0, 0, (time.perf_counter() - t0) / b)
            if name == "abs_input" and reference_logits_fn is not None:
                ref = a  # does not depend on the model: correlation 1 by construction
            results[name] = measure(name, kind, a, None, ref, cost)
            continue
        for v in variants:
            vname = _variant_name(name, v)
            results[vname] = measure(
                vname, kind, _variant(torch.as_tensor(a), v),
                None if a_layers is None else _variant(a_layers, v),
                None if ref is None else _variant(ref, v), cost)
    return FaithfulnessResult(
        methods=results, ks=ks, n_features=n, n_images=b, layers=tuple(sel or ()),
        depth=depth, drop_at=drop_at, score=score,
        baseline=None if isinstance(baseline, Tensor) else float(baseline),
        n_resamples=n_resamples, confidence=confidence, seed=seed,
        meta={"steps": steps, "variants": list(variants)})



# --------------------------------------------------------------------------- runs


#: The interpretable network's own maps, as measured: display name -> map of
#: :data:`idmlp.nets.readout.MAPS` (signed; the ``+`` variant of ``class evidence`` is the
#: default map, the positive part of the summed class evidence).
BUILTIN_MAPS: dict[str, str] = {
    "class evidence": "evidence_signed",
    "x^l - x^0": "change",
    "x^l - x^l_id": "trained",
}
#: References of the model-randomization check (:func:`reference_model`).
REFERENCES: tuple[str, ...] = ("shuffled", "identity")


def reference_model(model: nn.Module, kind: str = "shuffled", seed: int = 0) -> nn.Module:
    r"""The reference network of the model-randomization check (Adebayo et al., 2018).

    * ``shuffled``: every layer's learned change :math:`D^\ell = W^\ell - \sigma I` with its
      entries permuted at random within the layer (seeded): the weights' statistics are
      kept, what was learned is destroyed. The analogue of re-initializing the weights.
    * ``identity``: the untrained, identity-initialized network. Its class coordinates
      never move, so every gradient map and the class evidence are exactly zero there:
      their rank correlation is undefined (reported as such).

    Examples:
        >>> from idmlp.nets.mlp import InterpretableMLP
        >>> net = InterpretableMLP(4, 2, depth=3)
        >>> with torch.no_grad():
        ...     net.layers[0].weight[5, 0] = 0.5
        >>> ref = reference_model(net)
        >>> float(ref.layers[0].weight.detach().sum()), float(net.layers[0].weight.detach().sum())
        (6.5, 6.5)
    """
    import copy

    check_choice("reference", kind, REFERENCES)
    ref = copy.deepcopy(model).eval()
    gen = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    with torch.no_grad():
        eye = model.identity_weight()  # sigma I, or sigma times the Dirac kernel of a CNN
        for layer in ref.layers:
            w = layer.weight
            delta = (w - eye).flatten()
            if kind == "identity":
                delta.zero_()
            else:
                delta = delta[torch.randperm(delta.numel(), generator=gen).to(delta.device)]
            w.copy_(eye + delta.view_as(w))
            if layer.bias is not None and kind == "identity":
                layer.bias.zero_()
    return ref


def faithfulness_run(
    run: Any,
    *,
    split: str = "test",
    samples: int = 200,
    maps: Sequence[str] = tuple(BUILTIN_MAPS),
    methods: Sequence[str] = ("saliency", "input_x_gradient", "integrated_gradients"),
    variants: Sequence[str] = ("signed", "positive"),
    layers: Sequence[int] | None = None,
    reference: str = "shuffled",
    steps: int = 32,
    schedule: int = 20,
    batch_size: int = 64,
    n_resamples: int = 2000,
    seed: int = 0,
    progress: bool = False,
) -> FaithfulnessResult:
    """:func:`evaluate_faithfulness` of a trained run's built-in maps against Captum.

    The first ``samples`` examples of ``split`` (their true classes explained), the
    built-in maps of :data:`BUILTIN_MAPS` (one forward pass for every layer at once), the
    Captum ``methods`` and the baselines ``abs_input`` and ``random``, at the last layer
    (and at ``layers``: layer ``l``'s map against layer ``l``'s own readout), with the
    model-randomization check against :func:`reference_model` ``reference``.

    Args:
        run: a :class:`~idmlp.train.runs.TrainedRun`.
        split: ``test`` or ``val``.
        samples: images explained (the first ones of the split).
        maps: names of :data:`BUILTIN_MAPS`.
        methods, variants, layers, steps, schedule, batch_size, n_resamples, seed,
            progress: as for :func:`evaluate_faithfulness`.
        reference: ``shuffled`` or ``identity`` (:func:`reference_model`).
    """
    samples = check_int("samples", samples)
    unknown = [m for m in maps if m not in BUILTIN_MAPS]
    if unknown:
        raise ValueError(f"maps must be among {', '.join(BUILTIN_MAPS)}; got {unknown}")
    model = run.model.eval()
    ref = reference_model(model, reference, seed)
    x, y = run.tensors(split)
    x, y = x[:samples], y[:samples]

    def builtin(net: nn.Module, name: str) -> MapFn:
        def fn(v: Tensor, c: Tensor) -> Tensor:
            with torch.no_grad():  # (B, L, N): a CNN's maps (C_in, H, W) flattened
                return net.readout(v).maps(name, target=c).flatten(2)
        return fn

    explainers = {label: Explainer(builtin(model, BUILTIN_MAPS[label]), 1, 0,
                                   builtin(ref, BUILTIN_MAPS[label])) for label in maps}
    result = evaluate_faithfulness(
        model.layer_logits, x, y, explainers, methods=methods, variants=variants,
        reference_logits_fn=ref.layer_logits, layers=layers, steps=steps, schedule=schedule,
        batch_size=batch_size, n_resamples=n_resamples, seed=seed, progress=progress)
    result.meta.update(split=split, reference=reference, samples=len(y),
                       run=str(getattr(run, "path", "")))
    with torch.no_grad():  # how complete the input-aligned maps are (idmlp.nets.readout)
        shares = model.readout(x).mean_evidence_shares(y)
    result.meta["evidence_shares"] = {k: v.cpu().tolist() for k, v in shares.items()}
    return result
