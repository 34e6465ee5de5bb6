r"""Layer-wise interpretation of the interpretable MLP (Kubota et al., ICASSP 2021).

Every layer :math:`\ell = 1..L` of an :class:`~idmlp.nets.mlp.InterpretableMLP` carries
class logits :math:`z^\ell = s \cdot x^\ell_{N+1..N+C}`, read by the same rule at every
layer (so each layer has its own recognition accuracy with no extra training), and maps in
the input's layout (:data:`idmlp.nets.readout.MAPS`): the class evidence behind layer
:math:`\ell`'s readout (the default), the change of the features from the input
:math:`x^\ell_{1..N} - x^0` (the paper's reading), and what training changed
:math:`x^\ell - x^\ell_{\mathrm{id}}`.

:func:`interpret` runs the model once over a labelled set (batched through
:func:`idmlp.train.evaluate.evaluate`, chunked only to bound memory) and returns an
:class:`Interpretation`: per-layer accuracy (with 95% intervals), mean true-class
probability and loss, every map of a few chosen examples, per-class mean maps at selected
layers, each map's clipping share per layer, the identity distance of every layer and the
confusion matrix of the last layer. Layers are numbered ``1..L`` throughout, as in the
paper; layer 0 is the input.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from .._io import atomic_write_bytes, save_json
from .._validation import check_choice, check_indices, check_int
from ..nets.mlp import InterpretableMLP
from ..nets.readout import LAYERWISE_MAPS, MAPS
from ..nets.rules import ReadoutRule
from ..train.evaluate import Z95, Batch, evaluate, pick_samples, wilson_interval

if TYPE_CHECKING:
    from ..train.runs import TrainedRun

__all__ = [
    "Interpretation",
    "default_layers",
    "interpret",
    "interpret_run",
]

#: The blocks of the state that :attr:`Interpretation.evidence_shares` splits the evidence over.
_SHARES = ("feature", "extra", "class")


def default_layers(depth: int, n: int = 8) -> tuple[int, ...]:
    """``min(n, depth)`` evenly spaced layers in ``1..depth``.

    The first and the last layer are always included (for ``n = 1``: the last one).

    Examples:
        >>> default_layers(20)
        (1, 4, 6, 9, 12, 15, 17, 20)
        >>> default_layers(3)
        (1, 2, 3)
    """
    depth = check_int("depth", depth)
    n = check_int("n", n)
    if n == 1:
        return (depth,)
    # spacing >= 1 between the points, so rounding never merges two of them
    return tuple(int(v) for v in np.rint(np.linspace(1, depth, min(n, depth))))


class _Moments:
    """Running sums for a per-layer Pearson correlation between two maps, pooled over
    examples and features (float64)."""

    def __init__(self, depth: int) -> None:
        self.s = torch.zeros(6, depth, dtype=torch.float64)  # n, Sa, Sb, Saa, Sbb, Sab

    def add(self, a: Tensor, b: Tensor) -> None:
        a, b = a.double().flatten(2).cpu(), b.double().flatten(2).cpu()  # (B, L, F)
        self.s += torch.stack([torch.full_like(a[0, :, 0], a.shape[0] * a.shape[2]),
                               a.sum((0, 2)), b.sum((0, 2)), (a * a).sum((0, 2)),
                               (b * b).sum((0, 2)), (a * b).sum((0, 2))])

    def r2(self) -> np.ndarray:
        n, sa, sb, saa, sbb, sab = self.s
        cov = sab - sa * sb / n
        va, vb = saa - sa**2 / n, sbb - sb**2 / n
        ok = (va > 0) & (vb > 0)
        return torch.where(ok, cov**2 / (va * vb).clamp(min=1e-300), 0.0).numpy()


@dataclass(frozen=True, eq=False)
class Interpretation:
    r"""Layer-wise interpretation of one model on one labelled set of ``n`` examples.

    Shapes use ``L`` = depth, ``C`` = classes, ``k`` = chosen examples, ``m`` = selected
    layers and ``S`` = ``image_shape``. Arrays are numpy (CPU); layers are numbered
    ``1..L``. Maps are keyed by name (:data:`idmlp.nets.readout.MAPS`); the evidence maps
    explain each example's true class.

    Attributes:
        accuracy: accuracy of every layer's readout, ``(L,)``.
        true_class_prob: mean softmax probability of the true class, ``(L,)``.
        loss: mean cross-entropy of every layer's logits, ``(L,)``.
        confusion: confusion matrix of the last layer, rows = true class, columns =
            predicted class, ``(C, C)`` int64 (sums to ``n``).
        identity_distance: :math:`\|W^\ell - \sigma I\|_F / \|\sigma I\|_F`, ``(L,)``.
        feature_distance, class_distance: the same, restricted to the feature rows and to
            the class rows of :math:`W^\ell` (:meth:`InterpretableMLP.block_identity_distance`),
            ``(L,)`` each.
        sample_indices: positions of the chosen examples in the set, ``(k,)``.
        sample_labels: their labels, ``(k,)``.
        sample_inputs: their (scaled) inputs :math:`x^0`, ``(k, *S)``.
        sample_maps: every map of them at every layer, ``{name: (k, L, *S)}``.
        probs: every layer's class probabilities for every example, ``(n, L, C)``.
        preds: every layer's predicted class for every example, ``(n, L)``.
        labels: every example's label, ``(n,)``.
        layers: the selected layers of the figures, ``(m,)``, values in ``1..L``.
        class_maps: mean map of each class at every layer, ``{name: (C, L, *S)}`` (NaN
            for a class with no example).
        clipping_share: :math:`R^2` of each map against the clipping the untrained
            network already does (:attr:`LayerReadout.clipping`), per layer,
            ``{name: (L,)}``; 1 = the map only shows clipping.
        class_counts: examples per class, ``(C,)``.
        class_names: one name per class.
        image_shape: ``S``.
        max_abs_input: the largest :math:`|x^0|` over the set.
        evidence_shares: per layer, the mean share of the true class's evidence that flows
            through the input-aligned features, the extra coordinates and the class
            coordinates of the layer before (:meth:`LayerReadout.evidence_shares`),
            ``{"feature", "extra", "class"}: (L,)`` (empty for networks without an
            evidence split).
        layout: what one input is, ``signal``, ``image`` or ``features`` (``None``:
            from ``image_shape``, two dimensions an image), for the figures.
    """

    accuracy: np.ndarray
    true_class_prob: np.ndarray
    loss: np.ndarray
    confusion: np.ndarray
    identity_distance: np.ndarray
    feature_distance: np.ndarray
    class_distance: np.ndarray
    sample_indices: np.ndarray
    sample_labels: np.ndarray
    sample_inputs: np.ndarray
    sample_maps: dict[str, np.ndarray]
    probs: np.ndarray
    preds: np.ndarray
    labels: np.ndarray
    layers: np.ndarray
    class_maps: dict[str, np.ndarray]
    clipping_share: dict[str, np.ndarray]
    class_counts: np.ndarray
    class_names: tuple[str, ...]
    image_shape: tuple[int, ...]
    max_abs_input: float
    evidence_shares: dict[str, np.ndarray] = field(default_factory=dict)
    layout: str | None = None

    @property
    def depth(self) -> int:
        return len(self.accuracy)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def n(self) -> int:
        """Number of examples the interpretation was computed on."""
        return int(self.class_counts.sum())

    @property
    def is_image(self) -> bool:
        """Whether inputs are 2-D one-channel images (else maps are drawn as 1-row strips,
        or as curves for signals, :attr:`is_signal`)."""
        return len(self.image_shape) == 2 and self.layout in (None, "image")

    @property
    def is_signal(self) -> bool:
        """Whether inputs are 1-D signals, ``(L,)`` or ``(C, L)`` (maps drawn as curves
        over the signal)."""
        return self.layout == "signal"

    @property
    def map_names(self) -> tuple[str, ...]:
        """The maps held, the default one first."""
        return tuple(self.sample_maps)

    @property
    def sample_probs(self) -> np.ndarray:
        """Every layer's class probabilities for the chosen examples, ``(k, L, C)``."""
        return self.probs[self.sample_indices]

    @property
    def sample_preds(self) -> np.ndarray:
        """Every layer's predicted class for the chosen examples, ``(k, L)``."""
        return self.preds[self.sample_indices]

    @property
    def sample_contributions(self) -> np.ndarray:
        r"""The ``change`` maps :math:`x^\ell - x^0` of the chosen examples, ``(k, L, *S)``."""
        return self.sample_maps["change"]

    @property
    def class_contributions(self) -> np.ndarray:
        """Mean ``change`` map of each class at the selected layers, ``(C, m, *S)``."""
        return self.class_maps["change"][:, self.layers - 1]

    def accuracy_interval(self, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
        """Wilson score interval (95% by default) of every layer's accuracy."""
        return wilson_interval(self.accuracy, self.n, z)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable summary: per-layer curves, confusion matrix, chosen examples.

        Maps are left out (see :meth:`save` with ``.npz`` for those).
        """
        acc = self.accuracy
        lo, hi = self.accuracy_interval()
        return {
            "n": self.n,
            "depth": self.depth,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "image_shape": list(self.image_shape),
            "layout": self.layout,
            "final_accuracy": float(acc[-1]),
            "final_accuracy_95": [float(lo[-1]), float(hi[-1])],
            "max_abs_input": self.max_abs_input,
            "maps": list(self.map_names),
            "per_layer": {
                "layer": list(range(1, self.depth + 1)),
                "accuracy": acc.tolist(),
                "accuracy_95_low": lo.tolist(),
                "accuracy_95_high": hi.tolist(),
                "true_class_prob": self.true_class_prob.tolist(),
                "loss": self.loss.tolist(),
                "identity_distance": self.identity_distance.tolist(),
                "feature_distance": self.feature_distance.tolist(),
                "class_distance": self.class_distance.tolist(),
                **{f"clipping_share_{k}": v.tolist() for k, v in self.clipping_share.items()},
                **{f"evidence_share_{k}": v.tolist()
                   for k, v in self.evidence_shares.items()},
            },
            "confusion": self.confusion.tolist(),
            "class_counts": self.class_counts.tolist(),
            "layers": self.layers.tolist(),
            "samples": {
                "index": self.sample_indices.tolist(),
                "label": self.sample_labels.tolist(),
                "pred": self.sample_preds.tolist(),
            },
        }

    def save(self, path: str | Path) -> Path:
        """Write atomically: ``.json`` -> :meth:`to_dict`; ``.npz`` -> every array.

        An ``.npz`` file round-trips through :meth:`load`.
        """
        path = Path(path)
        if path.suffix == ".json":
            return save_json(path, self.to_dict())
        if path.suffix != ".npz":
            raise ValueError(f"path must end in .json or .npz, got {path.name!r}")
        arrays: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dict):
                arrays.update({f"{f.name}/{k}": v for k, v in value.items()})
            else:
                arrays[f.name] = value
        arrays["class_names"] = np.asarray(self.class_names, dtype=str)
        arrays["image_shape"] = np.asarray(self.image_shape, dtype=np.int64)
        arrays["layout"] = np.asarray("" if self.layout is None else self.layout)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> Interpretation:
        """Read an interpretation written by :meth:`save` to an ``.npz`` file."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError) as exc:
            raise ValueError(f"cannot read {path} as an interpretation .npz ({exc})") from None
        values: dict[str, Any] = {}
        for key, value in arrays.items():
            if "/" in key:
                group, name = key.split("/", 1)
                values.setdefault(group, {})[name] = value
            else:
                values[key] = value
        optional = {"evidence_shares", "layout"}  # added later: older files load without
        missing = {f.name for f in fields(cls)} - values.keys() - optional
        if missing:
            raise ValueError(f"{path} is not an interpretation file of this idmlp version: "
                             f"missing {sorted(missing)}; interpret the run again")
        values["class_names"] = tuple(str(s) for s in values["class_names"])
        values["image_shape"] = tuple(int(s) for s in values["image_shape"])
        values["max_abs_input"] = float(values["max_abs_input"])
        values["layout"] = str(values.get("layout", "")) or None
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})

    def summary(self) -> str:
        """Per-layer table as plain text (what the CLI prints)."""
        lo, hi = self.accuracy_interval()
        lines = [f"{'layer':>5}  {'accuracy (95% interval)':>24}  {'p(true)':>7}  "
                 f"{'loss':>6}  {'||W-sI||':>8}"]
        for i in range(self.depth):
            lines.append(
                f"{i + 1:>5}  {self.accuracy[i]:>8.3f} [{lo[i]:.3f}, {hi[i]:.3f}]  "
                f"{self.true_class_prob[i]:>7.3f}  {self.loss[i]:>6.3f}  "
                f"{self.identity_distance[i]:>8.4f}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Interpretation(n={self.n}, depth={self.depth}, classes={self.num_classes}, "
            f"final_accuracy={self.accuracy[-1]:.4f}, samples={len(self.sample_indices)})"
        )


