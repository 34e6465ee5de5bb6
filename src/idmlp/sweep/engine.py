r"""Batched training: ``K`` interpretable MLPs of one depth and width trained as one.

Every run of a sweep trains the paper's interpretable structure
(:class:`~idmlp.nets.mlp.InterpretableMLP`): width :math:`W = N + C`, the state
:math:`x^0 = (\sqrt{q_0}\, z, 0_C)` for ``z`` standardized on the training split,
:math:`x^\ell = \phi(W^\ell x^{\ell-1} (+ b^\ell))`, and the class block of every layer,
times the logit scale :math:`s`, as that layer's logits (the shared readout rule of
:mod:`idmlp.nets.rules`), under the loss of :func:`idmlp.train.loop.layer_cross_entropy`.

Runs that share the dataset, the depth ``L`` and the activation train together (the
residual MLP's too: the same stack with ReZero blocks). Their
weights are stacked per layer as ``(K, W, W)`` tensors, so a layer is one
:func:`torch.bmm` for all ``K`` runs, and each run keeps its own :math:`\sigma`,
:math:`q_0` (an input scale :math:`\sqrt{q_0}`), initialization scheme and seed (its own
initialization generator and its own minibatch order). The loss is
:math:`\sum_k \mathcal L_k`; run ``k``'s weights enter only :math:`\mathcal L_k`, so the
gradient with respect to them is :math:`\nabla \mathcal L_k`. Adam and SGD (with momentum)
update each entry from its own gradient history only, so one optimizer over the stacked
tensors performs exactly the ``K`` independent updates with the same learning rate
(``tests/test_sweep.py`` checks this, and checks the whole of :func:`train_batch` against
:func:`train_one`, a plain per-run loop over an :class:`idmlp.nets.mlp.MLP`).

Subnormal floats are flushed to zero while a run trains (:func:`flush_subnormals`): a
signal that small has vanished anyway (a vanishing start, e.g. :math:`\sigma = 0.5` at
depth 200, reaches them within ~130 layers), and x86 cores compute on subnormals one to two
orders of magnitude slower (measured: a depth-200 step of 12 stacked runs took 2.2 s of CPU
with two threads instead of 0.13 s).

A run whose loss stops being finite is *diverged*: its metrics are recorded at that
moment, then it is frozen. Its weights, gradients and optimizer state are set to zero, so
the optimizer leaves it at zero, and its slice of each ``bmm`` never touches the others.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..config.sweep import RunSpec, TrainSettings
from ..jacobian.dense import ZERO_RTOL, eigenvalue_summary, singular_values, stacked_eigenvalues
from ..nets.base import build_model
from ..nets.rules import ClassCoordinates
from ..nets.stacked import STACKABLE_ARCHS, StackedMLP, check_group, run_seeds
from ..runtime import progress_bar
from ..theory import jacobian_means, jacobian_moments, spectrum, spectrum_on_data
from ..train.evaluate import evaluate
from ..train.losses import layer_cross_entropy

if TYPE_CHECKING:
    from ..data import Dataset

__all__ = [
    "METRIC_COLUMNS",
    "RunMetrics",
    "StackedMLP",
    "TrainData",
    "check_runs",
    "flush_subnormals",
    "mean_field_weights",
    "run_seeds",
    "theory_on_data",
    "theory_spectrum",
    "train_batch",
    "train_one",
]

# Elements per chunk of the batched evaluation (keeps memory bounded).
_EVAL_ELEMENTS = 2**23


@dataclass(frozen=True)
class RunMetrics:
    r"""What :func:`train_batch` and :func:`train_one` report for each run (one result row).

    Attributes:
        diverged: whether the loss stopped being finite (the run is then frozen).
        diverged_step: the step at which it did (``None`` if it did not).
        steps_to_target: first evaluated step with training accuracy (on the evaluation
            subset) >= ``target_acc`` (``None`` if never).
        train_acc, train_loss, test_acc, test_loss: the last layer's, at the end (at
            divergence for a diverged run).
        init_nonzero_frac, init_mean_eig: fraction of eigenvalues of :math:`J J^T` above
            ``1e-9`` of the largest, and their mean, at initialization (the ``W x W`` body
            at the first ``jacobian_samples`` training inputs, scaled and padded).
        theory_nonzero_frac, theory_mean_eig: the theory at Gaussian inputs
            :math:`N(0, q_0)` in all ``W`` coordinates (:func:`theory_spectrum`): the
            fraction of eigenvalues that are not exactly 0, and the mean.
        data_nonzero_frac, data_mean_eig: the theory on the very inputs the measurement uses
            (:func:`theory_on_data`); for identity init the exact law, whose nonzero fraction
            counts eigenvalues above ``1e-9`` of the largest, as the measurement does.
        weight_distance: how far the weights moved from their start,
            :math:`\|\theta - \theta_0\|_F / \|\theta_0\|_F` over all layers' weight
            matrices (biases, logit scale and residual scales left out), at the end (at
            divergence for a diverged run: then usually not finite).

    Both theories are filled for every init of the MLP (:func:`theory_spectrum`; identity,
    ZerO, IDInit: Kubota et al. 2021, exact; orthogonal, delta-orthogonal, xavier, he:
    mean-field, Pennington et al. 2017/2018, a large-width limit; looks-linear: exact for
    ReLU, wide limit for odd activations) and for the residual MLP at :math:`\alpha_0 = 0`
    (the identity map: exact); ``None`` where no theory applies or it overflows float64.
    Results files written before the ``data_*`` or ``weight_distance`` columns existed
    still load (the columns read NaN).
    """

    diverged: bool
    diverged_step: int | None
    steps_to_target: int | None
    train_acc: float
    train_loss: float
    test_acc: float
    test_loss: float
    init_nonzero_frac: float
    init_mean_eig: float
    theory_nonzero_frac: float | None
    theory_mean_eig: float | None
    data_nonzero_frac: float | None = None
    data_mean_eig: float | None = None
    weight_distance: float | None = None


#: The metric columns of a result row, in order.
METRIC_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunMetrics))
#: Metric columns added after the first results files were written: a file without them
#: still loads (the cells read as empty).
ADDED_COLUMNS: tuple[str, ...] = ("data_nonzero_frac", "data_mean_eig", "weight_distance")


@dataclass(frozen=True, eq=False)
class TrainData:
    """A dataset ready for training: features standardized on the training split.

    The network multiplies them by :math:`\\sqrt{q_0}` (one scale per run). Plain numpy
    arrays, so the object pickles cheaply (Ray).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    image_shape: tuple[int, ...] | None = None

    @classmethod
    def from_dataset(cls, dataset: Dataset, scaling: str = "feature",
                     std_floor: float = 0.0) -> TrainData:
        scaler = dataset.fit_scaler(scaling, std_floor)
        return cls(dataset.name,
                   np.ascontiguousarray(scaler.transform(dataset.X_train), np.float32),
                   dataset.y_train,
                   np.ascontiguousarray(scaler.transform(dataset.X_test), np.float32),
                   dataset.y_test, dataset.num_classes, tuple(dataset.image_shape))

    @property
    def in_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def width(self) -> int:
        """``N + C``: the width of every layer of the interpretable MLP."""
        return self.in_features + self.num_classes

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    def tensors(self, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, ...]:
        def t(a: np.ndarray, dt: torch.dtype) -> Tensor:
            return torch.as_tensor(a).to(device=device, dtype=dt)

        return (t(self.X_train, dtype), t(self.y_train, torch.long),
                t(self.X_test, dtype), t(self.y_test, torch.long))


