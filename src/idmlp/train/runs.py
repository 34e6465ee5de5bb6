r"""Run folders: train the interpretable MLP of a :class:`RunConfig` into a folder, resume it,
load it back.

A run folder::

    RUN/
      config.json      the RunConfig (data, model, optim, device), the model's full
                       ModelConfig, the scaler state, dataset facts, idmlp/torch versions
      metrics.jsonl    one JSON line per epoch (see idmlp.train.loop.fit_model)
      checkpoint.pt    model, optimizer, scheduler, RNG states, epoch, metrics, early
                       stopping's state (rewritten atomically after every epoch); once
                       training has ended, "model" holds the kept (best) epoch's weights
      stopping.json    when training has ended: why and when it stopped, the kept epoch,
                       and the check of the training accuracy against chance and a linear
                       model on the same split (with a warning naming the likely fix)
      snapshots.npz    with DynamicsConfig(snapshots=K): the snapshots of every layer
                       during training (idmlp.analysis.dynamics), rewritten after each one;
                       an early-stopped run's end at the kept epoch's weights
      data.npz         a run trained on data in memory (``fit(config, out, X, y)``, an
                       estimator's ``save(path, X, y)``): its training and test splits,
                       read back in place of ``config.data.dataset`` (``npz:data.npz``)

:func:`fit` loads the data (:meth:`DataConfig.load`, or takes arrays, tensors, a torch
``Dataset`` or ``DataLoader``: :func:`idmlp.data.as_dataset`), standardizes it with
statistics of the training split, builds the network of its architecture
(:func:`~idmlp.nets.base.build_model`), trains it with :class:`~idmlp.train.loop.Trainer`
and writes the folder; :func:`load_run` reads it back as a :class:`TrainedRun`; ``fit(...,
resume=True)`` continues an interrupted run and ends with exactly the weights of an
uninterrupted one (early stopping included: same stop, same kept weights). Run folders
of idmlp 0.1 (a flat ``train`` config and the input variance inside the scaler) load too.

**The kept weights.** With early stopping (the default) a run keeps its best epoch's
weights (lowest validation loss, :mod:`idmlp.train.loop`): :func:`load_run` loads them
(the best so far for a run that is still going), :attr:`TrainedRun.final_metrics` is that
epoch's record, and the snapshots end there. """

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import __version__
from .._io import (
    append_jsonl,
    atomic_output_dir,
    atomic_write_text,
    check_output_dir,
    folder_lock,
    save_json,
    torch_save_atomic,
)
from .._validation import check_choice, check_int, check_path
from ..config import ENVIRONMENT_FIELDS, RunConfig, run_identity
from ..data import Dataset, InputScaler, as_dataset, load_dataset
from ..nets.base import LayerwiseNet, build_model
from ..runtime import one_line, resolve_device
from .checkpoint import CHECKPOINT_FORMAT, CheckpointWriter, check_weights, read_checkpoint
from .checks import fit_check
from .loop import Trainer, TrainingDiverged, stop_message
from .snapshots import SnapshotRecorder, snapshot_steps

__all__ = [
    "DATA_FILE",
    "ENVIRONMENT_FIELDS",
    "RunConfig",
    "TrainedRun",
    "build_network",
    "fit",
    "fit_in_memory",
    "load_config",
    "load_model",
    "load_run",
    "make_trainer",
    "run_identity",
    "write_run",
]

CONFIG_FILE, METRICS_FILE, CHECKPOINT_FILE = "config.json", "metrics.jsonl", "checkpoint.pt"
STOPPING_FILE = "stopping.json"
#: The data a run folder carries when it was trained on data in memory; its config names
#: the dataset ``npz:data.npz``, read from the run folder.
DATA_FILE = "data.npz"
IN_RUN_DATASET = f"npz:{DATA_FILE}"
_RUN_FORMAT = "idmlp-run-v2"


