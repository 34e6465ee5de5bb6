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
  (:meth:`~idmlp.nets.base.LayerwiseNet.identity_distance` and
  :meth:`~idmlp.nets.base.LayerwiseNet.block_identity_distance`);
* the maps (:func:`snapshot_maps`) and per-layer class probabilities of one example per
  class (:func:`idmlp.train.evaluate.pick_samples`);
* at some of the snapshots (:func:`spectrum_snapshots`; the singular values of a
  794 x 794 float64 Jacobian cost about five training steps each), the singular values of
  the input-output Jacobian of the layer stack at :math:`x^0 = (\sqrt{q_0}\,z, 0_C)`
  for a few of those examples, in float64 (:func:`idmlp.jacobian.dense.singular_values`),
  whose squares follow :func:`idmlp.theory.spectrum` at step 0 (NaN rows elsewhere).

:class:`SnapshotRecorder` is a :data:`~idmlp.train.loop.StepHook` of the
:class:`~idmlp.train.loop.Trainer`; it rewrites ``RUN/snapshots.npz`` atomically after every
snapshot. One file (rather than one per snapshot) keeps a run folder's snapshots one
object that is validated as a whole: the file records the run's identity
(:func:`idmlp.config.run_identity`) and the planned steps, and its snapshots must be the
first ones of that plan, so a truncated file or one from another run is refused in one
line. Its size is dominated by the maps (``K x C x L x N`` float32, about 10 MB for
``K = 16`` on mnist5k, a tenth of the checkpoint), so the rewrites cost little. A resumed
run keeps the snapshots up to its checkpoint and continues the same file; the snapshots
equal those of an uninterrupted run, bit for bit (same code path on the same weights).

This module records and stores them (the training layer); :mod:`idmlp.analysis.dynamics`
reads, summarizes and draws them.
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

from .._io import atomic_write_bytes
from .._validation import check_int
from ..jacobian.dense import singular_values
from ..nets.readout import DEFAULT_MAP, LayerReadout
from .evaluate import Batch, eval_mode, evaluate, pick_samples

if TYPE_CHECKING:
    from .loop import Trainer

__all__ = [
    "SNAPSHOT_FILE",
    "SnapshotRecorder",
    "Snapshots",
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
                  "singular_values": (s, j, self.jacobian_inputs[0].size if j else 0)}
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
        model: the :class:`~idmlp.nets.base.InterpretableNet` being trained.
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
            whole = model.identity_distance()
            maps = snapshot_maps(r, self.y[idx]).flatten(start_dim=2)
            # a NaN or inf weight makes its layer's distance NaN or inf: no pass over them
            finite = (bool(torch.isfinite(whole).all()) and math.isfinite(model.logit_scale)
                      and all(bool(torch.isfinite(p).all()) for p in model.parameters()))
            if not self.jacobian_samples:
                sv = torch.zeros(0, 0)
            elif finite and step in self.spectrum_steps:
                sv = singular_values(model.layer_stack(), self._x0.flatten(1),
                                     dtype=torch.float64)
            else:  # no spectrum at this snapshot (or a diverging run: no SVD of NaNs)
                sv = torch.full((len(self.jacobian_samples), self._x0[0].numel()), math.nan)
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

    def finish(self, model: Any, kept_step: int) -> None:
        """End the snapshots at the weights a run keeps (early stopping's best epoch, at
        optimizer step ``kept_step``, loaded in ``model``): the snapshots after it are
        dropped, one of ``model`` at ``kept_step`` is taken where the plan had none, and
        the plan becomes the steps kept, so the file is complete and its last snapshot is
        the kept network. Taking it again gives the same file (a resumed run that had
        already stopped)."""
        kept_step = check_int("kept_step", kept_step, minimum=0)
        plan = [s for s in self.snapshots.planned if s < kept_step] + [kept_step]
        if tuple(plan) == self.snapshots.planned and len(self.snapshots) == len(plan):
            return
        snaps = self.snapshots.truncate(kept_step)
        meta = {**snaps.meta, "steps": plan, "planned_steps": list(snaps.planned),
                "kept_step": kept_step}
        self.snapshots = Snapshots(meta, snaps.jacobian_inputs, snaps.arrays)
        if len(self.snapshots) < len(plan):
            self.spectrum_steps = self.spectrum_steps | {kept_step}
            self.snapshots.meta["spectra"] = sorted(
                {int(s) for s in self.snapshots.meta.get("spectra", []) if s < kept_step}
                | {kept_step} if self.jacobian_samples else set())
            self._next = len(self.snapshots)
            self.record(model, kept_step)
        else:
            self._next = len(plan)
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
        if "kept_step" in stored.meta and tuple(stored.meta.get("planned_steps", ())) == (
                self.snapshots.planned):  # a run that had stopped early: nothing to add
            self.snapshots, self._next, self.folder = stored, len(stored), folder
            return
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


