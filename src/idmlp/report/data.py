r"""What the interactive report shows: :class:`ReportData`, and its compact encoding.

:class:`ReportData` is the one schema between the code that computes results (the
builder :func:`idmlp.report.build_report_data`, or any other caller) and the page
(:func:`idmlp.report.render_interactive`). Shapes use ``L`` = depth, ``C`` = classes,
``S`` = the image shape, ``n`` = examples of the split, ``m`` = examples embedded in the
page (all of them, or a subset to stay small) and ``k`` = embedded examples that have a
given map.

Arrays travel to the page quantized to 8 bits (a scale and an offset per array: the
value is ``offset + scale * q``), compressed with zlib (deflate, decoded in the browser by
``DecompressionStream``) and base64-encoded inside one JSON ``<script>`` element; maps
are delta-coded along the layer axis first (neighbouring layers differ little, so the
differences compress several times better). Quantization steps: probabilities 1/255,
inputs 1/255 of their display range, maps 1/:data:`MAP_LEVELS` of their symmetric colour
range (31 steps a side: finer than the eye separates on a diverging colour scale, and a
third of the bytes of 127 steps).
"""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .section import Section

__all__ = ["MAP_KINDS", "MAP_LEVELS", "LayerCurve", "MapSet", "ModelInfo", "ReportData",
           "TrainingCurves", "encode_array"]

#: Quantization steps of a map on each side of zero (codes ``128 + 4 k``, ``|k| <= 31``).
MAP_LEVELS = 31
#: Colour scales of a map: symmetric around zero, or from zero up.
MAP_KINDS: tuple[str, ...] = ("diverging", "sequential")


def _arr(name: str, value: Any, shape: tuple[int | None, ...], *, integer: bool = False
         ) -> np.ndarray:
    """``value`` as a numpy array of the given shape (``None``: any size), checked."""
    a = np.asarray(value)
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape,
                                                                          strict=True)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    if integer:
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
        return a.astype(np.int64)
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")
    return a.astype(np.float64)


def encode_array(q: np.ndarray, *, scale: float = 1.0, offset: float = 0.0,
                 delta_axis: int | None = None) -> dict[str, Any]:
    """An unsigned-integer array as a JSON-able blob for the page.

    ``q`` holds the codes (``uint8``, or any non-negative integers, stored in the
    smallest of 1, 2 or 4 little-endian bytes); the page reads ``offset + scale * q``.
    With ``delta_axis`` (uint8 only), differences modulo 256 along that axis are stored
    and the page sums them back.

    Examples:
        >>> b = encode_array(np.array([[1, 2], [3, 250]], dtype=np.uint8), delta_axis=1)
        >>> b["dtype"], b["shape"], b["delta"]
        ('u1', [2, 2], 1)
    """
    q = np.asarray(q)
    if q.size and (not np.issubdtype(q.dtype, np.integer) or q.min() < 0):
        raise ValueError("q must hold non-negative integer codes")
    top = int(q.max()) if q.size else 0
    dtype = "u1" if top < 2**8 else "u2" if top < 2**16 else "u4"
    if top >= 2**32:
        raise ValueError("q holds codes of 2**32 or more")
    codes = q.astype("<" + dtype)
    if delta_axis is not None:
        if dtype != "u1":
            raise ValueError("delta_axis needs uint8 codes (below 256)")
        codes = np.diff(codes, axis=delta_axis, prepend=np.zeros_like(
            np.take(codes, [0], axis=delta_axis)))  # uint8 arithmetic wraps modulo 256
    raw = zlib.compress(np.ascontiguousarray(codes).tobytes(), 6)  # 9: 8% smaller, 15x slower
    return {"dtype": dtype, "shape": list(q.shape), "scale": float(scale),
            "offset": float(offset), "delta": delta_axis,
            "b64": base64.b64encode(raw).decode("ascii")}


def _unit(a: np.ndarray) -> dict[str, Any]:
    """Values in [0, 1] (probabilities) to 8 bits."""
    return encode_array(np.rint(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8), scale=1 / 255)


def _affine(a: np.ndarray, lo: float, hi: float) -> dict[str, Any]:
    """Values clipped to [lo, hi], 256 levels."""
    span = hi - lo if hi > lo else 1.0
    q = np.rint((np.clip(a, lo, lo + span) - lo) / span * 255).astype(np.uint8)
    return encode_array(q, scale=span / 255, offset=lo)


