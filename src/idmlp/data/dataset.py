"""The dataset container (:class:`Dataset`) and its stratified train/validation/test splits.

A :class:`Dataset` holds raw (unscaled) features, flattened row-major to
``(n_samples, n_features)``, with the shape of one sample (``image_shape``) and the class
names; it validates everything on construction (:mod:`idmlp.data.validation`). Splits are
scikit-learn's ``train_test_split`` stratified by class, deterministic given a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._validation import check_probability
from .validation import (
    MAX_CLASSES,
    DataError,
    check_classes_trainable,
    check_feature_names,
    check_features,
    check_image_shape,
    check_label_range,
    check_labels,
    check_layout,
    check_lengths,
    default_class_names,
)

if TYPE_CHECKING:
    from .scaling import InputScaler

__all__ = ["Dataset", "split_dataset", "stratified_split"]


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
    X_val, y_val : numpy.ndarray, optional
        A validation split (:meth:`with_validation` carves one from the training split).
    layout : str, optional
        What one sample is, one of :data:`~idmlp.data.registry.LAYOUTS`: ``"features"``
        (a vector without order, e.g. a table's row), ``"signal"`` (``image_shape`` is
        ``(L,)``, one channel of length L, or ``(C, L)``) or ``"image"`` (``(H, W)`` or
        ``(C, H, W)``). ``None`` infers it from ``image_shape``: ``"image"`` for two or three
        dimensions, ``"features"`` otherwise. A signal is never inferred (``(C, L)`` and
        ``(H, W)`` look alike): name it.
    feature_names : tuple of str, optional
        One name per feature (e.g. a table's columns); empty if the features have none.

    Raises
    ------
    DataError
        If the arrays are empty, contain NaN/inf, have mismatched lengths or feature
        counts, labels are not integers in range, or ``image_shape`` or ``layout`` does
        not fit.

    Examples:
        >>> X, y = np.arange(24.0).reshape(6, 4), np.array([0, 1, 0, 1, 0, 1])
        >>> Dataset("toy", X, y, X, y, image_shape=(1, 4), layout="signal").channel_shape
        (1, 4)
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
    layout: str | None = None
    feature_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        name = str(self.name)
        X_train = check_features(self.X_train, f"{name}: X_train")
        X_test = check_features(self.X_test, f"{name}: X_test")
        y_train = check_labels(self.y_train, f"{name}: y_train")
        y_test = check_labels(self.y_test, f"{name}: y_test")
        check_lengths(X_train, y_train, f"{name}: train split")
        check_lengths(X_test, y_test, f"{name}: test split")
        if X_train.shape[1] != X_test.shape[1]:
            raise DataError(
                f"{name}: X_train has {X_train.shape[1]} features but X_test has {X_test.shape[1]}"
            )
        image_shape = check_image_shape(self.image_shape, X_train.shape[1], name)
        layout = check_layout(self.layout, image_shape, name)
        class_names = tuple(str(c) for c in self.class_names)
        if len(class_names) > MAX_CLASSES:
            raise DataError(f"{name}: {len(class_names):,} class names, more than the "
                            f"{MAX_CLASSES:,} classes idmlp supports")
        if not class_names:
            class_names = default_class_names((y_train, y_test), len(y_train), name)
        check_label_range((y_train, y_test), len(class_names), name)
        check_classes_trainable(y_train, y_test, class_names, name)
        for attr, value in [
            ("name", name),
            ("X_train", X_train),
            ("y_train", y_train),
            ("X_test", X_test),
            ("y_test", y_test),
            ("image_shape", image_shape),
            ("class_names", class_names),
            ("layout", layout),
            ("feature_names", check_feature_names(self.feature_names, X_train.shape[1], name)),
        ]:
            object.__setattr__(self, attr, value)
        if (self.X_val is None) != (self.y_val is None):
            raise DataError(f"{name}: give both X_val and y_val, or neither")
        if self.X_val is not None:
            X_val = check_features(self.X_val, f"{name}: X_val")
            y_val = check_labels(self.y_val, f"{name}: y_val")
            check_lengths(X_val, y_val, f"{name}: validation split")
            if X_val.shape[1] != X_train.shape[1]:
                raise DataError(f"{name}: X_val has {X_val.shape[1]} features but X_train has "
                                f"{X_train.shape[1]}")
            check_label_range((y_val,), len(class_names), name)
            check_classes_trainable(y_train, y_val, class_names, name, "validation")
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
    def channel_shape(self) -> tuple[int, ...]:
        """One sample as a convolution sees it, channels first: ``(C, L)`` for a signal,
        ``(C, H, W)`` for an image (``C = 1`` where ``image_shape`` has no channel axis),
        ``(n_features,)`` for features."""
        if self.layout == "features":
            return (self.n_features,)
        spatial = 1 if self.layout == "signal" else 2
        shape = self.image_shape
        return shape if len(shape) == spatial + 1 else (1, *shape)

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
        X_tr, X_val, y_tr, y_val = stratified_split(
            self.name, self.X_train, self.y_train, val_size, seed, "val_size")
        return Dataset(self.name, X_tr, y_tr, self.X_test, self.y_test, self.image_shape,
                       self.class_names, X_val, y_val, self.layout, self.feature_names)

    def fit_scaler(self, scaling: str = "feature", std_floor: float = 0.0) -> InputScaler:
        """An :class:`InputScaler` fitted on the training split only."""
        from .scaling import InputScaler

        return InputScaler(scaling, std_floor).fit(self.X_train)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_train={len(self.y_train)}, "
            f"n_test={len(self.y_test)}, image_shape={self.image_shape}, "
            f"layout={self.layout!r}, num_classes={self.num_classes})"
        )


def split_dataset(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    image_shape: tuple[int, ...],
    class_names: tuple[str, ...],
    test_size: float,
    seed: int,
    layout: str | None = None,
    feature_names: tuple[str, ...] = (),
) -> Dataset:
    """A :class:`Dataset` whose test split is a stratified fraction ``test_size`` of
    ``(X, y)`` (deterministic given ``seed``). The pool is validated before it is split
    (features, labels, lengths, labels in range of ``class_names``; empty
    ``class_names`` become ``0 .. max(y)``), so that its errors name ``X`` and ``y``."""
    y = check_labels(y, f"{name}: y")
    X = check_features(X, f"{name}: X")
    check_lengths(X, y, name)
    if not class_names:
        class_names = default_class_names((y,), len(y), name)
    check_label_range((y,), len(class_names), name)
    X_tr, X_te, y_tr, y_te = stratified_split(name, X, y, test_size, seed, "test_size")
    return Dataset(name, X_tr, y_tr, X_te, y_te, image_shape, class_names, layout=layout,
                   feature_names=feature_names)


def stratified_split(name: str, X: np.ndarray, y: np.ndarray, size: float, seed: int,
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

