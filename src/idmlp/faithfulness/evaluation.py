r"""The evaluation: named maps, Captum methods and baselines through every measure.

:func:`evaluate_faithfulness` runs the study in four readable steps, for each method:

1. :func:`_prepare` checks every argument once and fixes the schedule, the drop summary,
   the layers, the random other classes (RandomLogit) and the random subsets and logit
   drops of FaithfulnessCorrelation, shared by all maps (a :class:`_Study`);
2. :func:`_method_maps` computes the method's maps (timed per explanation), its per-layer
   maps, its maps on the reference and the randomized models and for the other classes
   (a :class:`_Maps`);
3. :func:`_variants` derives the signed, positive and absolute variants;
4. :func:`_measure` measures one variant: deletion and insertion at the output (and at
   the listed layers), the rank correlation with the reference model's map, and the
   field's measures asked for in ``metrics`` (ROAD, FaithfulnessCorrelation, the
   randomization tests, RandomLogit).

It returns a :class:`~idmlp.faithfulness.result.FaithfulnessResult`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._validation import check_choice, check_int, check_probability
from ..runtime import progress_bar
from ._checks import NaturalInputs, baseline_image, check_layers, check_xy, natural_inputs
from .captum import require_captum
from .correlation import CorrelationProbe, correlation_probe
from .measures import FIELD_MEASURES
from .methods import BASELINE_ORDERINGS, CAPTUM_METHODS, METHODS
from .perturbation import LogitsFn, MapFn, check_ks, perturbation_curve, perturbation_schedule
from .randomization import random_other_class, ssim
from .result import DEFAULT_DROP_AT, Cost, FaithfulnessResult, MethodFaithfulness
from .road import ROAD_FRACTIONS, road_curves
from .statistics import rank_correlation

__all__ = ["VARIANTS", "Explainer", "evaluate_faithfulness"]

#: Transforms of a signed map: as is, its positive part ``name+``, its magnitude ``abs(name)``.
VARIANTS: tuple[str, ...] = ("signed", "positive", "abs")


@dataclass(frozen=True)
class Explainer:
    r"""A named map's recipe: ``fn(x, y) -> (B, N)`` or per-layer ``(B, L, N)``, and its cost.

    Attributes:
        fn: the map of the trained model, for inputs ``x`` and explained classes ``y``.
        forward_passes, backward_passes: passes per explanation (``None``: unknown). The
            interpretable MLP's built-in maps: 1 forward, 0 backward, for all layers.
        reference_fn: the same map on the reference model (model-randomization check).
        randomized_fns: randomized model -> the same map on it (the randomization tests of
            ``evaluate_faithfulness(randomized=...)``).

    Examples:
        >>> e = Explainer(lambda x, y: x.abs(), forward_passes=0, backward_passes=0)
        >>> e.fn(torch.tensor([[-1.0, 2.0]]), torch.tensor([0]))
        tensor([[1., 2.]])
    """

    fn: MapFn
    forward_passes: float | None = None
    backward_passes: float | None = None
    reference_fn: MapFn | None = None
    randomized_fns: Mapping[str, MapFn] | None = None


@dataclass(frozen=True, eq=False)
class _Study:
    """The checked settings of one :func:`evaluate_faithfulness` call."""

    logits_fn: LogitsFn
    x: Tensor
    y: Tensor
    maps: dict[str, Tensor | MapFn | Explainer]
    methods: tuple[str, ...]
    baselines: tuple[str, ...]
    variants: tuple[str, ...]
    reference_logits_fn: LogitsFn | None
    ks: np.ndarray
    drop_at: tuple[int, ...]
    depth: int | None
    layers: tuple[int, ...]
    curve_kw: dict[str, Any]
    steps: int
    batch_size: int
    seed: int
    metrics: tuple[str, ...] = ()
    image_shape: tuple[int, ...] = ()
    randomized: dict[str, LogitsFn] | None = None
    y_off: Tensor | None = None
    probe: CorrelationProbe | None = None
    road: dict[str, Any] | None = None
    #: randomized label -> the first label of the same model (itself when it is the first)
    same: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.x.shape)  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class _Maps:
    """One method's maps: at the output ``a`` ``(B, N)`` or every layer ``(B, L, N)``,
    per listed layer ``a_layers`` ``(B, len(layers), N)``, on the reference model ``ref``."""

    a: Tensor
    a_layers: Tensor | None
    ref: Tensor | None
    cost: Cost
    randomized: dict[str, Tensor] | None = None
    off: Tensor | None = None


def _check_drop_at(drop_at: Sequence[int] | None, n: int) -> tuple[int, ...]:
    if drop_at is None:
        drop_at = tuple(k for k in DEFAULT_DROP_AT if k <= n) or (math.ceil(n / 4),)
    drop_at = tuple(check_int("drop_at", int(k) if isinstance(k, np.integer) else k, minimum=1)
                    for k in drop_at)
    if not drop_at or any(k > n for k in drop_at):
        raise ValueError(f"drop_at must hold k in 1..{n} (N = number of features), got "
                         f"{list(drop_at)}")
    return drop_at


def _check_schedule(schedule: int | Sequence[int], drop_at: tuple[int, ...], n: int
                    ) -> np.ndarray:
    if isinstance(schedule, (int, np.integer)) and not isinstance(schedule, bool):
        return perturbation_schedule(n, int(schedule), include=drop_at)
    ks = check_ks(schedule, n)
    if ks[0] != 0 or not set(drop_at) <= set(ks.tolist()):
        raise ValueError(f"schedule must contain k = 0 and every drop_at {list(drop_at)}")
    return ks


def _check_maps(maps: Mapping[str, Any] | None) -> dict[str, Tensor | MapFn | Explainer]:
    maps = dict(maps or {})
    for name, m in maps.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"maps must be keyed by non-empty names, got {name!r}")
        if not (isinstance(m, (Tensor, Explainer)) or callable(m)):
            raise ValueError(f"maps[{name!r}] must be a tensor, a callable fn(x, y) or an "
                             f"Explainer, got {type(m).__name__}")
    return maps


def _prepare(logits_fn: LogitsFn, x: Tensor, y: Tensor, maps: Mapping[str, Any] | None,
             methods: Sequence[str], baselines: Sequence[str], variants: Sequence[str],
             reference_logits_fn: LogitsFn | None, layers: Sequence[int] | None, steps: int,
             schedule: int | Sequence[int], drop_at: Sequence[int] | None,
             baseline: float | Tensor, score: str, batch_size: int, max_elements: int,
             seed: int, metrics: Sequence[str] = (), image_shape: Sequence[int] | None = None,
             randomized: Mapping[str, LogitsFn] | None = None,
             road: Mapping[str, Any] | None = None,
             correlation: Mapping[str, Any] | None = None) -> _Study:
    """Every check of :func:`evaluate_faithfulness`, before any work."""
    x, y = check_xy(x, y)
    b, n = x.shape
    methods = tuple(check_choice("methods", m, CAPTUM_METHODS) for m in methods)
    baselines = tuple(check_choice("baselines", m, BASELINE_ORDERINGS) for m in baselines)
    variants = tuple(dict.fromkeys(check_choice("variants", v, VARIANTS) for v in variants))
    if not variants:
        raise ValueError(f"variants must name at least one of {', '.join(VARIANTS)}")
    steps = check_int("steps", steps)
    batch_size = check_int("batch_size", batch_size)
    score = check_choice("score", score, ("probability", "logit"))
    max_elements = check_int("max_elements", max_elements, minimum=n)
    baseline_image(baseline, x)
    seed = check_int("seed", seed, minimum=0)
    drop_at = _check_drop_at(drop_at, n)
    ks = _check_schedule(schedule, drop_at, n)
    maps = _check_maps(maps)
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
    sel = () if layers is None else check_layers(layers, depth)
    for name, m in maps.items():
        if isinstance(m, Tensor) and m.shape not in ((b, n), (b, depth, n)):
            raise ValueError(f"map {name!r} must have shape ({b}, {n})"
                             + (f" or ({b}, {depth}, {n})" if depth else "")
                             + f", got {tuple(m.shape)}")
    curve_kw = dict(ks=ks, baseline=baseline, score=score, seed=seed, max_elements=max_elements)
    metrics = tuple(dict.fromkeys(check_choice("metrics", m, FIELD_MEASURES) for m in metrics))
    shape = (n,) if image_shape is None else tuple(int(v) for v in image_shape)
    if math.prod(shape) != n:
        raise ValueError(f"image_shape {shape} does not have {n} pixels")
    randomized = dict(randomized or {})
    if "randomization" in metrics and not randomized:
        raise ValueError("metrics 'randomization' needs randomized= (name -> logits_fn of a "
                         "randomized model)")
    y_off = probe_fc = None
    if "random_logit" in metrics:
        y_off = random_other_class(y, probe.shape[-1], seed)
    if "correlation" in metrics:
        probe_fc = correlation_probe(logits_fn, x, y, seed=seed, **dict(correlation or {}))
    road_kw = {"fractions": ROAD_FRACTIONS, "noise": 0.01, **dict(road or {})}
    return _Study(logits_fn, x, y, maps, methods, baselines, variants, reference_logits_fn,
                  ks, drop_at, depth, sel, curve_kw, steps, batch_size, seed, metrics, shape,
                  randomized if "randomization" in metrics else None, y_off, probe_fc,
                  road_kw)


def _same_models(randomized: Mapping[str, LogitsFn]) -> dict[str, str]:
    """Each randomized label -> the first label whose ``logits_fn`` equals its own: one
    model under two names (cascading ``top 1`` is independent ``layer L``; bound methods of
    one network compare equal) has its maps computed once."""
    same: dict[str, str] = {}
    for label, fn in randomized.items():
        same[label] = next((k for k, f in randomized.items() if same.get(k) == k and f == fn),
                           label)
    return same


def _natural_maps(nat: NaturalInputs, maps: Mapping[str, Any] | None
                  ) -> Mapping[str, Any] | None:
    """The maps of inputs given in their natural shape, as the measures take them."""
    if not nat.natural or not maps:
        return maps

    def one(m: Any) -> Any:
        if isinstance(m, Explainer):
            fns = m.randomized_fns
            return dataclasses.replace(
                m, fn=nat.map_fn(m.fn), reference_fn=nat.map_fn(m.reference_fn),
                randomized_fns=None if fns is None else {k: nat.map_fn(f)
                                                         for k, f in fns.items()})
        return nat.map_fn(m) if callable(m) else nat.flat_map(m)

    return {name: one(m) for name, m in maps.items()}


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


def _chunked(fn: MapFn, st: _Study, y: Tensor | None = None) -> Tensor:
    """``fn`` over chunks of the images (explaining ``y``, default the study's classes); a
    per-layer map is read at its last layer."""
    y = st.y if y is None else y
    out = torch.cat([torch.as_tensor(fn(st.x[s : s + st.batch_size], y[s : s + st.batch_size]))
                     .detach() for s in range(0, len(st.x), st.batch_size)]).to(st.x.device)
    return out[:, -1] if out.ndim == 3 else out


def _extra_maps(st: _Study, fns: Mapping[str, MapFn] | None, fn: MapFn | None
                ) -> tuple[dict[str, Tensor] | None, Tensor | None]:
    """The maps on the randomized models (those ``fns`` has) and, with ``fn``, for the
    random other classes: what the randomization tests and RandomLogit compare."""
    rand = None
    if st.randomized is not None and fns is not None:
        rand = {}
        for label in st.randomized:
            if label in fns:
                first = st.same.get(label, label)
                rand[label] = rand[first] if first in rand else _chunked(fns[label], st)
    off = None if st.y_off is None or fn is None else _chunked(fn, st, st.y_off)
    return rand, off


def _given_maps(st: _Study, spec: Tensor | MapFn | Explainer) -> _Maps:
    """A caller's map: precomputed (no cost, no reference), or computed and timed."""
    if isinstance(spec, Tensor):
        return _Maps(spec, None, None, Cost(None, None, math.nan))
    ex = spec if isinstance(spec, Explainer) else Explainer(spec)
    a, sec = _timed_map(ex.fn, st.x, st.y, st.batch_size)
    ref = None
    if ex.reference_fn is not None:
        ref = _timed_map(ex.reference_fn, st.x, st.y, st.batch_size)[0].to(st.x.device)
    rand, off = _extra_maps(st, ex.randomized_fns, ex.fn)
    return _Maps(a, None, ref, Cost(ex.forward_passes, ex.backward_passes, sec), rand, off)


def _captum_maps(st: _Study, name: str) -> _Maps:
    """A Captum method at the output, at every listed layer (one run each) and on the
    reference model."""
    spec = METHODS[name]

    def timed(fn: LogitsFn, layer: int | None) -> tuple[Tensor, float]:
        return _timed_map(spec.map_fn(logits_fn=fn, layer=layer, steps=st.steps, seed=st.seed),
                          st.x, st.y, st.batch_size)

    def fn(logits: LogitsFn) -> MapFn:
        return spec.map_fn(logits_fn=logits, steps=st.steps, seed=st.seed)

    a, sec = timed(st.logits_fn, None)
    a_layers = (torch.stack([timed(st.logits_fn, s)[0] for s in st.layers], dim=1)
                if st.layers else None)
    ref = None if st.reference_logits_fn is None else timed(st.reference_logits_fn, None)[0]
    rand, off = _extra_maps(st, {k: fn(v) for k, v in (st.randomized or {}).items()},
                            fn(st.logits_fn))
    return _Maps(a, a_layers, ref, Cost(*spec.cost(st.steps), sec), rand, off)


def _baseline_maps(st: _Study, name: str) -> _Maps:
    """An ordering that ignores the model (its map on the reference model is itself)."""
    t0 = time.perf_counter()
    a = METHODS[name].map_fn(seed=st.seed)(st.x, st.y)
    cost = Cost(0, 0, (time.perf_counter() - t0) / len(st.x))
    # abs(input) does not depend on the model: correlation 1 by construction
    ref = a if name == "abs_input" and st.reference_logits_fn is not None else None
    rand = None if st.randomized is None else dict.fromkeys(st.randomized, a)
    return _Maps(a, None, ref, cost, rand, None if st.y_off is None else a)


def _method_maps(st: _Study, kind: str, name: str) -> _Maps:
    if kind == "map":
        return _given_maps(st, st.maps[name])
    if kind == "captum":
        return _captum_maps(st, name)
    return _baseline_maps(st, name)


def _variants(st: _Study, kind: str, name: str, maps: _Maps) -> list[tuple[str, _Maps]]:
    """The requested variants of a method's maps (baselines: as they are)."""
    if kind == "baseline":
        return [(name, maps)]

    def tf(t: Tensor | None, v: str) -> Tensor | None:
        return None if t is None else _variant(torch.as_tensor(t), v)

    return [(_variant_name(name, v),
             _Maps(tf(maps.a, v), tf(maps.a_layers, v), tf(maps.ref, v), maps.cost,
                   None if maps.randomized is None else
                   {k: tf(r, v) for k, r in maps.randomized.items()}, tf(maps.off, v)))
            for v in st.variants]


def _measure(st: _Study, name: str, kind: str, maps: _Maps) -> MethodFaithfulness:
    """Deletion and insertion curves (output and listed layers) and the sanity check."""
    b, n = st.shape
    a, a_layers, ref = maps.a.to(st.x.device), maps.a_layers, maps.ref
    if a.ndim == 3:  # a per-layer map of every layer: its last layer at the output
        if a.shape[1] != st.depth:
            raise ValueError(f"map {name!r} has {a.shape[1]} layers but logits_fn returns "
                             + (f"{st.depth}" if st.depth else "no per-layer logits"))
        a_layers, a = a, a[:, -1]
    if a.shape != (b, n):
        raise ValueError(f"map {name!r} must have shape ({b}, {n}) or ({b}, L, {n}), got "
                         f"{tuple(a.shape)}")
    modes = ("deletion", "insertion")
    curves = [perturbation_curve(st.logits_fn, st.x, st.y, a, mode=mode, **st.curve_kw)
              for mode in modes]
    layer_curves: list[Tensor | None] = [None, None]
    if st.layers:
        src = a if a_layers is None else a_layers
        layer_curves = [perturbation_curve(st.logits_fn, st.x, st.y, src, mode=mode,
                                           layers=st.layers, **st.curve_kw) for mode in modes]
    if ref is not None and ref.ndim == 3:
        ref = ref[:, -1]
    sanity = None if ref is None else rank_correlation(a, ref)
    sanity_abs = None if ref is None else rank_correlation(a, ref, absolute=True)
    return MethodFaithfulness(
        name, kind, *(c.cpu().double().numpy() for c in curves),
        *(None if c is None else c.cpu().double().numpy() for c in layer_curves),
        sanity, sanity_abs, maps.cost, **_field_measures(st, a, maps))


def _max_normalized(a: Tensor) -> Tensor:
    return a / a.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)


