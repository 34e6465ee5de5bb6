r"""Training: a resumable cross-entropy loop, and the paper's run folders.

Two levels:

* :func:`fit_model` (built on :class:`Trainer`) trains **any** ``nn.Module`` that maps
  inputs ``(B, N)`` to logits ``(B, C)`` with the cross-entropy loss
  :math:`\mathcal L = -\frac1B \sum_b \log \operatorname{softmax}(z_b)_{y_b}`, and returns
  one metrics record per epoch. Shuffling uses its own seeded :class:`torch.Generator`,
  and the global torch RNG is forked and seeded, so a seed gives the same run on CPU.
* :func:`fit` runs a :class:`TrainConfig` end to end for the interpretable MLP: load the
  dataset, scale the inputs to variance :math:`q_0` (fitted on the train split), build
  :class:`~idmlp.models.InterpretableMLP`, train, and write a run folder::

      RUN/
        config.json      the TrainConfig, the model's MLPConfig, the scaler state,
                         dataset facts, idmlp/torch versions
        metrics.jsonl    one JSON line per epoch
        checkpoint.pt    model, optimizer, scheduler, RNG states, epoch, metrics
                         (rewritten atomically after every epoch)

  :func:`load_run` reads it back as a :class:`TrainedRun`; ``fit(..., resume=True)``
  continues an interrupted run and ends with exactly the weights of an uninterrupted one.

Learning-rate schedules are per optimizer step :math:`t = 0 .. T-1`
(:math:`T` = epochs x steps per epoch), with an optional linear warmup over the first
:math:`W` steps, :math:`\eta_t = \eta\, w_t\, f_t`, :math:`w_t = \min(1, (t+1)/W)`:

* ``constant``: :math:`f_t = 1`;
* ``cosine``: :math:`f_t = \tfrac12 (1 + \cos(\pi \max(0, t - W) / (T - W)))`;
* ``step``: :math:`f_t = \gamma^{\lfloor t / (S \cdot \text{steps per epoch}) \rfloor}`,
  a decay by ``gamma`` every ``S = step_epochs`` epochs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import pickle
import platform
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import __version__
from ._io import (
    append_jsonl,
    atomic_output_dir,
    atomic_write_text,
    check_output_dir,
    save_json,
    torch_save_atomic,
)
from ._validation import check_choice, check_int, check_positive, check_probability, check_real
from .activations import ACTIVATIONS
from .data import DATASETS, Dataset, InputScaler, load_dataset
from .models import InterpretableMLP, build_model

__all__ = [
    "DEVICES",
    "ENVIRONMENT_FIELDS",
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainConfig",
    "TrainedRun",
    "Trainer",
    "TrainingDiverged",
    "fit",
    "fit_model",
    "load_config",
    "load_run",
    "resolve_device",
]

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
SCHEDULES: tuple[str, ...] = ("constant", "cosine", "step")
DEVICES: tuple[str, ...] = ("cpu", "cuda", "auto")

CONFIG_FILE, METRICS_FILE, CHECKPOINT_FILE = "config.json", "metrics.jsonl", "checkpoint.pt"
# Where and how a run reads its data and computes; a resumed run may change these.
ENVIRONMENT_FIELDS: tuple[str, ...] = ("data_dir", "download", "device")
_CHECKPOINT_FORMAT = "idmlp-checkpoint-v1"

EpochCallback = Callable[[dict[str, Any]], None]


class TrainingDiverged(ValueError):
    """The loss (or a weight) became NaN or infinite; nothing after the last good epoch is kept."""


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, or ``auto`` (CUDA when available); CUDA without one is an error."""
    check_choice("device", name, DEVICES)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda': no CUDA device is available; use device 'cpu' or 'auto'")
    return torch.device(name)


# --------------------------------------------------------------------------------------
# The generic training loop
# --------------------------------------------------------------------------------------


def _as_features(name: str, x: object) -> Tensor:
    if not isinstance(x, (Tensor, np.ndarray)):
        raise ValueError(f"{name} must be a 2-D tensor or numpy array, got {type(x).__name__}")
    t = torch.as_tensor(x)
    if t.ndim != 2 or t.shape[0] == 0 or t.is_complex():
        raise ValueError(f"{name} must be a non-empty 2-D real array (n, features), got "
                         f"shape {tuple(t.shape)}")
    t = t.to(torch.float32)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf; clean or scale the data first")
    return t


def _as_labels(name: str, y: object, n: int) -> Tensor:
    if not isinstance(y, (Tensor, np.ndarray)):
        raise ValueError(f"{name} must be a 1-D tensor or numpy array, got {type(y).__name__}")
    t = torch.as_tensor(y)
    if t.ndim != 1 or t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"{name} must be a 1-D integer array of class indices, got "
                         f"dtype {t.dtype} and shape {tuple(t.shape)}")
    if len(t) != n:
        raise ValueError(f"{name} has {len(t)} labels for {n} samples")
    if int(t.min()) < 0:
        raise ValueError(f"{name} has negative labels; classes must be 0 .. C-1")
    return t.to(torch.int64)