#: Inits whose square weights are random with a mean-field theory (:func:`mean_field_weights`).
RANDOM_INITS: tuple[str, ...] = ("orthogonal", "delta_orthogonal", "xavier", "he")
#: Inits that start a square weight at exactly :math:`\sigma I` (the identity law).
IDENTITY_INITS: tuple[str, ...] = ("identity", "zero", "idinit")
#: Activations of looks-linear's closed forms (:func:`idmlp.theory.family.looks_linear_spectrum`).
_ODD = ("tanh", "hardtanh", "linear")


def mean_field_weights(init: str, sigma: float) -> tuple[str, float]:
    r"""The weight law and :math:`\sigma_w` of the mean-field theory for a sweep init.

    :func:`idmlp.init.init_weight_` on a square ``W x W`` weight with gain :math:`\sigma`:
    ``orthogonal`` is :math:`W = \sigma Q` (``"orthogonal"``, :math:`\sigma_w = \sigma`);
    ``xavier`` draws :math:`N(0, \sigma^2 \cdot 2/(W + W)) = N(0, \sigma^2/W)`
    (``"gaussian"``, :math:`\sigma_w = \sigma`); ``he`` draws :math:`N(0, 2\sigma^2/W)`
    (``"gaussian"``, :math:`\sigma_w = \sqrt2\,\sigma`); ``delta_orthogonal`` on a square
    weight is ``orthogonal``.

    Examples:
        >>> mean_field_weights("he", 1.0)
        ('gaussian', 1.4142135623730951)
    """
    if init not in RANDOM_INITS:
        raise ValueError(f"init must be one of {', '.join(RANDOM_INITS)}; got {init!r}")
    if init in ("orthogonal", "delta_orthogonal"):
        return "orthogonal", float(sigma)
    return "gaussian", float(sigma) * (math.sqrt(2.0) if init == "he" else 1.0)


