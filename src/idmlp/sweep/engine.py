r"""Batched training: ``K`` interpretable MLPs of one depth and width trained as one.

Every run of a sweep trains the paper's interpretable structure: width
:math:`W = N + C`, the input :math:`u = \sqrt{q_0}\, z` (``z`` standardized on the
training split) padded with ``C`` zeros, :math:`x^\ell = \phi(W^\ell x^{\ell-1})`, and the
class block of the last layer, scaled by a fixed ``logit_scale`` :math:`s`, as logits
:math:`s\, x^L_{N+1..N+C}` under the cross-entropy loss.

Runs that share the dataset, the depth ``L`` and the activation train together. Their
weights are stacked per layer as ``(K, W, W)`` tensors, so a layer is one
:func:`torch.bmm` for all ``K`` runs, and each run keeps its own :math:`\sigma`,
:math:`q_0` (an input scale :math:`\sqrt{q_0}`), initialization scheme and seed (its own
initialization generator and its own minibatch order). The loss is
:math:`\sum_k \mathcal L_k`; run ``k``'s weights enter only :math:`\mathcal L_k`, so the
gradient with respect to them is :math:`\nabla \mathcal L_k`. Adam and SGD (with momentum)
update each entry from its own gradient history only, so one optimizer over the stacked
tensors performs exactly the ``K`` independent updates with the same learning rate
(``tests/test_sweep.py`` checks this, and checks the whole of :func:`train_batch` against
:func:`train_one`, a plain per-run loop over an :class:`idmlp.models.MLP`).

A run whose loss stops being finite is *diverged*: its metrics are recorded at that
moment, then it is frozen. Its weights, gradients and optimizer state are set to zero, so
the optimizer leaves it at zero, and its slice of each ``bmm`` never touches the others.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .._validation import check_choice, check_int, check_positive, check_probability, check_real
from ..activations import Activation
from ..init import init_weight_
from ..jacobian import singular_values, stacked_mlp_jacobian
from ..models import MLP
from ..theory import spectrum

if TYPE_CHECKING:
    from ..data import Dataset
    from .grid import RunSpec

__all__ = [
    "DTYPES",
    "METRIC_COLUMNS",
    "OPTIMIZERS",
    "StackedMLP",
    "TrainData",
    "TrainSettings",
    "jacobian_eigenvalues",
    "make_optimizer",
    "run_seeds",
    "theory_spectrum",
    "train_batch",
    "train_one",
]

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}

#: Eigenvalues at most this fraction of a run's largest one count as zero (as in
#: :func:`idmlp.jacobian.compare`).
ZERO_RTOL = 1e-9

#: What :func:`train_batch` and :func:`train_one` report for each run.
METRIC_COLUMNS: tuple[str, ...] = (
    "diverged", "diverged_step", "steps_to_target", "train_acc", "train_loss", "test_acc",
    "test_loss", "init_nonzero_frac", "init_mean_eig", "theory_nonzero_frac", "theory_mean_eig",
)

# Elements per chunk of the batched evaluation and Jacobian (keeps memory bounded).
_EVAL_ELEMENTS = 2**23
_JACOBIAN_ELEMENTS = 2**22


@dataclass(frozen=True)
class TrainSettings:
    """The training budget shared by every run of a sweep.

    Args:
        steps: optimizer steps per run (minibatches drawn epoch by epoch without
            replacement, each run in its own order).
        batch_size: minibatch size.
        lr: learning rate.
        optimizer: ``adam`` or ``sgd``.
        momentum: SGD momentum in [0, 1) (ignored by Adam).
        logit_scale: the fixed scale :math:`s` of the class-block logits.
        eval_every: evaluate the training accuracy every this many steps (and at the end);
            ``steps_to_target`` is the first such step where it reaches ``target_acc``.
        target_acc: the accuracy target, in [0, 1].
        eval_size: the periodic evaluation uses the first ``eval_size`` training samples
            (the final metrics use all of them).
        jacobian_samples: training inputs at which the Jacobian at initialization is taken.
        dtype: ``float32`` or ``float64``.
    """

    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.0
    logit_scale: float = 1.0
    eval_every: int = 10
    target_acc: float = 0.9
    eval_size: int = 512
    jacobian_samples: int = 32
    dtype: str = "float32"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "steps", check_int("steps", self.steps, minimum=1))
        set_(self, "batch_size", check_int("batch_size", self.batch_size, minimum=1))
        set_(self, "lr", check_positive("lr", self.lr))
        set_(self, "optimizer", check_choice("optimizer", self.optimizer, OPTIMIZERS))
        momentum = check_real("momentum", self.momentum)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        set_(self, "momentum", momentum)
        set_(self, "logit_scale", check_positive("logit_scale", self.logit_scale))
        set_(self, "eval_every", check_int("eval_every", self.eval_every, minimum=1))
        set_(self, "target_acc",
             check_probability("target_acc", self.target_acc, open_interval=False))
        set_(self, "eval_size", check_int("eval_size", self.eval_size, minimum=1))
        set_(self, "jacobian_samples",
             check_int("jacobian_samples", self.jacobian_samples, minimum=1))
        set_(self, "dtype", check_choice("dtype", self.dtype, tuple(DTYPES)))

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class TrainData:
    """A dataset ready for training: features standardized on the training split.

    ``X_train`` and ``X_test`` have unit variance per feature (:meth:`Dataset.scaled`
    with :math:`q_0 = 1`); a run with input variance :math:`q_0` multiplies them by
    :math:`\\sqrt{q_0}`. Plain numpy arrays, so the object pickles cheaply (Ray).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> TrainData:
        x_train, x_test, _ = dataset.scaled(1.0)
        return cls(dataset.name, np.ascontiguousarray(x_train, np.float32), dataset.y_train,
                   np.ascontiguousarray(x_test, np.float32), dataset.y_test,
                   dataset.num_classes)

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


