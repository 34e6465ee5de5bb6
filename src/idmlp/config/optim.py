"""How a network is trained: :class:`OptimConfig` (optimizer, schedule, loss over layers,
budget)."""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field
from typing import Any

from .._validation import MAX_SEED, check_choice, check_int, check_positive, check_real
from .fields import check_bool, meta, put

__all__ = ["AUTO_INPUT_NOISE", "BUDGET_STEPS", "DEFAULT_LABEL_SMOOTHING", "LAYER_LOSSES",
           "LOSSES", "MIN_DELTA", "OPTIMIZERS", "SCHEDULES", "OptimConfig"]

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
SCHEDULES: tuple[str, ...] = ("constant", "cosine", "step")
#: The loss of one readout (:func:`idmlp.train.losses.layer_cross_entropy`): softmax cross
#: entropy, or binary cross-entropy of every class against the rest.
LOSSES: tuple[str, ...] = ("cross_entropy", "binary_cross_entropy")
#: Label smoothing of the softmax cross-entropy when none is given.
DEFAULT_LABEL_SMOOTHING = 0.1
#: Which layers' class readouts enter the loss (:meth:`OptimConfig.layer_weights`).
LAYER_LOSSES: tuple[str, ...] = ("last", "all", "ramp")
#: The smallest decrease of the validation loss that early stopping counts as an
#: improvement (nats; far below a real change, far above float32 round-off of a mean).
MIN_DELTA = 1e-4
#: The budget in optimizer steps when neither ``epochs`` nor ``steps`` is given: a maximum
#: that early stopping cuts short, chosen on the validation splits of the dev datasets
#: (README, "Defaults").
BUDGET_STEPS = 4000
#: The input noise of images and signals when ``input_noise`` is not given
#: (:meth:`OptimConfig.resolved_input_noise`; unordered features get none).
AUTO_INPUT_NOISE = 0.3