@functools.lru_cache(maxsize=4096)
def theory_spectrum(sigma: float, q0: float, depth: int, activation: str,
                    init: str = "identity") -> tuple[float | None, float | None]:
    r"""The theory's nonzero fraction and mean eigenvalue of :math:`J J^T` at Gaussian
    inputs :math:`N(0, q_0)` in every coordinate (the sweep's ``theory_*`` columns).

    - ``identity`` (Kubota et al., ICASSP 2021): :func:`idmlp.theory.spectrum`, exact for
      hard-tanh (:math:`a = \alpha` and :math:`a\,\sigma^{2L}`), quadrature on
      :math:`2^{14}` points otherwise; the fraction is :math:`P(\lambda \ne 0)`.
    - ``zero`` and ``idinit``: :math:`\sigma I` on these square layers, the identity law.
    - ``looks_linear`` (:func:`_looks_linear_theory`): ReLU exact; odd activations the
      orthogonal law of width ``W/2`` at :math:`\sigma_w = 2\sigma`, input :math:`q_0/2`,
      for half the eigenvalues (the other half 0).
    - ``orthogonal``, ``delta_orthogonal``, ``xavier``, ``he`` (Pennington, Schoenholz and
      Ganguli, NeurIPS 2017 and AISTATS 2018): :func:`idmlp.theory.jacobian_moments` with
      the weight law and
      :math:`\sigma_w` of :func:`mean_field_weights` and :math:`\sigma_b = 0` (the sweep's
      biases start at zero): :math:`E[\lambda] = \prod_\ell \sigma_w^2 \mu_1^\ell` and the
      fraction :math:`1 - \max_\ell P(\phi'(h^\ell) = 0)`. Exact as the width grows
      (Gaussian pre-activations); at width ``W`` the measured nonzero fraction is the
      smallest number of live coordinates over the layers, below this limit by the
      fluctuations of that minimum (:math:`O(W^{-1/2})`).

    ``(None, None)`` where the theory overflows float64 (a smooth activation's recursion
    or an unbounded length map).

    Examples:
        >>> round(theory_spectrum(1.0, 0.5, 10, "hardtanh")[0], 12)  # erf(1)
        0.84270079295
        >>> round(theory_spectrum(1.0, 0.5, 10, "linear", "he")[1], 6)  # (sqrt(2)^2)^10
        1024.0
    """
    try:
        if init in IDENTITY_INITS:
            law = spectrum(sigma, q0, depth, activation, points=2**14)
            return law.nonzero_fraction, law.mean()
        if init == "looks_linear":
            return _looks_linear_theory(sigma, np.array([q0 / 2]), depth, activation)
        weights, sigma_w = mean_field_weights(init, sigma)
        m = jacobian_moments(sigma_w, 0.0, q0, depth, activation, weights)
    except (ValueError, OverflowError):  # the theory's own float64 overflow
        return None, None
    return 1.0 - m.mass_at_zero, m.mean


