r"""The models of ``idmlp benchmark``, each fitted by the same protocol.

Every model sees the same data: the dataset's training split to fit, its validation split
for the one choice the model makes (a training length or a regularization strength), and
its test split only for the reported accuracy. The features are standardized as an idmlp
run standardizes them (:meth:`idmlp.config.DataConfig.scaler`, fitted on the training
split).

* ``logreg``: scikit-learn's multinomial ``LogisticRegression`` (L-BFGS); ``C`` in
  :data:`LOGREG_CS` chosen by the validation log-loss.
* ``sklearn_mlp``: scikit-learn's ``MLPClassifier`` with one hidden layer of 100 ReLU
  units (Adam, its defaults), trained epoch by epoch with ``partial_fit`` under the early
  stopping rule of idmlp's trainer (:class:`~idmlp.train.loop.StopRule`, the default
  patience, the same validation split), at most :data:`SKLEARN_MLP_MAX_EPOCHS` epochs.
* ``standard_mlp``: a standard-init deep MLP of the interpretable MLP's depth and width
  ``N + C`` with a linear head (:class:`~idmlp.analysis.probes.StandardMLPClassifier`),
  trained by idmlp's trainer with the interpretable MLP's default optimizer, schedule and
  early stopping (loss on the last layer only).
* ``mlp`` and ``cnn``: idmlp's interpretable MLP and CNN with their default settings
  (:meth:`idmlp.config.RunConfig.from_changes`; the CNN reads signals with 1-D and images
  with 2-D convolutions, and is skipped for unordered features).
"""

from __future__ import annotations

import copy
import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import OptimConfig, RunConfig

__all__ = ["LOGREG_CS", "MODELS", "Fitted", "Prepared", "SkipModel", "fit_model_by_name"]

#: The regularization strengths the logistic regression chooses from on validation.
LOGREG_CS: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
#: Epochs of scikit-learn's MLP at most (it stops earlier on the validation split).
SKLEARN_MLP_MAX_EPOCHS = 300


class SkipModel(ValueError):
    """The model does not apply to this dataset (recorded as ``skipped``, not a failure)."""


@dataclass(frozen=True)
class Prepared:
    """A dataset ready for every model: the run config of its name (the interpretable
    MLP's defaults and ``changes``), the loaded :class:`~idmlp.data.Dataset` with its
    validation split, and the standardized float32 arrays of each split."""

    config: RunConfig
    dataset: Any
    X: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    changes: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, data: Any, changes: dict[str, Any]) -> Prepared:
        """Load the dataset of ``data`` (a :class:`~idmlp.config.DataConfig`) for runs of
        the flat settings ``changes`` (dataset, seed, device, ...)."""
        config = RunConfig.from_changes(changes, base=RunConfig(data=data))
        ds = config.data.load()
        if not ds.has_validation:
            raise ValueError("the benchmark chooses on a validation split: val_size must "
                             "be > 0")
        scaler = config.data.scaler(ds)
        X = {s: np.ascontiguousarray(scaler.transform(getattr(ds, f"X_{s}")), np.float32)
             for s in ("train", "val", "test")}
        y = {s: np.asarray(getattr(ds, f"y_{s}"), np.int64) for s in ("train", "val", "test")}
        return cls(config, ds, X, y, dict(changes))

    def config_for(self, arch: str) -> RunConfig:
        """The run config of idmlp's ``arch`` on this dataset: its presets, then
        ``changes`` (:meth:`RunConfig.from_changes`)."""
        if arch == self.config.model.arch:
            return self.config
        return RunConfig.from_changes({**self.changes, "arch": arch},
                                      base=RunConfig(data=self.config.data))

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.as_tensor(self.X[split]), torch.as_tensor(self.y[split])


@dataclass(frozen=True)
class Fitted:
    """What one model reached: test and validation accuracy (last layer for idmlp's
    networks), training time, parameters, and the training length chosen on validation."""

    test_accuracy: float
    val_accuracy: float
    train_seconds: float
    parameters: int
    epochs: int | None
    stop: str
    setting: str


def _accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(X) == y))


def _log_loss(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(y, model.predict_proba(X), labels=model.classes_))


def fit_logreg(data: Prepared, seed: int, progress: bool) -> Fitted:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    best: tuple[float, Any, float] | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for c in LOGREG_CS:
            model = LogisticRegression(C=c, max_iter=500, random_state=seed)
            model.fit(data.X["train"], data.y["train"])
            loss = _log_loss(model, data.X["val"], data.y["val"])
            if best is None or loss < best[0]:
                best = (loss, model, c)
    assert best is not None
    _, model, c = best
    seconds = time.perf_counter() - t0
    n_params = int(model.coef_.size + model.intercept_.size)
    return Fitted(_accuracy(model, data.X["test"], data.y["test"]),
                  _accuracy(model, data.X["val"], data.y["val"]), seconds, n_params, None,
                  "C chosen on validation", f"C={c:g}")


