r"""The training loop: resumable cross-entropy training over the readouts of every layer.

:class:`Trainer` (and :func:`fit_model`, its one-call form) trains **any** ``nn.Module``
that maps inputs ``(B, N)`` to logits ``(B, C)``, with the loss

.. math::
    \mathcal L = \sum_{\ell} w_\ell\, \mathrm{CE}_\epsilon(z^\ell, y), \qquad
    \mathrm{CE}_\epsilon(z, y) = -\tfrac1B \textstyle\sum_b \big((1-\epsilon)\,
    \log \mathrm{softmax}(z_b)_{y_b} + \tfrac{\epsilon}{C} \sum_c \log \mathrm{softmax}(z_b)_c\big)

over the class logits :math:`z^\ell` of the layers the model reads out (of the training
inputs plus Gaussian noise with ``optim.input_noise > 0``), with the weights of
:meth:`idmlp.config.OptimConfig.layer_weights` (``last``: the model's output alone; ``all``
and ``ramp`` need an interpretable network's ``layer_logits``). Optimizer and schedule come
from :meth:`idmlp.config.OptimConfig.build`. Shuffling uses its own seeded
:class:`torch.Generator`, and the global torch RNG is forked and seeded, so a seed gives the
same run on CPU; :meth:`Trainer.state_dict` captures everything, so a resumed run ends with
exactly the weights of an uninterrupted one.

After every epoch the trainer scores every evaluation split with the shared layer-wise
evaluator (:func:`idmlp.train.evaluate.evaluate`) and adds what its ``hooks`` report (e.g. the
weights' distance from the identity); :mod:`idmlp.train.runs` writes the records to a run folder.

**Early stopping** (``optim.early_stopping``, the default; the rule and why it is this
one: :class:`~idmlp.config.OptimConfig`): the budget is a maximum. After every epoch the
last layer is scored on the validation split (``"val"``): training *stops* once its loss has
not improved (by more than :data:`~idmlp.config.optim.MIN_DELTA`) for ``patience`` epochs
while the training accuracy has stopped rising (by at most :data:`PROGRESS` over those
epochs; Prechelt, "Early stopping - but when?", 1998), and the weights *kept* are those of
the epoch with the best validation accuracy, the later one on a tie. When training ends,
for that reason or because the budget is spent, the model holds the kept weights, and
:attr:`Trainer.stopped` says why and when it stopped (what the run folder records and
``idmlp train`` prints). The kept weights, the best loss and accuracy are part of
:meth:`Trainer.state_dict`, so a resumed run stops at the same epoch with the same weights
as an uninterrupted one. Without early stopping, the whole budget is trained and the last
weights are kept.
``step_hooks`` see the trainer at step 0 and after every optimizer step (e.g. the snapshots
of :mod:`idmlp.analysis.dynamics`); they cannot change the trajectory (see :data:`StepHook`).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .._validation import check_int
from ..config import OptimConfig
from ..config.optim import MIN_DELTA
from ..runtime import progress_bar, resolve_device
from .evaluate import evaluate
from .losses import layer_cross_entropy

__all__ = ["EpochHook", "StepHook", "StopRule", "Trainer", "TrainingDiverged", "fit_model",
           "layer_cross_entropy", "stop_message"]

#: The evaluation split early stopping watches.
MONITOR_SPLIT = "val"
#: Early stopping waits while the training accuracy still rises by more than this over the
#: last ``patience`` epochs (the training split is still being fitted).
PROGRESS = 0.01

EpochCallback = Callable[[dict[str, Any]], None]
#: Called with the model after every epoch; returns entries for the epoch's record.
EpochHook = Callable[[nn.Module], Mapping[str, Any]]
#: Called with the :class:`Trainer` once before the first optimizer step of a run (``step``
#: 0) and after every optimizer step (``trainer.step`` steps done). The trainer calls it
#: without gradients, inside a fork of the torch RNG, and restores the model's train/eval
#: mode afterwards, so a hook can read the model but not change the trajectory; it must
#: not modify the weights, the optimizer or the shuffling generator.
StepHook = Callable[["Trainer"], None]


class StopRule:
    r"""Early stopping's rule, epoch by epoch (one place for idmlp's trainer and the
    benchmark's scikit-learn MLP).

    After every epoch, :meth:`update` with the epoch's validation loss and accuracy and its
    training accuracy says whether to *keep* this epoch's weights (its validation accuracy
    is the best so far; on a tie the later epoch) and whether to *stop*: the validation
    loss has not improved by more than :data:`~idmlp.config.optim.MIN_DELTA` for
    ``patience`` epochs, and the best training accuracy rose by at most :data:`PROGRESS`
    over those epochs (:meth:`progress`).

    Examples:
        >>> rule = StopRule(patience=2)
        >>> [rule.update(l, a, 1.0) for l, a in [(1.0, .5), (.9, .6), (.95, .6), (.97, .5)]]
        [(True, False), (True, False), (True, False), (False, True)]
        >>> rule.kept_epoch, rule.best_loss_epoch
        (3, 2)
    """

    def __init__(self, patience: int) -> None:
        self.patience = check_int("patience", patience)
        self.epoch = 0
        self.best_loss, self.best_loss_epoch = math.inf, 0
        self.best_acc, self.kept_epoch = -math.inf, 0
        self.train_acc: list[float] = []

    def update(self, val_loss: float, val_acc: float, train_acc: float) -> tuple[bool, bool]:
        """Record one more epoch; return ``(keep, stop)``."""
        self.epoch += 1
        self.train_acc.append(float(train_acc))
        if val_loss < self.best_loss - MIN_DELTA:
            self.best_loss, self.best_loss_epoch = float(val_loss), self.epoch
        keep = val_acc >= self.best_acc
        if keep:
            self.best_acc, self.kept_epoch = float(val_acc), self.epoch
        return keep, (self.epoch - self.best_loss_epoch >= self.patience
                      and self.progress() <= PROGRESS)

    def progress(self) -> float:
        """How much the best training accuracy rose over the last ``patience`` epochs:
        the best of those epochs minus the best before them (``inf`` before that many
        epochs). Maxima, not single epochs: an epoch's training accuracy is a running
        average over its batches and moves by a point from one epoch to the next."""
        p = self.patience
        if len(self.train_acc) <= p:
            return math.inf
        return max(self.train_acc[-p:]) - max(self.train_acc[:-p])

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "best_loss": self.best_loss,
                "best_loss_epoch": self.best_loss_epoch, "best_acc": self.best_acc,
                "kept_epoch": self.kept_epoch, "train_acc": list(self.train_acc)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.best_loss = float(state["best_loss"])
        self.best_loss_epoch = int(state["best_loss_epoch"])
        self.best_acc, self.kept_epoch = float(state["best_acc"]), int(state["kept_epoch"])
        self.train_acc = [float(v) for v in state["train_acc"]]


class TrainingDiverged(ValueError):
    """The loss (or a weight) became NaN or infinite; nothing after the last good epoch is kept."""


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


class Trainer:
    r"""Resumable training of a module mapping ``(B, N)`` to logits ``(B, C)``.

    Holds the model, the optimizer and per-step scheduler of ``optim``, and both random
    sources (a :class:`torch.Generator` that shuffles the training set each epoch, and the
    torch global RNG state the model sees, forked from the caller's). :meth:`state_dict`
    captures all of them, so ``load_state_dict`` + :meth:`run` continues a run exactly.

    Args:
        model: the network; moved to ``device`` and trained in place.
        X_train, y_train: training features ``(n, N)`` and integer labels ``(n,)``.
        eval_sets: named evaluation splits ``{"val": (X, y), "test": (X, y)}`` scored after
            every epoch (keys become ``{name}_loss``, ``{name}_acc`` and, for several
            layers, ``layer_{name}_acc`` in the record). The first one is the split whose
            loss must stay finite; early stopping watches ``"val"`` (required with
            ``optim.early_stopping``).
        optim: the :class:`~idmlp.config.OptimConfig`.
        device: ``cpu``, ``cuda``, ``auto`` or a :class:`torch.device`.
        hooks: :data:`EpochHook` callables whose entries are added to every record.
        eval_batch_size: chunk size of the evaluation.
        step_hooks: :data:`StepHook` callables (also appendable to :attr:`step_hooks` later).
    """

    def __init__(
        self,
        model: nn.Module,
        X_train: Tensor | np.ndarray,
        y_train: Tensor | np.ndarray,
        eval_sets: Mapping[str, tuple[Tensor | np.ndarray, Tensor | np.ndarray]],
        *,
        optim: OptimConfig | None = None,
        device: str | torch.device = "cpu",
        hooks: Sequence[EpochHook] = (),
        eval_batch_size: int = 1024,
        step_hooks: Sequence[StepHook] = (),
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.optim = optim if optim is not None else OptimConfig()
        if not isinstance(self.optim, OptimConfig):
            raise ValueError(f"optim must be an idmlp.config.OptimConfig, got "
                             f"{type(self.optim).__name__}")
        self.eval_batch_size = check_int("eval_batch_size", eval_batch_size)
        self.device = resolve_device(device)
        self.hooks = tuple(hooks)
        self.step_hooks: list[StepHook] = list(step_hooks)

        param = next(iter(model.parameters()), None)
        dtype = param.dtype if param is not None and param.is_floating_point() else None
        X_train = _as_features("X_train", X_train).to(dtype)
        y_train = _as_labels("y_train", y_train, len(X_train))
        if not eval_sets:
            raise ValueError("eval_sets must name at least one evaluation split")
        if self.optim.early_stopping and MONITOR_SPLIT not in eval_sets:
            raise ValueError("early stopping needs a validation split (eval_sets['val']; "
                             "val_size > 0 for a run); give one, or turn early stopping off "
                             "(early_stopping=False, --no-early-stopping)")
        evals = {}
        for name, (X, y) in eval_sets.items():
            X = _as_features(f"X_{name}", X).to(dtype)
            if X.shape[1] != X_train.shape[1]:
                raise ValueError(f"X_train has {X_train.shape[1]} features but X_{name} has "
                                 f"{X.shape[1]}")
            evals[name] = (X.to(self.device), _as_labels(f"y_{name}", y, len(X)).to(self.device))
        self.model = model.to(self.device)
        max_label = int(max([y_train.max(), *(y.max() for _, y in evals.values())]))
        self._check_logits(X_train[:1], max_label)
        self.X_train, self.y_train = X_train.to(self.device), y_train.to(self.device)
        self.eval_sets = evals

        self.layer_weights = self._layer_weights()
        self.steps_per_epoch = self.optim.steps_per_epoch(len(y_train))
        self.total_steps = self.optim.total_steps(len(y_train))
        if round(self.optim.warmup_epochs * self.steps_per_epoch) > self.total_steps:
            raise ValueError(f"warmup_epochs={self.optim.warmup_epochs:g} is longer than the "
                             f"budget ({self.total_steps} optimizer steps, "
                             f"{self.total_steps / self.steps_per_epoch:.3g} epochs); shorten it")
        self.epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        # The fused kernels update all tensors in one pass: on CPU, Adam's step over the
        # 12.6M weights of a depth-20 width-794 network is about 5x faster.
        self.optimizer, self.scheduler = self.optim.build(
            model.parameters(), steps_per_epoch=self.steps_per_epoch,
            total_steps=self.total_steps, fused=self.device.type in ("cpu", "cuda"))
        self.shuffle_generator = torch.Generator().manual_seed(self.optim.seed)
        with torch.random.fork_rng(self._rng_devices()):
            torch.manual_seed(self.optim.seed)
            self._rng = self._get_rng()
        self.epoch = 0  # completed epochs
        self.step = 0  # completed optimizer steps
        self.elapsed = 0.0  # seconds of training, summed over calls to run()
        self.history: list[dict[str, Any]] = []
        # early stopping: when to stop and which epoch to keep, with a copy of its weights
        self.rule = StopRule(self.optim.patience)
        self.kept: dict[str, Any] = {"epoch": 0, "step": 0, "val_acc": None, "val_loss": None}
        self._kept_state: dict[str, Tensor] | None = None
        #: Why and when training ended (``None`` while it goes on): :func:`stop_message`.
        self.stopped: dict[str, Any] | None = None

    def _layer_weights(self) -> Tensor | None:
        """Loss weights over the model's layers, or ``None`` for the last layer alone (also
        for a plain classifier, whose one output is its only readout)."""
        if self.optim.layer_loss == "last" or not callable(
                getattr(self.model, "layer_logits", None)):
            return None
        depth = int(self.model.depth)
        dtype = next(self.model.parameters()).dtype
        return torch.tensor(self.optim.layer_weights(depth), device=self.device, dtype=dtype)

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
        """Everything needed to continue: weights, optimizer, scheduler, RNGs, history, and
        early stopping's state (the best epoch, its weights when they are not the model's
        current ones, and :attr:`stopped`)."""
        current = self.kept["epoch"] == self.epoch
        return {
            "epoch": self.epoch,
            "step": self.step,
            "elapsed": self.elapsed,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": {**self._rng, "shuffle": self.shuffle_generator.get_state()},
            "metrics": list(self.history),
            "rule": self.rule.state_dict(),
            "kept": dict(self.kept),
            # the kept weights, unless they are the model's (saves a second copy on disk)
            "kept_model": None if current or self.stopped else self._kept_state,
            "stopped": self.stopped,
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
        self.step = int(state.get("step", self.epoch * self.steps_per_epoch))
        self.elapsed = float(state["elapsed"])
        self.history = list(state["metrics"])
        # checkpoints of idmlp 0.1 have no early stopping state: they trained the budget
        if state.get("rule") is not None:
            self.rule.load_state_dict(state["rule"])
        else:  # a checkpoint of idmlp 0.1: it trained the budget, no early stopping state
            self.rule = StopRule(self.optim.patience)
        self.kept = dict(state.get("kept") or {"epoch": 0, "step": 0, "val_acc": None,
                                               "val_loss": None})
        self.stopped = state.get("stopped")
        kept = state.get("kept_model")
        if kept is None and self.kept["epoch"] == self.epoch and self.epoch:
            kept = self.model.state_dict()
        self._kept_state = None if kept is None else _clone_state(kept)

    # -- one step, one epoch ---------------------------------------------------------

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
            f"training diverged: {what} became {value} at {where}; start a new run with a "
            f"lower learning rate (lr={self.optim.lr:g}) or logit scale")

    def loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        r"""The training objective on a batch (:func:`layer_cross_entropy`), and the last
        layer's logits. In training mode with ``optim.input_noise`` :math:`= s > 0` the
        batch is first replaced by :math:`x + s\,\xi`, :math:`\xi \sim N(0, I)` from the
        trainer's forked torch RNG (so a seed gives the same noise, and a resumed run
        continues it); in eval mode, or with ``input_noise`` 0 or ``None``, the batch is
        used as given (the default's value for a dataset, which depends on its layout, is
        resolved where a run's trainer is built: :func:`idmlp.train.runs.make_trainer`)."""
        if self.model.training and self.optim.input_noise:
            x = x + self.optim.input_noise * torch.randn_like(x)
        if self.layer_weights is None:
            logits = self.model(x)
            return layer_cross_entropy(logits, y, None, *self._loss_kind), logits
        logits = self.model.layer_logits(x)  # (B, L, C)
        loss = layer_cross_entropy(logits, y, self.layer_weights, *self._loss_kind)
        return loss, logits[:, -1]

    @property
    def _loss_kind(self) -> tuple[float, str]:
        return self.optim.resolved_label_smoothing, self.optim.loss

    def train_step(self, x: Tensor, y: Tensor, *, step: int | None = None) -> tuple[float, Tensor]:
        """One optimizer step on the batch ``(x, y)``: forward, loss, backward, update.

        Returns the batch's mean loss and its last-layer logits (detached); raises
        :class:`TrainingDiverged` (before updating) if the loss is not finite.
        """
        loss, logits = self.loss(x, y)
        value = loss.item()
        if not math.isfinite(value):
            raise self._diverged("the training loss", value, step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return value, logits.detach()

    def _train_epoch(self, bar: Any) -> tuple[float, float, float]:
        """One pass over the shuffled training set (or what is left of the step budget);
        returns (mean loss, accuracy, last lr)."""
        self.model.train()
        n = len(self.y_train)
        perm = torch.randperm(n, generator=self.shuffle_generator).to(self.device)
        steps = min(self.steps_per_epoch, self.total_steps - self.step)
        loss_sum, seen, lr = 0.0, 0, 0.0
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for step in range(1, steps + 1):
            idx = perm[(step - 1) * self.optim.batch_size : step * self.optim.batch_size]
            x, y = self.X_train[idx], self.y_train[idx]
            lr = self.optimizer.param_groups[0]["lr"]
            value, logits = self.train_step(x, y, step=step)
            self.step += 1
            self._call_step_hooks()
            loss_sum += value * len(idx)
            seen += len(idx)
            correct += (logits.argmax(dim=1) == y).sum()
            bar.update(1)
            bar.set_postfix(epoch=self.epoch + 1, loss=f"{value:.4f}", refresh=False)
        return loss_sum / seen, int(correct) / seen, lr

    def _call_step_hooks(self) -> None:
        """Run the step hooks with the guarantees of :data:`StepHook`."""
        if not self.step_hooks:
            return
        was_training = self.model.training
        try:
            with torch.no_grad(), torch.random.fork_rng(self._rng_devices()):
                for hook in self.step_hooks:
                    hook(self)
        finally:
            self.model.train(was_training)

    def evaluate(self, X: Tensor | None = None, y: Tensor | None = None) -> dict[str, Any]:
        """Loss and accuracy of the last layer on ``(X, y)`` (default: the first evaluation
        split), and ``layer_acc``, every layer's accuracy
        (:func:`idmlp.train.evaluate.evaluate`)."""
        if X is None or y is None:
            X, y = next(iter(self.eval_sets.values()))
        m = evaluate(self.model, X, y, batch_size=self.eval_batch_size, confusion=False)
        return {"loss": float(m.loss[-1]), "acc": float(m.accuracy[-1]),
                "layer_acc": m.accuracy.tolist()}

    def _epoch_record(self, train_loss: float, train_acc: float, lr: float) -> dict[str, Any]:
        record: dict[str, Any] = {"epoch": self.epoch + 1, "train_loss": train_loss,
                                  "train_acc": train_acc}
        for name, (X, y) in self.eval_sets.items():
            m = self.evaluate(X, y)
            record[f"{name}_loss"], record[f"{name}_acc"] = m["loss"], m["acc"]
            if len(m["layer_acc"]) > 1:
                record[f"layer_{name}_acc"] = m["layer_acc"]
        for hook in self.hooks:
            record.update(hook(self.model))
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
        """Train until the budget is spent, or ``stop_after`` more epochs in this call.

        After every epoch the record is appended to :attr:`history` and passed to
        ``on_epoch`` (e.g. to write a checkpoint). Raises :class:`TrainingDiverged` as soon
        as the loss, the first evaluation loss or a weight is not finite; the trainer then
        holds a partial epoch's weights, which is why checkpoints are written from
        ``on_epoch``.

        Returns:
            :attr:`history`, all records so far (this call's and earlier ones').
        """
        if stop_after is not None:
            stop_after = check_int("stop_after", stop_after)
        last = self.epochs if stop_after is None else min(self.epochs, self.epoch + stop_after)
        if self.stopped is not None or self.epoch >= last:
            return self.history
        first_eval = next(iter(self.eval_sets))
        bar = progress_bar(
            total=self.total_steps, initial=self.step,
            enabled=progress, unit="step", desc="train", dynamic_ncols=True, leave=False,
        )
        with bar, torch.random.fork_rng(self._rng_devices()):
            self._set_rng(self._rng)
            if self.step == 0:
                self._call_step_hooks()
            while self.epoch < last:
                start = time.perf_counter()
                train_loss, train_acc, lr = self._train_epoch(bar)
                record = self._epoch_record(train_loss, train_acc, lr)
                if not math.isfinite(record[f"{first_eval}_loss"]):
                    raise self._diverged(f"the {first_eval} loss", record[f"{first_eval}_loss"])
                if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
                    raise self._diverged("a weight", math.nan)
                self.elapsed += time.perf_counter() - start
                record["elapsed"] = self.elapsed
                self.epoch += 1
                self._rng = self._get_rng()
                self.history.append(record)
                self._watch(record)
                if progress:
                    evals = ", ".join(f"{k} loss {record[f'{k}_loss']:.4f} acc "
                                      f"{record[f'{k}_acc']:.4f}" for k in self.eval_sets)
                    bar.write(f"epoch {self.epoch}/{self.epochs}: train loss {train_loss:.4f} "
                              f"acc {train_acc:.4f}, {evals} ({self.elapsed:.1f} s)",
                              file=sys.stderr)
                    if self.stopped is not None:
                        bar.write(stop_message(self.stopped), file=sys.stderr)
                if on_epoch is not None:
                    on_epoch(record)
                if self.stopped is not None:
                    break
        return self.history

    # -- early stopping ----------------------------------------------------------------

    @property
    def kept_epoch(self) -> int:
        """The epoch whose weights the model holds once training has ended: the best one
        with early stopping, else the last one."""
        if self.stopped is not None:
            return int(self.stopped["kept_epoch"])
        return self.epoch

    def _watch(self, record: dict[str, Any]) -> None:
        """After an epoch: the :class:`StopRule` says whether to keep this epoch's weights
        and whether to stop; end training (restoring the kept weights) when it says stop
        or the budget is spent."""
        opt = self.optim
        stop = False
        if opt.early_stopping:
            loss = float(record[f"{MONITOR_SPLIT}_loss"])
            acc = float(record[f"{MONITOR_SPLIT}_acc"])
            keep, stop = self.rule.update(loss, acc, record["train_acc"])
            if keep:
                self.kept = {"epoch": self.epoch, "step": self.step, "val_acc": acc,
                             "val_loss": loss}
                self._kept_state = _clone_state(self.model.state_dict())
        if stop and self.epoch < self.epochs:
            reason = "patience"
        elif self.epoch >= self.epochs:
            reason = "budget"
        else:
            return
        kept = self.kept if opt.early_stopping else {
            "epoch": self.epoch, "step": self.step,
            "val_acc": record.get(f"{MONITOR_SPLIT}_acc"),
            "val_loss": record.get(f"{MONITOR_SPLIT}_loss")}
        if opt.early_stopping and kept["epoch"] != self.epoch and self._kept_state is not None:
            self.model.load_state_dict(self._kept_state)
        self.stopped = {
            "reason": reason, "epoch": self.epoch, "step": self.step,
            "kept_epoch": int(kept["epoch"]), "kept_step": int(kept["step"]),
            "kept_val_acc": kept["val_acc"], "kept_val_loss": kept["val_loss"],
            "best_loss_epoch": self.rule.best_loss_epoch if opt.early_stopping else None,
            "early_stopping": opt.early_stopping,
            "patience": opt.patience if opt.early_stopping else None,
            "max_epochs": self.epochs, "max_steps": self.total_steps,
        }
        self._kept_state = None


def _clone_state(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}


def stop_message(stopped: Mapping[str, Any]) -> str:
    """One line: why and when training ended, and which epoch's weights were kept.

    Examples:
        >>> msg = stop_message({
        ...     "reason": "patience", "epoch": 40, "step": 1160, "kept_epoch": 33,
        ...     "kept_step": 957, "kept_val_acc": 0.9425, "early_stopping": True,
        ...     "best_loss_epoch": 30, "patience": 10, "max_epochs": 138,
        ...     "max_steps": 4000})
        >>> for part in msg.replace("; ", ": ").replace(" and the", ": the").split(": "):
        ...     print(part)
        stopped early after epoch 40 of at most 138 (step 1160)
        the validation loss had not improved since epoch 30
        the training accuracy had stopped rising
        kept epoch 33 (step 957, best validation accuracy 0.9425)
    """
    s = stopped
    if s["reason"] == "patience":
        head = (f"stopped early after epoch {s['epoch']} of at most {s['max_epochs']} (step "
                f"{s['step']}): the validation loss had not improved since epoch "
                f"{s.get('best_loss_epoch')} and the training accuracy had stopped rising")
    else:
        head = f"trained the whole budget ({s['max_epochs']} epochs, {s['max_steps']} steps)"
    if not s.get("early_stopping"):
        return head + "; kept the last epoch (no early stopping)"
    acc = s.get("kept_val_acc")
    acc_text = f", best validation accuracy {acc:.4f}" if isinstance(acc, (int, float)) else ""
    return head + f"; kept epoch {s['kept_epoch']} (step {s['kept_step']}{acc_text})"


def fit_model(
    model: nn.Module,
    X_train: Tensor | np.ndarray,
    y_train: Tensor | np.ndarray,
    X_test: Tensor | np.ndarray,
    y_test: Tensor | np.ndarray,
    *,
    optim: OptimConfig | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    on_epoch: EpochCallback | None = None,
    validation: tuple[Tensor | np.ndarray, Tensor | np.ndarray] | None = None,
    score_test: bool = True,
    **overrides: Any,
) -> list[dict[str, Any]]:
    r"""Train ``model`` in place with cross-entropy; return one metrics record per epoch.

    Minibatches are drawn without replacement from a permutation of the training set made
    by a :class:`torch.Generator` seeded with ``optim.seed``; the global torch RNG
    (dropout, ...) is forked and seeded with it too, so on CPU the same seed gives the same
    weights and metrics, and the caller's RNG is left untouched.

    Args:
        model: any ``nn.Module`` mapping float32 ``(B, N)`` to logits ``(B, C)``; it is
            moved to ``device`` and trained in place.
        X_train, X_test: features, ``(n, N)`` tensors or arrays (cast to float32).
        y_train, y_test: integer labels in ``0 .. C-1``, ``(n,)``.
        optim: the :class:`~idmlp.config.OptimConfig` (default ``OptimConfig()``);
            ``overrides`` replace some of its fields, e.g. ``lr=1e-3, epochs=2``.
        device: ``"cpu"``, ``"cuda"``, ``"auto"`` or a :class:`torch.device`.
        progress: show a tqdm bar with the running loss.
        on_epoch: called with each epoch's record right after it is made.
        validation: ``(X_val, y_val)``, the split early stopping watches. Without it the
            default ``optim`` trains the whole budget (early stopping off); an ``optim``
            that asks for early stopping then is refused.
        score_test: score the test split after every epoch; ``False`` (needs
            ``validation``) saves that pass: the records then have no ``test_*`` keys.

    Returns:
        A list of dicts, one per epoch, with ``epoch``, ``train_loss`` (the training
        objective) and ``train_acc`` (running averages over the epoch's batches, as
        trained: with ``input_noise``, of the noisy inputs),
        ``test_loss``, ``test_acc`` (the last layer), ``layer_test_acc`` (every layer, for a
        model with several), ``lr`` (the rate of the epoch's last step) and ``elapsed``
        (seconds since the start).

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
    import dataclasses

    if optim is None:
        optim = OptimConfig(early_stopping=validation is not None)
    optim = dataclasses.replace(optim, **overrides)
    if not score_test and validation is None:
        raise ValueError("score_test=False needs a validation split: the trainer scores at "
                         "least one split after every epoch")
    evals = {} if validation is None else {MONITOR_SPLIT: validation}
    if score_test:
        evals["test"] = (X_test, y_test)
    trainer = Trainer(model, X_train, y_train, evals,
                      optim=optim, device=device)
    return trainer.run(progress=progress, on_epoch=on_epoch)