@dataclass
class TrainedRun:
    """A trained run: its folder, config, model (eval mode, weights loaded) and data.

    Attributes:
        path: the run folder (``None`` for :func:`fit_in_memory`).
        config: the :class:`RunConfig` it was trained with.
        model: the :class:`~idmlp.nets.base.LayerwiseNet`, in eval mode.
        dataset: the raw :class:`~idmlp.data.Dataset` (same splits as in training).
        scaler: the :class:`~idmlp.data.InputScaler` fitted on the train split.
        metrics: the per-epoch records (see :func:`idmlp.train.loop.fit_model`).
    """

    path: Path
    config: RunConfig
    model: LayerwiseNet
    dataset: Dataset
    scaler: InputScaler
    metrics: list[dict[str, Any]]
    stopping: dict[str, Any] | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def epochs_done(self) -> int:
        return len(self.metrics)

    @property
    def complete(self) -> bool:
        """Whether training has ended: stopped early, or the whole budget is spent (else
        ``fit(resume=True)`` goes on)."""
        if self.stopping is not None and self.stopping.get("stopped"):
            return True
        n = len(self.dataset.y_train)
        budget = math.ceil(self.config.optim.total_steps(n) / self.config.optim.steps_per_epoch(n))
        return self.epochs_done >= budget

    @property
    def kept_epoch(self) -> int:
        """The epoch (1-based) whose weights :attr:`model` holds: the best one with early
        stopping (the best so far while training goes on), else the last one."""
        stopped = (self.stopping or {}).get("stopped")
        if stopped:
            return int(stopped["kept_epoch"])
        kept = (self.stopping or {}).get("kept_epoch")
        return int(kept) if kept else self.epochs_done

    @property
    def final_metrics(self) -> dict[str, Any]:
        """The record of :attr:`kept_epoch` (what the kept weights scored)."""
        if not self.metrics:
            raise ValueError(f"{self.path} has no completed epoch")
        return self.metrics[max(1, min(self.kept_epoch, len(self.metrics))) - 1]

    @property
    def warnings(self) -> list[str]:
        """One-line warnings about the training (a training accuracy close to chance or
        far below a linear model's, :func:`fit_check`)."""
        check = (self.stopping or {}).get("fit_check") or {}
        return [check["warning"]] if check.get("warning") else []

    def tensors(self, split: str) -> tuple[Tensor, Tensor]:
        """Standardized float32 inputs ``(n, N)`` and int64 labels of ``split`` (``train``,
        ``val`` or ``test``), on the model's device."""
        return _split_tensors(self.dataset, self.scaler, split, self.device)

    def train_tensors(self) -> tuple[Tensor, Tensor]:
        return self.tensors("train")

    def test_tensors(self) -> tuple[Tensor, Tensor]:
        return self.tensors("test")


