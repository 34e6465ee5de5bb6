r"""Linear classifier probes (Alain and Bengio, 2016) against the built-in layer readout.

The interpretable MLP reads the class of every layer from its own class block, so its
per-layer accuracy costs one forward pass. The usual way to ask the same question of a
standard network is a *linear probe*: one logistic regression trained on each hidden
layer's features (Alain and Bengio, "Understanding intermediate layers using linear
classifier probes", 2016). This module provides

* :class:`StandardMLPClassifier`: a standard-init MLP of the same depth and width ``N + C``
  (input zero-padded, as in the interpretable MLP) with a linear head;
* :func:`hidden_features`: every hidden layer's output of an idmlp model, ``(n, L, D)``;
* :func:`fit_probes` / :func:`probe_model`: one scikit-learn ``LogisticRegression`` per
  layer (features standardized on the training split), with their costs;
* :func:`compare_probes`: built-in readout vs probes, side by side, as a
  :class:`ProbeComparison`.

Cost choices: lbfgs on float32 features with ``max_iter=100`` (probe accuracy is flat
beyond that on MNIST-like data; non-converged fits are reported, not hidden) and one BLAS
thread per fit, so results do not depend on ``n_jobs``. On mnist5k (4,000 x 794, 20
layers) the 20 fits take roughly 10-20 s on 2 cores. ``max_train`` subsamples the
training rows and ``layers`` probes a subset of layers when that is too slow.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from torch import Tensor, nn

from .._validation import check_indices, check_int, check_positive
from ..config import ACTIVATIONS, ARCHS
from ..init import init_weight_
from ..nets.base import InterpretableNet
from ..nets.mlp import MLP
from ..nets.rules import ClassCoordinates
from ..runtime import progress_bar
from ..train.evaluate import eval_mode, evaluate

__all__ = [
    "ProbeComparison",
    "ProbeResult",
    "StandardMLPClassifier",
    "compare_probes",
    "default_init",
    "fit_probes",
    "fit_standard_mlp",
    "hidden_features",
    "probe_model",
    "standard_mlp_for_run",
]


def default_init(activation: str) -> str:
    """A standard initialization suited to ``activation``.

    He (Kaiming) for the rectifier family (relu, leaky_relu, gelu, selu), orthogonal
    (Saxe et al., 2014) for the odd, saturating ones (hardtanh, tanh, linear, sigmoid).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    return "he" if activation in ("relu", "leaky_relu", "gelu", "selu") else "orthogonal"