def _looks_linear_theory(sigma: float, q_in: np.ndarray, depth: int, activation: str
                         ) -> tuple[float | None, float | None]:
    r"""Looks-linear's nonzero fraction and mean eigenvalue of :math:`J J^T`
    (:func:`idmlp.theory.family.looks_linear_spectrum`): ReLU: :math:`\tfrac12
    \delta_0 + \tfrac12 \delta_{2\sigma^{2L}}` exactly, at any input; an odd activation:
    half the eigenvalues 0, half those of the orthogonal network of width ``W/2`` at
    :math:`\sigma_w = 2\sigma` from input mean squares ``q_in`` (averaged over them);
    ``(None, None)`` for other activations (no closed form)."""
    if activation == "relu":
        return 0.5, math.exp(2 * depth * math.log(sigma))
    if activation not in _ODD:
        return None, None
    mean, zero = jacobian_means(2 * sigma, 0.0, q_in, depth, activation)
    if not np.all(np.isfinite(mean)):
        return None, None
    return 0.5 * (1.0 - float(zero.mean())), 0.5 * float(mean.mean())


def theory_on_data(spec: RunSpec, x: Tensor | np.ndarray, num_classes: int
                   ) -> tuple[float | None, float | None]:
    r"""The theory's nonzero fraction and mean eigenvalue of :math:`J J^T` on the inputs
    that the measurement uses (the sweep's ``data_*`` columns).

    ``x``: the ``n`` inputs as fed to the network, scaled by :math:`\sqrt{q_0}` but not yet
    padded, ``(n, N)``; the network's input is :math:`x^0 = (x, 0_C)` of width
    :math:`W = N + C`.

    - ``identity`` (and ``zero``, ``idinit``: :math:`\sigma I` here): the exact law
      :func:`idmlp.theory.spectrum_on_data` of the :math:`n W` diagonal entries (constant
      pixels and the class block never saturate).
      The fraction counts eigenvalues above :data:`~idmlp.jacobian.dense.ZERO_RTOL` times the
      largest, the criterion of ``init_nonzero_frac`` (for hard-tanh the same as
      :math:`\lambda \ne 0`; for smooth activations a tiny eigenvalue counts as zero on both
      sides).
    - random inits: :func:`theory_spectrum`'s mean-field moments run from each input's own
      mean square :math:`q_0^{(b)} = \|x^0_b\|^2 / W` and averaged over the inputs (the
      measured mean averages over them too). Large-width, as there.
    - ``looks_linear``: ReLU exact; odd activations the orthogonal law of width ``W/2`` at
      :math:`\sigma_w = 2\sigma` from each input's :math:`\|a - b\|^2 / (2W)`, ``a``
      and ``b`` the two halves of :math:`x^0` (what its first layer reads).

    Examples:
        >>> x = torch.tensor([[0.5, -2.0], [0.0, 1.5]], dtype=torch.float64)
        >>> theory_on_data(RunSpec(10, "hardtanh", "identity", 1.0, 1.0, 0), x, 1)
        (0.6666666666666666, 0.6666666666666666)
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    try:
        if spec.init in IDENTITY_INITS:
            law = spectrum_on_data(x, spec.sigma, spec.depth, spec.activation,
                                   num_classes=num_classes)
            alive = law.log_values > law.log_values[-1] + math.log(ZERO_RTOL)
            return float(law.weights[alive].sum()), law.mean()
        width = x.shape[1] + num_classes
        if spec.init == "looks_linear":
            # u^1 = sigma W0 (a - b) for the halves a, b of x^0: q_in = |a - b|^2 / (4 W/2)
            x0 = torch.nn.functional.pad(x, (0, num_classes))
            half = width // 2
            q_in = ((x0[:, :half] - x0[:, half:]).square().sum(1) / (4 * half)).numpy()
            return _looks_linear_theory(spec.sigma, q_in, spec.depth, spec.activation)
        _, sigma_w = mean_field_weights(spec.init, spec.sigma)
        q0s = (x.square().sum(1) / width).numpy()
        mean, zero = jacobian_means(sigma_w, 0.0, q0s, spec.depth, spec.activation)
    except (ValueError, OverflowError):  # the theory's own float64 overflow
        return None, None
    if not np.all(np.isfinite(mean)):
        return None, None
    return 1.0 - float(zero.mean()), float(mean.mean())


def _theory(spec: RunSpec, x: Tensor, num_classes: int,
            model: ModelConfig | None = None) -> tuple[float | None, ...]:
    """The four theory columns of a run of ``model``'s architecture (default the MLP): the
    MLP's theories; the residual MLP at :math:`\alpha_0 = 0` is the identity map (every
    eigenvalue exactly 1); ``None`` for anything else."""
    arch = "mlp" if model is None else model.arch
    if arch == "mlp":
        return (*theory_spectrum(spec.sigma, spec.q0, spec.depth, spec.activation, spec.init),
                *theory_on_data(spec, x, num_classes))
    if arch == "residual" and model.options.alpha_init == 0:
        return (1.0, 1.0, 1.0, 1.0)
    return (None,) * 4


def _weight_distance(weights: Sequence[Tensor], start: Sequence[Tensor]) -> Tensor:
    r""":math:`\|\theta - \theta_0\|_F / \|\theta_0\|_F` over the layers' weights, per run:
    every weight ``(K, ...)`` with the runs first (one network: ``K = 1``); ``(K,)``."""
    num = sum((w.detach().double() - w0.double()).square().flatten(1).sum(1)
              for w, w0 in zip(weights, start, strict=True))
    den = sum(w0.double().square().flatten(1).sum(1) for w0 in start)
    return (num / den).sqrt()


def check_runs(specs: Sequence[RunSpec], data: TrainData, model: ModelConfig) -> None:
    """Refuse, in one line and before any training, runs whose initialization does not
    apply to the network's layer shapes (e.g. looks-linear on an odd width): one network of
    depth 1 is built per initialization, as :func:`train_one` builds it."""
    for init in dict.fromkeys(s.init for s in specs):
        spec = next(s for s in specs if s.init == init)
        config = dataclasses.replace(spec.model_config(model), depth=1).for_data(
            data.in_features, data.num_classes, data.image_shape)
        build_model(config, generator=torch.Generator().manual_seed(0))


def _layer_weights(settings: TrainSettings, depth: int, device: torch.device,
                   dtype: torch.dtype) -> Tensor | None:
    if settings.optim.layer_loss == "last":
        return None
    return torch.tensor(settings.optim.layer_weights(depth), device=device, dtype=dtype)


def _metrics(diverged_step: int | None, steps_to_target: int | None,
             train: tuple[float, float], test: tuple[float, float],
             init: tuple[float, float], theory: tuple[float | None, ...],
             distance: float) -> dict[str, Any]:
    return dataclasses.asdict(RunMetrics(
        diverged_step is not None, diverged_step, steps_to_target, train[0], train[1],
        test[0], test[1], init[0], init[1], *theory, distance))


class _LastLayer(nn.Module):
    """The last layer's logits of a network (or of ``K`` stacked ones) as a plain
    classifier: what the sweep scores, without the per-layer readout's states and maps
    (which for ``K`` runs of depth ``L`` and width ``W`` hold ``K B L W`` numbers)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: Tensor) -> Tensor:
        return self.model(z)