def _split_tensors(dataset: Dataset, scaler: InputScaler, split: str,
                   device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    check_choice("split", split, ("train", "val", "test"))
    if split == "val" and not dataset.has_validation:
        raise ValueError(f"{dataset.name} has no validation split (val_size is 0)")
    X, y = getattr(dataset, f"X_{split}"), getattr(dataset, f"y_{split}")
    return (torch.as_tensor(scaler.transform(X), dtype=torch.float32, device=device),
            torch.as_tensor(y, dtype=torch.int64, device=device))


def _eval_sets(dataset: Dataset, scaler: InputScaler) -> dict[str, tuple[Tensor, Tensor]]:
    splits = ("val", "test") if dataset.has_validation else ("test",)
    return {s: _split_tensors(dataset, scaler, s) for s in splits}


def _recorder(config: RunConfig, trainer: Trainer, dataset: Dataset, scaler: InputScaler,
              stored: dict[str, Any] | None = None) -> SnapshotRecorder | None:
    """The snapshot step hook of ``config.dynamics`` (added to ``trainer``), or ``None``;
    ``stored``: the config dict of the run folder being resumed (its identity)."""
    dyn = config.dynamics
    if not dyn.snapshots:
        return None
    steps = snapshot_steps(trainer.total_steps, dyn.snapshots)
    split = "val" if dataset.has_validation else "test"
    X, y = _split_tensors(dataset, scaler, split, trainer.device)
    recorder = SnapshotRecorder(
        trainer.model, X[: dyn.snapshot_examples], y[: dyn.snapshot_examples], steps=steps,
        run_id=run_identity(config if stored is None else stored), split=split,
        jacobians=dyn.snapshot_jacobians,
        spectra=dyn.snapshot_spectra,
        steps_per_epoch=trainer.steps_per_epoch, class_names=dataset.class_names,
        batch_size=trainer.eval_batch_size)
    trainer.step_hooks.append(recorder)
    return recorder


def build_network(config: RunConfig, n_features: int, num_classes: int,
                  image_shape: tuple[int, ...], layout: str | None = None) -> LayerwiseNet:
    """The freshly initialized network of ``config`` for data of these sizes and layout;
    the random parts of its initialization come from the run's seed
    (``config.optim.seed``), not the global RNG. What :func:`fit` and
    :class:`idmlp.InterpretableClassifier` build."""
    return build_model(config.model.for_data(n_features, num_classes, image_shape, layout),
                       generator=torch.Generator().manual_seed(config.optim.seed))


def make_trainer(config: RunConfig, model: LayerwiseNet, train: tuple[Tensor, Tensor],
                 eval_sets: dict[str, tuple[Tensor, Tensor]], device: torch.device,
                 layout: str) -> Trainer:
    """The :class:`~idmlp.train.loop.Trainer` of ``config`` on standardized ``train``
    tensors of ``layout`` (what the default input noise depends on:
    :meth:`~idmlp.config.OptimConfig.resolved_input_noise`), scoring ``eval_sets`` after
    every epoch (the first must stay finite) and recording the weights' identity
    distances: what :func:`fit` and :class:`idmlp.InterpretableClassifier` train with."""
    optim = dataclasses.replace(config.optim,
                                input_noise=config.optim.resolved_input_noise(layout))
    return Trainer(model, *train, eval_sets, optim=optim, device=device,
                   hooks=[type(model).layer_metrics])


def _build(config: RunConfig, dataset: Dataset) -> LayerwiseNet:
    return build_network(config, dataset.n_features, dataset.num_classes, dataset.image_shape,
                         dataset.layout)


def _trainer(config: RunConfig, model: LayerwiseNet, dataset: Dataset, scaler: InputScaler,
             device: torch.device) -> Trainer:
    return make_trainer(config, model, _split_tensors(dataset, scaler, "train"),
                        _eval_sets(dataset, scaler), device, dataset.layout)


def _dataset_facts(dataset: Dataset) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "n_train": len(dataset.y_train),
        "n_val": 0 if dataset.y_val is None else len(dataset.y_val),
        "n_test": len(dataset.y_test),
        "n_features": dataset.n_features,
        "num_classes": dataset.num_classes,
        "image_shape": list(dataset.image_shape),
        "class_names": list(dataset.class_names),
    }


