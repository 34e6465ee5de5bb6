r"""The result of a faithfulness study: per-image measurements, intervals, CSV, JSON, table.

:class:`FaithfulnessResult` keeps every per-image measurement of every method
(:class:`MethodFaithfulness`) and computes means and bootstrap intervals on demand
(:mod:`idmlp.faithfulness.statistics`); :meth:`~FaithfulnessResult.rows` is the one table
behind :meth:`~FaithfulnessResult.to_csv`, :meth:`~FaithfulnessResult.to_dict` (strict
JSON) and :meth:`~FaithfulnessResult.summary`.

Directions: deletion AUC, lower is better; insertion AUC and the drops, higher is better;
the sanity correlation (the map on the trained model against the reference model),
lower is better.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_text, strict_json
from .._validation import check_choice
from .perturbation import curve_auc
from .statistics import Interval, bootstrap_interval, paired_ratio_interval

__all__ = ["DEFAULT_DROP_AT", "FIELD_METRICS", "METRICS", "Cost", "FaithfulnessResult",
           "MethodFaithfulness"]

#: The issue's summary: mean drop of the explained class's probability at these k.
DEFAULT_DROP_AT: tuple[int, ...] = (25, 50, 100)
#: Per-image summaries of a method (:meth:`FaithfulnessResult.per_image`).
METRICS: tuple[str, ...] = ("deletion_auc", "insertion_auc", "mean_drop")
#: The field's measures of a method, per image, with their direction: ROAD gap (higher is
#: better), FaithfulnessCorrelation (higher), RandomLogit SSIM (lower); the randomization
#: tests are ``rand:<model>`` (Spearman of absolute maps, lower is better).
FIELD_METRICS: dict[str, str] = {"road_gap": "higher", "faithfulness_correlation": "higher",
                                 "random_logit_ssim": "lower"}


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
        road_morf, road_lerf: ROAD accuracy curves ``(B, K)`` (:mod:`~.road`) or None.
        correlation: FaithfulnessCorrelation ``(B,)`` (:mod:`~.correlation`) or None.
        randomization: randomized model -> Spearman correlation of the absolute maps,
            ``(B,)`` each (:mod:`~.randomization`); empty when not measured.
        random_logit: SSIM of the maps of the explained and a random other class ``(B,)``,
            or None.
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
    road_morf: np.ndarray | None = None
    road_lerf: np.ndarray | None = None
    correlation: np.ndarray | None = None
    randomization: dict[str, np.ndarray] = field(default_factory=dict)
    random_logit: np.ndarray | None = None

    @property
    def road_gap(self) -> np.ndarray | None:
        """Per image: mean ROAD LeRF accuracy minus mean MoRF accuracy (higher is better)."""
        if self.road_morf is None or self.road_lerf is None:
            return None
        return self.road_lerf.mean(axis=1) - self.road_morf.mean(axis=1)


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
        ``mean_drop`` (mean of :meth:`drops`); at the output also one of
        :data:`FIELD_METRICS` or ``rand:<model>`` (a randomization test), when measured."""
        if layer is None and (metric in FIELD_METRICS or metric.startswith("rand:")):
            m = self._method(name)
            values = (m.randomization.get(metric[5:]) if metric.startswith("rand:") else
                      {"road_gap": m.road_gap, "faithfulness_correlation": m.correlation,
                       "random_logit_ssim": m.random_logit}[metric])
            if values is None:
                raise ValueError(f"{metric} was not measured for {name!r}")
            return values
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
        return paired_ratio_interval(
            self.per_image(name, metric, layer), self.per_image(reference, metric, layer),
            n_resamples=self.n_resamples, confidence=self.confidence, seed=self.seed)

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
                for key, col in self.field_columns().items():
                    arr = None
                    if layer is None:
                        with contextlib.suppress(ValueError):
                            arr = self.per_image(name, key)
                    iv = (self.interval(arr) if arr is not None
                          else Interval(math.nan, math.nan, math.nan, 0))
                    row[col], row[f"{col}_lo"], row[f"{col}_hi"] = iv[:3]
                row["has_reference"] = m.sanity is not None and layer is None
                row["forward_passes"] = m.cost.forward_passes
                row["backward_passes"] = m.cost.backward_passes
                row["seconds_per_explanation"] = m.cost.seconds
                out.append(row)
        return out

    def field_columns(self) -> dict[str, str]:
        """The field's measures in :meth:`rows`: per-image metric -> column name. The
        randomization tests tabulated are those of ``meta["randomization_columns"]``
        (column -> randomized model)."""
        measured = {k for m in self.methods.values() for k, v in (
            ("road_gap", m.road_morf), ("faithfulness_correlation", m.correlation),
            ("random_logit_ssim", m.random_logit)) if v is not None}
        cols = {k: k for k in FIELD_METRICS if k in measured}
        for col, label in self.meta.get("randomization_columns", {}).items():
            cols[f"rand:{label}"] = f"{col}_rho"
        return cols

    def randomization_curves(self, name: str) -> dict[str, Interval]:
        """Every randomized model of ``name`` -> mean Spearman with its interval."""
        return {label: self.interval(v) for label, v in self._method(name).randomization.items()}

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
        return strict_json({
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
            "road": {name: {"fractions": self.meta.get("road_fractions"),
                            "morf": m.road_morf.mean(axis=0).tolist(),
                            "lerf": m.road_lerf.mean(axis=0).tolist()}
                     for name, m in self.methods.items() if m.road_morf is not None},
            "randomization": {name: {label: iv._asdict() for label, iv in
                                     self.randomization_curves(name).items()}
                              for name in self.methods},
        })

    def summary_table(self, kind: str = "perturbation"
                      ) -> tuple[list[str], list[list[str]], str]:
        """A table at the output (header, rows of strings, and a footnote), each value
        ``mean [lo, hi]``; what :meth:`summary` prints and the report shows.

        ``kind="perturbation"``: cost, deletion and insertion AUC, mean drop and sanity
        correlation. ``kind="field"``: the field's measures that were taken (ROAD gap,
        FaithfulnessCorrelation, the tabulated randomization tests, RandomLogit SSIM).
        """
        kind = check_choice("kind", kind, ("perturbation", "field"))

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
        pct = round(100 * self.confidence)
        if kind == "field":
            labels = {"road_gap": "ROAD gap (higher better)",
                      "faithfulness_correlation": "FaithfulnessCorrelation (higher)",
                      "random_logit_ssim": "RandomLogit SSIM (lower)"}
            cols = self.field_columns()
            names = {"cascading_all_rho": "cascading randomization, all layers (rho, lower)",
                     "labels_rho": "label randomization (rho, lower)"}
            head = ["method"] + [labels.get(k, names.get(c, f"{c} (lower)"))
                                 for k, c in cols.items()]
            table = [[r["method"], *(iv(r, c) for c in cols.values())] for r in rows]
            note = (f"{self.n_images} images, {pct}% bootstrap intervals over images; rho: "
                    "Spearman correlation of the absolute maps with those of the randomized "
                    "model")
            return head, table, note
        drops = "/".join(str(k) for k in self.drop_at)
        head = ["method", "passes", "ms/expl", "deletion AUC (lower better)",
                "insertion AUC", f"mean drop k={drops}", "sanity rho"]
        table = [[r["method"], passes(r),
                  "-" if math.isnan(r["seconds_per_explanation"])
                  else f"{1e3 * r['seconds_per_explanation']:.3g}",
                  iv(r, "deletion_auc"), iv(r, "insertion_auc"), iv(r, "mean_drop"),
                  iv(r, "sanity_rho")] for r in rows]
        note = (f"{self.n_images} images, {pct}% bootstrap intervals over images, "
                f"{self.score} of the explained class; sanity rho: Spearman correlation with "
                "the reference model's map")
        return head, table, note

    def summary(self) -> str:
        """:meth:`summary_table` as aligned plain text (and the field's measures, when
        taken)."""
        kinds = ["perturbation"] + (["field"] if self.field_columns() else [])
        blocks = []
        for kind in kinds:
            head, table, note = self.summary_table(kind)
            width = [max(len(str(line[i])) for line in [head, *table])
                     for i in range(len(head))]
            lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, width, strict=True)
                               ).rstrip() for line in [head, *table]]
            blocks.append("\n".join([*lines, f"({note})"]))
        shares = self.meta.get("evidence_shares")
        return "\n\n".join(blocks) + ("" if not shares else "\n" + evidence_share_line(shares))

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