def fit_sklearn_mlp(data: Prepared, seed: int, progress: bool) -> Fitted:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from ..train.loop import StopRule

    rule = StopRule(OptimConfig().patience)
    model = MLPClassifier(hidden_layer_sizes=(100,), random_state=seed)
    classes = np.arange(data.dataset.num_classes)
    t0 = time.perf_counter()
    kept, epoch, stop = None, 0, False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        while epoch < SKLEARN_MLP_MAX_EPOCHS and not stop:
            epoch += 1
            model.partial_fit(data.X["train"], data.y["train"], classes=classes)
            keep, stop = rule.update(_log_loss(model, data.X["val"], data.y["val"]),
                                     _accuracy(model, data.X["val"], data.y["val"]),
                                     _accuracy(model, data.X["train"], data.y["train"]))
            if keep:
                kept = copy.deepcopy(model)
    seconds = time.perf_counter() - t0
    assert kept is not None
    n_params = int(sum(w.size for w in kept.coefs_) + sum(b.size for b in kept.intercepts_))
    return Fitted(_accuracy(kept, data.X["test"], data.y["test"]),
                  _accuracy(kept, data.X["val"], data.y["val"]), seconds, n_params,
                  rule.kept_epoch, f"{'patience' if stop else 'budget'} after epoch {epoch}",
                  "hidden (100,), Adam 1e-3")


def _last_layer_accuracy(model: Any, X: torch.Tensor, y: torch.Tensor) -> float:
    from ..train.evaluate import evaluate

    with torch.no_grad():
        return float(evaluate(model, X, y, confusion=False).accuracy[-1])


def fit_standard_mlp(data: Prepared, seed: int, progress: bool) -> Fitted:
    from ..analysis.probes import fit_standard_mlp as fit_standard

    cfg = data.config
    optim = dataclasses.replace(cfg.optim, layer_loss="last", seed=seed)
    (X, y), val, (Xt, yt) = (data.tensors(s) for s in ("train", "val", "test"))
    t0 = time.perf_counter()
    model, history = fit_standard(X, y, Xt, yt, depth=cfg.model.depth,
                                  model_kwargs={"activation": cfg.model.activation},
                                  seed=seed, optim=optim, validation=val, progress=progress,
                                  device=cfg.device, score_test=False)
    seconds = time.perf_counter() - t0
    model = model.cpu().eval()
    from ..train.loop import StopRule

    rule = StopRule(optim.patience)  # the same rule again: which epoch the trainer kept
    for r in history:
        rule.update(r["val_loss"], r["val_acc"], r["train_acc"])
    kept = rule.kept_epoch
    return Fitted(_last_layer_accuracy(model, Xt, yt), _last_layer_accuracy(model, *val),
                  seconds, sum(p.numel() for p in model.parameters()), kept,
                  f"{len(history)} epochs", f"depth {cfg.model.depth}, width "
                  f"{model.body.width}, {model.config['init']} init")


def _fit_idmlp(arch: str) -> Callable[[Prepared, int, bool], Fitted]:
    def fit(data: Prepared, seed: int, progress: bool) -> Fitted:
        from ..train.runs import fit_in_memory

        if arch == "cnn" and data.dataset.layout == "features":
            raise SkipModel("unordered features: a convolution needs a signal or an image")
        config = data.config_for(arch)
        t0 = time.perf_counter()
        run = fit_in_memory(config, dataset=data.dataset, progress=progress)
        seconds = time.perf_counter() - t0
        model = run.model.cpu()
        stopped = run.stopping["stopped"]
        return Fitted(_last_layer_accuracy(model, *data.tensors("test")),
                      _last_layer_accuracy(model, *data.tensors("val")), seconds,
                      sum(p.numel() for p in model.parameters() if p.requires_grad),
                      run.kept_epoch, f"{stopped['reason']} after epoch {stopped['epoch']}",
                      model.describe())

    return fit


#: ``{name: (label, fit)}``: the models of the benchmark, in table order.
MODELS: dict[str, tuple[str, Callable[[Prepared, int, bool], Fitted]]] = {
    "logreg": ("logistic regression", fit_logreg),
    "sklearn_mlp": ("scikit-learn MLP (100)", fit_sklearn_mlp),
    "standard_mlp": ("standard-init MLP", fit_standard_mlp),
    "mlp": ("interpretable MLP", _fit_idmlp("mlp")),
    "cnn": ("interpretable CNN", _fit_idmlp("cnn")),
}


def fit_model_by_name(name: str, data: Prepared, seed: int, progress: bool = False) -> Fitted:
    """Fit the model ``name`` of :data:`MODELS` on ``data`` with ``seed``."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}; got {name!r}")
    return MODELS[name][1](data, seed, progress)