def _run_info(config: RunConfig, model: LayerwiseNet, facts: dict[str, Any],
              scaler: InputScaler, device: torch.device | str) -> dict[str, Any]:
    return {
        "format": _RUN_FORMAT,
        "config": config.to_dict(),
        "model": model.config.to_dict(),
        "dataset": facts,
        "device": str(device),
        "versions": {"idmlp": __version__, "torch": torch.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
        "scaler": scaler.state_dict(),
    }


def _write_data(dataset: Dataset, path: Path) -> None:
    """``dataset``'s training (before any validation split) and test splits as the npz
    that ``npz:PATH`` reads back into the same :class:`~idmlp.data.Dataset`."""
    shape = dataset.image_shape
    with path.open("wb") as fh:
        np.savez(fh, X=dataset.X_train.reshape(-1, *shape), y=dataset.y_train,
                 X_test=dataset.X_test.reshape(-1, *shape), y_test=dataset.y_test,
                 image_shape=np.asarray(shape), layout=np.asarray(dataset.layout),
                 class_names=np.asarray(dataset.class_names))


def _in_memory(config: RunConfig, data: Any, y: Any) -> tuple[RunConfig, Dataset]:
    """The run's config and raw dataset (no validation split yet) for data in memory."""
    if isinstance(data, Dataset) and data.has_validation:
        raise ValueError("give a Dataset without a validation split: the run carves it with "
                         f"val_size={config.data.val_size}")
    options = {} if isinstance(data, Dataset) else {
        "test_size": config.data.test_size, "seed": config.data.split_seed}
    dataset = as_dataset(data, y, **options)
    return config.replace(dataset=IN_RUN_DATASET, target=None), dataset


def _load_data(run: Path, config: RunConfig) -> Dataset:
    """The dataset of ``config``, or the run folder's own ``data.npz``."""
    if config.data.dataset != IN_RUN_DATASET:
        return config.data.load()
    path = run / DATA_FILE
    if not path.is_file():
        raise ValueError(f"{run} has no {DATA_FILE} (the data it was trained on); save the "
                         "run with its data, e.g. InterpretableClassifier.save(path, X, y)")
    ds = load_dataset(f"npz:{path}")
    data = config.data
    return ds.with_validation(data.val_size, data.split_seed) if data.val_size else ds


def write_run(out: str | Path, config: RunConfig, model: LayerwiseNet, scaler: InputScaler,
              facts: dict[str, Any], metrics: list[dict[str, Any]], *,
              dataset: Dataset | None = None, extra: dict[str, Any] | None = None,
              overwrite: bool = False) -> Path:
    """Write a finished run folder at once (built under a temporary name, renamed into
    place): ``config.json`` (with ``extra`` entries), ``metrics.jsonl``, ``checkpoint.pt``
    (the weights and metrics; no optimizer state, so it does not resume) and, with
    ``dataset``, ``data.npz`` (``config`` must then name ``npz:data.npz``)."""
    out = Path(out)
    check_output_dir(out, overwrite)
    info = {**_run_info(config, model, facts, scaler, next(model.parameters()).device),
            **(extra or {})}
    with folder_lock(out), atomic_output_dir(out, overwrite) as tmp:
        save_json(tmp / CONFIG_FILE, info)
        atomic_write_text(tmp / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in metrics))
        torch_save_atomic({"format": CHECKPOINT_FORMAT, "model": model.state_dict(),
                           "metrics": list(metrics), "epoch": len(metrics)},
                          tmp / CHECKPOINT_FILE)
        if dataset is not None:
            _write_data(dataset, tmp / DATA_FILE)
    return out


def _read_info(run: Path) -> dict[str, Any]:
    path = run / CONFIG_FILE
    if not run.is_dir() or not path.is_file() or not (run / CHECKPOINT_FILE).is_file():
        raise ValueError(f"{run} is not an idmlp training run (needs {CONFIG_FILE} and "
                         f"{CHECKPOINT_FILE}); give the folder that 'idmlp train' wrote")
    try:  # an unreadable file (permissions) is an environment failure: OSError, exit 1
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {path}: {one_line(err)}") from None
    if not isinstance(info, dict):
        raise ValueError(f"{path} is not an idmlp run config")
    if info.get("format") == _RUN_FORMAT and {"config", "scaler"} <= info.keys():
        return info
    if {"train", "model", "scaler"} <= info.keys():  # idmlp 0.1
        return info
    raise ValueError(f"{path} is not an idmlp run config (written by another version or "
                     "program); retrain with 'idmlp train'")


def _stored(run: Path, info: dict[str, Any]) -> tuple[RunConfig, InputScaler]:
    """The run's config and fitted scaler (0.1 runs: the scaler's q0 moves to the model)."""
    try:
        scaler = InputScaler.from_state_dict(info["scaler"])
        if "config" in info:
            return RunConfig.from_dict(info["config"]), scaler
        config = RunConfig.from_legacy(info["train"])
        q0 = info["scaler"].get("q0", config.model.q0)
        return config.replace(q0=q0), scaler
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"{run / CONFIG_FILE} has an invalid config: {one_line(err)}") from None


def _read_checkpoint(run: Path, device: torch.device, *, resume: bool = False
                     ) -> dict[str, Any]:
    return read_checkpoint(run / CHECKPOINT_FILE, device, resume=resume)