def _symmetric(a: np.ndarray, vmax: float, delta_axis: int | None) -> dict[str, Any]:
    """Values clipped to [-vmax, vmax] in :data:`MAP_LEVELS` steps a side: codes
    ``128 + 4 k`` (4..252, 128 for zero), so the page's colour table is the same at any
    number of levels."""
    k = np.rint(np.clip(a / vmax, -1.0, 1.0) * MAP_LEVELS)
    q = (4 * k + 128).astype(np.uint8)
    step = vmax / (4 * MAP_LEVELS)
    return encode_array(q, scale=step, offset=-128 * step, delta_axis=delta_axis)


def _sequential(a: np.ndarray, vmax: float, delta_axis: int | None) -> dict[str, Any]:
    """Values clipped to [0, vmax] in ``2 * MAP_LEVELS + 1`` steps: codes ``4 k``
    (0..252, 0 for zero)."""
    k = np.rint(np.clip(a / vmax, 0.0, 1.0) * (2 * MAP_LEVELS + 1))
    step = vmax / (4 * (2 * MAP_LEVELS + 1))
    return encode_array((4 * k).astype(np.uint8), scale=step, delta_axis=delta_axis)


def _ints(a: np.ndarray) -> dict[str, Any]:
    return encode_array(np.asarray(a, dtype=np.int64))


def _floats(a: np.ndarray | None, digits: int = 6) -> list[Any] | None:
    if a is None:
        return None
    return [None if not math.isfinite(v) else round(float(v), digits)
            for v in np.asarray(a, dtype=np.float64).ravel()]


