r"""The interpretable networks as a scikit-learn classifier: :class:`InterpretableClassifier`.

``InterpretableClassifier(arch="mlp", depth=..., lr=..., ...)`` takes the settings of
``idmlp train`` by their flat names (those of :class:`~idmlp.config.RunConfig`: the model,
its architecture's options, the optimization, ``val_size``, ``split_seed``, ``scaling``,
``std_floor``, ``device``; ``None`` keeps the default of ``idmlp train``, after the presets
of the chosen architecture) and trains with what ``idmlp train`` trains with: the same
network (:func:`~idmlp.train.runs.build_network`), the same
:class:`~idmlp.train.loop.Trainer` (:func:`~idmlp.train.runs.make_trainer`) and the same
standardization (:class:`~idmlp.data.InputScaler`, fitted on the training part).

**Validation split.** ``fit(X, y)`` holds out a stratified fraction ``val_size`` (default
0.1, as ``idmlp train``) of ``(X, y)`` with :func:`idmlp.data.dataset.stratified_split`
and seed ``split_seed`` (default 0): the very split that ``idmlp train`` carves from its
training split (:meth:`idmlp.data.Dataset.with_validation`). So an estimator fitted on the
training split of a dataset (``ds.X_train``, in the samples' shape, e.g. ``(n, 28, 28)``)
trains exactly the network of ``idmlp train --dataset <it>`` with the same settings and
seed, and scores the same on ``ds.X_test``. The validation part is only scored after every
epoch (:attr:`~InterpretableClassifier.history_`); ``val_size=0`` trains on all of ``(X, y)``.

Inputs of any shape: flat ``(n, N)``, signals ``(n, C, L)``, images ``(n, H, W)`` or
``(n, C, H, W)``, numpy arrays, torch tensors or a pandas ``DataFrame``; ``auto`` scaling
(the default) standardizes inputs of two or more dimensions with one mean and deviation
(an image keeps its structure) and flat ones per feature. Labels of any type are encoded
by scikit-learn's ``LabelEncoder`` (:attr:`classes_`) and mapped back in predictions.
Validation uses scikit-learn's own helpers (``validate_data``, ``check_array``,
``check_classification_targets``, ``check_is_fitted``).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .config import DataConfig, ModelConfig, OptimConfig, RunConfig
from .config.fields import field_names

__all__ = ["RUN_SETTINGS", "InterpretableClassifier"]

#: The settings of :class:`~idmlp.config.DataConfig` that name where data comes from:
#: an estimator gets its data from ``fit``.
_DATA_SOURCE = frozenset({"dataset", "data_dir", "download", "test_size", "target"})
_DATA_SIZES = frozenset({"in_features", "num_classes", "image_shape", "input_layout",
                         "options"})
#: Run settings (flat names of :meth:`RunConfig.replace`) that are estimator parameters:
#: all but the data source and what is recorded during training.
RUN_SETTINGS: frozenset[str] = frozenset(
    (field_names(DataConfig) - _DATA_SOURCE) | (field_names(ModelConfig) - _DATA_SIZES)
    | ModelConfig.option_names() | field_names(OptimConfig) | {"device"})
_FLOAT = (np.float64, np.float32)
_EVAL_BATCH = 1024


class InterpretableClassifier(ClassifierMixin, BaseEstimator):
    r"""A scikit-learn classifier over idmlp's interpretable networks: the identity-initialized
    MLP of Kubota et al. (ICASSP 2021), its convolutional and residual relatives.

    Every layer :math:`\ell` of the network holds the input's ``N`` features and ``C``
    class coordinates :math:`k^\ell`, read by the same rule, :math:`z^\ell = s\,k^\ell`:
    :meth:`predict` uses the last layer, :meth:`layer_accuracy` scores each,
    :meth:`readout` gives everything one forward pass says (:class:`~idmlp.nets.LayerReadout`)
    and :meth:`explain` the class-evidence maps in the inputs' shape.

    Parameters are the flat settings of ``idmlp train`` (see ``idmlp train --help``);
    ``None`` keeps its default, after the presets of ``arch`` (a CNN brings depth 8,
    lr 1e-2, ...). They are validated in :meth:`fit`, by :class:`~idmlp.config.RunConfig`.
    How the validation split is made: see the module docstring (it makes ``fit`` on a
    dataset's training split equal to ``idmlp train``).

    Args:
        arch: ``mlp``, ``cnn`` or ``residual`` (:data:`idmlp.config.ARCHS`).
        depth, sigma, q0, activation, init, bias, logit_scale, learn_logit_scale: the
            network (:class:`~idmlp.config.ModelConfig`).
        extra_features: ``arch="mlp"`` only: ``H`` coordinates beyond ``N + C`` (default:
            enough for a width of 256; 0 is the paper's network).
        extra_channels, kernel_size, dilations: ``arch="cnn"`` only; extra_init_std: the
            random start of the MLP's extra rows or the CNN's extra channels;
            alpha_init, class_init_std: ``arch="residual"`` only.
        optimizer, lr, momentum, weight_decay, schedule, warmup_epochs, step_epochs, gamma,
            label_smoothing, loss, layer_loss, input_noise, batch_size, epochs, steps, seed: the
            optimization (:class:`~idmlp.config.OptimConfig`); ``seed`` seeds
            initialization, shuffling and the input noise.
        early_stopping, patience: stop on the validation loss and keep the best
            validation accuracy's weights (on by default when ``val_size > 0``; without
            a validation split the whole budget is trained).
        val_size, split_seed: the held-out validation fraction of ``(X, y)`` and its seed.
        scaling, std_floor: the input standardization (:class:`~idmlp.data.InputScaler`).
        layout: what one sample is: ``signal`` (``(L,)`` or ``(C, L)``: 1-D convolutions
            with ``arch="cnn"``), ``image``, ``features`` or ``None`` (from the shape).
        device: ``cpu``, ``cuda`` or ``auto``.
        verbose: show a progress bar and a line per epoch.

    Attributes:
        classes_: the class labels (sorted distinct values of ``y``).
        n_features_in_: the number of input features (pixels of an image).
        feature_names_in_: a ``DataFrame``'s column names (only when fitted on one).
        input_shape_: the shape of one sample, e.g. ``(28, 28)``.
        model_: the trained network (:class:`~idmlp.nets.base.LayerwiseNet`, eval mode,
            no gradients: ``model_.requires_grad_(True)`` to train it further).
        scaler_: the fitted :class:`~idmlp.data.InputScaler`.
        config_: the :class:`~idmlp.config.RunConfig` it was trained with.
        history_: one record per epoch (losses, accuracies per layer, identity distances).
        stopping_: with early stopping, why and when training stopped and the epoch whose
            weights ``model_`` holds (``None`` without it).

    Examples:
        >>> from sklearn.datasets import load_iris
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = InterpretableClassifier(depth=3, lr=0.01, epochs=20).fit(X, y)
        >>> clf.predict(X[:2]), clf.layer_accuracy(X, y).shape
        (array([0, 0]), (3,))
    """

    def __init__(
        self,
        arch: str = "mlp",
        *,
        depth: int | None = None,
        sigma: float | None = None,
        q0: float | None = None,
        activation: str | None = None,
        init: str | None = None,
        bias: bool | None = None,
        logit_scale: float | None = None,
        learn_logit_scale: bool | None = None,
        extra_features: int | None = None,
        extra_channels: int | None = None,
        kernel_size: int | None = None,
        dilations: str | None = None,
        extra_init_std: float | None = None,
        alpha_init: float | None = None,
        class_init_std: float | None = None,
        optimizer: str | None = None,
        lr: float | None = None,
        momentum: float | None = None,
        weight_decay: float | None = None,
        schedule: str | None = None,
        warmup_epochs: float | None = None,
        step_epochs: int | None = None,
        gamma: float | None = None,
        label_smoothing: float | None = None,
        loss: str | None = None,
        layer_loss: str | None = None,
        input_noise: float | None = None,
        batch_size: int | None = None,
        epochs: int | None = None,
        steps: int | None = None,
        early_stopping: bool | None = None,
        patience: int | None = None,
        seed: int | None = None,
        val_size: float | None = None,
        split_seed: int | None = None,
        scaling: str | None = None,
        std_floor: float | None = None,
        layout: str | None = None,
        device: str | None = None,
        verbose: bool = False,
    ) -> None:
        self.arch = arch
        self.depth = depth
        self.sigma = sigma
        self.q0 = q0
        self.activation = activation
        self.init = init
        self.bias = bias
        self.logit_scale = logit_scale
        self.learn_logit_scale = learn_logit_scale
        self.extra_features = extra_features
        self.extra_channels = extra_channels
        self.kernel_size = kernel_size
        self.dilations = dilations
        self.extra_init_std = extra_init_std
        self.alpha_init = alpha_init
        self.class_init_std = class_init_std
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.warmup_epochs = warmup_epochs
        self.step_epochs = step_epochs
        self.gamma = gamma
        self.label_smoothing = label_smoothing
        self.loss = loss
        self.layer_loss = layer_loss
        self.input_noise = input_noise
        self.batch_size = batch_size
        self.epochs = epochs
        self.steps = steps
        self.early_stopping = early_stopping
        self.patience = patience
        self.seed = seed
        self.val_size = val_size
        self.split_seed = split_seed
        self.scaling = scaling
        self.std_floor = std_floor
        self.layout = layout
        self.device = device
        self.verbose = verbose

    # -- configuration -------------------------------------------------------------------

    def run_config(self) -> RunConfig:
        """The :class:`~idmlp.config.RunConfig` these parameters make (validated: a bad
        value is one ``ValueError`` naming it)."""
        changes = {k: v for k, v in self.get_params().items()
                   if k in RUN_SETTINGS and v is not None}
        return RunConfig.from_changes(changes)  # val_size=0: early stopping off

    # -- fitting -------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> InterpretableClassifier:
        """Train a fresh network on ``(X, y)``.

        Args:
            X: ``(n, ...)`` samples (array, tensor, ``DataFrame``); every sample one shape.
            y: ``(n,)`` labels of any type, at least two classes.

        Returns:
            ``self``.

        Raises:
            ValueError: a bad parameter, NaN or inf in ``X``, mismatched lengths, a single
                class, a validation split that cannot hold every class (one line each);
                :class:`~idmlp.train.loop.TrainingDiverged` if the loss becomes NaN.
        """
        from .data import InputScaler
        from .data.dataset import stratified_split
        from .runtime import resolve_device
        from .train.runs import build_network, make_trainer

        config = self.run_config()
        device = resolve_device(config.device)
        X, y, shape = self._check_X(X, y, reset=True)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 classes in y, got 1 class "
                             f"({encoder.classes_[0]!r})")
        codes = encoder.transform(y)
        data = config.data
        if data.val_size:
            try:
                X_fit, X_val, y_fit, y_val = stratified_split(
                    type(self).__name__, X, codes, data.val_size, data.split_seed, "val_size")
            except ValueError as err:
                raise ValueError(f"{err}; give more samples per class, a larger val_size, or "
                                 "val_size=0 (no validation split)") from None
        else:
            X_fit, y_fit = X, codes
        layout = None if data.layout == "auto" else data.layout
        scaler = InputScaler(data.resolved_scaling(shape, layout), data.std_floor).fit(X_fit)
        train = self._tensors(scaler, X_fit, y_fit)
        evals = {"val": self._tensors(scaler, X_val, y_val)} if data.val_size else {
            "train": train}
        model = build_network(config, X.shape[1], len(encoder.classes_), shape, layout)
        trainer = make_trainer(config, model, train, evals, device,
                               layout or _layout(shape))
        trainer.run(progress=bool(self.verbose))
        self.classes_ = encoder.classes_
        self.input_shape_ = shape
        # trained: its maps and readouts are values, not graphs to differentiate
        self.model_ = trainer.model.eval().requires_grad_(False)
        self.scaler_ = scaler
        self.config_ = config
        self.history_ = list(trainer.history)
        self.stopping_ = trainer.stopped
        self.n_train_, self.n_val_ = len(y_fit), len(codes) - len(y_fit)
        return self

    @staticmethod
    def _tensors(scaler: Any, X: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.as_tensor(scaler.transform(X), dtype=torch.float32),
                torch.as_tensor(y, dtype=torch.int64))

    def _check_X(self, X: Any, y: Any = None, *, reset: bool
                 ) -> tuple[np.ndarray, Any, tuple[int, ...]]:
        """``X`` flattened ``(n, N)`` as float32 (and ``y`` checked alongside), and the shape
        of one sample; samples of two or more dimensions are checked by ``check_array``
        and flattened, then ``validate_data`` checks (and with ``reset`` records) the
        features and their names."""
        X, y = _numpy(X), _numpy(y)
        shape = None
        if isinstance(X, np.ndarray) and X.ndim > 2:
            X = check_array(X, allow_nd=True, dtype=_FLOAT, estimator=self)
            shape = tuple(int(d) for d in X.shape[1:])
            X = X.reshape(len(X), -1)
        if y is None:
            X = validate_data(self, X, reset=reset, dtype=_FLOAT)
        else:
            X, y = validate_data(self, X, y, reset=reset, dtype=_FLOAT)
        if not reset and shape is not None and _squeezed(shape) != _squeezed(self.input_shape_):
            raise ValueError(f"X's samples have shape {shape}, but {type(self).__name__} was "
                             f"fitted on samples of shape {self.input_shape_} (or flat, "
                             f"({self.n_features_in_},))")
        if np.abs(X).max() > np.finfo(np.float32).max:
            raise ValueError("X has values beyond the float32 range; rescale it first")
        return X.astype(np.float32, copy=False), y, shape or (X.shape[1],)

    # -- prediction ----------------------------------------------------------------------

    def _z(self, X: Any, dtype: torch.dtype = torch.float32
           ) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Standardized inputs ``(n, N)`` on the model's device, and the shape ``X`` came
        in (``(n, N)`` or ``(n, *sample shape)``)."""
        check_is_fitted(self)
        X, _, shape = self._check_X(X, reset=False)
        device = next(self.model_.parameters()).device
        return (torch.as_tensor(self.scaler_.transform(X), dtype=dtype, device=device),
                (len(X), *shape))

    def _logits(self, X: Any) -> np.ndarray:
        """The last layer's logits in float64, computed from the trained (float32) weights
        in float64: a sample's outputs then do not depend on the other samples of the batch
        or their order (float32 matrix products differ in the last bits with a row's
        position), as scikit-learn's estimator checks ask."""
        z, _ = self._z(X, torch.float64)
        state = {k: v.double() if v.is_floating_point() else v
                 for k, v in [*self.model_.named_parameters(), *self.model_.named_buffers()]}
        with torch.no_grad():
            out = [torch.func.functional_call(self.model_, state, (chunk,))
                   for chunk in z.split(_EVAL_BATCH)]
        return torch.cat(out).cpu().numpy()

    def decision_function(self, X: Any) -> np.ndarray:
        """The last layer's class logits ``(n, C)``; for two classes, ``(n,)``: the second
        class's logit minus the first's (scikit-learn's convention)."""
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the last layer (softmax of its logits), ``(n, C)``."""
        logits = self._logits(X)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The class of :attr:`classes_` the last layer reads out, ``(n,)``."""
        codes = self._logits(X).argmax(axis=1)
        return self.classes_[codes]

    # -- interpretation ------------------------------------------------------------------

    def _codes(self, y: Any, n: int) -> torch.Tensor:
        labels = np.asarray(_numpy(y))
        labels = np.full(n, labels.item(), dtype=labels.dtype) if labels.ndim == 0 else labels
        if labels.shape != (n,):
            raise ValueError(f"give one label per sample of X ({n}), got shape {labels.shape}")
        unknown = np.setdiff1d(labels, self.classes_)
        if len(unknown):
            raise ValueError(f"labels {unknown[:3].tolist()} are not among classes_ "
                             f"{self.classes_[:10].tolist()}")
        return torch.as_tensor(np.searchsorted(self.classes_, labels), dtype=torch.int64,
                               device=next(self.model_.parameters()).device)

    def readout(self, X: Any) -> Any:
        """Everything one forward pass says about every layer for the samples ``X``
        (:class:`~idmlp.nets.readout.LayerReadout`: logits, features, maps) on the
        standardized inputs."""
        z, _ = self._z(X)
        with torch.no_grad():
            return self.model_.readout(z)

    def explain(self, X: Any, target: Any = None, *, layer: int = -1,
                signed: bool = False) -> np.ndarray:
        """Class-evidence maps of ``X`` in ``X``'s own shape
        (:class:`idmlp.attribution.ClassEvidence` on the standardized inputs).

        Args:
            X: samples, flat or in their shape.
            target: the explained class, a label of :attr:`classes_` (one for all, or one
                per sample); default: each sample's prediction.
            layer: the layer whose readout is explained (``1..L``, or ``-1``: the last).
            signed: evidence for minus against, instead of its positive part.
        """
        from .nets.evidence import ClassEvidence

        z, given = self._z(X)
        codes = None if target is None else self._codes(target, len(z))
        maps = ClassEvidence(self.model_).attribute(z, target=codes, layer=layer,
                                                    signed=signed)
        return maps.cpu().numpy().reshape(given)

    def layer_accuracy(self, X: Any, y: Any) -> np.ndarray:
        """The accuracy of every layer's readout on ``(X, y)``, ``(L,)``
        (:func:`idmlp.train.evaluate.evaluate`)."""
        from .train.evaluate import evaluate

        z, _ = self._z(X)
        metrics = evaluate(self.model_, z, self._codes(y, len(z)), confusion=False)
        return metrics.accuracy.numpy()

    # -- run folders ---------------------------------------------------------------------

    def save(self, path: str | Path, X: Any = None, y: Any = None, *,
             overwrite: bool = False) -> Path:
        """Write the fitted classifier as a run folder (the format of ``idmlp train``:
        ``config.json``, ``metrics.jsonl``, ``checkpoint.pt``), read back by :meth:`load`.

        With samples ``(X, y)`` (e.g. a held-out test set) the folder also carries them as
        ``data.npz``, its test split, so that ``idmlp interpret PATH`` reads it. The
        folder's ``config.json`` holds these settings as a
        :class:`~idmlp.config.RunConfig` whose data part describes ``data.npz`` (no
        validation split); the estimator's own parameters, classes and input shape are
        under its ``estimator`` key.
        """
        from .data import from_arrays
        from .train.runs import IN_RUN_DATASET, write_run

        check_is_fitted(self)
        config = self.config_.replace(dataset=IN_RUN_DATASET, val_size=0.0)
        dataset = None
        if X is not None or y is not None:
            if X is None or y is None:
                raise ValueError("give both X and y to save with data, or neither")
            Xs, _, _ = self._check_X(X, reset=False)
            codes = self._codes(y, len(Xs)).cpu().numpy()
            Xs = Xs.reshape(len(Xs), *self.input_shape_)
            names = tuple(str(c) for c in self.classes_)
            dataset = from_arrays(Xs, codes, test=(Xs, codes), class_names=names,
                                  name=type(self).__name__, layout=_layout(self.input_shape_))
        facts = {"name": type(self).__name__, "n_train": self.n_train_, "n_val": self.n_val_,
                 "n_test": 0 if dataset is None else len(dataset.y_test),
                 "n_features": self.n_features_in_, "num_classes": len(self.classes_),
                 "image_shape": list(self.input_shape_),
                 "class_names": [str(c) for c in self.classes_]}
        extra = {"estimator": {
            "params": self.get_params(), "classes": self.classes_.tolist(),
            "classes_dtype": self.classes_.dtype.str if self.classes_.dtype != object
            else "object", "input_shape": list(self.input_shape_),
            "feature_names": (self.feature_names_in_.tolist()
                              if hasattr(self, "feature_names_in_") else None),
            "n_train": self.n_train_, "n_val": self.n_val_}}
        return write_run(path, config, self.model_, self.scaler_, facts, self.history_,
                         dataset=dataset, extra=extra, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> InterpretableClassifier:
        """A fitted classifier from a run folder: one written by :meth:`save`, or by
        ``idmlp train`` (its classes are then the run's class names, strings)."""
        from .train.runs import load_model

        config, model, scaler, info = load_model(path, device)
        saved = info.get("estimator")
        if saved is None:
            est = cls(**_params_of(config))
            facts = info["dataset"]
            classes = np.asarray(facts["class_names"])
            shape, names = tuple(facts["image_shape"]), None
            n_train, n_val = facts.get("n_train", 0), facts.get("n_val", 0)
        else:
            try:
                est = cls(**saved["params"])
                classes = np.asarray(saved["classes"], dtype=np.dtype(saved["classes_dtype"]))
                shape, names = tuple(saved["input_shape"]), saved["feature_names"]
                n_train, n_val = saved["n_train"], saved["n_val"]
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{path}: the estimator entry of config.json is invalid "
                                 f"({err}); save the classifier again") from None
        est.config_ = est.run_config()
        est.model_, est.scaler_ = model.requires_grad_(False), scaler
        est.history_ = info["metrics"]
        est.classes_, est.input_shape_ = classes, shape
        est.n_features_in_ = math.prod(shape)
        if names is not None:
            est.feature_names_in_ = np.asarray(names, dtype=object)
        est.n_train_, est.n_val_ = n_train, n_val
        return est


def _numpy(values: Any) -> Any:
    """A torch tensor as a numpy array (anything else as it is)."""
    torch_ = sys.modules.get("torch")
    if torch_ is not None and isinstance(values, torch_.Tensor):
        return values.detach().cpu().numpy()
    return values


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def _layout(shape: tuple[int, ...] | None) -> str:
    """What a sample of ``shape`` is when no layout is given (``None``: flat features)."""
    return "image" if shape is not None and len(shape) >= 2 else "features"


def _params_of(config: RunConfig) -> dict[str, Any]:
    """The estimator parameters that make ``config`` (every setting given explicitly)."""
    flat = {**dataclasses.asdict(config.data), **dataclasses.asdict(config.optim),
            **{k: v for k, v in dataclasses.asdict(config.model).items() if k != "options"},
            **dataclasses.asdict(config.model.options), "device": config.device}
    return {k: v for k, v in flat.items() if k in RUN_SETTINGS or k == "arch"}
