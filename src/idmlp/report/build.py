r"""Fill :class:`~idmlp.report.ReportData` from a model, its test tensors and its run.

:func:`build_report_data` takes everything measured over the whole split from an
:class:`~idmlp.analysis.interpret.Interpretation` (computed by
:func:`~idmlp.analysis.interpret.interpret` when not given): per-layer accuracy, every
example's class probabilities and predictions, and each map's mean per class. The maps
of the embedded examples (a subset, for the size of the page) come from one more
:meth:`~idmlp.nets.mlp.InterpretableMLP.readout` of those examples.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from .._validation import check_int
from ..analysis.interpret import Interpretation, interpret
from ..nets.mlp import InterpretableMLP
from ..nets.rules import ReadoutRule
from ..train.evaluate import eval_mode, pick_samples, wilson_interval
from .data import LayerCurve, MapSet, ModelInfo, ReportData, TrainingCurves
from .stats import format_percent_interval

if TYPE_CHECKING:
    from .section import Section

__all__ = ["DEFAULT_MAPS", "MapSpec", "build_report_data", "choose_examples", "run_report_data",
           "used_settings"]


@dataclass(frozen=True)
class MapSpec:
    """How one of the readout's maps (:data:`idmlp.nets.readout.MAPS`) is shown.

    Attributes:
        title: short name for the map selector.
        description: one sentence: what the map shows, how to read its colours.
        map: the readout's map (:meth:`~idmlp.nets.readout.LayerReadout.maps`), explaining each
            example's true class.
        signs: words for negative and positive values (see :class:`~idmlp.report.MapSet`).
        kind: ``"diverging"`` or ``"sequential"`` (never-negative maps), as for MapSet.
    """

    title: str
    description: str
    map: str
    signs: tuple[str, str] = ("lowered", "raised")
    kind: str = "diverging"


#: The maps of the report, the default first.
DEFAULT_MAPS: dict[str, MapSpec] = {
    "evidence": MapSpec(
        "class evidence",
        "How much each pixel, through the features that keep the input's layout, moved the "
        "true class's score up over layers 1..l (the positive part of an exact split of "
        "each layer's change of that score): bright where a pixel spoke for the class.",
        "evidence", signs=("none", "for the class"), kind="sequential"),
    "change": MapSpec(
        "change from input, x^l − x^0",
        "The paper's reading: the first N features of layer l minus the input, pixel by "
        "pixel: red where layers 1..l raised a pixel's value, blue where they lowered it; "
        "with hard-tanh this includes the clipping of large inputs that even the untrained "
        "network does.", "change"),
    "trained": MapSpec(
        "what training changed, x^l − x^l_id",
        "Layer l's features minus those of the untrained identity network at the same "
        "input: red where training raised a pixel's feature, blue where it lowered it; "
        "zero for an untrained network.", "trained"),
}

_UNUSED = {"optimizer": {"adam": ("momentum",)},
           "schedule": {"constant": ("step_epochs", "gamma"), "cosine": ("step_epochs", "gamma")}}


def used_settings(train: Mapping[str, Any]) -> dict[str, Any]:
    """A training config without the settings it does not use (momentum under Adam, the
    step schedule's period and factor under another schedule, unset paths).

    Examples:
        >>> used_settings({"optimizer": "adam", "momentum": 0.9, "lr": 3e-4})
        {'optimizer': 'adam', 'lr': 0.0003}
    """
    drop: set[str] = set()
    for key, by_value in _UNUSED.items():
        drop.update(by_value.get(train.get(key), ()))
    if not train.get("download", True):
        drop.add("download")
    return {k: v for k, v in train.items() if k not in drop and v is not None}


def choose_examples(preds_last: np.ndarray, labels: np.ndarray, k: int,
                    num_classes: int) -> np.ndarray:
    """``min(k, n)`` examples, deterministic: the errors first (up to half of ``k``), then
    round robin over the classes in label order (:func:`~idmlp.analysis.interpret.pick_samples`);
    returned sorted.

    Examples:
        >>> choose_examples(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 1]), 3, 2).tolist()
        [0, 1, 2]
    """
    k = check_int("k", k, minimum=0)
    labels = np.asarray(labels)
    n = len(labels)
    if k >= n:
        return np.arange(n)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    errors = np.flatnonzero(np.asarray(preds_last) != labels)[: k // 2]
    rest = np.setdiff1d(np.arange(n), errors)
    fill = np.asarray(pick_samples(labels[rest], k - len(errors), num_classes), dtype=np.int64)
    return np.sort(np.concatenate([errors, rest[fill]]).astype(np.int64))


def _versions() -> dict[str, str]:
    from .. import __version__

    return {"Python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "idmlp": __version__}


def build_report_data(
    model: InterpretableMLP,
    X: Tensor,
    y: Tensor,
    *,
    interpretation: Interpretation | None = None,
    title: str = "Layer-wise interpretation with identity initialization",
    subtitle: str = "",
    summary: str | None = None,
    split: str = "test",
    class_names: Sequence[str] | None = None,
    metrics: Sequence[Mapping[str, Any]] = (),
    config: Mapping[str, Any] | None = None,
    command: str | None = None,
    versions: Mapping[str, str] | None = None,
    timings: Mapping[str, float] | None = None,
    sections: Sequence[Section] = (),
    maps: Mapping[str, MapSpec] | None = None,
    default_map: str | None = None,
    images: np.ndarray | Tensor | None = None,
    curves: Sequence[LayerCurve] = (),
    layer_columns: Mapping[str, np.ndarray] | None = None,
    accuracy_ci: np.ndarray | None = None,
    glossary: Sequence[tuple[str, str]] = (),
    max_examples: int = 2000,
    max_map_examples: int = 200,
    batch_size: int = 1024,
) -> ReportData:
    r"""The interactive report's data for ``model`` on the labelled split ``(X, y)``.

    Per-layer accuracy :math:`a_\ell`, mean true-class probability and the last layer's
    confusion matrix come from ``interpretation`` (over all ``n`` examples); the 95%
    interval of :math:`a_\ell` is Wilson's for :math:`n a_\ell` successes in ``n``. Per
    example: :math:`\mathrm{softmax}(z^\ell)` and :math:`\arg\max z^\ell` for every layer,
    from one :meth:`~idmlp.nets.mlp.InterpretableMLP.readout` per chunk.

    Embedded in the page: all examples if ``n <= max_examples``, else ``max_examples``
    chosen by :func:`choose_examples`; the maps of ``maps`` for ``max_map_examples`` of
    those (errors of the last layer first, then round robin over classes), and each map's
    mean per class over all ``n`` examples. ``max_map_examples = 200`` keeps the default
    ``idmlp reproduce`` page (mnist5k, 1,000 test images, depth 20) near 1.5 MB with one
    kind of map, leaving room for two more under 5 MB.

    Args:
        model: the trained :class:`~idmlp.nets.mlp.InterpretableMLP`.
        X, y: scaled inputs ``(n, N)`` and labels ``(n,)`` of the split.
        interpretation: :func:`~idmlp.analysis.interpret.interpret` of the same ``(X, y)``;
            computed here if ``None``.
        title, subtitle, summary: page texts (``summary``: a default from the numbers).
        split: the split's name.
        class_names: default: the interpretation's.
        metrics: per-epoch records of the run (:func:`~idmlp.train.loop.fit_model`).
        config: the settings shown under "Configuration" (e.g. ``{"train": ...,
            "model": ...}``; a ``train`` mapping is passed through :func:`used_settings`).
        command: the exact command line.
        versions: default: Python, torch, numpy and idmlp of this process.
        timings: seconds per stage; the training epochs' time is taken from ``metrics``
            (``elapsed`` of the last epoch) and must not be given again here.
        sections: static sections shown after the interactive views.
        maps: ``{key: MapSpec}``; default :data:`DEFAULT_MAPS`.
        default_map: the key shown first (default: the first).
        images: ``(n, N)`` or ``(n, *S)``, the inputs as a reader knows them (e.g. the raw
            pixels before scaling), drawn in grey in the sample browser; default ``X``.
        curves: more per-layer curves for the plot and the table (validation accuracy,
            probes, ...), :class:`~idmlp.report.LayerCurve`.
        layer_columns: more per-layer table columns, after the interpretation's loss and
            identity distances.
        accuracy_ci: ``(L, 2)``, an interval to show instead of Wilson's (e.g. over seeds).
        glossary: more ``(term, sentence)`` pairs for "How to read this report".
        max_examples, max_map_examples: size limits (integers >= 1 and >= 0).
        batch_size: examples per forward chunk.

    Examples:
        >>> net = InterpretableMLP(16, 3, depth=4, image_shape=(4, 4))
        >>> X, y = 0.5 * torch.randn(30, 16), torch.arange(30) % 3
        >>> data = build_report_data(net, X, y, max_map_examples=5)
        >>> data.probs.shape, data.maps["change"].maps.shape
        ((30, 4, 3), (5, 4, 4, 4))
    """
    if not isinstance(getattr(model, "rule", None), ReadoutRule) or not callable(
            getattr(model, "readout", None)):
        raise ValueError(f"model must be an interpretable network (idmlp.nets.mlp."
                         f"InterpretableMLP, idmlp.nets.cnn.InterpretableCNN), got "
                         f"{type(model).__name__}")
    max_examples = check_int("max_examples", max_examples)
    max_map_examples = check_int("max_map_examples", max_map_examples, minimum=0)
    batch_size = check_int("batch_size", batch_size)
    specs = dict(DEFAULT_MAPS if maps is None else maps)
    for key, spec in specs.items():
        if not isinstance(spec, MapSpec):
            raise ValueError(f"maps[{key!r}] must be a MapSpec, got {type(spec).__name__}")
    interp = interpretation if interpretation is not None else interpret(
        model, X, y, batch_size=batch_size, sample_indices=(), class_names=class_names,
        maps=[spec.map for spec in specs.values()])
    if not isinstance(interp, Interpretation):
        raise ValueError(f"interpretation must be an Interpretation, got "
                         f"{type(interp).__name__}")
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    n, L, C = len(X), model.depth, model.num_classes
    if interp.n != n or interp.depth != L:
        raise ValueError(f"interpretation is of {interp.n} examples and depth {interp.depth}, "
                         f"but X has {n} rows and the model depth {L}: interpret the same data")
    missing = [s.map for s in specs.values() if s.map not in interp.class_maps]
    if missing:
        raise ValueError(f"the interpretation holds no {missing[0]!r} maps: interpret with "
                         f"maps={[s.map for s in specs.values()]}")
    names = tuple(class_names) if class_names is not None else interp.class_names
    shape = model.image_shape
    if images is not None:
        images = np.asarray(images.cpu() if isinstance(images, Tensor) else images)
        if len(images) != n or images[0].size != model.in_features:
            raise ValueError(f"images must have shape ({n}, {model.in_features}) or ({n}, "
                             f"{', '.join(map(str, shape))}), got {images.shape}")

    probs_np, preds_np, labels = interp.probs, interp.preds, interp.labels
    embed = choose_examples(preds_np[:, -1], labels, max_examples, C)
    chosen = choose_examples(preds_np[embed, -1], labels[embed], max_map_examples, C)
    readout = None
    if len(chosen):  # the maps of the examples shown: one more readout, of those only
        rows = torch.as_tensor(embed[chosen])
        param = next(model.parameters())
        with eval_mode(model):
            readout = model.readout(X[rows].to(device=param.device, dtype=param.dtype))
        targets = y[rows].long().to(param.device)
    map_sets: dict[str, MapSet] = {}
    for key, spec in specs.items():
        if readout is not None:
            m = readout.maps(spec.map, target=targets).float().cpu().numpy()
        else:
            m = np.zeros((0, L, int(np.prod(shape))), dtype=np.float32)
        map_sets[key] = MapSet(spec.title, spec.description,
                               m.reshape(len(chosen), m.shape[1], *shape), chosen,
                               interp.class_maps[spec.map], signs=spec.signs, kind=spec.kind)

    shown = (X[torch.as_tensor(embed).to(X.device)].float().cpu().numpy() if images is None
             else images[embed].astype(np.float64))
    ci = (np.stack(interp.accuracy_interval(), axis=-1) if accuracy_ci is None
          else np.asarray(accuracy_ci, dtype=np.float64))
    training = TrainingCurves.from_metrics(metrics)
    times = dict(timings or {})
    if training is not None and np.isfinite(training.seconds[-1]):
        times = {"training epochs (from the per-epoch records)": float(training.seconds[-1]),
                 **times}
    cfg = dict(config or {})
    for part in ("train", "data", "optim"):
        if isinstance(cfg.get(part), Mapping):
            cfg[part] = used_settings(cfg[part])
    info = ModelInfo(model.in_features, C, L, tuple(shape), float(model.sigma),
                     model.activation, float(model.logit_scale.detach()))
    if summary is None:
        best = int(np.argmax(interp.accuracy))
        summary = (
            f"A {L}-layer {model.activation} network ({model.describe()}), every layer "
            f"initialized to the identity (σ = {model.sigma:g}), classifies the {split} "
            f"split ({n} "
            f"examples) with accuracy {format_percent_interval(interp.accuracy[-1], *ci[-1])} "
            f"at its last layer (95% interval). Every layer is read as a classifier by the "
            f"same rule, with nothing trained for it: layer 1 reaches "
            f"{format_percent_interval(interp.accuracy[0], *ci[0])}; the most accurate layer "
            f"on this split is layer {best + 1}. The learned weights stay near the identity: "
            f"||W^l − σI|| / ||σI|| is at most {float(np.max(interp.identity_distance)):.3f}.")
    return ReportData(
        title=title, subtitle=subtitle, summary=summary, model=info, class_names=names,
        split=split, n=n, accuracy=interp.accuracy, accuracy_ci=ci,
        true_class_prob=interp.true_class_prob, confusion=interp.confusion,
        example_ids=embed, inputs=shown.reshape(len(embed), *shape),
        input_title="input x⁰ (scaled)" if images is None else "input (raw)",
        labels=labels[embed], probs=probs_np[embed],
        preds=preds_np[embed], maps=map_sets, default_map=default_map,
        layer_columns={"loss": interp.loss, "||W−σI|| (all)": interp.identity_distance,
                       "||W−σI|| (feature rows)": interp.feature_distance,
                       "||W−σI|| (class rows)": interp.class_distance,
                       **(layer_columns or {})},
        curves=tuple(curves),
        training=training, timings=times, config=cfg, command=command,
        versions=dict(versions) if versions is not None else _versions(),
        glossary=[("||W^l − σI|| / ||σI||",
                   "How far training moved layer l's weights from the identity it started "
                   "at, relative to the identity: 0 means the layer still copies its input."),
                  *glossary],
        sections=tuple(sections),
    )


def run_report_data(
    run: Any,
    interpretation: Interpretation,
    *,
    split: str = "test",
    title: str = "Layer-wise interpretation with identity initialization",
    summary: str | None = None,
    sections: Sequence[Section] = (),
    curves: Sequence[LayerCurve] = (),
    command: str | None = None,
    timings: Mapping[str, float] | None = None,
    max_map_examples: int = 200,
) -> ReportData:
    """The report of a trained run (:class:`~idmlp.train.runs.TrainedRun`) interpreted on
    ``split``: :func:`build_report_data` with the run's model, its raw images for display,
    its per-epoch records and configuration, the validation accuracy per layer (when the
    run has a validation split) and each map's clipping share as per-layer columns."""
    X, y = run.tensors(split)
    ds, model = run.dataset, run.model
    images = getattr(ds, f"X_{split}")
    val = run.final_metrics.get("layer_val_acc") if run.metrics else None
    if val is not None and split != "val" and ds.y_val is not None:
        # (a folder saved by InterpretableClassifier.save carries no validation data)
        n_val = len(ds.y_val)
        lo, hi = wilson_interval(np.asarray(val), n_val)
        curves = (LayerCurve(f"validation accuracy ({n_val} examples)", np.asarray(val), lo,
                             hi), *curves)
    n_val = 0 if ds.y_val is None else len(ds.y_val)
    subtitle = (f"{ds.name}: {len(ds.y_train)} train / {n_val} validation / "
                f"{len(ds.y_test)} test, {split} split shown; {model.describe()}; Kubota, "
                "Hayashi, Hayase and Uchida, ICASSP 2021")
    maps = {k: s for k, s in DEFAULT_MAPS.items() if s.map in interpretation.class_maps}
    return build_report_data(
        model, X, y, interpretation=interpretation, title=title, subtitle=subtitle,
        summary=summary, split=split, metrics=run.metrics, config=run.config.to_dict(),
        command=command, timings=timings, sections=sections, maps=maps,
        default_map=next(iter(maps)), images=images, curves=curves,
        layer_columns={f"clipping share ({k})": v
                       for k, v in interpretation.clipping_share.items()},
        max_map_examples=max_map_examples)