def _field_measures(st: _Study, a: Tensor, maps: _Maps) -> dict[str, Any]:
    """ROAD, FaithfulnessCorrelation, the randomization tests and RandomLogit of one map
    ``a`` ``(B, N)`` at the output, as asked for in ``st.metrics``."""
    out: dict[str, Any] = {}
    if "road" in st.metrics:
        c = road_curves(st.logits_fn, st.x, st.y, a, st.image_shape, seed=st.seed, **st.road)
        out["road_morf"], out["road_lerf"] = c[0], c[1]
    if st.probe is not None:
        out["correlation"] = st.probe.correlate(a).numpy()
    if maps.randomized:
        out["randomization"] = {label: rank_correlation(a, r, absolute=True)
                                for label, r in maps.randomized.items()}
    if maps.off is not None:  # Quantus' convention: SSIM of the flattened, max-normalized maps
        out["random_logit"] = ssim(_max_normalized(a.double()),
                                   _max_normalized(maps.off.to(a.device).double()),
                                   (a.shape[1],)).numpy()
    return out


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
    metrics: Sequence[str] = (),
    image_shape: Sequence[int] | None = None,
    randomized: Mapping[str, LogitsFn] | None = None,
    road: Mapping[str, Any] | None = None,
    correlation: Mapping[str, Any] | None = None,
) -> FaithfulnessResult:
    r"""Deletion, insertion, sanity check and cost of named maps, Captum methods and baselines.

    For every method: its maps of ``x`` explaining ``y`` (timed, per explanation), then
    :func:`~idmlp.faithfulness.perturbation.perturbation_curve` for deletion and insertion
    at the model's output (and at ``layers``), then, where a reference exists,
    :func:`~idmlp.faithfulness.statistics.rank_correlation` between its map on the trained
    and on the reference model (Adebayo et al., NeurIPS 2018).

    Args:
        logits_fn: ``(B, N) -> (B, C)`` or ``(B, L, C)`` logits of the trained model (an
            ``nn.Module`` for ``deeplift``); eval mode is the caller's job.
        x: inputs ``(B, N)`` in the model's input space, or in their natural shape
            ``(B, *S)`` (e.g. ``(B, C, H, W)``): the models and map functions are then
            called with that shape, maps may have it (``(B, *S)``, ``(B, L, *S)``) and
            ``image_shape`` defaults to ``S``; y: explained classes ``(B,)``.
        maps: name -> a precomputed map (``(B, N)`` or ``(B, L, N)`` tensor; no cost, no
            sanity check), a callable ``fn(x, y)`` (timed; passes unknown) or an
            :class:`Explainer` (timed, passes and reference map given). A per-layer map is
            measured at the output by its last layer.
        methods: Captum methods (:data:`~idmlp.faithfulness.methods.CAPTUM_METHODS`), explaining
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
        baseline, score, max_elements: as for
            :func:`~idmlp.faithfulness.perturbation.perturbation_curve`.
        batch_size: inputs per map call (and per Captum call).
        n_resamples, confidence: the bootstrap over images.
        seed: seeds the random ordering, the tie-breaking, GradientShap and the bootstrap.
        progress: a tqdm bar over methods.
        metrics: the field's measures to take as well, from :data:`FIELD_MEASURES`:
            ``road`` (:func:`~idmlp.faithfulness.road.road_curves`), ``correlation``
            (:func:`~idmlp.faithfulness.correlation.faithfulness_correlation`),
            ``randomization`` (needs ``randomized``) and ``random_logit``
            (:mod:`~idmlp.faithfulness.randomization`), at the output.
        image_shape: one input's shape, for ROAD's neighbours (default ``(N,)``).
        randomized: randomized model -> its ``logits_fn``: the Captum methods are
            recomputed on each, the maps take their ``Explainer.randomized_fns``.
        road: keyword arguments of ``road_curves`` (``fractions``, ``noise``).
        correlation: keyword arguments of ``correlation_probe`` (``subset_size``,
            ``runs``, ``baseline``).

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
    nat = natural_inputs(x, image_shape)
    st = _prepare(nat.logits_fn(logits_fn), nat.x, y, _natural_maps(nat, maps), methods,
                  baselines, variants, nat.logits_fn(reference_logits_fn), layers, steps,
                  schedule, drop_at, nat.flat_map(baseline), score, batch_size, max_elements,
                  seed, metrics, nat.shape,
                  None if randomized is None else {k: nat.logits_fn(f)
                                                   for k, f in randomized.items()},
                  road, correlation)
    if st.randomized:
        st = dataclasses.replace(st, same=_same_models(randomized))
    n_resamples = check_int("n_resamples", n_resamples)
    confidence = check_probability("confidence", confidence)
    todo = [("map", nm) for nm in st.maps] + [("captum", m) for m in st.methods]
    todo += [("baseline", m) for m in st.baselines]
    results: dict[str, MethodFaithfulness] = {}
    bar = progress_bar(todo, enabled=progress, desc="faithfulness", leave=False)
    for kind, name in bar:
        bar.set_postfix_str(name)
        for vname, vmaps in _variants(st, kind, name, _method_maps(st, kind, name)):
            results[vname] = _measure(st, vname, kind, vmaps)
    b, n = st.shape
    return FaithfulnessResult(
        methods=results, ks=st.ks, n_features=n, n_images=b, layers=st.layers,
        depth=st.depth, drop_at=st.drop_at, score=st.curve_kw["score"],
        baseline=None if isinstance(baseline, Tensor) else float(baseline),
        n_resamples=n_resamples, confidence=confidence, seed=st.seed,
        meta={"steps": st.steps, "variants": list(st.variants), "metrics": list(st.metrics),
              "road_fractions": list(st.road["fractions"]) if "road" in st.metrics else None})