def _check_inputs(model: object, X: object, y: object) -> tuple[Tensor, Tensor]:
    if not isinstance(getattr(model, "rule", None), ReadoutRule) or not callable(
            getattr(model, "readout", None)):
        raise ValueError("model must be an interpretable network (idmlp.nets.mlp."
                         f"InterpretableMLP or another with readout()), got {type(model).__name__}")
    X = torch.as_tensor(X)
    y = torch.as_tensor(y)
    if X.ndim != 2 or X.shape[1] != model.in_features:
        raise ValueError(
            f"X must have shape (n, {model.in_features}) (standardized, flattened inputs), "
            f"got {tuple(X.shape)}"
        )
    if not X.is_floating_point():
        raise ValueError(f"X must be a floating-point tensor, got {X.dtype}")
    if y.ndim != 1 or len(y) != len(X) or len(y) == 0:
        raise ValueError(f"y must have shape ({len(X)},) (one label per row of X), "
                         f"got {tuple(y.shape)}")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"y must hold integer class labels, got {y.dtype}")
    if int(y.min()) < 0 or int(y.max()) >= model.num_classes:
        raise ValueError(f"y must hold labels in 0..{model.num_classes - 1}, "
                         f"got {int(y.min())}..{int(y.max())}")
    return X, y.long().cpu()  # labels are small; results are gathered on the CPU