def run_seeds(seed: int) -> tuple[int, int]:
    """Two independent seeds, for the initialization and the minibatch order of a run.

    Derived with :class:`numpy.random.SeedSequence`, so runs with the same seed see the
    same minibatches whatever their initialization draws.
    """
    init_ss, order_ss = np.random.SeedSequence(seed).spawn(2)
    return int(init_ss.generate_state(1)[0]), int(order_ss.generate_state(1)[0])


def _init_weights(spec: RunSpec, width: int) -> Tensor:
    """``(L, W, W)`` weights (``nn.Linear`` layout, ``out x in``) for one run, layer by
    layer from the run's own generator, exactly as :class:`~idmlp.models.MLP` does."""
    gen = torch.Generator().manual_seed(run_seeds(spec.seed)[0])
    w = torch.empty(spec.depth, width, width)
    for layer in w:
        init_weight_(layer, spec.init, spec.sigma, gen)
    return w


class StackedMLP(nn.Module):
    r"""``K`` interpretable MLPs of the same depth, width and activation, as one module.

    Layer ``l`` holds the transposed weights of all runs, ``(K, W_in, W_out)``, so the
    forward pass is :math:`x^\ell = \phi(\mathrm{bmm}(x^{\ell-1}, W^{\ell\top}))`.

    When :math:`\phi(0) = 0` the stored width is rounded up to a multiple of 16 (CPU GEMM
    kernels are much faster on such sizes, e.g. 80 against 74) with dead coordinates:
    their weights start at zero, their activations are :math:`\phi(0) = 0`, so every
    gradient reaching those weights is exactly zero and Adam/SGD leave them at zero. The
    network computed is exactly the ``W``-wide one.

    Args:
        specs: the runs (all with the same ``depth`` and ``activation``).
        in_features: ``N``.
        num_classes: ``C``.
        logit_scale: the fixed logit scale :math:`s`.
    """

    def __init__(self, specs: Sequence[RunSpec], in_features: int, num_classes: int,
                 logit_scale: float = 1.0) -> None:
        super().__init__()
        _check_group(specs)
        self.in_features, self.num_classes = in_features, num_classes
        self.logit_scale = float(logit_scale)
        self.act = Activation(specs[0].activation)
        self.width = width = in_features + num_classes
        dead = self.act(torch.zeros(1)).item() == 0.0
        self.stored_width = -(-width // 16) * 16 if dead else width
        pad = self.stored_width - width
        weights = torch.stack([_init_weights(s, width) for s in specs], dim=1)  # (L, K, W, W)
        self.weights_t = nn.ParameterList(
            nn.Parameter(F.pad(w.mT, (0, pad, 0, pad)).contiguous()) for w in weights
        )
        self.register_buffer("input_scale", torch.tensor([math.sqrt(s.q0) for s in specs]))

    @property
    def k(self) -> int:
        return self.input_scale.shape[0]

    def weight_stack(self) -> Tensor:
        """All weights, ``(K, L, W, W)`` in the ``nn.Linear`` layout (a detached copy)."""
        w = torch.stack([w.detach().mT for w in self.weights_t], dim=1)
        return w[..., : self.width, : self.width].contiguous()

    def inputs(self, z: Tensor) -> Tensor:
        r"""Scaled inputs :math:`\sqrt{q_0^k} z` padded with zeros, ``(K, B, stored_width)``."""
        return F.pad(z * self.input_scale[:, None, None],
                     (0, self.stored_width - self.in_features))

    def forward(self, z: Tensor) -> Tensor:
        """Class logits of the last layer, ``(K, B, C)``, for standardized inputs
        ``z`` of shape ``(K, B, N)`` (or ``(1, B, N)``, shared by all runs)."""
        h = self.inputs(z)
        for w in self.weights_t:
            h = self.act(torch.bmm(h, w))
        return h[..., self.in_features: self.width] * self.logit_scale


def _check_group(specs: Sequence[RunSpec]) -> None:
    if not specs:
        raise ValueError("specs must hold at least one run")
    if len({(s.depth, s.activation) for s in specs}) != 1:
        raise ValueError("runs trained together must share depth and activation")


def make_optimizer(settings: TrainSettings, params: Any, *,
                   fused: bool | None = None) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` or ``torch.optim.SGD`` with the settings' learning rate.

    ``fused=True`` asks for torch's single-kernel implementation (the same update; the
    batched engine uses it on its few large stacked tensors), where this torch has one for
    the parameters' device (CPU: torch >= 2.4); otherwise the default implementation."""
    params = list(params)
    kw = {"fused": True} if fused else {}
    cls, args = ((torch.optim.Adam, {"lr": settings.lr}) if settings.optimizer == "adam" else
                 (torch.optim.SGD, {"lr": settings.lr, "momentum": settings.momentum}))
    try:
        return cls(params, **args, **kw)
    except (RuntimeError, TypeError, ValueError):
        if not kw:
            raise
        return cls(params, **args)


@torch.no_grad()
def jacobian_eigenvalues(weights: Tensor, activation: str, x: Tensor) -> Tensor:
    r"""Eigenvalues of :math:`J J^T` for ``K`` stacked square MLPs at ``M`` inputs each.

    :math:`J = D^L W^L \cdots D^1 W^1`, :math:`D^\ell = \operatorname{diag}(\phi'(h^\ell))`,
    built for all runs and inputs at once: ``J`` is kept as ``(K, W_out, M, W_in)`` so a
    layer is one ``bmm`` of ``(K, W, W)`` by ``(K, W, M W)`` into a reused buffer. Runs
    whose ``J`` is not finite get NaN.

    Args:
        weights: ``(K, L, W, W)`` in the ``nn.Linear`` layout.
        activation: the activation name.
        x: inputs, ``(K, M, W)``.

    Returns:
        ``(K, M, W)``: the squared singular values of each ``J``, descending.
    """
    fn = Activation(activation).fn
    out = []
    chunk = max(1, _JACOBIAN_ELEMENTS // (x.shape[1] * x.shape[2] ** 2))
    for w_c, x_c in zip(weights.split(chunk), x.split(chunk), strict=True):
        jac = stacked_mlp_jacobian(w_c, x_c, fn)
        finite = jac.isfinite().flatten(1).all(1)
        if not finite.all():
            jac = torch.where(finite[:, None, None, None], jac, 0.0)
        lam = torch.linalg.svdvals(jac) ** 2
        out.append(torch.where(finite[:, None, None], lam, torch.nan))
    return torch.cat(out)


def _summarize(lam: Tensor) -> tuple[Tensor, Tensor]:
    """Per run: the fraction of eigenvalues above ``ZERO_RTOL * max`` and their mean."""
    lam = lam.flatten(1)
    top = lam.amax(dim=1, keepdim=True)
    return (lam > ZERO_RTOL * top).double().mean(dim=1), lam.mean(dim=1)


@functools.lru_cache(maxsize=4096)
def theory_spectrum(sigma: float, q0: float, depth: int,
                    activation: str) -> tuple[float, float]:
    """The theory's nonzero fraction and mean eigenvalue of :math:`J J^T` at identity init.

    :func:`idmlp.theory.spectrum`: exact for hard-tanh (:math:`a = \\alpha` and
    :math:`a\\,\\sigma^{2L}`), quadrature on :math:`2^{14}` points otherwise.
    """
    law = spectrum(sigma, q0, depth, activation, points=2**14)
    return law.nonzero_fraction, law.mean()


def _theory(spec: RunSpec) -> tuple[float | None, float | None]:
    if spec.init != "identity":
        return None, None
    return theory_spectrum(spec.sigma, spec.q0, spec.depth, spec.activation)


@torch.no_grad()
def _evaluate(model: StackedMLP, z: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Accuracy and mean cross-entropy of every run on ``(z, y)``, each ``(K,)``.

    Predictions from non-finite logits count as wrong."""
    k, n = model.k, z.shape[0]
    correct = torch.zeros(k, dtype=torch.float64, device=z.device)
    loss = torch.zeros(k, dtype=torch.float64, device=z.device)
    chunk = max(1, _EVAL_ELEMENTS // (k * (model.in_features + model.num_classes)))
    for zb, yb in zip(z.split(chunk), y.split(chunk), strict=True):
        logits = model(zb[None])
        ce = F.cross_entropy(logits.flatten(0, 1), yb.repeat(k), reduction="none")
        loss += ce.view(k, -1).sum(dim=1)
        ok = (logits.argmax(dim=-1) == yb) & logits.isfinite().all(dim=-1)
        correct += ok.sum(dim=1)
    return correct / n, loss / n


def _row(diverged: bool, diverged_step: int | None, steps_to_target: int | None,
         train: tuple[float, float], test: tuple[float, float], init: tuple[float, float],
         theory: tuple[float | None, float | None]) -> dict[str, Any]:
    return dict(zip(METRIC_COLUMNS, (
        diverged, diverged_step, steps_to_target, train[0], train[1], test[0], test[1],
        init[0], init[1], theory[0], theory[1],
    ), strict=True))


def train_batch(specs: Sequence[RunSpec], data: TrainData, settings: TrainSettings, *,
                device: str | torch.device = "cpu", progress: bool = False) -> list[dict]:
    """Train ``K`` runs of one depth and activation together; one metrics dict per run.

    Each run's dict has the keys of :data:`METRIC_COLUMNS`: final train/test accuracy
    and loss (at divergence for a diverged run), ``diverged`` and ``diverged_step``,
    ``steps_to_target`` (``None`` if the training accuracy on the evaluation subset never
    reached ``settings.target_acc``), the nonzero fraction and mean eigenvalue of
    :math:`J J^T` of the ``W x W`` body at initialization (on the first
    ``jacobian_samples`` training inputs, padded and scaled), and the theory's values for
    identity initialization (``None`` for the random inits).

    Args:
        specs: the runs; all must share ``depth`` and ``activation``.
        data: the standardized dataset.
        settings: the training budget.
        device: where to compute.
        progress: show a tqdm bar over the steps.
    """
    _check_group(specs)
    dev, dtype = torch.device(device), settings.torch_dtype
    z_tr, y_tr, z_te, y_te = data.tensors(dtype, dev)
    n, k, bs = data.n_train, len(specs), settings.batch_size
    if bs > n:
        raise ValueError(f"batch_size {bs} exceeds the {n} training samples")
    model = StackedMLP(specs, data.in_features, data.num_classes, settings.logit_scale)
    model.to(device=dev, dtype=dtype)

    scales = torch.tensor([math.sqrt(s.q0) for s in specs], dtype=torch.float64, device=dev)
    x_jac = F.pad(z_tr[: settings.jacobian_samples].double() * scales[:, None, None],
                  (0, data.num_classes))
    lam = jacobian_eigenvalues(model.weight_stack().double(), specs[0].activation, x_jac)
    init_nonzero, init_mean = (t.tolist() for t in _summarize(lam))

    opt = make_optimizer(settings, model.parameters(), fused=True)
    gens = [torch.Generator().manual_seed(run_seeds(s.seed)[1]) for s in specs]
    active = torch.ones(k, dtype=torch.bool, device=dev)
    z_ev, y_ev = z_tr[: settings.eval_size], y_tr[: settings.eval_size]
    rows: list[dict | None] = [None] * k
    to_target: list[int | None] = [None] * k

    def diverge(bad: Tensor, step: int) -> None:
        tr, te = _evaluate(model, z_tr, y_tr), _evaluate(model, z_te, y_te)
        for i in bad.nonzero().flatten().tolist():
            rows[i] = _row(True, step, to_target[i], (tr[0][i].item(), tr[1][i].item()),
                           (te[0][i].item(), te[1][i].item()),
                           (init_nonzero[i], init_mean[i]), _theory(specs[i]))
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
        acc, loss = _evaluate(model, z_ev, y_ev)
        bad = active & ~loss.isfinite()
        if bad.any():
            diverge(bad, step)
            freeze(bad)
        hit = (active & (acc >= settings.target_acc)).tolist()
        for i in range(k):
            if hit[i] and to_target[i] is None:
                to_target[i] = step

    check(0)
    perm, pos = None, n
    for step in tqdm(range(1, settings.steps + 1), disable=not progress, leave=False,
                     unit="step", desc=f"L={specs[0].depth} {specs[0].activation} x{k}"):
        if not active.any():
            break
        if pos + bs > n:  # a new epoch: every run draws its own permutation
            perm = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(dev)
            pos = 0
        idx = perm[:, pos:pos + bs]
        pos += bs
        logits = model(z_tr[idx])
        loss = F.cross_entropy(logits.flatten(0, 1), y_tr[idx].flatten(), reduction="none")
        loss = loss.view(k, bs).mean(dim=1)
        bad = active & ~loss.isfinite()
        if bad.any():
            diverge(bad, step)
            if not active.any():
                break
        opt.zero_grad()
        loss[active].sum().backward()
        if not active.all():
            for p in model.parameters():
                p.grad.masked_fill_(~active[:, None, None], 0.0)
        opt.step()
        if bad.any():  # after the step: this step's graph still needed the old weights
            freeze(bad)
        if step % settings.eval_every == 0 or step == settings.steps:
            check(step)

    if active.any():
        tr, te = _evaluate(model, z_tr, y_tr), _evaluate(model, z_te, y_te)
        for i in active.nonzero().flatten().tolist():
            rows[i] = _row(False, None, to_target[i], (tr[0][i].item(), tr[1][i].item()),
                           (te[0][i].item(), te[1][i].item()),
                           (init_nonzero[i], init_mean[i]), _theory(specs[i]))
    return rows  # type: ignore[return-value]


def train_one(spec: RunSpec, data: TrainData, settings: TrainSettings, *,
              device: str | torch.device = "cpu") -> dict[str, Any]:
    """Train one run with a plain loop: the reference implementation of :func:`train_batch`.

    An :class:`idmlp.models.MLP` body of width ``N + C`` initialized by the run's scheme
    from its own generator, padded inputs, the class block of the last layer as logits,
    a ``torch.optim`` optimizer, and the Jacobian at initialization from
    :func:`idmlp.jacobian.singular_values`. Returns the same dict as :func:`train_batch`.
    """
    dev, dtype = torch.device(device), settings.torch_dtype
    z_tr, y_tr, z_te, y_te = data.tensors(dtype, dev)
    n, bs, c, nf = data.n_train, settings.batch_size, data.num_classes, data.in_features
    init_seed, order_seed = run_seeds(spec.seed)
    with torch.random.fork_rng(devices=[]):  # nn.Linear's own init draws from the global RNG
        body = MLP(data.width, spec.depth, spec.sigma, spec.activation, init=spec.init,
                   generator=torch.Generator().manual_seed(init_seed))
    body.to(device=dev, dtype=dtype)
    scale = math.sqrt(spec.q0)

    def logits_of(z: Tensor) -> Tensor:
        return body(F.pad(z * scale, (0, c)))[:, nf:] * settings.logit_scale

    @torch.no_grad()
    def evaluate(z: Tensor, y: Tensor) -> tuple[float, float]:
        logits = logits_of(z)
        ok = (logits.argmax(dim=-1) == y) & logits.isfinite().all(dim=-1)
        return ok.double().mean().item(), F.cross_entropy(logits, y).item()

    x_jac = F.pad(z_tr[: settings.jacobian_samples].double() * scale, (0, c))
    lam = singular_values(body, x_jac, dtype=torch.float64, method="mlp") ** 2
    init = (float((lam > ZERO_RTOL * lam.max()).double().mean()), float(lam.mean()))

    opt = make_optimizer(settings, body.parameters())
    gen = torch.Generator().manual_seed(order_seed)
    z_ev, y_ev = z_tr[: settings.eval_size], y_tr[: settings.eval_size]
    acc, ev_loss = evaluate(z_ev, y_ev)
    diverged_step = None if math.isfinite(ev_loss) else 0
    to_target = 0 if diverged_step is None and acc >= settings.target_acc else None
    pos = n
    for step in range(1, settings.steps + 1):
        if diverged_step is not None:
            break
        if pos + bs > n:
            perm, pos = torch.randperm(n, generator=gen).to(dev), 0
        idx = perm[pos:pos + bs]
        pos += bs
        loss = F.cross_entropy(logits_of(z_tr[idx]), y_tr[idx])
        if not torch.isfinite(loss):
            diverged_step = step
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % settings.eval_every == 0 or step == settings.steps:
            acc, ev_loss = evaluate(z_ev, y_ev)
            if not math.isfinite(ev_loss):
                diverged_step = step
            elif acc >= settings.target_acc and to_target is None:
                to_target = step
    return _row(diverged_step is not None, diverged_step, to_target, evaluate(z_tr, y_tr),
                evaluate(z_te, y_te), init, _theory(spec))