@dataclass(frozen=True)
class ModelInfo:
    r"""The model in words, for "How to read this report".

    Attributes:
        in_features: ``N``, the input's features (pixels).
        num_classes: ``C``.
        depth: ``L``.
        image_shape: ``S`` (``(N,)`` for inputs that are not images).
        sigma: the identity scale of the initialization, :math:`W^\ell = \sigma I`.
        activation: the elementwise activation :math:`\phi`.
        logit_scale: :math:`s` in :math:`z^\ell = s\, x^\ell_{N+1..N+C}`.
    """

    in_features: int
    num_classes: int
    depth: int
    image_shape: tuple[int, ...]
    sigma: float = 1.0
    activation: str = "hardtanh"
    logit_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("in_features", "num_classes", "depth"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        shape = tuple(int(s) for s in self.image_shape)
        if math.prod(shape) != self.in_features:
            raise ValueError(f"image_shape {shape} must multiply to in_features "
                             f"{self.in_features}")
        object.__setattr__(self, "image_shape", shape)

    @property
    def width(self) -> int:
        """``N + C``, the width of every layer."""
        return self.in_features + self.num_classes


@dataclass(frozen=True, eq=False)
class LayerCurve:
    """One more curve for the per-layer plot, e.g. validation accuracy or probes.

    Attributes:
        label: the legend text.
        values: one value in [0, 1] per layer, ``(L,)`` (NaN: no value at that layer).
        lower, upper: an optional interval around it, ``(L,)`` each.
    """

    label: str
    values: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None

    def payload(self, depth: int) -> dict[str, Any]:
        vals = _arr(f"curve {self.label!r} values", self.values, (depth,))
        out = {"label": str(self.label), "values": _floats(vals), "lower": None, "upper": None}
        if (self.lower is None) != (self.upper is None):
            raise ValueError(f"curve {self.label!r}: give both lower and upper, or neither")
        if self.lower is not None:
            out["lower"] = _floats(_arr(f"curve {self.label!r} lower", self.lower, (depth,)))
            out["upper"] = _floats(_arr(f"curve {self.label!r} upper", self.upper, (depth,)))
        return out


@dataclass(frozen=True, eq=False)
class MapSet:
    """One named kind of map, for some of the embedded examples, at every layer.

    Attributes:
        title: a short name for the map selector, e.g. ``"change from input, x^l − x^0"``.
        description: one sentence saying what the map shows and how to read its colours.
        maps: ``(k, Lm, *S)`` with ``Lm = L`` (one map per layer) or ``Lm = 1`` (the same
            map at every layer, e.g. a map summed over layers).
        indices: ``(k,)`` positions of those examples among the embedded ones
            (:attr:`ReportData.example_ids` order), distinct.
        class_means: optional ``(C, Lm, *S)``: the mean map of each class over *all*
            ``n`` examples of the split (NaN for a class without examples).
        quantile: the colour range is ``[-v, v]`` with ``v`` this quantile of ``|maps|``
            (one range for every example and layer, so colours compare); in [0.5, 1].
        signs: words for negative and positive values, shown by the colour bar (blue and
            red), e.g. ``("lowered", "raised")`` or ``("against", "for")``.
        kind: ``"diverging"`` (blue, white at zero, red; range ``[-v, v]``) or
            ``"sequential"`` for maps that are never negative, such as a positive part
            (white at zero to dark purple; range ``[0, v]``, negative values drawn as 0).
    """

    title: str
    description: str
    maps: np.ndarray
    indices: np.ndarray
    class_means: np.ndarray | None = None
    quantile: float = 0.995
    signs: tuple[str, str] = ("lowered", "raised")
    kind: str = "diverging"


@dataclass(frozen=True, eq=False)
class TrainingCurves:
    """Loss and accuracy per epoch, train and test, and the one training clock.

    Attributes:
        epoch: ``(E,)`` epoch numbers.
        train_loss, train_acc, test_loss, test_acc: ``(E,)`` each (NaN where missing).
        seconds: ``(E,)`` cumulative training time at the end of each epoch.
    """

    epoch: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    seconds: np.ndarray

    @classmethod
    def from_metrics(cls, records: Sequence[Mapping[str, Any]]) -> TrainingCurves | None:
        """From :func:`idmlp.train.loop.fit_model`'s per-epoch records (``None`` if empty).

        Examples:
            >>> TrainingCurves.from_metrics([{"epoch": 1, "train_loss": 0.5, "elapsed": 2.0}]
            ...                             ).seconds.tolist()
            [2.0]
        """
        if not records:
            return None

        def col(key: str) -> np.ndarray:
            return np.array([np.nan if r.get(key) is None else float(r[key]) for r in records])

        epoch = np.array([int(r.get("epoch", i + 1)) for i, r in enumerate(records)])
        return cls(epoch, col("train_loss"), col("train_acc"), col("test_loss"),
                   col("test_acc"), col("elapsed"))

    def payload(self) -> dict[str, Any]:
        return {"epoch": [int(e) for e in self.epoch],
                **{k: _floats(getattr(self, k)) for k in
                   ("train_loss", "train_acc", "test_loss", "test_acc", "seconds")}}


@dataclass(frozen=True, eq=False)
class ReportData:
    r"""Everything the interactive report shows, for one model on one split.

    Per-layer numbers (``accuracy``, its interval, ``true_class_prob``) and the
    ``confusion`` matrix are over all ``n`` examples of the split; the sample browser
    works on the ``m`` embedded examples (``m = n`` unless the split is large).

    Attributes:
        title: the page title.
        model: :class:`ModelInfo`.
        class_names: ``C`` names.
        split: the name of the split shown (``"test"``).
        n: examples in the split.
        accuracy: ``(L,)`` accuracy of every layer's readout.
        accuracy_ci: ``(L, 2)`` its 95% interval (e.g.
            :func:`~idmlp.report.stats.wilson_interval`, or over seeds).
        true_class_prob: ``(L,)`` mean probability of the true class.
        confusion: ``(C, C)`` of the last layer, rows true class, columns predicted.
        example_ids: ``(m,)`` each embedded example's position in the split, distinct.
        inputs: ``(m, *S)`` their inputs as drawn in grey (dark = high): the scaled
            :math:`x^0` the model sees, or the raw pixels a reader knows.
        input_title: what ``inputs`` are, in a few words.
        labels: ``(m,)`` their true classes.
        probs: ``(m, L, C)`` every layer's class probabilities.
        preds: ``(m, L)`` every layer's predicted class.
        maps: named :class:`MapSet`\ s, in the order of the map selector.
        default_map: the key of the map shown first (default: the first).
        subtitle, summary: a line under the title and a paragraph of findings.
        curves: more :class:`LayerCurve`\ s for the per-layer plot.
        layer_columns: more per-layer columns for the per-layer table, ``{name: (L,)}``.
        training: :class:`TrainingCurves`, or ``None``.
        timings: seconds per stage, ``{stage: seconds}``: the one source of every timing
            the page prints.
        config: the settings that define the run (nested mappings allowed).
        command: the exact command line.
        versions: ``{package: version}`` (Python, torch, idmlp, ...).
        glossary: more ``(term, one sentence)`` pairs for "How to read this report".
        sections: more static :class:`~idmlp.report.Section`\ s (baselines, probes,
            faithfulness, ...), shown after the interactive views.
    """

    title: str
    model: ModelInfo
    class_names: tuple[str, ...]
    split: str
    n: int
    accuracy: np.ndarray
    accuracy_ci: np.ndarray
    true_class_prob: np.ndarray
    confusion: np.ndarray
    example_ids: np.ndarray
    inputs: np.ndarray
    labels: np.ndarray
    probs: np.ndarray
    preds: np.ndarray
    maps: Mapping[str, MapSet] = field(default_factory=dict)
    default_map: str | None = None
    input_title: str = "input x⁰"
    subtitle: str = ""
    summary: str = ""
    curves: Sequence[LayerCurve] = ()
    layer_columns: Mapping[str, np.ndarray] = field(default_factory=dict)
    training: TrainingCurves | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    command: str | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    glossary: Sequence[tuple[str, str]] = ()
    sections: Sequence[Section] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelInfo):
            raise ValueError(f"model must be a ModelInfo, got {type(self.model).__name__}")
        L, C, S = self.model.depth, self.model.num_classes, self.model.image_shape
        put = object.__setattr__
        put(self, "class_names", tuple(str(c) for c in self.class_names))
        if len(self.class_names) != C:
            raise ValueError(f"class_names must have {C} entries, got {len(self.class_names)}")
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise ValueError(f"n must be an integer >= 1, got {self.n!r}")
        put(self, "accuracy", _arr("accuracy", self.accuracy, (L,)))
        put(self, "accuracy_ci", _arr("accuracy_ci", self.accuracy_ci, (L, 2)))
        put(self, "true_class_prob", _arr("true_class_prob", self.true_class_prob, (L,)))
        put(self, "confusion", _arr("confusion", self.confusion, (C, C), integer=True))
        if int(self.confusion.sum()) != self.n:
            raise ValueError(f"confusion must sum to n = {self.n}, got {self.confusion.sum()}")
        ids = _arr("example_ids", self.example_ids, (None,), integer=True)
        m = len(ids)
        if m and (ids.min() < 0 or ids.max() >= self.n or len(np.unique(ids)) != m):
            raise ValueError(f"example_ids must be distinct positions in 0..{self.n - 1}")
        put(self, "example_ids", ids)
        put(self, "inputs", _arr("inputs", self.inputs, (m, *S)))
        labels = _arr("labels", self.labels, (m,), integer=True)
        preds = _arr("preds", self.preds, (m, L), integer=True)
        for name, a in (("labels", labels), ("preds", preds)):
            if a.size and (a.min() < 0 or a.max() >= C):
                raise ValueError(f"{name} must hold classes in 0..{C - 1}")
        put(self, "labels", labels)
        put(self, "preds", preds)
        put(self, "probs", _arr("probs", self.probs, (m, L, C)))
        maps = dict(self.maps)
        for key, ms in maps.items():
            if not isinstance(ms, MapSet):
                raise ValueError(f"maps[{key!r}] must be a MapSet, got {type(ms).__name__}")
            idx = _arr(f"maps[{key!r}].indices", ms.indices, (None,), integer=True)
            if idx.size and (idx.min() < 0 or idx.max() >= m or len(np.unique(idx)) != len(idx)):
                raise ValueError(f"maps[{key!r}].indices must be distinct positions in "
                                 f"0..{m - 1} (the embedded examples)")
            a = np.asarray(ms.maps)
            if a.ndim != 2 + len(S) or a.shape[0] != len(idx) or a.shape[1] not in (1, L) \
                    or tuple(a.shape[2:]) != S:
                raise ValueError(f"maps[{key!r}].maps must have shape ({len(idx)}, {L} or 1, "
                                 f"{', '.join(map(str, S))}), got {a.shape}")
            if ms.class_means is not None and np.shape(ms.class_means) != (C, a.shape[1], *S):
                raise ValueError(f"maps[{key!r}].class_means must have shape "
                                 f"({C}, {a.shape[1]}, {', '.join(map(str, S))})")
            if not 0.5 <= ms.quantile <= 1.0:
                raise ValueError(f"maps[{key!r}].quantile must lie in [0.5, 1]")
            if ms.kind not in MAP_KINDS:
                raise ValueError(f"maps[{key!r}].kind must be one of {', '.join(MAP_KINDS)}, "
                                 f"got {ms.kind!r}")
        put(self, "maps", maps)
        if self.default_map is None and maps:
            put(self, "default_map", next(iter(maps)))
        if self.default_map is not None and self.default_map not in maps:
            raise ValueError(f"default_map must be one of {', '.join(maps) or '(no maps)'}, "
                             f"got {self.default_map!r}")
        for curve in self.curves:
            if not isinstance(curve, LayerCurve):
                raise ValueError(f"curves must hold LayerCurve objects, got "
                                 f"{type(curve).__name__}")
            curve.payload(L)  # checks the shapes
        for name, col in self.layer_columns.items():
            _arr(f"layer_columns[{name!r}]", col, (L,))
        for k, v in self.timings.items():
            if not isinstance(v, (int, float, np.floating)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"timings[{k!r}] must be seconds >= 0, got {v!r}")

    @property
    def depth(self) -> int:
        return self.model.depth

    @property
    def errors(self) -> np.ndarray:
        """Positions (among the embedded examples) that the last layer gets wrong."""
        return np.flatnonzero(self.preds[:, -1] != self.labels)

    def payload(self) -> dict[str, Any]:
        """The page's data as a JSON-able dict (arrays quantized, compressed, base64)."""
        L = self.depth
        inputs = self.inputs.reshape(len(self.inputs), -1)
        if inputs.size:
            lo, hi = (float(v) for v in np.quantile(inputs, [0.001, 0.999]))
        else:
            lo, hi = 0.0, 1.0
        maps = []
        for key, ms in self.maps.items():
            a = np.asarray(ms.maps, dtype=np.float64)
            finite = a[np.isfinite(a)]
            finite = np.abs(finite) if ms.kind == "diverging" else np.clip(finite, 0, None)
            vmax = float(np.quantile(finite, ms.quantile)) if finite.size else 0.0
            if not vmax > 0:
                vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1e-8
            flat = np.nan_to_num(a.reshape(len(a), a.shape[1], -1))
            code = _symmetric if ms.kind == "diverging" else _sequential
            entry = {"key": key, "title": ms.title, "description": ms.description,
                     "signs": [str(ms.signs[0]), str(ms.signs[1])], "kind": ms.kind,
                     "vmax": vmax, "layers": int(a.shape[1]),
                     "indices": _ints(ms.indices), "maps": code(flat, vmax, 1),
                     "classMeans": None}
            if ms.class_means is not None:
                cm = np.asarray(ms.class_means, dtype=np.float64)
                entry["classMeans"] = code(
                    np.nan_to_num(cm.reshape(cm.shape[0], cm.shape[1], -1)), vmax, 1)
                entry["classMissing"] = [bool(np.isnan(c).all()) for c in cm]
            maps.append(entry)
        m = self.model
        return {
            "format": 1,
            "model": {"N": m.in_features, "C": m.num_classes, "L": L,
                      "shape": list(m.image_shape), "sigma": m.sigma,
                      "activation": m.activation, "s": m.logit_scale},
            "classNames": list(self.class_names),
            "split": self.split,
            "inputTitle": self.input_title,
            "n": int(self.n),
            "accuracy": _floats(self.accuracy),
            "accuracyLow": _floats(self.accuracy_ci[:, 0]),
            "accuracyHigh": _floats(self.accuracy_ci[:, 1]),
            "trueClassProb": _floats(self.true_class_prob),
            "confusion": self.confusion.tolist(),
            "curves": [c.payload(L) for c in self.curves],
            "examples": {
                "m": int(len(self.example_ids)),
                "ids": _ints(self.example_ids),
                "labels": _ints(self.labels),
                "preds": _ints(self.preds),
                "probs": _unit(self.probs),
                "inputs": _affine(inputs, lo, hi),
            },
            "maps": maps,
            "defaultMap": self.default_map,
            "training": self.training.payload() if self.training is not None else None,
        }