def _check_state(model: nn.Module, state: dict[str, Tensor], path: Path) -> None:
    check_weights(model, state, path, config_file=CONFIG_FILE)


def fit(
    config: RunConfig | None,
    out_dir: str | Path,
    data: Any = None,
    y: Any = None,
    *,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainedRun:
    """Train the interpretable MLP of ``config`` and write the run folder ``out_dir``.

    Everything is validated before any work starts. The folder is built under a temporary
    name and renamed into place when the first epoch's checkpoint is written, so a run
    that fails earlier leaves nothing; after that, ``checkpoint.pt`` and ``metrics.jsonl``
    are rewritten/appended atomically after every epoch, so an interrupted or diverged run
    keeps its last good epoch.

    Args:
        config: the run's :class:`RunConfig`. With ``resume`` it may be ``None`` (use the
            stored one); otherwise it must equal the stored one except in
            :data:`ENVIRONMENT_FIELDS` (``data_dir``, ``download``, ``device``).
        out_dir: the run folder.
        data, y: data in memory instead of ``config.data.dataset``: arrays, tensors or a
            ``DataFrame`` with labels ``y`` of any type, a torch ``Dataset`` or
            ``DataLoader`` of ``(input, label)`` pairs, or an :class:`~idmlp.data.Dataset`
            (:func:`idmlp.data.as_dataset`), validated like a file. It is split by
            ``config.data`` (``test_size``, ``val_size``, ``split_seed``) and written to the
            folder as ``data.npz``, so :func:`load_run` and ``idmlp interpret`` read it back.
        overwrite: replace an existing ``out_dir`` (refused otherwise).
        resume: continue the run in ``out_dir`` from its checkpoint; the final weights are
            exactly those of an uninterrupted run (same device).
        progress: show a tqdm progress bar.
        stop_after: train at most this many epochs in this call (the run stays resumable).

    Returns:
        The :class:`TrainedRun` (model in eval mode).

    Raises:
        ValueError: bad config, unknown dataset, bad data (NaN, shapes, a single class, ...:
            :class:`~idmlp.data.DataError`), existing folder, not a run, corrupt
            checkpoint (one line each); :class:`~idmlp.train.loop.TrainingDiverged` on NaN/inf.

    Examples:
        >>> from idmlp.config import DataConfig, ModelConfig, OptimConfig
        >>> cfg = RunConfig(DataConfig("digits"), ModelConfig(depth=3), OptimConfig(epochs=1))
        >>> fit(cfg, tmp / "run", progress=False).epochs_done
        1
        >>> X, labels = np.random.default_rng(0).normal(size=(60, 5)), ["a", "b", "c"] * 20
        >>> fit(cfg, tmp / "mine", X, labels, progress=False).dataset.class_names
        ('a', 'b', 'c')
    """
    if config is not None and not isinstance(config, RunConfig):
        raise ValueError(f"config must be a RunConfig, got {type(config).__name__}")
    if stop_after is not None:
        stop_after = check_int("stop_after", stop_after)
    out = check_path("out_dir", out_dir)
    if resume:
        if overwrite:
            raise ValueError("resume and overwrite exclude each other; resume continues the run")
        if data is not None or y is not None:
            raise ValueError("resume continues the run on the data in its folder; give no data")
        return _resume(config, out, progress=progress, stop_after=stop_after)
    if config is None:
        raise ValueError("config is required unless resume=True")
    if data is None and y is not None:
        raise ValueError("y was given without data; give fit(config, out, X, y)")
    device = resolve_device(config.device)
    check_output_dir(out, overwrite)
    raw = None
    if data is None:
        dataset = config.data.load()
    else:
        config, raw = _in_memory(config, data, y)
        val = config.data
        dataset = raw.with_validation(val.val_size, val.split_seed) if val.val_size else raw
    scaler = config.data.scaler(dataset)
    model = _build(config, dataset)
    trainer = _trainer(config, model, dataset, scaler, device)
    recorder = _recorder(config, trainer, dataset, scaler)
    info = _run_info(config, model, _dataset_facts(dataset), scaler, device)

    # The lock (released by the OS if this process dies) keeps a second writer out for as
    # long as this run writes the folder.
    with folder_lock(out), contextlib.ExitStack() as pending:
        # Until the first checkpoint, the run lives in a temporary folder that any exception
        # removes; the first checkpoint renames it into place (closing ``pending``).
        run_dir = pending.enter_context(atomic_output_dir(out, overwrite))
        save_json(run_dir / CONFIG_FILE, info)
        if raw is not None:
            _write_data(raw, run_dir / DATA_FILE)
        if recorder is not None:
            recorder.folder = run_dir

        writer = CheckpointWriter()  # epochs after the first are written in the background

        def on_epoch(record: dict[str, Any]) -> None:
            nonlocal run_dir
            if run_dir == out:
                _save_epoch(trainer, record, out, writer)
                return
            _save_epoch(trainer, record, run_dir)  # written before the folder moves in place
            pending.close()
            run_dir = out
            if recorder is not None:
                recorder.folder = out

        with writer:
            _run(trainer, out, progress=progress, stop_after=stop_after, on_epoch=on_epoch)
        _finish(trainer, recorder, out, config, dataset, scaler)
    return _trained_run(out, config, trainer, dataset, scaler)


def fit_in_memory(config: RunConfig, *, dataset: Dataset | None = None,
                  progress: bool = False) -> TrainedRun:
    """Train the network of ``config`` as :func:`fit` does (same data, splits, scaling,
    initialization, early stopping), without a run folder: for a benchmark that trains
    many networks and keeps their numbers only. ``dataset``: the already loaded
    :meth:`DataConfig.load` of ``config`` (loaded here if ``None``). The result's
    ``path`` is ``None``; ``stopping`` holds the stop record and the fit check."""
    if not isinstance(config, RunConfig):
        raise ValueError(f"config must be a RunConfig, got {type(config).__name__}")
    device = resolve_device(config.device)
    dataset = dataset if dataset is not None else config.data.load()
    scaler = config.data.scaler(dataset)
    trainer = _trainer(config, _build(config, dataset), dataset, scaler, device)
    trainer.run(progress=progress)
    stopping = _stopping(None, trainer.stopped, trainer.kept["epoch"])
    if trainer.stopped is not None:
        stopping["message"] = stop_message(trainer.stopped)
        stopping["fit_check"] = _fit_check(trainer, config, dataset, scaler)
    return TrainedRun(None, config, trainer.model.eval(), dataset, scaler,  # type: ignore[arg-type]
                      list(trainer.history), stopping)


def _save_epoch(trainer: Trainer, record: dict[str, Any], run_dir: Path,
                writer: CheckpointWriter | None = None) -> None:
    """Write the epoch's checkpoint and metrics line, now or (``writer``) in the background
    from a copy of the state, while the next epoch trains."""
    state = {"format": CHECKPOINT_FORMAT, **trainer.state_dict()}
    if writer is None:
        _write_epoch(state, record, run_dir)
    else:
        writer.submit(_write_epoch, state, record, run_dir)


def _write_epoch(state: dict[str, Any], record: dict[str, Any], run_dir: Path) -> None:
    # Checkpoint first: it holds the full history, from which metrics.jsonl is rebuilt on
    # resume, so a crash between the two writes loses nothing.
    torch_save_atomic(state, run_dir / CHECKPOINT_FILE)
    append_jsonl(run_dir / METRICS_FILE, record)


def _run(trainer: Trainer, out: Path, *, progress: bool, stop_after: int | None,
         on_epoch: Any) -> None:
    try:
        trainer.run(stop_after=stop_after, progress=progress, on_epoch=on_epoch)
    except TrainingDiverged as err:
        kept = (f"the last good checkpoint (epoch {trainer.history[-1]['epoch']}) is kept in "
                f"{out}" if trainer.history else "nothing was written")
        raise TrainingDiverged(f"{err}; {kept}") from None


def load_config(run_dir: str | Path) -> RunConfig:
    """The :class:`RunConfig` stored in the run folder ``run_dir`` (no weights, no data)."""
    run = check_path("run_dir", run_dir)
    return _stored(run, _read_info(run))[0]


def _environment_only(config: RunConfig, stored: RunConfig) -> list[str]:
    """Names of the settings in which ``config`` differs from ``stored``, environment
    fields (which a resumed run may change) left out."""
    a, b = config.to_dict(), stored.to_dict()
    differ = [k for part in ("data", "model", "optim", "dynamics") for k in a[part]
              if k not in ENVIRONMENT_FIELDS and a[part][k] != b[part][k]]
    return differ


def _resume(config: RunConfig | None, out: Path, *, progress: bool,
            stop_after: int | None) -> TrainedRun:
    _read_info(out)  # a run folder at all? (before the lock creates anything)
    with folder_lock(out):  # refuses a second writer; cleans a dead writer's temp files
        return _resume_locked(config, out, progress=progress, stop_after=stop_after)


def _resume_locked(config: RunConfig | None, out: Path, *, progress: bool,
                   stop_after: int | None) -> TrainedRun:
    info = _read_info(out)
    stored, scaler = _stored(out, info)
    if config is None:
        config = stored
    else:
        differ = _environment_only(config, stored)
        if differ:
            raise ValueError(f"cannot resume {out} with a different config "
                             f"({', '.join(differ)} differ); resume with the stored config")
    device = resolve_device(config.device)
    ckpt = _read_checkpoint(out, device, resume=True)
    dataset = _load_data(out, config)
    model = _build(config, dataset)
    _check_state(model, ckpt["model"], out / CHECKPOINT_FILE)
    trainer = _trainer(config, model, dataset, scaler, device)
    # before the trained weights are loaded (x^0 is the same; nothing else is read)
    recorder = _recorder(config, trainer, dataset, scaler, info.get("config"))
    try:
        trainer.load_state_dict(ckpt)
    except (KeyError, RuntimeError, ValueError, TypeError) as err:
        raise ValueError(f"cannot resume from {out / CHECKPOINT_FILE}: {one_line(err)}"
                         ) from None
    if recorder is not None:
        recorder.resume(out, trainer.step)
    # metrics.jsonl may hold a line the checkpoint has not (or miss one): rebuild it.
    atomic_write_text(out / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in trainer.history))
    if config != stored or "config" not in info:  # environment fields, or a 0.1 run
        info = _run_info(config, model, _dataset_facts(dataset), scaler, device)
        save_json(out / CONFIG_FILE, info)
    with CheckpointWriter() as writer:
        _run(trainer, out, progress=progress, stop_after=stop_after,
             on_epoch=lambda record: _save_epoch(trainer, record, out, writer))
    _finish(trainer, recorder, out, config, dataset, scaler)
    return _trained_run(out, config, trainer, dataset, scaler)