_FLUSHING = 0  # nesting depth of flush_subnormals


@contextlib.contextmanager
def flush_subnormals() -> Iterator[None]:
    """Flush subnormal floats to zero on the CPU inside the block
    (:func:`torch.set_flush_denormal`; reentrant, off again when the outermost block
    ends). See the module docstring for why the sweep trains this way."""
    global _FLUSHING
    if _FLUSHING == 0:
        torch.set_flush_denormal(True)
    _FLUSHING += 1
    try:
        yield
    finally:
        _FLUSHING -= 1
        if _FLUSHING == 0:
            torch.set_flush_denormal(False)


def _stackable(model: ModelConfig, data: TrainData) -> bool:
    """Whether runs of ``model`` train as a :class:`StackedMLP`: the MLPs of
    :data:`STACKABLE_ARCHS` at width ``N + C`` (no extra features)."""
    extra_for = getattr(model.options, "extra_for", None)
    return model.arch in STACKABLE_ARCHS and (
        extra_for is None or extra_for(data.in_features, data.num_classes) == 0)


def train_batch(specs: Sequence[RunSpec], data: TrainData, settings: TrainSettings, *,
                device: str | torch.device = "cpu", progress: bool = False) -> list[dict]:
    """Train ``K`` runs of one depth and activation together; one metrics dict per run.

    Each run's dict holds the fields of :class:`RunMetrics`. MLP and residual MLP runs
    train as one :class:`StackedMLP`; runs of another architecture one after the other
    (:func:`train_one`).

    Args:
        specs: the runs; all must share ``depth`` and ``activation``.
        data: the standardized dataset.
        settings: the model's fixed settings, the optimization and the measurements.
        device: where to compute.
        progress: show a tqdm bar over the steps.
    """
    check_group(specs)
    if not _stackable(settings.model, data):  # the stacked form is the MLPs' at width N + C
        return [train_one(s, data, settings, device=device) for s in specs]
    with flush_subnormals():
        return _train_stacked(specs, data, settings, device, progress)