class StandardMLPClassifier(nn.Module):
    r"""A standard-init deep MLP with the interpretable MLP's shape, plus a linear head.

    :math:`x^0 = (u, 0_C)`, :math:`x^\ell = \phi(W^\ell x^{\ell-1})` for ``l = 1..L`` with
    width ``N + C`` and a random initialization, then logits :math:`W^{out} x^L + b`. It is
    the baseline whose hidden layers are read with linear probes.

    Args:
        in_features: ``N``.
        num_classes: ``C`` (>= 2).
        depth: ``L``.
        activation: elementwise activation name.
        init: orthogonal, xavier or he (default :func:`default_init` of ``activation``).
        sigma: gain of the initialization.
        bias: whether hidden layers have a bias.
        generator: random source of the initialization (seeded: reproducible).

    Examples:
        >>> net = StandardMLPClassifier(64, 10, depth=4, generator=torch.Generator().manual_seed(0))
        >>> net(torch.randn(3, 64)).shape, net.hidden_states(torch.randn(3, 64)).shape
        (torch.Size([3, 10]), torch.Size([3, 5, 74]))
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        depth: int,
        *,
        activation: str = "hardtanh",
        init: str | None = None,
        sigma: float = 1.0,
        bias: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features)
        self.num_classes = check_int("num_classes", num_classes, minimum=2)
        init = default_init(activation) if init is None else init
        if init not in ("orthogonal", "xavier", "he"):
            raise ValueError(f"init must be one of orthogonal, xavier, he; got {init!r}")
        self.rule = ClassCoordinates(in_features, num_classes)
        width = self.rule.width
        self.body = MLP(width, depth, sigma, activation, bias, init, generator)
        self.head = nn.Linear(width, num_classes)
        init_weight_(self.head.weight, "xavier", 1.0, generator)
        nn.init.zeros_(self.head.bias)

    @property
    def depth(self) -> int:
        return self.body.depth

    @property
    def config(self) -> dict[str, Any]:
        return {
            "kind": "standard", "in_features": self.in_features,
            "num_classes": self.num_classes, "depth": self.depth,
            "activation": self.body.activation, "init": self.body.init_scheme,
            "sigma": self.body.sigma, "bias": self.body.has_bias,
        }

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(self.rule.embed(x)))

    def hidden_states(self, x: Tensor) -> Tensor:
        r"""The states :math:`x^0, \ldots, x^L` of the body, ``(B, L+1, N + C)``."""
        return self.body.forward_layers(self.rule.embed(x))


@torch.no_grad()
def hidden_features(
    model: nn.Module,
    X: Tensor,
    *,
    batch_size: int = 1024,
    layers: Sequence[int] | None = None,
) -> Tensor:
    """Every hidden layer's output for ``X``, ``(n, L, D)`` (or ``(n, len(layers), D)``).

    Supports :class:`StandardMLPClassifier`, :class:`~idmlp.nets.mlp.InterpretableMLP`
    (the whole width ``N + C`` of each layer) and :class:`~idmlp.nets.mlp.MLP`. Runs in eval
    mode on the model's device, in chunks of ``batch_size``; returns a CPU float32 tensor.
    """
    run = getattr(model, "hidden_states", None) or getattr(model, "forward_layers", None)
    if not callable(run):
        raise ValueError("model must be an idmlp MLP, InterpretableMLP or StandardMLPClassifier "
                         f"(with hidden_states), got {type(model).__name__}")
    batch_size = check_int("batch_size", batch_size)
    depth = model.depth
    idx = torch.arange(1, depth + 1) if layers is None else torch.as_tensor(
        check_indices("layers", layers, 1, depth))
    param = next(model.parameters())
    X = torch.as_tensor(X)
    with eval_mode(model):
        parts = [run(X[start : start + batch_size].to(param.device, param.dtype))
                 [:, idx.to(param.device)].float().cpu() for start in range(0, len(X), batch_size)]
    return torch.cat(parts)


@dataclass(frozen=True, eq=False)
class ProbeResult:
    """Per-layer linear probes and what they cost.

    Attributes:
        layers: the probed layers (numbered ``1..L``), ``(m,)``.
        train_accuracy, test_accuracy: accuracy of each layer's probe, ``(m,)``.
        fit_seconds: wall time of each probe's fit (standardization included), ``(m,)``.
        n_iter: lbfgs iterations of each fit, ``(m,)``.
        converged: whether each fit stopped before ``max_iter``, ``(m,)``.
        total_seconds: wall time of all fits together (in parallel with ``n_jobs > 1``).
        feature_seconds: time of the forward passes that produced the features, or
            ``None`` when the features were given.
        n_train, n_test, n_features: sizes of the probe problem.
        C, max_iter: the logistic regression's inverse regularization and iteration cap.
        probes: the fitted ``StandardScaler -> LogisticRegression`` pipelines.
    """

    layers: np.ndarray
    train_accuracy: np.ndarray
    test_accuracy: np.ndarray
    fit_seconds: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    total_seconds: float
    feature_seconds: float | None
    n_train: int
    n_test: int
    n_features: int
    C: float
    max_iter: int
    probes: tuple[Pipeline, ...]

    @property
    def n_classifiers(self) -> int:
        """Number of classifiers trained: one per probed layer."""
        return len(self.layers)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable summary (without the fitted pipelines)."""
        return {
            "layers": self.layers.tolist(),
            "train_accuracy": self.train_accuracy.tolist(),
            "test_accuracy": self.test_accuracy.tolist(),
            "fit_seconds": self.fit_seconds.tolist(),
            "n_iter": self.n_iter.tolist(),
            "converged": self.converged.tolist(),
            "total_seconds": self.total_seconds,
            "feature_seconds": self.feature_seconds,
            "n_classifiers": self.n_classifiers,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_features": self.n_features,
            "C": self.C,
            "max_iter": self.max_iter,
        }

    def __repr__(self) -> str:
        return (f"ProbeResult(layers={self.n_classifiers}, test_accuracy[-1]="
                f"{self.test_accuracy[-1]:.4f}, total_seconds={self.total_seconds:.2f})")


def _as_features(name: str, F_: object) -> np.ndarray:
    a = F_.detach().cpu().numpy() if isinstance(F_, Tensor) else np.asarray(F_)
    if a.ndim != 3 or min(a.shape) == 0:
        raise ValueError(f"{name} must have shape (n_samples, n_layers, n_features), "
                         f"got {a.shape}")
    if not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf; check the model's forward pass")
    return a