def _finish(trainer: Trainer, recorder: SnapshotRecorder | None, out: Path,
            config: RunConfig, dataset: Dataset, scaler: InputScaler) -> None:
    """Once training has ended: the snapshots end at the kept weights, and
    ``stopping.json`` records why and when it stopped and whether the network fits its
    training split (:func:`~idmlp.train.checks.fit_check`). Idempotent (a resumed run
    that had already ended writes the same)."""
    stopped = trainer.stopped
    if stopped is None:
        return
    if recorder is not None:
        recorder.finish(trainer.model, stopped["kept_step"])
    save_json(out / STOPPING_FILE, {"stopped": stopped, "message": stop_message(stopped),
                                    "fit_check": _fit_check(trainer, config, dataset, scaler)})


def _fit_check(trainer: Trainer, config: RunConfig, dataset: Dataset,
               scaler: InputScaler) -> dict[str, Any]:
    """:func:`~idmlp.train.checks.fit_check` of a trainer whose training has ended."""
    X, y = _split_tensors(dataset, scaler, "train", trainer.device)
    extra = getattr(trainer.model, "extra_features", None)
    return fit_check(trainer.model.eval(), X, y, stopped=trainer.stopped, lr=config.optim.lr,
                     extra_features=extra if trainer.model.arch == "mlp" else None,
                     batch_size=trainer.eval_batch_size)