def _check_optim(
    *, optimizer: object, lr: object, momentum: object, weight_decay: object,
    schedule: object, warmup_epochs: object, step_epochs: object, gamma: object,
    label_smoothing: object, batch_size: object, epochs: object, seed: object,
) -> dict[str, Any]:
    """Validate the optimization arguments (shared by :class:`Trainer` and TrainConfig)."""
    out: dict[str, Any] = {
        "optimizer": check_choice("optimizer", optimizer, OPTIMIZERS),
        "lr": check_positive("lr", lr),
        "momentum": check_real("momentum", momentum),
        "weight_decay": check_real("weight_decay", weight_decay),
        "schedule": check_choice("schedule", schedule, SCHEDULES),
        "warmup_epochs": check_real("warmup_epochs", warmup_epochs),
        "step_epochs": check_int("step_epochs", step_epochs),
        "gamma": check_real("gamma", gamma),
        "label_smoothing": check_real("label_smoothing", label_smoothing),
        "batch_size": check_int("batch_size", batch_size),
        "epochs": check_int("epochs", epochs),
        "seed": check_int("seed", seed, minimum=0),
    }
    if not 0.0 <= out["momentum"] < 1.0:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    if out["weight_decay"] < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    if not 0.0 < out["gamma"] <= 1.0:
        raise ValueError(f"gamma must lie in (0, 1], got {gamma!r}")
    if not 0.0 <= out["label_smoothing"] < 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing!r}")
    if not 0.0 <= out["warmup_epochs"] <= out["epochs"]:
        raise ValueError(f"warmup_epochs must lie in [0, epochs={out['epochs']}], "
                         f"got {warmup_epochs!r}")
    return out