def _as_labels(name: str, y: object, n: int) -> np.ndarray:
    a = y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
    if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be {n} integer labels (one per sample), got "
                         f"shape {a.shape} dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def _fit_one(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
             C: float, max_iter: int) -> tuple[Pipeline, float, float, float, int]:
    t0 = time.perf_counter()
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    # one BLAS/OpenMP thread per fit: the result is the same for any n_jobs and backend
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(X, y)
    seconds = time.perf_counter() - t0
    n_iter = int(np.max(probe[-1].n_iter_))
    return probe, seconds, probe.score(X, y), probe.score(X_test, y_test), n_iter


def fit_probes(
    features_train: np.ndarray | Tensor,
    y_train: np.ndarray | Tensor,
    features_test: np.ndarray | Tensor,
    y_test: np.ndarray | Tensor,
    *,
    layers: Sequence[int] | None = None,
    C: float = 1.0,
    max_iter: int = 100,
    max_train: int | None = None,
    n_jobs: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> ProbeResult:
    r"""Fit one logistic-regression probe per layer and score it.

    For layer :math:`\ell` the probe is :math:`\mathrm{softmax}(A\,\mathrm{std}(h^\ell)+b)`
    (multinomial logistic regression, L2 penalty :math:`1/C`, lbfgs) on the layer's
    features standardized with training-split statistics.

    Args:
        features_train: ``(n_train, L, D)`` hidden features (e.g. :func:`hidden_features`).
        y_train: ``(n_train,)`` integer labels.
        features_test: ``(n_test, L, D)``.
        y_test: ``(n_test,)``.
        layers: which of the ``L`` feature slices to probe, numbered ``1..L`` (default all).
        C: inverse L2 regularization strength (> 0).
        max_iter: lbfgs iteration cap (>= 1).
        max_train: fit on a random subset of at most this many training rows (seeded).
        n_jobs: joblib workers (processes unless a joblib ``parallel_config`` picks another
            backend); ``None`` means 1 unless ``parallel_config`` says otherwise, ``-1`` all
            cores. Every fit uses one BLAS thread, so results do not depend on it.
        seed: seed of the ``max_train`` subsample.
        progress: show a tqdm bar over the layers.

    Returns:
        A :class:`ProbeResult` (``feature_seconds`` is ``None``).
    """
    Ftr = _as_features("features_train", features_train)
    Fte = _as_features("features_test", features_test)
    if Ftr.shape[1:] != Fte.shape[1:]:
        raise ValueError(f"features_train {Ftr.shape} and features_test {Fte.shape} must agree "
                         "in layers and features")
    ytr = _as_labels("y_train", y_train, len(Ftr))
    yte = _as_labels("y_test", y_test, len(Fte))
    if len(np.unique(ytr)) < 2:
        raise ValueError("y_train must contain at least 2 classes to fit a probe")
    depth = Ftr.shape[1]
    sel = list(range(1, depth + 1)) if layers is None else list(
        check_indices("layers", layers, 1, depth))
    C = check_positive("C", C)
    max_iter = check_int("max_iter", max_iter)
    seed = check_int("seed", seed, minimum=0)
    if max_train is not None and check_int("max_train", max_train, minimum=2) < len(Ftr):
        keep = np.sort(np.random.default_rng(seed).choice(len(Ftr), max_train, replace=False))
        Ftr, ytr = Ftr[keep], ytr[keep]

    # (L, n, D) contiguous per layer: each worker gets (and memory-maps) only its layer
    Ltr = np.ascontiguousarray(Ftr.transpose(1, 0, 2)[np.asarray(sel) - 1])
    Lte = np.ascontiguousarray(Fte.transpose(1, 0, 2)[np.asarray(sel) - 1])
    t0 = time.perf_counter()
    # processes by default: lbfgs holds the GIL much of the time, so threads barely help.
    # The outer limit makes the per-fit limit of threads sharing this process a no-op race.
    with threadpool_limits(limits=1):
        jobs = Parallel(n_jobs=n_jobs, prefer="processes", return_as="generator")(
            delayed(_fit_one)(Ltr[i], ytr, Lte[i], yte, C, max_iter) for i in range(len(sel))
        )
        out = list(progress_bar(jobs, enabled=progress, total=len(sel), desc="probes",
                                unit="layer"))
    total = time.perf_counter() - t0
    probes, secs, acc_tr, acc_te, n_iter = zip(*out, strict=True)
    n_iter_arr = np.asarray(n_iter, dtype=np.int64)
    return ProbeResult(
        layers=np.asarray(sel, dtype=np.int64),
        train_accuracy=np.asarray(acc_tr, dtype=np.float64),
        test_accuracy=np.asarray(acc_te, dtype=np.float64),
        fit_seconds=np.asarray(secs, dtype=np.float64),
        n_iter=n_iter_arr,
        converged=n_iter_arr < max_iter,
        total_seconds=total,
        feature_seconds=None,
        n_train=len(Ftr),
        n_test=len(Fte),
        n_features=Ftr.shape[2],
        C=C,
        max_iter=max_iter,
        probes=tuple(probes),
    )


def probe_model(
    model: nn.Module,
    X_train: Tensor,
    y_train: Tensor,
    X_test: Tensor,
    y_test: Tensor,
    *,
    layers: Sequence[int] | None = None,
    batch_size: int = 1024,
    **probe_kwargs: Any,
) -> ProbeResult:
    """Probe every hidden layer of ``model``: :func:`hidden_features` then :func:`fit_probes`.

    ``feature_seconds`` of the result is the time of the two forward passes (train and
    test) that produce the features. ``probe_kwargs`` go to :func:`fit_probes`.
    """
    t0 = time.perf_counter()
    Ftr = hidden_features(model, X_train, batch_size=batch_size, layers=layers)
    Fte = hidden_features(model, X_test, batch_size=batch_size, layers=layers)
    feature_seconds = time.perf_counter() - t0
    res = fit_probes(Ftr, y_train, Fte, y_test, **probe_kwargs)
    sel = np.arange(1, model.depth + 1) if layers is None else np.asarray(
        check_indices("layers", layers, 1, model.depth))
    return replace(res, layers=sel[res.layers - 1], feature_seconds=feature_seconds)


def fit_standard_mlp(
    X_train: Tensor,
    y_train: Tensor,
    X_test: Tensor,
    y_test: Tensor,
    *,
    depth: int,
    seed: int = 0,
    model_kwargs: dict[str, Any] | None = None,
    **fit_kwargs: Any,
) -> tuple[StandardMLPClassifier, Any]:
    """Build a seeded :class:`StandardMLPClassifier` of ``depth`` layers (``model_kwargs``:
    activation, init, sigma, bias) and train it with :func:`idmlp.train.loop.fit_model`
    (``fit_kwargs``: optim, lr, epochs, batch_size, device, progress, ...).

    Returns ``(model, metrics)``.
    """
    from ..train.loop import fit_model

    X_train, y_train = torch.as_tensor(X_train), torch.as_tensor(y_train)
    num_classes = int(max(int(y_train.max()), int(torch.as_tensor(y_test).max()))) + 1
    model = StandardMLPClassifier(X_train.shape[1], max(num_classes, 2), depth,
                                  generator=torch.Generator().manual_seed(seed),
                                  **(model_kwargs or {}))
    metrics = fit_model(model, X_train, y_train, X_test, y_test, seed=seed, **fit_kwargs)
    return model, metrics


def standard_mlp_for_run(run: Any, optim: Any, *, progress: bool = False
                         ) -> StandardMLPClassifier:
    """Probe (b)'s network for ``run`` (a :class:`~idmlp.train.runs.TrainedRun`): a
    standard-init MLP of the run's depth and activation, seed ``run.config.optim.seed``,
    trained with ``optim`` (an :class:`~idmlp.config.OptimConfig`) by
    :func:`fit_standard_mlp` on the run's standardized training split, on its device.
    With early stopping it watches the run's validation split and skips the per-epoch
    test pass (only its final weights are probed); without, it trains the whole budget
    and scores the test split."""
    from ..config import OptimConfig

    if not isinstance(optim, OptimConfig):
        raise ValueError(f"optim must be an OptimConfig, got {type(optim).__name__}")
    model_config = run.config.model
    watch: dict[str, Any] = {"validation": None}
    if optim.early_stopping:
        watch = {"validation": run.tensors("val"), "score_test": False}
    model, _ = fit_standard_mlp(*run.train_tensors(), *run.test_tensors(),
                                depth=model_config.depth,
                                model_kwargs={"activation": model_config.activation},
                                seed=run.config.optim.seed, optim=optim, device=run.device,
                                progress=progress, **watch)
    return model


@dataclass(frozen=True, eq=False)
class ProbeComparison:
    """Per-layer test accuracy of the built-in readout next to linear probes, with costs.

    Attributes:
        readout_accuracy: the interpretable MLP's own class block, per layer, ``(L,)``.
        readout_seconds: one forward pass over the test set (all ``L`` readouts at once,
            nothing trained).
        standard: probes on a standard-init MLP's hidden layers (or ``None``).
        own: probes on the interpretable MLP's own hidden features (or ``None``).
        standard_head_accuracy: test accuracy of the standard MLP's trained head.
        num_classes: ``C``.
    """

    readout_accuracy: np.ndarray
    readout_seconds: float
    standard: ProbeResult | None
    own: ProbeResult | None
    standard_head_accuracy: float | None
    num_classes: int

    @property
    def depth(self) -> int:
        return len(self.readout_accuracy)

    def table(self) -> tuple[list[str], list[list[object]]]:
        """Per-layer accuracy table: ``(header, rows)``; a missing probe is ``None``."""
        header = ["layer", "built-in readout"]
        cols = []
        for name, res in (("probe, standard MLP", self.standard),
                          ("probe, interpretable MLP", self.own)):
            if res is not None:
                header.append(name)
                col = dict(zip(res.layers.tolist(), res.test_accuracy.tolist(), strict=True))
                cols.append(col)
        rows = [[layer, float(self.readout_accuracy[layer - 1]), *(c.get(layer) for c in cols)]
                for layer in range(1, self.depth + 1)]
        return header, rows

    def cost_table(self) -> tuple[list[str], list[list[object]]]:
        """What each per-layer readout costs: classifiers trained and seconds."""
        header = ["method", "classifiers trained", "forward pass (s)", "probe fits (s)",
                  "mean fit per probe (s)"]
        rows: list[list[object]] = [
            ["built-in readout", 0, self.readout_seconds, 0.0, 0.0]]
        for name, res in (("probes, standard MLP", self.standard),
                          ("probes, interpretable MLP", self.own)):
            if res is not None:
                rows.append([name, res.n_classifiers, res.feature_seconds, res.total_seconds,
                             float(res.fit_seconds.mean())])
        return header, rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "readout_accuracy": self.readout_accuracy.tolist(),
            "readout_seconds": self.readout_seconds,
            "standard_head_accuracy": self.standard_head_accuracy,
            "standard": None if self.standard is None else self.standard.to_dict(),
            "own": None if self.own is None else self.own.to_dict(),
        }