def _stopping(out: Path | None, stopped: dict[str, Any] | None,
              kept_epoch: int | None) -> dict[str, Any]:
    """What :attr:`TrainedRun.stopping` holds: the stop record (``None`` while training
    goes on), the epoch kept so far and, once ended, ``stopping.json`` (the fit check)."""
    info: dict[str, Any] = {"stopped": stopped, "kept_epoch": kept_epoch}
    if out is None:
        return info
    path = out / STOPPING_FILE
    if stopped is not None and path.is_file():
        with contextlib.suppress(OSError, ValueError):
            info.update(json.loads(path.read_text(encoding="utf-8")))
    return info


def _trained_run(out: Path, config: RunConfig, trainer: Trainer, dataset: Dataset,
                 scaler: InputScaler) -> TrainedRun:
    model = trainer.model
    return TrainedRun(out, config, model.eval(), dataset, scaler, list(trainer.history),
                      _stopping(out, trainer.stopped, trainer.kept["epoch"]))


def load_model(run_dir: str | Path, device: str = "cpu"
               ) -> tuple[RunConfig, LayerwiseNet, InputScaler, dict[str, Any]]:
    """The trained network of a run folder without its data: ``(config, model, scaler,
    info)``, the model in eval mode on ``device`` and ``info`` the whole ``config.json``
    (its ``metrics`` are those of ``checkpoint.pt``). Folders of idmlp 0.1 need
    :func:`load_run`.

    Raises:
        ValueError: not a run folder, unreadable config, a truncated or corrupt
            checkpoint, or a checkpoint of another architecture (one line each).
    """
    from ..config import ModelConfig, from_dict

    run = check_path("run_dir", run_dir)
    torch_device = resolve_device(device)
    info = _read_info(run)
    if "config" not in info:
        raise ValueError(f"{run} was written by idmlp 0.1; load it with load_run")
    config, scaler = _stored(run, info)
    try:
        model_config = from_dict(ModelConfig, info["model"], where="model: ")
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"{run / CONFIG_FILE} has an invalid model: {one_line(err)}") from None
    ckpt = _read_checkpoint(run, torch_device)
    model = build_model(model_config)
    weights = ckpt.get("kept_model") or ckpt["model"]  # the kept (best so far) weights
    _check_state(model, weights, run / CHECKPOINT_FILE)
    model.load_state_dict(weights)
    return (config, model.to(torch_device).eval(), scaler,
            {**info, "metrics": list(ckpt.get("metrics", []))})