def _train_stacked(specs: Sequence[RunSpec], data: TrainData, settings: TrainSettings,
                   device: str | torch.device, progress: bool) -> list[dict]:
    dev, dtype = torch.device(device), settings.torch_dtype
    z_tr, y_tr, z_te, y_te = data.tensors(dtype, dev)
    n, k, bs = data.n_train, len(specs), settings.optim.batch_size
    if bs > n:
        raise ValueError(f"batch_size {bs} exceeds the {n} training samples")
    model = StackedMLP(specs, data.in_features, data.num_classes, settings)
    model.to(device=dev, dtype=dtype)

    scales = torch.tensor([math.sqrt(s.q0) for s in specs], dtype=torch.float64, device=dev)
    x_jac = ClassCoordinates(data.in_features, data.num_classes).embed(
        z_tr[: settings.jacobian_samples].double(), scales[:, None, None])
    biases, alphas = model.bias_stack(), model.alpha_stack()
    lam = stacked_eigenvalues(model.weight_stack().double(), x_jac, specs[0].activation,
                              None if biases is None else biases.double(),
                              None if alphas is None else alphas.double())
    init_nonzero, init_mean = (t.tolist() for t in eigenvalue_summary(lam))
    theory = [_theory(s, x[:, : data.in_features], data.num_classes, settings.model)
              for s, x in zip(specs, x_jac.expand(k, -1, -1), strict=True)]
    start = [w.detach().clone() for w in model.weights_t]

    total = settings.optim.total_steps(n)
    opt, sched = settings.optim.build(model.parameters(), steps_per_epoch=math.ceil(n / bs),
                                      total_steps=total, fused=True)
    weights = _layer_weights(settings, specs[0].depth, dev, dtype)
    gens = [torch.Generator().manual_seed(run_seeds(s.seed)[1]) for s in specs]
    active = torch.ones(k, dtype=torch.bool, device=dev)
    z_ev, y_ev = z_tr[: settings.eval_size], y_tr[: settings.eval_size]
    rows: list[dict | None] = [None] * k
    to_target: list[int | None] = [None] * k
    chunk = max(1, _EVAL_ELEMENTS // (k * model.rule.width))

    def score(z: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        m = evaluate(_LastLayer(model), z, y, batch_size=chunk, confusion=False)
        return m.accuracy[:, -1], m.loss[:, -1]

    def diverge(bad: Tensor, step: int) -> None:
        tr, te = score(z_tr, y_tr), score(z_te, y_te)
        moved = _weight_distance(model.weights_t, start).tolist()
        for i in bad.nonzero().flatten().tolist():
            rows[i] = _metrics(step, to_target[i], (tr[0][i].item(), tr[1][i].item()),
                               (te[0][i].item(), te[1][i].item()),
                               (init_nonzero[i], init_mean[i]), theory[i], moved[i])
        active.logical_and_(~bad)

    @torch.no_grad()
    def freeze(bad: Tensor) -> None:
        """Zero the weights and optimizer state of diverged runs: no update moves them."""
        for p in model.parameters():
            p.masked_fill_(bad[:, None, None], 0.0)
            for v in opt.state.get(p, {}).values():
                if isinstance(v, Tensor) and v.shape == p.shape:
                    v.masked_fill_(bad[:, None, None], 0.0)

    def check(step: int) -> None:
        acc, loss = score(z_ev, y_ev)
        bad = active & ~loss.to(dev).isfinite()
        if bad.any():
            diverge(bad, step)
            freeze(bad)
        hit = (active.cpu() & (acc >= settings.target_acc)).tolist()
        for i in range(k):
            if hit[i] and to_target[i] is None:
                to_target[i] = step

    check(0)
    perm, pos = None, n
    for step in progress_bar(range(1, total + 1), enabled=progress, leave=False,
                             unit="step", desc=f"L={specs[0].depth} {specs[0].activation} x{k}"):
        if not active.any():
            break
        if pos + bs > n:  # a new epoch: every run draws its own permutation
            perm = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(dev)
            pos = 0
        idx = perm[:, pos:pos + bs]
        pos += bs
        z, y = z_tr[idx], y_tr[idx]
        logits = model(z) if weights is None else model.layer_logits(z)
        loss = layer_cross_entropy(logits, y, weights, settings.optim.resolved_label_smoothing)
        bad = active & ~loss.isfinite()
        if bad.any():
            diverge(bad, step)
            if not active.any():
                break
        opt.zero_grad()
        loss[active].sum().backward()
        if not active.all():
            for p in model.parameters():
                if p.grad is not None:
                    p.grad.masked_fill_(~active[:, None, None], 0.0)
        opt.step()
        sched.step()
        if bad.any():  # after the step: this step's graph still needed the old weights
            freeze(bad)
        if step % settings.eval_every == 0 or step == total:
            check(step)

    if active.any():
        tr, te = score(z_tr, y_tr), score(z_te, y_te)
        moved = _weight_distance(model.weights_t, start).tolist()
        for i in active.nonzero().flatten().tolist():
            rows[i] = _metrics(None, to_target[i], (tr[0][i].item(), tr[1][i].item()),
                               (te[0][i].item(), te[1][i].item()),
                               (init_nonzero[i], init_mean[i]), theory[i], moved[i])
    return rows  # type: ignore[return-value]


def train_one(spec: RunSpec, data: TrainData, settings: TrainSettings, *,
              device: str | torch.device = "cpu") -> dict[str, Any]:
    """Train one run with a plain loop: the reference implementation of :func:`train_batch`,
    and how runs of the architectures without a stacked form train.

    The network of the run's model config (any architecture of :data:`idmlp.config.ARCHS`,
    :func:`~idmlp.nets.base.build_model`), initialized from the run's own generator, the
    optimizer of ``settings.optim`` (unfused), the Jacobian of its layer stack at
    initialization from :func:`idmlp.jacobian.dense.singular_values`, and the same loss.
    Returns the same dict as :func:`train_batch`; the theory columns are filled for the
    MLP (the theory of :func:`theory_spectrum` is the MLP's) and the residual MLP at
    :math:`\alpha_0 = 0`, ``None`` otherwise.
    """
    with flush_subnormals():
        return _train_one(spec, data, settings, device)


def _train_one(spec: RunSpec, data: TrainData, settings: TrainSettings,
               device: str | torch.device) -> dict[str, Any]:
    dev, dtype = torch.device(device), settings.torch_dtype
    z_tr, y_tr, z_te, y_te = data.tensors(dtype, dev)
    n, bs = data.n_train, settings.optim.batch_size
    init_seed, order_seed = run_seeds(spec.seed)
    config = spec.model_config(settings.model).for_data(data.in_features, data.num_classes,
                                                        data.image_shape)
    model = build_model(config, generator=torch.Generator().manual_seed(init_seed)).to(
        device=dev, dtype=dtype)
    weights = _layer_weights(settings, spec.depth, dev, dtype)

    def score(z: Tensor, y: Tensor) -> tuple[float, float]:
        m = evaluate(_LastLayer(model), z, y, confusion=False)
        return m.accuracy[-1].item(), m.loss[-1].item()

    x_jac = model.embed(z_tr[: settings.jacobian_samples].double()).flatten(1)
    lam = singular_values(model.layer_stack(), x_jac, dtype=torch.float64) ** 2
    init = tuple(t.item() for t in eigenvalue_summary(lam[None]))
    start = [layer.weight.detach().clone()[None] for layer in model.layers]

    total = settings.optim.total_steps(n)
    opt, sched = settings.optim.build(model.parameters(), steps_per_epoch=math.ceil(n / bs),
                                      total_steps=total)
    gen = torch.Generator().manual_seed(order_seed)
    z_ev, y_ev = z_tr[: settings.eval_size], y_tr[: settings.eval_size]
    acc, ev_loss = score(z_ev, y_ev)
    diverged_step = None if math.isfinite(ev_loss) else 0
    to_target = 0 if diverged_step is None and acc >= settings.target_acc else None
    pos = n
    for step in range(1, total + 1):
        if diverged_step is not None:
            break
        if pos + bs > n:
            perm, pos = torch.randperm(n, generator=gen).to(dev), 0
        idx = perm[pos:pos + bs]
        pos += bs
        logits = model(z_tr[idx]) if weights is None else model.layer_logits(z_tr[idx])
        loss = layer_cross_entropy(logits, y_tr[idx], weights,
                                   settings.optim.resolved_label_smoothing)
        if not torch.isfinite(loss):
            diverged_step = step
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % settings.eval_every == 0 or step == total:
            acc, ev_loss = score(z_ev, y_ev)
            if not math.isfinite(ev_loss):
                diverged_step = step
            elif acc >= settings.target_acc and to_target is None:
                to_target = step
    theory = (_theory(spec, x_jac[:, : data.in_features], data.num_classes, config)
              if _stackable(config, data) else (None,) * 4)
    moved = _weight_distance([layer.weight[None] for layer in model.layers], start).item()
    return _metrics(diverged_step, to_target, score(z_tr, y_tr), score(z_te, y_te), init,
                    theory, moved)