def compare_probes(
    model: InterpretableNet,
    X_train: Tensor,
    y_train: Tensor,
    X_test: Tensor,
    y_test: Tensor,
    *,
    standard_model: nn.Module | None = None,
    own_features: bool = True,
    layers: Sequence[int] | None = None,
    batch_size: int = 1024,
    **probe_kwargs: Any,
) -> ProbeComparison:
    """Built-in per-layer readout of ``model`` vs linear probes, on the same split.

    Args:
        model: the trained :class:`~idmlp.nets.mlp.InterpretableMLP` (or
            :class:`~idmlp.nets.cnn.InterpretableCNN`, whose states are probed flattened).
        X_train, y_train, X_test, y_test: scaled inputs and labels (probes train on the
            training split, everything is scored on the test split).
        standard_model: a trained standard MLP of the same depth (e.g. from
            :func:`fit_standard_mlp`) whose hidden layers are probed; ``None`` skips it.
        own_features: also probe the interpretable MLP's own hidden features.
        layers: probe only these layers (``1..L``; default all).
        batch_size: forward-pass chunk size.
        probe_kwargs: passed to :func:`fit_probes` (``C``, ``max_iter``, ``n_jobs``, ...).
    """
    if not isinstance(model, InterpretableNet):
        names = ", ".join(a.target.partition(":")[2] for a in ARCHS.values())
        raise ValueError(f"model must be an interpretable network of idmlp.nets ({names}), "
                         f"got {type(model).__name__}")
    if standard_model is not None and getattr(standard_model, "depth", None) != model.depth:
        raise ValueError(f"standard_model must have depth {model.depth} like model, got "
                         f"{getattr(standard_model, 'depth', None)}")
    X_test, y_test = torch.as_tensor(X_test), torch.as_tensor(y_test)
    if X_test.ndim != 2 or X_test.shape[1] != model.in_features or len(y_test) != len(X_test):
        raise ValueError(f"X_test must be (n, {model.in_features}) with one label per row, got "
                         f"{tuple(X_test.shape)} and {tuple(y_test.shape)}")
    y_test = y_test.long().cpu()
    readout = evaluate(model, X_test, y_test, batch_size=batch_size, confusion=False)
    standard = own = None
    head_acc = None
    if standard_model is not None:
        standard = probe_model(standard_model, X_train, y_train, X_test, y_test, layers=layers,
                               batch_size=batch_size, **probe_kwargs)
        head_acc = float(evaluate(standard_model, X_test, y_test, batch_size=batch_size,
                                  confusion=False).accuracy[-1])
    if own_features:
        own = probe_model(model, X_train, y_train, X_test, y_test, layers=layers,
                          batch_size=batch_size, **probe_kwargs)
    return ProbeComparison(readout.accuracy.numpy(), readout.seconds, standard, own, head_acc,
                           model.num_classes)