@dataclass(frozen=True)
class OptimConfig:
    r"""How a network is trained: optimizer, schedule, loss over layers and budget.

    Learning-rate schedules are per optimizer step :math:`t = 0 .. T-1` with an optional
    linear warmup over the first :math:`W` steps,
    :math:`\eta_t = \eta\, \min(1, (t+1)/W)\, f_t`:

    * ``constant``: :math:`f_t = 1`;
    * ``cosine``: :math:`f_t = \tfrac12 (1 + \cos(\pi \max(0, t - W) / (T - W)))`;
    * ``step``: :math:`f_t = \gamma^{\lfloor t / (S \cdot \text{steps per epoch}) \rfloor}`.

    The loss is :math:`\sum_\ell w_\ell\, \mathrm{CE}(s\, x^\ell_{N+1..N+C}, y)` over the
    layers' readouts, with weights :meth:`layer_weights` (``last``: only the last layer).

    **Binary cross-entropy** (``loss="binary_cross_entropy"``; the loss of B-cos networks,
    Böhle, Fritz and Schiele, CVPR 2022): every class is a detector of its own,
    :math:`\sum_c \mathrm{BCE}(\sigma(z_c), t_c)` with targets :math:`t_c = 1 - \epsilon/2` for
    the true class and :math:`\epsilon/2` for the others (label smoothing :math:`\epsilon`,
    default 0 with this loss: :attr:`resolved_label_smoothing`).
    Softmax cross-entropy depends on logit differences only, so a class channel may carry
    evidence for a class wherever it also carries evidence for its rivals; the binary loss
    asks every logit to be low on images of other classes, so a CNN trained with it places
    a class's evidence where that class's object is (the grid pointing game of
    :mod:`idmlp.faithfulness.pointing`: README, "Localization"). Validation, early stopping
    and the reported loss read the softmax log loss either way.

    **Budget and early stopping.** The budget :math:`T` is counted in optimizer steps
    (:meth:`total_steps`): ``steps`` if given, else ``epochs`` passes over the training set
    if given, else :data:`BUDGET_STEPS` steps whatever the size of the training set (a
    small one gets more passes: the same number of updates, not of epochs). With
    ``early_stopping`` the budget is a maximum (:class:`idmlp.train.loop.StopRule`):

    * training *stops* once the last layer's validation loss has not improved (by more
      than :data:`MIN_DELTA`) for ``patience`` epochs while the training accuracy has
      stopped rising (by at most one point over those epochs). The loss says when: it
      changes smoothly and has no ties, where the accuracy of a small validation split
      moves in steps of ``1/n_val`` (12 examples for iris). The training accuracy guard is
      Prechelt's (1998) "progress" criterion: while the network still fits its training
      split better, a flat validation curve is no reason to stop (on MNIST-1D the
      training accuracy rises from 0.79 to 0.99 between epochs 35 and 90 while the
      validation accuracy is flat within its noise, and then goes up);
    * the weights *kept* are those of the epoch with the best validation accuracy, the
      later epoch on a tie. The accuracy says what: it is what is reported, and the
      validation loss reaches its minimum long before it (MNIST-1D: loss minimum at epoch
      37, accuracy still rising at epoch 80, from overconfident mistakes that raise the
      loss but not the error count). On a tie the later epoch: once the training split is
      fitted, gradient descent keeps moving towards the maximum-margin solution (Soudry et
      al., JMLR 2018), so on equal validation evidence the longer-trained weights are
      preferred.

    ``early_stopping=False`` trains the whole budget and keeps the last weights (idmlp
    0.1's behaviour with ``epochs=15``).

    **Input noise** (``input_noise`` :math:`= s`; Sietsma and Dow, Neural Networks 4(1),
    1991; Bishop, "Training with noise is equivalent to Tikhonov regularization", Neural
    Computation 7(1), 1995). Every training step sees :math:`\tilde z = z + s\,\xi`,
    :math:`\xi \sim N(0, I)` drawn afresh per example and step, where :math:`z` is the
    standardized input (:class:`~idmlp.data.InputScaler`, before the network's
    :math:`\sqrt{q_0}`), so :math:`s` is in units of the data's standard deviation. For
    small :math:`s` the expected loss is :math:`\mathcal L(z) + \tfrac{s^2}{2}
    \operatorname{tr} \nabla_z^2 \mathcal L(z) + O(s^4)` (Bishop): a penalty on how
    sharply the loss bends around each training input, which a network that memorizes
    its training split pays for. Only training sees the noise: evaluation, early
    stopping, the maps and the evidence split read the clean input, and the network and
    its identity start are unchanged (a regularizer of the trajectory, not of the
    interpretation). The default (``None``, :meth:`resolved_input_noise`) is
    :math:`s = 0.3` for images and signals and 0 for unordered features, chosen on the
    validation splits of the dev datasets (README, "Defaults"): the interpretable MLP
    memorizes a small training split (MNIST-1D: 0.678 without noise, 0.720 with it, mean
    of 3 seeds; also better on synthetic signals and mnist5k, equal on digits), but on
    small tables, where one feature can carry the class (iris: 4 features), per-feature
    noise erases information (a validation example worse on iris and breast cancer,
    test accuracy below logistic regression's): neighbouring pixels and samples of a
    signal are redundant, the columns of a table are not. The CNN
    brings ``input_noise=0`` (:data:`idmlp.config.ARCHS`: 0.94 against 0.97 on
    MNIST-1D), and a sweep trains on clean inputs.

    Examples:
        >>> OptimConfig(layer_loss="ramp").layer_weights(4)
        [0.1, 0.2, 0.3, 0.4]
    """

    optimizer: str = field(default="adam", metadata=meta(
        f"optimizer: {', '.join(OPTIMIZERS)}"))
    lr: float = field(default=3e-4, metadata=meta("learning rate"))
    momentum: float = field(default=0.9, metadata=meta("SGD momentum in [0, 1) (sgd only)"))
    weight_decay: float = field(default=0.0, metadata=meta("L2 coefficient >= 0"))
    schedule: str = field(default="cosine", metadata=meta(
        f"learning-rate schedule: {', '.join(SCHEDULES)}"))
    warmup_epochs: float = field(default=0.0, metadata=meta("linear warmup length in epochs"))
    step_epochs: int = field(default=10, metadata=meta("'step' schedule period in epochs"))
    gamma: float = field(default=0.1, metadata=meta("'step' schedule factor in (0, 1]"))
    label_smoothing: float | None = field(default=None, metadata=meta(
        "label smoothing in [0, 1) (default: 0.1 with cross_entropy, 0 with "
        "binary_cross_entropy)"))
    loss: str = field(default="cross_entropy", metadata=meta(
        f"loss of each readout: {', '.join(LOSSES)} (one-vs-rest, the B-cos loss: class "
        "evidence placed where the class's object is)"))
    layer_loss: str = field(default="all", metadata=meta(
        "layers in the loss: 'last', 'all' (mean over layers) or 'ramp' (weights rising "
        "with depth)"))
    input_noise: float | None = field(default=None, metadata=meta(
        "std of the Gaussian noise added to every standardized training input at every "
        f"step, >= 0 (training only; 0: none; default: {AUTO_INPUT_NOISE} for images and "
        "signals, 0 for unordered features; the cnn brings 0)"))
    batch_size: int = field(default=128, metadata=meta("minibatch size"))
    epochs: int | None = field(default=None, metadata=meta(
        f"passes over the training set (with early stopping: the most; default: a budget "
        f"of {BUDGET_STEPS} optimizer steps whatever the data size)"))
    steps: int | None = field(default=None, metadata=meta(
        "total optimizer steps (overrides epochs; with early stopping: the most)"))
    early_stopping: bool = field(default=True, metadata=meta(
        "stop when the validation loss has not improved for --patience epochs and keep the "
        "best epoch's weights (needs a validation split); --no-early-stopping trains the "
        "whole budget and keeps the last weights"))
    patience: int = field(default=6, metadata=meta(
        "early stopping: epochs without a better validation loss before stopping"))
    seed: int = field(default=0, metadata=meta("seed of the initialization and shuffling"))

    @property
    def resolved_label_smoothing(self) -> float:
        """``label_smoothing``, or when it is not given 0.1 for ``cross_entropy`` and 0 for
        ``binary_cross_entropy`` (smoothed binary targets let every logit stop at a
        moderate value, and the class channels no longer localize: README, "Localization").

        Examples:
            >>> OptimConfig().resolved_label_smoothing
            0.1
            >>> OptimConfig(loss="binary_cross_entropy").resolved_label_smoothing
            0.0
        """
        if self.label_smoothing is not None:
            return self.label_smoothing
        return DEFAULT_LABEL_SMOOTHING if self.loss == "cross_entropy" else 0.0

    def resolved_input_noise(self, layout: str) -> float:
        """The input noise for data of ``layout`` (``image``, ``signal`` or ``features``):
        ``input_noise`` if set, else :data:`AUTO_INPUT_NOISE` for images and signals and 0
        for unordered features.

        Examples:
            >>> OptimConfig().resolved_input_noise("signal")
            0.3
            >>> OptimConfig().resolved_input_noise("features")
            0.0
        """
        if self.input_noise is not None:
            return self.input_noise
        return 0.0 if layout == "features" else AUTO_INPUT_NOISE

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        put(self, "lr", check_positive("lr", self.lr))
        for name in ("momentum", "weight_decay", "warmup_epochs", "gamma"):
            put(self, name, check_real(name, getattr(self, name)))
        if self.label_smoothing is not None:
            put(self, "label_smoothing", check_real("label_smoothing", self.label_smoothing))
        if self.input_noise is not None:
            put(self, "input_noise", check_real("input_noise", self.input_noise))
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.input_noise is not None and self.input_noise < 0:
            raise ValueError(f"input_noise must be >= 0, got {self.input_noise!r}")
        check_choice("schedule", self.schedule, SCHEDULES)
        put(self, "step_epochs", check_int("step_epochs", self.step_epochs))
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must lie in (0, 1], got {self.gamma!r}")
        if self.label_smoothing is not None and not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing!r}")
        check_choice("loss", self.loss, LOSSES)
        check_choice("layer_loss", self.layer_loss, LAYER_LOSSES)
        put(self, "batch_size", check_int("batch_size", self.batch_size))
        if self.epochs is not None:
            put(self, "epochs", check_int("epochs", self.epochs))
        if self.steps is not None:
            put(self, "steps", check_int("steps", self.steps))
        check_bool("early_stopping", self.early_stopping)
        put(self, "patience", check_int("patience", self.patience))
        put(self, "seed", check_int("seed", self.seed, minimum=0, maximum=MAX_SEED))
        if not 0.0 <= self.warmup_epochs <= (self.epochs or math.inf):
            bound = "be >= 0" if self.epochs is None else f"lie in [0, epochs={self.epochs}]"
            raise ValueError(f"warmup_epochs must {bound}, got {self.warmup_epochs!r}")

    @staticmethod
    def upgrade_dict(d: dict[str, Any]) -> dict[str, Any]:
        """Optimization dicts of earlier versions: they trained the whole budget
        (``early_stopping`` off) of ``epochs`` (15 by default) passes; without an
        ``input_noise`` they trained on clean inputs."""
        if "early_stopping" not in d:
            d["early_stopping"] = False
            d.setdefault("epochs", 15)
        d.setdefault("input_noise", 0.0)  # written before input noise existed: none
        return d

    def steps_per_epoch(self, n_train: int) -> int:
        """Optimizer steps in one pass over ``n_train`` examples (the last batch may be
        smaller)."""
        return math.ceil(n_train / self.batch_size)

    def total_steps(self, n_train: int) -> int:
        """The budget :math:`T` in optimizer steps: :attr:`steps` if set, else ``epochs``
        passes over ``n_train`` examples if set, else :data:`BUDGET_STEPS`.

        Examples:
            >>> OptimConfig().total_steps(108), OptimConfig().total_steps(3600)
            (4000, 4000)
            >>> OptimConfig(epochs=15).total_steps(3600)  # 29 steps per epoch
            435
        """
        if self.steps is not None:
            return self.steps
        if self.epochs is not None:
            return self.epochs * self.steps_per_epoch(n_train)
        return BUDGET_STEPS

    def layer_weights(self, depth: int) -> list[float]:
        r"""Loss weight of each layer's readout, summing to 1.

        ``last``: :math:`w_L = 1`; ``all``: :math:`w_\ell = 1/L`; ``ramp``:
        :math:`w_\ell = \ell / \sum_k k`, rising with depth.
        """
        depth = check_int("depth", depth)
        if self.layer_loss == "last":
            return [0.0] * (depth - 1) + [1.0]
        if self.layer_loss == "all":
            return [1.0 / depth] * depth
        total = depth * (depth + 1) / 2
        return [(l + 1) / total for l in range(depth)]

    def lr_factor(self, steps_per_epoch: int, total_steps: int) -> typing.Callable[[int], float]:
        """The multiplier of :attr:`lr` at optimizer step ``t`` (see the class docstring)."""
        warmup = round(self.warmup_epochs * steps_per_epoch)
        decay_every = self.step_epochs * steps_per_epoch
        schedule, gamma = self.schedule, self.gamma

        def factor(t: int) -> float:
            w = min(1.0, (t + 1) / warmup) if warmup else 1.0
            if schedule == "cosine":
                return w * 0.5 * (1.0 + math.cos(
                    math.pi * max(0, t - warmup) / max(1, total_steps - warmup)))
            if schedule == "step":
                return w * gamma ** (t // decay_every)
            return w

        return factor

    def build(self, params: Any, *, steps_per_epoch: int, total_steps: int,
              fused: bool | None = None) -> tuple[Any, Any]:
        """The optimizer over ``params`` and its per-step learning-rate scheduler.

        ``torch.optim.Adam`` or ``torch.optim.SGD`` (with :attr:`momentum`), coupled
        :attr:`weight_decay`, and a ``LambdaLR`` stepped after every batch. ``fused=True``
        asks for torch's single-kernel implementation (the same update, about 5x faster
        for Adam over large tensors on CPU) where torch has one for the parameters' device.
        """
        import torch

        params = [p for p in params if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters")
        cls = torch.optim.Adam if self.optimizer == "adam" else torch.optim.SGD
        kw: dict[str, Any] = {"lr": self.lr, "weight_decay": self.weight_decay}
        if self.optimizer == "sgd":
            kw["momentum"] = self.momentum
        try:
            opt = cls(params, **kw, **({"fused": True} if fused else {}))
        except (RuntimeError, TypeError, ValueError):
            if not fused:
                raise
            opt = cls(params, **kw)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, self.lr_factor(steps_per_epoch, total_steps))
        return opt, sched