def interpret(
    model: InterpretableMLP,
    X: Tensor,
    y: Tensor,
    *,
    batch_size: int = 1024,
    sample_indices: Sequence[int] | None = None,
    layers: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    maps: Sequence[str] | None = None,
    layout: str | None = None,
) -> Interpretation:
    r"""Interpret every layer of ``model`` on the labelled set ``(X, y)``.

    One batched :meth:`InterpretableMLP.readout` per chunk of ``batch_size`` examples
    (chunks only bound memory; ``batch_size`` changes the result by float rounding at
    most). For layer :math:`\ell` with logits :math:`z^\ell` and contribution map
    :math:`c^\ell = x^\ell_{1..N} - x^0`:

    .. math::

        \mathrm{acc}_\ell = \tfrac1n \textstyle\sum_i [\arg\max z^\ell_i = y_i], \quad
        \bar p_\ell = \tfrac1n \textstyle\sum_i \mathrm{softmax}(z^\ell_i)_{y_i}, \quad
        \bar c^\ell_k = \tfrac{1}{n_k} \textstyle\sum_{i: y_i = k} c^\ell_i.

    Args:
        model: a (trained) :class:`~idmlp.nets.mlp.InterpretableMLP`; it is run in eval
            mode on its own device and left in the mode it was in.
        X: scaled, flattened inputs ``(n, N)`` (the same scaling as in training).
        y: integer labels ``(n,)`` in ``0..C-1``.
        batch_size: examples per chunk (integer >= 1).
        sample_indices: the examples whose contribution maps are kept; default
            :func:`pick_samples` (the first example of each class).
        layers: layers ``1..L`` shown by the map figures; default :func:`default_layers`
            (8 evenly spaced, first and last included).
        class_names: one name per class; default ``"0" .. "C-1"``.
        maps: the maps to keep (names of :data:`idmlp.nets.readout.MAPS`, the default map
            first); default the ones read off the forward pass
            (:data:`idmlp.nets.readout.LAYERWISE_MAPS`).
        layout: what one input is (``signal``, ``image``, ``features``; default the
            model's, :attr:`~idmlp.nets.base.LayerwiseNet.layout`), for the figures.

    Returns:
        An :class:`Interpretation`.

    Examples:
        >>> net = InterpretableMLP(64, 10, depth=6, image_shape=(8, 8))
        >>> X, y = 0.1 * torch.randn(50, 64), torch.arange(50) % 10
        >>> it = interpret(net, X, y)
        >>> it.sample_maps["evidence"].shape, it.map_names[0]
        ((10, 6, 8, 8), 'evidence')
    """
    X, y = _check_inputs(model, X, y)
    batch_size = check_int("batch_size", batch_size)
    n, depth, c = len(X), model.depth, model.num_classes
    sel = default_layers(depth) if layers is None else check_indices(
        "layers", layers, 1, depth)
    chosen = (pick_samples(y, num_classes=c) if sample_indices is None
              else check_indices("sample_indices", sample_indices, 0, n - 1, sort=False)
              if len(sample_indices) else ())
    names_ = (tuple(str(i) for i in range(c)) if class_names is None
              else tuple(map(str, class_names)))
    if len(names_) != c:
        raise ValueError(f"class_names must have {c} entries (one per class), got {len(names_)}")

    names = LAYERWISE_MAPS if maps is None else tuple(check_choice("maps", m, tuple(MAPS))
                                                    for m in maps)
    chosen_t = torch.tensor(chosen, dtype=torch.long)
    k, shape, nf = len(chosen), model.image_shape, model.in_features
    class_sum = {m: torch.zeros(c, depth, nf, dtype=torch.float64) for m in names}
    s_maps = {m: torch.zeros(k, depth, nf) for m in names}
    moments = {m: _Moments(depth) for m in names}
    s_input = torch.zeros(k, nf)
    probs = torch.zeros(n, depth, c)
    preds = torch.zeros(n, depth, dtype=torch.long)
    max_abs = torch.zeros((), dtype=torch.float64)
    splits = callable(getattr(model, "evidence_terms", None))
    share_sum = {k: torch.zeros(depth, dtype=torch.float64) for k in _SHARES} if splits else {}
    share_n = torch.zeros(depth, dtype=torch.float64)

    def collect(batch: Batch) -> None:
        nonlocal max_abs
        r, yb = batch.readout, batch.y
        clip = r.clipping.flatten(2)  # (b, L, N): a CNN's maps are (C_in, H, W)
        max_abs = torch.maximum(max_abs, r.features[:, 0].abs().max().double().cpu())
        # positions in `chosen` of the examples that fall in this chunk
        pos = torch.nonzero((chosen_t >= batch.start) & (chosen_t < batch.stop)).flatten()
        local = (chosen_t[pos] - batch.start).to(yb.device)
        for m in names:
            value = r.maps(m, target=yb).detach().flatten(2)
            moments[m].add(value, clip)
            class_sum[m].index_add_(0, yb.cpu(), value.double().cpu())
            if len(pos):
                s_maps[m][pos] = value[local].float().cpu()
        if len(pos):
            s_input[pos] = r.features[local, 0].flatten(1).float().cpu()
        probs[batch.start : batch.stop] = r.probs.float().cpu()
        preds[batch.start : batch.stop] = r.preds.cpu()
        if splits:
            shares = r.evidence_shares(yb)
            defined = torch.isfinite(shares["feature"])
            share_n.add_(defined.sum(0).double().cpu())
            for k in _SHARES:
                share_sum[k].add_(shares[k].nan_to_num(0.0).sum(0).double().cpu())

    with torch.no_grad():
        metrics = evaluate(model, X, y, batch_size=batch_size, on_batch=[collect])
    counts = torch.bincount(y, minlength=c).numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        class_maps = {m: (v.numpy() / counts[:, None, None]).astype(np.float32)
                      .reshape(c, depth, *shape) for m, v in class_sum.items()}
    dist = model.block_identity_distance()
    return Interpretation(
        accuracy=metrics.accuracy.numpy(),
        true_class_prob=metrics.true_class_prob.numpy(),
        loss=metrics.loss.numpy(),
        confusion=metrics.confusion.numpy(),
        identity_distance=model.identity_distance().cpu().double().numpy(),
        feature_distance=dist["feature"].cpu().double().numpy(),
        class_distance=dist["class"].cpu().double().numpy(),
        sample_indices=np.asarray(chosen, dtype=np.int64).reshape(k),
        sample_labels=y[chosen_t].numpy().reshape(k),
        sample_inputs=s_input.numpy().reshape(k, *shape),
        sample_maps={m: v.numpy().reshape(k, depth, *shape) for m, v in s_maps.items()},
        probs=probs.numpy(),
        preds=preds.numpy(),
        labels=y.numpy(),
        layers=np.asarray(sel, dtype=np.int64),
        class_maps=class_maps,
        clipping_share={m: v.r2() for m, v in moments.items()},
        class_counts=counts.astype(np.int64),
        class_names=names_,
        image_shape=tuple(shape),
        max_abs_input=float(max_abs),
        evidence_shares={k: (v / share_n).numpy() for k, v in share_sum.items()},
        layout=layout if layout is not None else _layout(model),
    )


def interpret_run(
    run: TrainedRun,
    *,
    split: str = "test",
    samples: int | None = None,
    layers: Sequence[int] | None = None,
    batch_size: int = 1024,
) -> Interpretation:
    """:func:`interpret` a trained run on one of its splits (``train``, ``val``, ``test``),
    with :func:`pick_samples` choosing ``samples`` examples (default: one per class) and
    the run's class names."""
    X, y = run.tensors(split)
    chosen = pick_samples(y, samples, run.model.num_classes)
    return interpret(run.model, X, y, batch_size=batch_size, sample_indices=chosen,
                     layers=layers, class_names=run.dataset.class_names,
                     layout=_layout(run.model) or run.dataset.layout)


def _layout(model: Any) -> str | None:
    """What the figures draw for ``model``'s inputs: ``signal`` where it reads them as
    signals (the CNN on 1-D data, flat features included), else its layout (if any)."""
    rule = getattr(model, "rule", None)
    if getattr(rule, "is_signal", False):
        return "signal"
    return getattr(model, "layout", None)