def _lr_factor(schedule: str, total: int, warmup: int, decay_every: int, gamma: float):
    """The multiplier of the base learning rate at optimizer step ``t`` (module docstring)."""

    def factor(t: int) -> float:
        w = min(1.0, (t + 1) / warmup) if warmup else 1.0
        if schedule == "cosine":
            return w * 0.5 * (1.0 + math.cos(math.pi * max(0, t - warmup) / max(1, total - warmup)))
        if schedule == "step":
            return w * gamma ** (t // decay_every)
        return w

    return factor


class Trainer:
    r"""Resumable cross-entropy training of a module mapping ``(B, N)`` to logits ``(B, C)``.

    Holds the model, the optimizer, the per-step learning-rate scheduler and both random
    sources (a :class:`torch.Generator` that shuffles the training set each epoch, and the
    torch global RNG state the model sees, forked from the caller's). :meth:`state_dict`
    captures all of them, so ``load_state_dict`` + :meth:`run` continues a run exactly.
    Most callers want :func:`fit_model`; the arguments are documented there.
    """

    def __init__(
        self,
        model: nn.Module,
        X_train: Tensor | np.ndarray,
        y_train: Tensor | np.ndarray,
        X_test: Tensor | np.ndarray,
        y_test: Tensor | np.ndarray,
        *,
        optimizer: str = "adam",
        lr: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        schedule: str = "constant",
        warmup_epochs: float = 0.0,
        step_epochs: int = 10,
        gamma: float = 0.1,
        label_smoothing: float = 0.0,
        batch_size: int = 128,
        epochs: int = 10,
        seed: int = 0,
        device: str | torch.device = "cpu",
        eval_batch_size: int = 1024,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        o = _check_optim(
            optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay,
            schedule=schedule, warmup_epochs=warmup_epochs, step_epochs=step_epochs,
            gamma=gamma, label_smoothing=label_smoothing, batch_size=batch_size, epochs=epochs,
            seed=seed,
        )
        self.label_smoothing = o["label_smoothing"]
        self.optimizer_name, self.lr, self.schedule = o["optimizer"], o["lr"], o["schedule"]
        self.batch_size, self.epochs, self.seed = o["batch_size"], o["epochs"], o["seed"]
        self.eval_batch_size = check_int("eval_batch_size", eval_batch_size)
        self.device = device if isinstance(device, torch.device) else resolve_device(device)

        X_train = _as_features("X_train", X_train)
        X_test = _as_features("X_test", X_test)
        if X_train.shape[1] != X_test.shape[1]:
            raise ValueError(f"X_train has {X_train.shape[1]} features but X_test has "
                             f"{X_test.shape[1]}")
        y_train = _as_labels("y_train", y_train, len(X_train))
        y_test = _as_labels("y_test", y_test, len(X_test))
        self.model = model.to(self.device)
        self._check_logits(X_train[:1], int(max(y_train.max(), y_test.max())))
        self.X_train, self.y_train = X_train.to(self.device), y_train.to(self.device)
        self.X_test, self.y_test = X_test.to(self.device), y_test.to(self.device)

        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("model has no trainable parameters")
        # The fused kernels update all tensors in one pass: on CPU, Adam's step over the
        # 12.6M weights of a depth-20 width-794 network is about 5x faster.
        fused = self.device.type in ("cpu", "cuda") and all(p.is_floating_point() for p in params)
        if self.optimizer_name == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(
                params, lr=self.lr, weight_decay=o["weight_decay"], fused=fused)
        else:
            self.optimizer = torch.optim.SGD(
                params, lr=self.lr, momentum=o["momentum"], weight_decay=o["weight_decay"],
                fused=fused)
        self.steps_per_epoch = math.ceil(len(y_train) / self.batch_size)
        total = self.epochs * self.steps_per_epoch
        warmup = round(o["warmup_epochs"] * self.steps_per_epoch)
        decay_every = o["step_epochs"] * self.steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _lr_factor(self.schedule, total, warmup, decay_every, o["gamma"]))

        self.shuffle_generator = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng(self._rng_devices()):
            torch.manual_seed(self.seed)
            self._rng = self._get_rng()
        self.epoch = 0  # completed epochs
        self.elapsed = 0.0  # seconds of training, summed over calls to run()
        self.history: list[dict[str, Any]] = []

    # -- random state ----------------------------------------------------------------

    def _rng_devices(self) -> list[torch.device]:
        return [self.device] if self.device.type == "cuda" else []

    def _get_rng(self) -> dict[str, Tensor]:
        state = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _set_rng(self, state: dict[str, Tensor]) -> None:
        torch.set_rng_state(state["torch"])
        if self.device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], self.device)

    # -- checkpointing ---------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue: weights, optimizer, scheduler, RNGs, history."""
        return {
            "epoch": self.epoch,
            "elapsed": self.elapsed,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": {**self._rng, "shuffle": self.shuffle_generator.get_state()},
            "metrics": list(self.history),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (of a trainer built with the same arguments)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        rng = dict(state["rng"])
        self.shuffle_generator.set_state(rng.pop("shuffle"))
        self._rng = rng
        self.epoch = int(state["epoch"])
        self.elapsed = float(state["elapsed"])
        self.history = list(state["metrics"])

    # -- one epoch -------------------------------------------------------------------

    def _check_logits(self, x: Tensor, max_label: int) -> None:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                out = self.model(x.to(self.device))
        finally:
            self.model.train(was_training)
        if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[1] <= max_label:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"model must map (B, N) inputs to logits (B, C) with C > "
                             f"{max_label} (the largest label); it returned {shape}")

    def _diverged(self, what: str, value: float, step: int | None = None) -> TrainingDiverged:
        where = f"epoch {self.epoch + 1}" + (f", step {step}" if step is not None else "")
        return TrainingDiverged(
            f"training diverged: {what} became {value} at {where}; lower the learning "
            f"rate (lr={self.lr:g}) or the logit scale")

    def train_step(self, x: Tensor, y: Tensor, *, step: int | None = None) -> tuple[float, Tensor]:
        """One optimizer step on the batch ``(x, y)``: forward, loss, backward, update.

        Returns the batch's mean loss and its logits (detached); raises
        :class:`TrainingDiverged` (before updating) if the loss is not finite.
        """
        logits = self.model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        value = loss.item()
        if not math.isfinite(value):
            raise self._diverged("the training loss", value, step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return value, logits.detach()

    def _train_epoch(self, bar: tqdm) -> tuple[float, float, float]:
        """One pass over the shuffled training set; returns (mean loss, accuracy, last lr)."""
        self.model.train()
        n = len(self.y_train)
        perm = torch.randperm(n, generator=self.shuffle_generator).to(self.device)
        loss_sum, correct, lr = 0.0, torch.zeros((), dtype=torch.int64, device=self.device), 0.0
        for step, start in enumerate(range(0, n, self.batch_size), 1):
            idx = perm[start : start + self.batch_size]
            x, y = self.X_train[idx], self.y_train[idx]
            lr = self.optimizer.param_groups[0]["lr"]
            value, logits = self.train_step(x, y, step=step)
            loss_sum += value * len(idx)
            correct += (logits.argmax(dim=1) == y).sum()
            bar.update(1)
            bar.set_postfix(epoch=self.epoch + 1, loss=f"{value:.4f}", refresh=False)
        return loss_sum / n, int(correct) / n, lr

    @torch.no_grad()
    def evaluate(self, X: Tensor | None = None, y: Tensor | None = None) -> dict[str, Any]:
        """Loss and accuracy on ``(X, y)`` (default: the test split), in eval mode.

        For an :class:`~idmlp.models.InterpretableMLP` the same pass also gives every
        layer's accuracy, ``layer_acc`` (length ``L``; the last entry equals ``acc``).
        """
        X = self.X_test if X is None else X
        y = self.y_test if y is None else y
        self.model.eval()
        readout = isinstance(self.model, InterpretableMLP)
        loss = torch.zeros((), dtype=torch.float64, device=self.device)
        correct: Tensor | int = 0
        for start in range(0, len(y), self.eval_batch_size):
            stop = start + self.eval_batch_size
            xb, yb = X[start:stop], y[start:stop]
            if readout:
                r = self.model.readout(xb)
                logits = r.logits[:, -1]
                correct = correct + (r.preds == yb[:, None]).sum(dim=0)
            else:
                logits = self.model(xb)
                correct = correct + (logits.argmax(dim=1) == yb).sum()
            loss += F.cross_entropy(logits, yb, reduction="sum")
        acc = torch.as_tensor(correct).double().cpu() / len(y)
        out: dict[str, Any] = {"loss": float(loss) / len(y), "acc": float(acc.reshape(-1)[-1])}
        if readout:
            out["layer_acc"] = acc.tolist()
        return out

    def _epoch_record(self, train_loss: float, train_acc: float, lr: float) -> dict[str, Any]:
        test = self.evaluate()
        record: dict[str, Any] = {
            "epoch": self.epoch + 1,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "test_loss": test["loss"],
            "test_acc": test["acc"],
        }
        if isinstance(self.model, InterpretableMLP):
            dist = self.model.block_identity_distance()
            record["layer_test_acc"] = test["layer_acc"]
            record["identity_distance"] = {k: v.cpu().tolist() for k, v in dist.items()}
            record["logit_scale"] = float(self.model.logit_scale)
        record["lr"] = lr
        return record

    # -- the loop --------------------------------------------------------------------

    def run(
        self,
        *,
        stop_after: int | None = None,
        progress: bool = True,
        on_epoch: EpochCallback | None = None,
    ) -> list[dict[str, Any]]:
        """Train until ``epochs`` epochs are done, or ``stop_after`` more in this call.

        After every epoch the record is appended to :attr:`history` and passed to
        ``on_epoch`` (e.g. to write a checkpoint). Raises :class:`TrainingDiverged` as soon
        as the loss, the test loss or a weight is not finite; the trainer then holds a
        partial epoch's weights, which is why checkpoints are written from ``on_epoch``.

        Returns:
            :attr:`history`, all records so far (this call's and earlier ones').
        """
        if stop_after is not None:
            stop_after = check_int("stop_after", stop_after)
        last = self.epochs if stop_after is None else min(self.epochs, self.epoch + stop_after)
        if self.epoch >= last:
            return self.history
        bar = tqdm(
            total=self.epochs * self.steps_per_epoch, initial=self.epoch * self.steps_per_epoch,
            disable=not progress, unit="step", desc="train", dynamic_ncols=True, leave=False,
        )
        with bar, torch.random.fork_rng(self._rng_devices()):
            self._set_rng(self._rng)
            while self.epoch < last:
                start = time.perf_counter()
                train_loss, train_acc, lr = self._train_epoch(bar)
                record = self._epoch_record(train_loss, train_acc, lr)
                if not math.isfinite(record["test_loss"]):
                    raise self._diverged("the test loss", record["test_loss"])
                if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
                    raise self._diverged("a weight", math.nan)
                self.elapsed += time.perf_counter() - start
                record["elapsed"] = self.elapsed
                self.epoch += 1
                self._rng = self._get_rng()
                self.history.append(record)
                if progress:
                    bar.write(
                        f"epoch {self.epoch}/{self.epochs}: train loss {train_loss:.4f} acc "
                        f"{train_acc:.4f}, test loss {record['test_loss']:.4f} acc "
                        f"{record['test_acc']:.4f} ({self.elapsed:.1f} s)", file=sys.stderr)
                if on_epoch is not None:
                    on_epoch(record)
        return self.history


def fit_model(
    model: nn.Module,
    X_train: Tensor | np.ndarray,
    y_train: Tensor | np.ndarray,
    X_test: Tensor | np.ndarray,
    y_test: Tensor | np.ndarray,
    *,
    optimizer: str = "adam",
    lr: float = 1e-3,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    warmup_epochs: float = 0.0,
    step_epochs: int = 10,
    gamma: float = 0.1,
    label_smoothing: float = 0.0,
    batch_size: int = 128,
    epochs: int = 10,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    on_epoch: EpochCallback | None = None,
) -> list[dict[str, Any]]:
    r"""Train ``model`` in place with cross-entropy; return one metrics record per epoch.

    Minibatches of ``batch_size`` are drawn without replacement from a permutation of the
    training set made by a :class:`torch.Generator` seeded with ``seed``; the global torch
    RNG (dropout, ...) is forked and seeded with ``seed`` too, so on CPU the same seed
    gives the same weights and metrics, and the caller's RNG is left untouched.

    Args:
        model: any ``nn.Module`` mapping float32 ``(B, N)`` to logits ``(B, C)``; it is
            moved to ``device`` and trained in place.
        X_train, X_test: features, ``(n, N)`` tensors or arrays (cast to float32).
        y_train, y_test: integer labels in ``0 .. C-1``, ``(n,)``.
        optimizer: ``"adam"`` (:class:`torch.optim.Adam`) or ``"sgd"`` (with ``momentum``).
        lr: base learning rate :math:`\eta > 0`.
        momentum: SGD momentum in ``[0, 1)`` (ignored by Adam).
        weight_decay: L2 penalty coefficient >= 0 (coupled, as in ``torch.optim``).
        schedule: ``"constant"``, ``"cosine"`` (to 0 at the last step) or ``"step"``
            (times ``gamma`` every ``step_epochs`` epochs); stepped after every batch.
        warmup_epochs: linear warmup length in epochs (may be fractional), ``0`` for none.
        step_epochs, gamma: the ``"step"`` schedule's period (epochs) and factor in (0, 1].
        label_smoothing: :math:`\epsilon \in [0, 1)`; the training target is
            :math:`(1 - \epsilon)\, e_y + \epsilon / C` (``F.cross_entropy``'s option).
            The reported ``test_loss`` is always the plain cross-entropy.
        batch_size: minibatch size (the last batch of an epoch may be smaller).
        epochs: number of passes over the training set.
        seed: integer >= 0 for shuffling and the forked global RNG.
        device: ``"cpu"``, ``"cuda"``, ``"auto"`` or a :class:`torch.device`.
        progress: show a tqdm bar with the running loss.
        on_epoch: called with each epoch's record right after it is made.

    Returns:
        A list of dicts, one per epoch, with ``epoch``, ``train_loss`` (the training
        objective) and ``train_acc`` (running averages over the epoch's batches),
        ``test_loss``, ``test_acc``, ``lr`` (the rate of the epoch's last step) and
        ``elapsed`` (seconds since the start). For
        an :class:`~idmlp.models.InterpretableMLP` also ``layer_test_acc`` (``L`` floats),
        ``identity_distance`` (``{"feature": [L], "class": [L]}``, see
        :meth:`~idmlp.models.InterpretableMLP.block_identity_distance`) and ``logit_scale``.

    Raises:
        ValueError: bad arguments (one line naming the argument).
        TrainingDiverged: the loss or a weight became NaN or infinite.

    Examples:
        >>> net = nn.Sequential(nn.Linear(4, 3))
        >>> X, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
        >>> hist = fit_model(net, X, y, X, y, epochs=2, progress=False)
        >>> [r["epoch"] for r in hist]
        [1, 2]
    """
    trainer = Trainer(
        model, X_train, y_train, X_test, y_test, optimizer=optimizer, lr=lr, momentum=momentum,
        weight_decay=weight_decay, schedule=schedule, warmup_epochs=warmup_epochs,
        step_epochs=step_epochs, gamma=gamma, label_smoothing=label_smoothing,
        batch_size=batch_size, epochs=epochs, seed=seed, device=device,
    )
    return trainer.run(progress=progress, on_epoch=on_epoch)


# --------------------------------------------------------------------------------------
# The paper's training job: TrainConfig -> run folder
# --------------------------------------------------------------------------------------


def _check_dataset_name(name: object) -> str:
    if not isinstance(name, str) or not (
        name.startswith("npz:") or name.strip().lower() in DATASETS[:-1]
    ):
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {name!r}")
    return name


@dataclass(frozen=True)
class TrainConfig:
    r"""Everything that defines a training run of the interpretable MLP (saved with it).

    Data: ``dataset`` (see :data:`idmlp.data.DATASETS`), ``data_dir``, ``download``,
    ``test_size`` and ``split_seed`` (the stratified split of datasets without one).
    Model: ``depth``, ``sigma``, ``q0`` (input variance after scaling), ``activation``,
    ``bias``, ``logit_scale`` (:math:`s` in :math:`z^\ell = s\, x^\ell_{N+1..N+C}`) and
    ``learn_logit_scale``. Optimization: the arguments of :func:`fit_model`, and
    ``device``. Every field is validated on construction (one-line ``ValueError``).

    The defaults are the paper's main job on ``mnist5k`` (80/20 stratified split, 784
    pixels, 10 classes, width 794): 20 hard-tanh layers with :math:`W^\ell = I`, Adam
    (lr 3e-4, cosine decay, batch 128) for 15 epochs: last-layer test accuracy 0.944,
    0.942, 0.942 for seeds 0, 1, 2, rising layer by layer from about 0.6 at layer 1, with
    every block identity distance below 0.09; 52-62 s of training on 2 idle CPU cores.
    Three choices matter:

    * ``logit_scale = 8``: hard-tanh bounds the class block to ``[-1, 1]``, so with
      :math:`s = 1` the softmax can never be confident;
    * ``q0 = 1``: at :math:`q_0 = 0.1` nearly every unit stays in the linear part of
      hard-tanh and the network is close to a linear classifier (about 0.90); at
      :math:`q_0 = 1` about a third of the inputs sit on the clipping boundary, where
      small weight changes act as kinks, and accuracy rises layer by layer
      (:math:`q_0 = 1.5` reaches 0.949-0.950 but its middle layers lose accuracy);
    * ``label_smoothing = 0.1``: 4,000 training images are memorized within a few
      epochs; smoothing the targets is the regularizer that keeps test accuracy rising
      (0.927 without it at ``q0 = 1``, 10 epochs). ``lr = 5e-4`` is already unstable.
    """

    # data
    dataset: str = "mnist5k"
    data_dir: str | None = None
    download: bool = False
    test_size: float = 0.2
    split_seed: int = 0
    # model
    depth: int = 20
    sigma: float = 1.0
    q0: float = 1.0
    activation: str = "hardtanh"
    bias: bool = False
    logit_scale: float = 8.0
    learn_logit_scale: bool = False
    # optimization
    optimizer: str = "adam"
    lr: float = 3e-4
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    step_epochs: int = 10
    gamma: float = 0.1
    label_smoothing: float = 0.1
    batch_size: int = 128
    epochs: int = 15
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        _check_dataset_name(self.dataset)
        if self.data_dir is not None:
            if not isinstance(self.data_dir, (str, Path)):
                raise ValueError(f"data_dir must be a path or None, got {self.data_dir!r}")
            put("data_dir", str(self.data_dir))
        for flag in ("download", "bias", "learn_logit_scale"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        put("test_size", check_probability("test_size", self.test_size))
        put("split_seed", check_int("split_seed", self.split_seed, minimum=0))
        put("depth", check_int("depth", self.depth))
        for name in ("sigma", "q0", "logit_scale"):
            put(name, check_positive(name, getattr(self, name)))
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("device", self.device, DEVICES)
        for name, value in _check_optim(**self.optim_kwargs()).items():
            put(name, value)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (missing ones default)."""
        if not isinstance(d, dict):
            raise ValueError(f"a TrainConfig needs a dict, got {type(d).__name__}")
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s): {', '.join(unknown)}")
        return cls(**d)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def optim_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`fit_model` / :class:`Trainer` this config sets."""
        names = ("optimizer", "lr", "momentum", "weight_decay", "schedule", "warmup_epochs",
                 "step_epochs", "gamma", "label_smoothing", "batch_size", "epochs", "seed")
        return {k: getattr(self, k) for k in names}


@dataclass
class TrainedRun:
    """A trained run: its folder, config, model (eval mode, weights loaded) and data.

    Attributes:
        path: the run folder.
        config: the :class:`TrainConfig` it was trained with.
        model: the :class:`~idmlp.models.InterpretableMLP`, in eval mode.
        dataset: the raw :class:`~idmlp.data.Dataset` (same split as in training).
        scaler: the :class:`~idmlp.data.InputScaler` fitted on the train split.
        metrics: the per-epoch records (see :func:`fit_model`).
    """

    path: Path
    config: TrainConfig
    model: InterpretableMLP
    dataset: Dataset
    scaler: InputScaler
    metrics: list[dict[str, Any]]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def epochs_done(self) -> int:
        return len(self.metrics)

    @property
    def complete(self) -> bool:
        """Whether all ``config.epochs`` epochs are done (else ``fit(resume=True)`` goes on)."""
        return self.epochs_done >= self.config.epochs

    def _tensors(self, X: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
        x = torch.as_tensor(self.scaler.transform(X), dtype=torch.float32, device=self.device)
        return x, torch.as_tensor(y, dtype=torch.int64, device=self.device)

    def train_tensors(self) -> tuple[Tensor, Tensor]:
        """Scaled float32 training inputs ``(n, N)`` and int64 labels, on the model's device."""
        return self._tensors(self.dataset.X_train, self.dataset.y_train)

    def test_tensors(self) -> tuple[Tensor, Tensor]:
        """Scaled float32 test inputs ``(n, N)`` and int64 labels, on the model's device."""
        return self._tensors(self.dataset.X_test, self.dataset.y_test)


def _load_data(config: TrainConfig) -> Dataset:
    return load_dataset(
        config.dataset, data_dir=config.data_dir, test_size=config.test_size,
        seed=config.split_seed, download=config.download,
    )


def _build(config: TrainConfig, dataset: Dataset) -> InterpretableMLP:
    return InterpretableMLP(
        dataset.n_features, dataset.num_classes, config.depth, config.sigma, config.activation,
        config.bias, dataset.image_shape, config.logit_scale, config.learn_logit_scale,
    )


def _run_info(config: TrainConfig, model: InterpretableMLP, dataset: Dataset,
              scaler: InputScaler, device: torch.device) -> dict[str, Any]:
    return {
        "train": config.to_dict(),
        "model": model.config.to_dict(),
        "dataset": {
            "name": dataset.name,
            "n_train": len(dataset.y_train),
            "n_test": len(dataset.y_test),
            "n_features": dataset.n_features,
            "num_classes": dataset.num_classes,
            "image_shape": list(dataset.image_shape),
            "class_names": list(dataset.class_names),
        },
        "device": str(device),
        "versions": {"idmlp": __version__, "torch": torch.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
        "scaler": scaler.state_dict(),
    }


def _read_config(run: Path) -> dict[str, Any]:
    path = run / CONFIG_FILE
    if not run.is_dir() or not path.is_file() or not (run / CHECKPOINT_FILE).is_file():
        raise ValueError(f"{run} is not an idmlp training run (needs {CONFIG_FILE} and "
                         f"{CHECKPOINT_FILE}); give the folder that 'idmlp train' wrote")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {path}: {err}") from None
    if not isinstance(info, dict) or not {"train", "model", "scaler"} <= info.keys():
        raise ValueError(f"{path} is not an idmlp run config (needs keys train, model, scaler)")
    return info


def _read_checkpoint(run: Path, device: torch.device) -> dict[str, Any]:
    path = run / CHECKPOINT_FILE
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile,
            ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"cannot read {path} (truncated or corrupt: {reason}); "
                         "retrain, or restore the file from a copy") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != _CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an idmlp checkpoint (no '{_CHECKPOINT_FORMAT}' tag)")
    return ckpt


def _check_state(model: nn.Module, state: dict[str, Tensor], path: Path) -> None:
    """Refuse a checkpoint of another architecture with one line naming the first mismatch."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        what = (f"missing {', '.join(missing[:3])}" if missing
                else f"unexpected {', '.join(unexpected[:3])}")
        raise ValueError(f"{path} holds another architecture than {CONFIG_FILE} describes "
                         f"({what}); was it copied from another run?")
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise ValueError(
                f"{path} holds another architecture than {CONFIG_FILE} describes ({key} has "
                f"shape {tuple(state[key].shape)}, expected {tuple(value.shape)}); was it "
                "copied from another run?")


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def fit(
    config: TrainConfig | None,
    out_dir: str | Path,
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
        config: the run's :class:`TrainConfig`. With ``resume`` it may be ``None`` (use
            the stored one); otherwise it must equal the stored one except in
            :data:`ENVIRONMENT_FIELDS` (``data_dir``, ``download``, ``device``).
        out_dir: the run folder.
        overwrite: replace an existing ``out_dir`` (refused otherwise).
        resume: continue the run in ``out_dir`` from its checkpoint; the final weights are
            exactly those of an uninterrupted run (same device).
        progress: show a tqdm progress bar.
        stop_after: train at most this many epochs in this call (the run stays resumable).

    Returns:
        The :class:`TrainedRun` (model in eval mode).

    Raises:
        ValueError: bad config, unknown dataset, existing folder, not a run, corrupt
            checkpoint (one line each); :class:`TrainingDiverged` on NaN/inf.
    """
    if config is not None and not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    if stop_after is not None:
        stop_after = check_int("stop_after", stop_after)
    out = Path(out_dir)
    if resume:
        if overwrite:
            raise ValueError("resume and overwrite exclude each other; resume continues the run")
        return _resume(config, out, progress=progress, stop_after=stop_after)
    if config is None:
        raise ValueError("config is required unless resume=True")
    device = resolve_device(config.device)
    check_output_dir(out, overwrite)
    dataset = _load_data(config)
    X_train, X_test, scaler = dataset.scaled(config.q0)
    model = _build(config, dataset)
    trainer = Trainer(model, X_train, dataset.y_train, X_test, dataset.y_test,
                      device=device, **config.optim_kwargs())
    info = _run_info(config, model, dataset, scaler, device)

    with contextlib.ExitStack() as pending:
        # Until the first checkpoint, the run lives in a temporary folder that any exception
        # removes; the first checkpoint renames it into place (closing ``pending``).
        run_dir = pending.enter_context(atomic_output_dir(out, overwrite))
        save_json(run_dir / CONFIG_FILE, info)

        def on_epoch(record: dict[str, Any]) -> None:
            nonlocal run_dir
            _save_epoch(trainer, record, run_dir)
            if run_dir != out:
                pending.close()
                run_dir = out

        _run(trainer, out, progress=progress, stop_after=stop_after, on_epoch=on_epoch)
    return _trained_run(out, config, trainer, dataset, scaler)


def _save_epoch(trainer: Trainer, record: dict[str, Any], run_dir: Path) -> None:
    # Checkpoint first: it holds the full history, from which metrics.jsonl is rebuilt on
    # resume, so a crash between the two writes loses nothing.
    torch_save_atomic({"format": _CHECKPOINT_FORMAT, **trainer.state_dict()},
                      run_dir / CHECKPOINT_FILE)
    append_jsonl(run_dir / METRICS_FILE, record)


def _run(trainer: Trainer, out: Path, *, progress: bool, stop_after: int | None,
         on_epoch: EpochCallback) -> None:
    try:
        trainer.run(stop_after=stop_after, progress=progress, on_epoch=on_epoch)
    except TrainingDiverged as err:
        kept = (f"the last good checkpoint (epoch {trainer.history[-1]['epoch']}) is kept in "
                f"{out}" if trainer.history else "nothing was written")
        raise TrainingDiverged(f"{err}; {kept}") from None


def _stored_config(run: Path, info: dict[str, Any]) -> TrainConfig:
    try:
        return TrainConfig.from_dict(info["train"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{run / CONFIG_FILE} has an invalid train config: "
                         f"{_first_line(err)}") from None


def load_config(run_dir: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` stored in the run folder ``run_dir`` (no weights, no data)."""
    run = Path(run_dir)
    return _stored_config(run, _read_config(run))


def _resume(config: TrainConfig | None, out: Path, *, progress: bool,
            stop_after: int | None) -> TrainedRun:
    info = _read_config(out)
    stored = _stored_config(out, info)
    if config is None:
        config = stored
    else:
        differ = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in
                  ENVIRONMENT_FIELDS and getattr(config, f.name) != getattr(stored, f.name)]
        if differ:
            raise ValueError(f"cannot resume {out} with a different config "
                             f"({', '.join(differ)} differ); resume with the stored config")
    device = resolve_device(config.device)
    ckpt = _read_checkpoint(out, device)
    dataset = _load_data(config)
    scaler = InputScaler.from_state_dict(info["scaler"])
    model = _build(config, dataset)
    _check_state(model, ckpt["model"], out / CHECKPOINT_FILE)
    trainer = Trainer(model, scaler.transform(dataset.X_train), dataset.y_train,
                      scaler.transform(dataset.X_test), dataset.y_test,
                      device=device, **config.optim_kwargs())
    try:
        trainer.load_state_dict(ckpt)
    except (KeyError, RuntimeError, ValueError, TypeError) as err:
        raise ValueError(f"cannot resume from {out / CHECKPOINT_FILE}: {_first_line(err)}"
                         ) from None
    # metrics.jsonl may hold a line the checkpoint has not (or miss one): rebuild it.
    atomic_write_text(out / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in trainer.history))
    if config != stored:  # only environment fields can differ here
        info["train"], info["device"] = config.to_dict(), str(device)
        save_json(out / CONFIG_FILE, info)
    _run(trainer, out, progress=progress, stop_after=stop_after,
         on_epoch=lambda record: _save_epoch(trainer, record, out))
    return _trained_run(out, config, trainer, dataset, scaler)


def _trained_run(out: Path, config: TrainConfig, trainer: Trainer, dataset: Dataset,
                 scaler: InputScaler) -> TrainedRun:
    model = trainer.model
    assert isinstance(model, InterpretableMLP)
    return TrainedRun(out, config, model.eval(), dataset, scaler, list(trainer.history))


def load_run(run_dir: str | Path, device: str = "cpu") -> TrainedRun:
    """Load a run folder written by :func:`fit` (or ``idmlp train``).

    The model is rebuilt from ``config.json``, gets the weights of ``checkpoint.pt`` (the
    last completed epoch) and is put in eval mode on ``device``; the dataset is loaded
    with the stored split and the scaler restored from its saved statistics.

    Raises:
        ValueError: not a run folder, unreadable config, a truncated or corrupt checkpoint,
            or a checkpoint of another architecture (one line each).
    """
    run = Path(run_dir)
    torch_device = resolve_device(device)
    info = _read_config(run)
    config = _stored_config(run, info)
    try:
        model = build_model(info["model"])
        scaler = InputScaler.from_state_dict(info["scaler"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{run / CONFIG_FILE} is invalid: {_first_line(err)}") from None
    if not isinstance(model, InterpretableMLP):
        raise ValueError(f"{run / CONFIG_FILE} describes a {type(model).__name__}, "
                         "not an InterpretableMLP run")
    ckpt = _read_checkpoint(run, torch_device)
    state = ckpt.get("model")
    if not isinstance(state, dict):
        raise ValueError(f"{run / CHECKPOINT_FILE} has no model weights")
    _check_state(model, state, run / CHECKPOINT_FILE)
    model.load_state_dict(state)
    dataset = _load_data(config)
    if dataset.n_features != scaler.n_features_in_:
        raise ValueError(f"dataset {config.dataset} has {dataset.n_features} features but the "
                         f"run was trained on {scaler.n_features_in_}")
    return TrainedRun(run, config, model.to(torch_device).eval(), dataset, scaler,
                      list(ckpt.get("metrics", [])))
