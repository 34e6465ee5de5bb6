r"""Learning dynamics: snapshots of every layer during training, stored in the run folder.

The paper's future work asks how the features change during learning. With
``DynamicsConfig(snapshots=K)`` (``idmlp train --snapshots K``), a run records ``K``
snapshots at optimizer steps log-spaced from step 0 (the identity initialization) to the
last step (:func:`snapshot_steps`). Each snapshot holds, on a fixed held-out subset (the
first ``snapshot_examples`` examples of the validation split, or of the test split when
the run has none):

* per-layer accuracy, mean true-class probability and loss of the built-in readout
  (:func:`idmlp.train.evaluate.evaluate`);
* per-layer identity distance :math:`\|W^\ell - \sigma I\|_F / \|\sigma I\|_F`, whole and
  restricted to the feature rows :math:`d_f` and the class rows :math:`d_c`
  (:meth:`~idmlp.nets.mlp.InterpretableMLP.block_identity_distance`; the whole one is
  :math:`\sqrt{(N d_f^2 + C d_c^2) / (N + C)}`, the same norm split by rows);
* the maps (:func:`snapshot_maps`) and per-layer class probabilities of one example per
  class (:func:`idmlp.analysis.interpret.pick_samples`);
* at some of the snapshots (:func:`spectrum_snapshots`; the singular values of a
  794 x 794 float64 Jacobian cost about five training steps each), the singular values of
  the input-output Jacobian of the layer stack at :math:`x^0 = (\sqrt{q_0}\,z, 0_C)`
  for a few of those examples, in float64 (:func:`idmlp.jacobian.dense.singular_values`),
  whose squares follow :func:`idmlp.theory.spectrum` at step 0 (NaN rows elsewhere).

:class:`SnapshotRecorder` is a :data:`~idmlp.train.loop.StepHook` of the
:class:`~idmlp.train.loop.Trainer`; it rewrites ``RUN/snapshots.npz`` atomically after every
snapshot. One file (rather than one per snapshot) keeps a run folder's snapshots one
object that is validated as a whole: the file records the run's identity
(:func:`idmlp.train.runs.run_identity`) and the planned steps, and its snapshots must be the
first ones of that plan, so a truncated file or one from another run is refused in one
line. Its size is dominated by the maps (``K x C x L x N`` float32, about 10 MB for
``K = 16`` on mnist5k, a tenth of the checkpoint), so the rewrites cost little. A resumed
run keeps the snapshots up to its checkpoint and continues the same file; the snapshots
equal those of an uninterrupted run, bit for bit (same code path on the same weights).

:func:`plot_dynamics` draws them (``idmlp dynamics RUN``) with
:mod:`idmlp.plots.dynamics`; the report's "During training" section is
:func:`idmlp.report.dynamics.dynamics_section`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from .._io import atomic_write_bytes, save_json
from .._validation import check_int
from ..jacobian.dense import singular_values
from ..nets.readout import DEFAULT_MAP, LayerReadout
from ..train.evaluate import Batch, eval_mode, evaluate
from .interpret import default_layers, pick_samples

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..train.loop import Trainer

__all__ = [
    "SNAPSHOT_FILE",
    "SnapshotRecorder",
    "Snapshots",
    "dynamics_summary",
    "load_snapshots",
    "plot_dynamics",
    "snapshot_maps",
    "snapshot_steps",
    "spectrum_snapshots",
]

SNAPSHOT_FILE = "snapshots.npz"
_FORMAT = "idmlp-snapshots-v1"
#: The per-snapshot arrays of a :class:`Snapshots`, with their dtypes.
_FIELDS: dict[str, Any] = {
    "step": np.int64, "seconds": np.float64, "logit_scale": np.float64,
    "accuracy": np.float64, "true_class_prob": np.float64, "loss": np.float64,
    "distance": np.float64, "feature_distance": np.float64, "class_distance": np.float64,
    "maps": np.float32, "sample_probs": np.float32, "singular_values": np.float64,
}


def snapshot_steps(total: int, k: int) -> tuple[int, ...]:
    r"""``k`` distinct optimizer steps in ``0..total``, log-spaced, with 0 and ``total``.

    Step :math:`t` means "after :math:`t` optimizer steps" (0: the initialization). The
    steps after 0 are :math:`t_i = \operatorname{round}(T^{(i-1)/(k-2)})`,
    :math:`i = 1..k-1` (:math:`t_1 = 1`, :math:`t_{k-1} = T`), pushed apart to stay
    distinct where rounding merges them (early steps are then consecutive).

    Args:
        total: the run's number of optimizer steps :math:`T \ge 1`.
        k: the number of snapshots, an integer in ``2..total``.

    Examples:
        >>> snapshot_steps(480, 8)
        (0, 1, 3, 8, 22, 61, 172, 480)
        >>> snapshot_steps(5, 5)
        (0, 1, 2, 3, 5)
    """
    total = check_int("total", total)
    k = check_int("snapshots", k, minimum=2)
    if k > total:
        raise ValueError(f"snapshots must be at most the run's number of optimizer steps "
                         f"({total}), got {k}; ask for fewer snapshots or more steps")
    steps = np.zeros(k, dtype=np.int64)
    steps[1:] = np.rint(np.geomspace(1, total, k - 1)) if k > 2 else total
    for i in range(1, k):  # distinct, increasing ...
        steps[i] = max(steps[i], steps[i - 1] + 1)
    steps[-1] = total
    for i in range(k - 2, -1, -1):  # ... and within 0..total
        steps[i] = min(steps[i], steps[i + 1] - 1)
    return tuple(int(s) for s in steps)


def spectrum_snapshots(k: int, m: int) -> tuple[int, ...]:
    """Which of ``k`` snapshots (indices) hold the Jacobian spectrum: ``min(m, k)`` evenly
    spread ones, the first and (for ``m >= 2``) the last included; ``m = 0``: none.

    Snapshots are log-spaced in steps, so these are too.

    Examples:
        >>> spectrum_snapshots(16, 5)
        (0, 4, 8, 11, 15)
        >>> spectrum_snapshots(3, 5), spectrum_snapshots(16, 1)
        ((0, 1, 2), (0,))
    """
    k = check_int("snapshots", k)
    m = check_int("snapshot_spectra", m, minimum=0)
    if m == 0:
        return ()
    return tuple(sorted({int(i) for i in np.rint(np.linspace(0, k - 1, min(m, k)))}))


def snapshot_maps(readout: LayerReadout, y: Tensor) -> Tensor:
    r"""The maps a snapshot stores for its chosen examples: the default map of every layer
    (:data:`idmlp.nets.readout.DEFAULT_MAP`, the class evidence for the true class ``y``),
    ``(B, L, *F)``.

    The one place that decides which map the learning dynamics follow; ``y`` (the
    examples' labels, ``(B,)``) is there for class-dependent maps.

    Examples:
        >>> from idmlp.nets.mlp import InterpretableMLP
        >>> net = InterpretableMLP(4, 3, depth=2)
        >>> snapshot_maps(net.readout(torch.zeros(5, 4)), torch.zeros(5, dtype=torch.long)).shape
        torch.Size([5, 2, 4])
    """
    return readout.maps(DEFAULT_MAP, target=y)


# -- the stored snapshots -------------------------------------------------------------


@dataclass(eq=False)
class Snapshots:
    """The snapshots of one run: what they are about (``meta``) and one array per
    quantity, stacked over snapshots (leading dimension ``S``, the snapshots so far).

    ``meta`` holds ``run_id``, the planned ``steps``, ``steps_per_epoch``, the ``split``
    and the ``subset`` size the metrics are computed on, the ``samples`` (indices into
    the subset) and their ``labels``, the ``jacobian_samples``, the network's ``depth``,
    ``sigma``, ``q0``, ``activation``, ``in_features``, ``num_classes``,
    ``image_shape``, and the ``class_names``. ``jacobian_inputs`` are the states
    :math:`x^0` ``(J, N + C)`` at which the Jacobians are taken.

    Arrays (``L`` layers, ``k`` examples, ``J`` Jacobian inputs, ``F`` a map's shape):
    ``step`` ``(S,)``, ``seconds`` (time the snapshot took), ``logit_scale``,
    ``accuracy`` / ``true_class_prob`` / ``loss`` / ``distance`` / ``feature_distance``
    / ``class_distance`` ``(S, L)``, ``maps`` ``(S, k, L, *F)`` float32,
    ``sample_probs`` ``(S, k, L, C)`` float32, ``singular_values`` ``(S, J, N + C)``
    float64 (descending; NaN at the snapshots without a spectrum, see
    :attr:`has_spectrum`).
    """

    meta: dict[str, Any]
    jacobian_inputs: np.ndarray
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.arrays["step"]) if self.arrays else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @property
    def steps(self) -> np.ndarray:
        """Steps of the snapshots taken so far, ``(S,)``."""
        return self.arrays["step"]

    @property
    def planned(self) -> tuple[int, ...]:
        return tuple(self.meta["steps"])

    @property
    def complete(self) -> bool:
        """Whether every planned snapshot is there."""
        return len(self) == len(self.planned)

    @property
    def has_spectrum(self) -> np.ndarray:
        """Which snapshots hold the Jacobian spectrum, ``(S,)`` bool (``meta["spectra"]``,
        the steps that do; all of them when absent)."""
        spectra = self.meta.get("spectra")
        if spectra is None:
            return np.ones(len(self), dtype=bool)
        return np.isin(self.steps, np.asarray(spectra, dtype=np.int64))

    @property
    def epochs(self) -> np.ndarray:
        """The snapshots' times in epochs (step / steps per epoch), ``(S,)``."""
        return self.steps / float(self.meta["steps_per_epoch"])

    def images(self) -> np.ndarray:
        """The maps shaped as images, ``(S, k, L, *image_shape)``."""
        maps = self.arrays["maps"]
        return maps.reshape(*maps.shape[:3], *self.meta["image_shape"])

    def append(self, record: Mapping[str, Any]) -> None:
        """Add one snapshot (one value per array name, without the leading ``S``)."""
        missing = sorted(set(_FIELDS) - set(record))
        if missing:
            raise ValueError(f"a snapshot needs {', '.join(missing)}")
        for name, dtype in _FIELDS.items():
            value = np.asarray(record[name], dtype=dtype)[None]
            old = self.arrays.get(name)
            self.arrays[name] = value if old is None else np.concatenate([old, value])

    def truncate(self, step: int) -> Snapshots:
        """The snapshots taken at steps ``<= step`` (a resumed run's checkpoint)."""
        keep = self.steps <= step if self.arrays else np.zeros(0, dtype=bool)
        return Snapshots(dict(self.meta), self.jacobian_inputs,
                         {k: v[keep] for k, v in self.arrays.items()})

    def to_bytes(self) -> bytes:
        """The ``.npz`` file (uncompressed: zip's CRC still catches a damaged file)."""
        buf = io.BytesIO()
        meta = {**self.meta, "format": _FORMAT}
        np.savez(buf, meta=np.array(json.dumps(meta)), jacobian_inputs=self.jacobian_inputs,
                 **self.arrays)
        return buf.getvalue()

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_bytes` to ``path`` atomically (the old file stays on failure)."""
        return atomic_write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | Path, run_id: str | None = None) -> Snapshots:
        """Read a file written by :meth:`save`, validated (:meth:`validate`).

        Raises:
            ValueError: (one line) unreadable, truncated or corrupt; not a snapshot file;
                from another run than ``run_id``; inconsistent arrays.
        """
        path = Path(path)
        fix = ("delete it to record the snapshots anew (retrain), or restore it from a copy")
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
        except FileNotFoundError:
            raise ValueError(f"{path} does not exist; the run was trained without "
                             "snapshots (idmlp train --snapshots K)") from None
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile,
                zipfile.LargeZipFile) as err:
            raise ValueError(f"{path} is truncated or corrupt ({_short(err)}); {fix}"
                             ) from None
        try:
            meta = json.loads(str(data.pop("meta")))
            if not isinstance(meta, dict) or meta.pop("format", None) != _FORMAT:
                raise ValueError
            inputs = data.pop("jacobian_inputs")
        except (KeyError, ValueError, TypeError):
            raise ValueError(f"{path} is not an idmlp snapshot file (no '{_FORMAT}' tag); "
                             f"{fix}") from None
        snaps = cls(meta, inputs, data)
        snaps.validate(run_id, where=str(path))
        return snaps

    def validate(self, run_id: str | None = None, *, where: str = "snapshots") -> None:
        """Check the arrays against ``meta`` (and ``meta["run_id"]`` against ``run_id``).

        A valid set has every array with ``S`` rows of the right shape, and its steps are
        the first ``S`` planned ones.
        """
        meta = self.meta
        keys = ("run_id", "steps", "steps_per_epoch", "depth", "in_features", "num_classes",
                "image_shape", "samples", "sigma", "q0", "activation")
        missing = [k for k in keys if k not in meta]
        if missing:
            raise ValueError(f"{where} is not an idmlp snapshot file (meta lacks "
                             f"{missing[0]})")
        if run_id is not None and meta["run_id"] != run_id:
            raise ValueError(f"{where} belongs to another run (run id {meta['run_id']}, this "
                             f"run is {run_id}); was it copied from another run folder?")
        if self.arrays.keys() != _FIELDS.keys():
            raise ValueError(f"{where} is not an idmlp snapshot file (arrays "
                             f"{', '.join(sorted(set(_FIELDS) ^ set(self.arrays)))} differ)")
        s = len(self)
        depth, n, c = meta["depth"], meta["in_features"], meta["num_classes"]
        k, j = len(meta["samples"]), len(self.jacobian_inputs)
        shapes = {"step": (s,), "seconds": (s,), "logit_scale": (s,),
                  **{name: (s, depth) for name in ("accuracy", "true_class_prob", "loss",
                                                   "distance", "feature_distance",
                                                   "class_distance")},
                  "maps": (s, k, depth, n), "sample_probs": (s, k, depth, c),
                  "singular_values": (s, j, n + c if j else 0)}
        for name, shape in shapes.items():
            if self.arrays[name].shape != shape:
                raise ValueError(f"{where} is truncated or inconsistent ({name} has shape "
                                 f"{self.arrays[name].shape}, expected {shape})")
        if tuple(self.steps.tolist()) != tuple(meta["steps"][:s]):
            raise ValueError(f"{where} is inconsistent (its steps are not the first {s} "
                             "planned ones)")


def _short(err: BaseException) -> str:
    from ..runtime import one_line

    return one_line(err, 200)


def load_snapshots(run_dir: str | Path) -> Snapshots:
    """The snapshots of the run folder ``run_dir``, checked against its ``config.json``.

    Raises:
        ValueError: not a run folder, a run without snapshots, a truncated file, a file
            of another run (one line each).
    """
    from ..train.runs import _read_info, load_config, run_identity

    run = Path(run_dir)
    config = load_config(run)
    if not config.dynamics.snapshots and not (run / SNAPSHOT_FILE).exists():
        raise ValueError(f"{run} was trained without snapshots; train with "
                         "'idmlp train --snapshots K' (e.g. 16)")
    stored = _read_info(run).get("config")  # the identity the run folder recorded
    return Snapshots.load(run / SNAPSHOT_FILE, run_identity(stored or config))


# -- recording during training ----------------------------------------------------------


def _select(readout: LayerReadout, rows: Tensor) -> LayerReadout:
    """The readout of the examples ``rows`` (every tensor field indexed on its batch
    dimension, one network)."""
    return dataclasses.replace(readout, **{
        f.name: getattr(readout, f.name)[rows] for f in dataclasses.fields(readout)
        if isinstance(getattr(readout, f.name), Tensor)})


def _concat(parts: Sequence[LayerReadout]) -> LayerReadout:
    """The readouts of several batches as one (tensor fields concatenated)."""
    return dataclasses.replace(parts[0], **{
        f.name: torch.cat([getattr(p, f.name) for p in parts])
        for f in dataclasses.fields(parts[0]) if isinstance(getattr(parts[0], f.name), Tensor)})



class SnapshotRecorder:
    r"""A :data:`~idmlp.train.loop.StepHook` that takes the snapshots of a run (module docstring).

    Args:
        model: the :class:`~idmlp.nets.mlp.InterpretableMLP` being trained.
        X, y: the fixed held-out subset (inputs as the model takes them, labels).
        steps: the planned steps (:func:`snapshot_steps`).
        run_id: the run's identity, stored in the file.
        split: the name of the split the subset comes from (stored).
        jacobians: number of examples (one per class, label order) with Jacobians.
        spectra: how many snapshots hold the Jacobian spectrum (:func:`spectrum_snapshots`;
            ``None``: all).
        steps_per_epoch: for the time axis in epochs.
        class_names: stored for the figures.
        folder: where :data:`SNAPSHOT_FILE` is written (``None``: kept in memory only);
            may be changed between snapshots (a run folder built under a temporary name).
        batch_size: evaluation chunk size.

    Examples:
        >>> from idmlp.nets.mlp import InterpretableMLP
        >>> net = InterpretableMLP(4, 3, depth=2)
        >>> X, y = 0.5 * torch.randn(30, 4), torch.arange(30) % 3
        >>> rec = SnapshotRecorder(net, X, y, steps=(0, 1, 5), run_id="demo", split="test")
        >>> rec.take(net, 0)["accuracy"].shape
        (2,)
    """

    def __init__(
        self,
        model: Any,
        X: Tensor,
        y: Tensor,
        *,
        steps: Sequence[int],
        run_id: str,
        split: str,
        jacobians: int = 1,
        spectra: int | None = None,
        steps_per_epoch: int = 1,
        class_names: Sequence[str] | None = None,
        folder: str | Path | None = None,
        batch_size: int = 1024,
    ) -> None:
        if len(X) != len(y) or len(y) == 0:
            raise ValueError(f"the snapshot subset needs as many labels as inputs (> 0), got "
                             f"{len(X)} and {len(y)}")
        jacobians = check_int("snapshot_jacobians", jacobians, minimum=0)
        if jacobians > len(y):
            raise ValueError(f"snapshot_jacobians must be at most the snapshot subset's size "
                             f"({len(y)}), got {jacobians}")
        steps = tuple(int(s) for s in steps)
        if len(steps) < 2 or steps[0] != 0 or bool(np.any(np.diff(steps) <= 0)):
            raise ValueError("steps must be increasing, start at 0 and hold at least 2 steps")
        m = len(steps) if spectra is None else spectra
        chosen = spectrum_snapshots(len(steps), m) if jacobians else ()
        self.spectrum_steps = frozenset(steps[i] for i in chosen)
        self.X, self.y = X, y
        self.batch_size = check_int("batch_size", batch_size)
        self.folder = None if folder is None else Path(folder)
        c = int(model.num_classes)
        self.samples = pick_samples(y, num_classes=c)
        self.jacobian_samples = pick_samples(y, jacobians, num_classes=c) if jacobians else ()
        with torch.no_grad():  # the states x^0 = (sqrt(q0) z, 0_C) of the Jacobians, float64
            self._x0 = model.embed(X[list(self.jacobian_samples)].double())
        shape = tuple(model.image_shape) if model.image_shape else (int(model.in_features),)
        meta = {
            "run_id": run_id, "steps": list(steps), "steps_per_epoch": int(steps_per_epoch),
            "split": split, "subset": len(y), "samples": list(self.samples),
            "labels": [int(y[i]) for i in self.samples],
            "jacobian_samples": list(self.jacobian_samples),
            "spectra": sorted(self.spectrum_steps),
            "depth": int(model.depth), "sigma": float(model.sigma), "q0": float(model.q0),
            "activation": str(model.activation), "in_features": int(model.in_features),
            "num_classes": c, "image_shape": list(shape),
            "class_names": [str(n) for n in (class_names or range(c))],
            "maps": DEFAULT_MAP,
        }
        self.snapshots = Snapshots(meta, self._x0.cpu().numpy())
        self._next = 0  # index of the next planned step

    @property
    def path(self) -> Path | None:
        return None if self.folder is None else self.folder / SNAPSHOT_FILE

    def take(self, model: Any, step: int) -> dict[str, Any]:
        """One snapshot of ``model`` (no gradients, eval mode, no random draws)."""
        t0 = time.perf_counter()
        idx = torch.as_tensor(self.samples, device=self.y.device)
        chosen: list[LayerReadout] = []
        where: list[Tensor] = []

        def keep_samples(batch: Batch) -> None:  # the chosen examples' rows of the pass
            (which,) = ((idx >= batch.start) & (idx < batch.stop)).nonzero(as_tuple=True)
            if len(which):
                chosen.append(_select(batch.readout, idx[which] - batch.start))
                where.append(which)

        with eval_mode(model):
            m = evaluate(model, self.X, self.y, batch_size=self.batch_size, confusion=False,
                         on_batch=[keep_samples])
            # back to the order of self.samples
            r = _select(_concat(chosen), torch.cat(where).argsort())
            blocks = model.block_identity_distance()
            # the whole matrix from its two row blocks (sum of squares), one pass less
            n, c = int(model.in_features), int(model.num_classes)
            whole = ((blocks["feature"] ** 2 * n + blocks["class"] ** 2 * c) / (n + c)).sqrt()
            maps = snapshot_maps(r, self.y[idx]).flatten(start_dim=2)
            # a NaN or inf weight makes its layer's distance NaN or inf: no pass over them
            finite = (bool(torch.isfinite(whole).all()) and math.isfinite(model.logit_scale)
                      and all(bool(torch.isfinite(layer.bias).all()) for layer in model.layers
                              if layer.bias is not None))
            if not self.jacobian_samples:
                sv = torch.zeros(0, 0)
            elif finite and step in self.spectrum_steps:
                sv = singular_values(model, self._x0, dtype=torch.float64, method="mlp")
            else:  # no spectrum at this snapshot (or a diverging run: no SVD of NaNs)
                n = int(model.in_features) + int(model.num_classes)
                sv = torch.full((len(self.jacobian_samples), n), math.nan)
            record = {
                "step": step, "logit_scale": float(model.logit_scale),
                "accuracy": m.accuracy.numpy(), "true_class_prob": m.true_class_prob.numpy(),
                "loss": m.loss.numpy(), "distance": whole.cpu().numpy(),
                "feature_distance": blocks["feature"].cpu().numpy(),
                "class_distance": blocks["class"].cpu().numpy(),
                "maps": maps.cpu().numpy(), "sample_probs": r.probs.cpu().numpy(),
                "singular_values": sv.cpu().numpy(),
            }
        record["seconds"] = time.perf_counter() - t0
        return record

    def __call__(self, trainer: Trainer) -> None:
        planned = self.snapshots.planned
        if self._next < len(planned) and trainer.step == planned[self._next]:
            self.record(trainer.model, trainer.step)

    def record(self, model: Any, step: int) -> None:
        """Take the snapshot of ``step`` (the next planned one), append it and rewrite
        the file."""
        self.snapshots.append(self.take(model, step))
        self._next += 1
        if self.folder is not None:
            self.snapshots.save(self.folder / SNAPSHOT_FILE)

    def resume(self, folder: str | Path, step: int) -> None:
        """Continue the snapshot file of ``folder`` from a checkpoint at ``step``: keep the
        snapshots up to ``step`` (later ones, written before a crash, are taken again).

        Raises:
            ValueError: a missing, truncated or foreign file, or one that lacks a snapshot
                the checkpoint has passed (one line).
        """
        folder = Path(folder)
        meta = self.snapshots.meta
        stored = Snapshots.load(folder / SNAPSHOT_FILE, meta["run_id"])
        if stored.planned != self.snapshots.planned:
            raise ValueError(f"{folder / SNAPSHOT_FILE} plans other steps than this run; was "
                             "it copied from another run folder?")
        kept = stored.truncate(step)
        due = sum(1 for s in self.snapshots.planned if s <= step)
        if len(kept) != due:
            raise ValueError(f"{folder / SNAPSHOT_FILE} has {len(kept)} snapshots but the "
                             f"checkpoint (step {step}) has passed {due}; it is truncated, "
                             "restore it from a copy or retrain")
        self.snapshots = Snapshots(meta, self.snapshots.jacobian_inputs, kept.arrays)
        self._next = due
        self.folder = folder
        if len(kept) != len(stored):
            self.snapshots.save(folder / SNAPSHOT_FILE)


# -- reading the dynamics -------------------------------------------------------------


def _first_reaching(values: np.ndarray, steps: np.ndarray, fraction: float) -> np.ndarray:
    """Per column: the first step at which ``values`` reaches ``fraction`` of the way from
    its first to its last value."""
    start, end = values[0], values[-1]
    target = start + fraction * (end - start)
    rising = end >= start
    hit = np.where(rising, values >= target - 1e-12, values <= target + 1e-12)
    return steps[np.argmax(hit, axis=0)]


def dynamics_summary(snaps: Snapshots) -> dict[str, Any]:
    r"""Numbers that say what the snapshots show, per layer (lists of length ``L``).

    * ``acc_start``, ``acc_end``: accuracy at the first and last snapshot;
    * ``acc_step_90``: first snapshot step at which a layer's accuracy covers 90 % of its
      change from the first to the last snapshot ("saturation");
    * ``class_distance_end``, ``feature_distance_end``: identity distances at the end;
    * ``class_step_50``, ``feature_step_50``: first step with half the final distance;
    * ``distance_log_slope``: slope of log(mean distance) against log(step) over the
      snapshots after step 0 (1: linear growth in steps, < 1: slower);
    * ``jacobian``: at the snapshots with a spectrum (``steps``), the fraction of
      eigenvalues :math:`\lambda = s^2` above ``1e-12`` of the largest, and their mean.
    """
    if len(snaps) == 0:
        raise ValueError("there are no snapshots yet")
    steps = snaps.steps
    acc, cd, fd = snaps["accuracy"], snaps["class_distance"], snaps["feature_distance"]
    out: dict[str, Any] = {
        "steps": steps.tolist(), "epochs": snaps.epochs.tolist(),
        "split": snaps.meta.get("split"), "subset": snaps.meta.get("subset"),
        "acc_start": acc[0].tolist(), "acc_end": acc[-1].tolist(),
        "acc_step_90": _first_reaching(acc, steps, 0.9).tolist(),
        "class_distance_end": cd[-1].tolist(), "feature_distance_end": fd[-1].tolist(),
        "class_step_50": _first_reaching(cd, steps, 0.5).tolist(),
        "feature_step_50": _first_reaching(fd, steps, 0.5).tolist(),
        "seconds": float(snaps["seconds"].sum()),
    }
    later = steps > 0
    mean_d = snaps["distance"].mean(axis=1)
    ok = later & (mean_d > 0)
    if ok.sum() >= 2:
        out["distance_log_slope"] = float(np.polyfit(np.log(steps[ok]), np.log(mean_d[ok]), 1)[0])
    has = snaps.has_spectrum
    sv = snaps["singular_values"][has]
    if sv.size:
        lam = sv.astype(np.float64) ** 2
        top = np.max(lam, axis=(1, 2), keepdims=True)
        out["jacobian"] = {
            "steps": steps[has].tolist(),
            "nonzero_fraction": np.mean(lam > 1e-12 * top, axis=(1, 2)).tolist(),
            "mean_eigenvalue": np.mean(lam, axis=(1, 2)).tolist(),
        }
    return out


def _law(snaps: Snapshots) -> tuple[Any, str]:
    """The law of the eigenvalues of J J^T at initialization: on the Jacobian inputs'
    data when :func:`idmlp.theory.spectrum_on_data` exists, else the Gaussian law."""
    from .. import theory

    meta = snaps.meta
    on_data = getattr(theory, "spectrum_on_data", None)
    n = meta["in_features"]
    if on_data is not None and len(snaps.jacobian_inputs):
        law = on_data(snaps.jacobian_inputs[:, :n], meta["sigma"], meta["depth"],
                      meta["activation"], num_classes=meta["num_classes"])
        return law, "law at initialization on these inputs (theory.spectrum_on_data)"
    law = theory.spectrum(meta["sigma"], meta["q0"], meta["depth"], meta["activation"])
    return law, f"Gaussian law at initialization, q0 = {meta['q0']:g} (theory.spectrum)"


def dynamics_figures(snaps: Snapshots, *, layers: Sequence[int] | None = None,
                     samples: Sequence[int] | None = None) -> dict[str, Figure]:
    """The figures of :mod:`idmlp.plots.dynamics` for ``snaps``, by file stem: the heat
    maps, the Jacobian spectrum (if recorded) and the maps of the chosen examples
    ``samples`` (indices into ``meta["samples"]``; default all) at ``layers`` (default: 4
    evenly spaced)."""
    from ..plots import dynamics as plots

    if len(snaps) == 0:
        raise ValueError("there are no snapshots yet")
    layers = tuple(layers) if layers is not None else default_layers(snaps.meta["depth"], 4)
    figs = {"heatmaps": plots.plot_layer_time_heatmaps(snaps)}
    if snaps["singular_values"].size and snaps.has_spectrum.any():
        law, label = _law(snaps)
        figs["jacobian_spectrum"] = plots.plot_spectrum_over_time(snaps, law, label)
    chosen = range(len(snaps.meta["samples"])) if samples is None else samples
    for i in chosen:
        figs[f"maps_sample{i}"] = plots.plot_sample_maps_over_time(snaps, i, layers)
    return figs


def save_animation(snaps: Snapshots, path: str | Path, *, layers: Sequence[int] | None = None,
                   fps: float = 2.0, dpi: int = 80) -> Path:
    """An animated GIF of the maps across training (one frame per snapshot), written
    atomically with matplotlib's :class:`~matplotlib.animation.PillowWriter`."""
    import tempfile

    from matplotlib.animation import PillowWriter

    from ..plots import dynamics as plots

    layers = tuple(layers) if layers is not None else default_layers(snaps.meta["depth"], 4)
    fig, update = plots.maps_animation(snaps, layers)
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        gif = Path(tmp) / "maps.gif"
        writer = PillowWriter(fps=fps)
        with writer.saving(fig, str(gif), dpi):
            for k in range(len(snaps)):
                update(k)
                writer.grab_frame()
        return atomic_write_bytes(path, gif.read_bytes())


def plot_dynamics(run_dir: str | Path, out: str | Path, *, overwrite: bool = False,
                  layers: Sequence[int] | None = None) -> dict[str, Path]:
    """Draw the snapshots of ``run_dir`` into the new folder ``out`` (built under a
    temporary name, in place only when complete): ``heatmaps.png``,
    ``jacobian_spectrum.png``, ``maps_sample{i}.png``, ``maps.gif`` and
    ``dynamics.json`` (:func:`dynamics_summary`). Returns the files by stem.

    Raises:
        ValueError: a run without snapshots, a truncated or foreign snapshot file, an
            existing ``out`` without ``overwrite`` (one line each, nothing written).
    """
    from .._io import atomic_output_dir, check_output_dir
    from ..plots import save_figure

    snaps = load_snapshots(run_dir)
    if len(snaps) == 0:
        raise ValueError(f"{Path(run_dir) / SNAPSHOT_FILE} holds no snapshot yet")
    out = Path(out)
    check_output_dir(out, overwrite)
    figs = dynamics_figures(snaps, layers=layers)
    summary = dynamics_summary(snaps)
    with atomic_output_dir(out, overwrite) as tmp:
        for stem, fig in figs.items():
            save_figure(fig, tmp / f"{stem}.png")
        save_animation(snaps, tmp / "maps.gif", layers=layers)
        save_json(tmp / "dynamics.json", summary)
    names = [*figs, "maps", "dynamics"]
    suffix = {"maps": ".gif", "dynamics": ".json"}
    return {stem: out / f"{stem}{suffix.get(stem, '.png')}" for stem in names}