def load_run(run_dir: str | Path, device: str = "cpu") -> TrainedRun:
    """Load a run folder written by :func:`fit` (or ``idmlp train``).

    The model is rebuilt from ``config.json``, gets the kept weights of ``checkpoint.pt``
    (with early stopping the best epoch's, the best so far for a run still going; else the
    last completed epoch's) and is put in eval mode on ``device``; the dataset is loaded
    with the stored splits and the scaler restored from its saved statistics.

    Raises:
        ValueError: not a run folder, unreadable config, a truncated or corrupt checkpoint,
            or a checkpoint of another architecture (one line each).
    """
    run = check_path("run_dir", run_dir)
    torch_device = resolve_device(device)
    config, scaler = _stored(run, _read_info(run))
    ckpt = _read_checkpoint(run, torch_device)
    dataset = _load_data(run, config)
    if dataset.n_features != scaler.n_features_in_:
        raise ValueError(f"dataset {config.data.dataset} has {dataset.n_features} features but "
                         f"the run was trained on {scaler.n_features_in_}")
    model = _build(config, dataset)
    # the kept weights: once ended, the checkpoint's model; before, the best so far
    weights = ckpt.get("kept_model") or ckpt["model"]
    _check_state(model, weights, run / CHECKPOINT_FILE)
    model.load_state_dict(weights)
    return TrainedRun(run, config, model.to(torch_device).eval(), dataset, scaler,
                      list(ckpt.get("metrics", [])),
                      _stopping(run, ckpt.get("stopped"), (ckpt.get("kept") or {}).get("epoch")))
