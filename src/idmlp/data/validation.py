"""Validation of the data itself: one :class:`DataError` (a ``ValueError`` with a one-line
message that says what to fix) for every problem with features, labels, shapes or classes.

The checks here are shared by every way data comes in (:class:`~idmlp.data.Dataset`, the
npz and IDX readers, the built-in datasets), so a file and an array in memory are refused
with the same words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .registry import LAYOUTS


class DataError(ValueError):
    """A dataset or data file is missing, corrupt or inconsistent (one-line message)."""


#: The most classes a dataset may have: labels are class indices ``0 .. C-1`` with
#: ``C <= MAX_CLASSES`` (the interpretable MLP has width ``n_features + C``).
MAX_CLASSES = 10_000


def check_features(X: object, where: str) -> np.ndarray:
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


def check_labels(y: object, where: str) -> np.ndarray:
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


def check_lengths(X: np.ndarray, y: np.ndarray, where: str) -> None:
    if len(X) != len(y):
        raise DataError(f"{where}: X has {len(X)} samples but y has {len(y)}")


def check_image_shape(shape: object, n_features: int, name: str) -> tuple[int, ...]:
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


def default_class_names(ys: Sequence[np.ndarray], n_samples: int, name: str
                         ) -> tuple[str, ...]:
    """``("0", ..., str(largest label))``; refused when that makes more classes than the
    ``n_samples`` training samples (the labels are then not class indices)."""
    n_classes = max(int(y.max()) for y in ys) + 1  # <= MAX_CLASSES, see check_labels
    if n_classes > n_samples:
        raise DataError(
            f"{name}: the largest label {n_classes - 1} makes {n_classes:,} classes for only "
            f"{n_samples:,} training samples; labels must be class indices 0..C-1 (remap "
            "them, e.g. with np.unique(y, return_inverse=True))"
        )
    return tuple(str(c) for c in range(n_classes))


def check_label_range(ys: Sequence[np.ndarray], n_classes: int, name: str) -> None:
    lo = min(int(y.min()) for y in ys)
    hi = max(int(y.max()) for y in ys)
    if lo < 0 or hi >= n_classes:
        raise DataError(
            f"{name}: labels must lie in 0..{n_classes - 1} ({n_classes} classes), found "
            f"values in {lo}..{hi}"
        )


def check_classes_trainable(y_train: np.ndarray, y_test: np.ndarray,
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


def check_layout(layout: object, image_shape: tuple[int, ...], name: str) -> str:
    """``layout`` (one of :data:`~idmlp.data.registry.LAYOUTS`) checked against
    ``image_shape``: a ``signal`` is ``(L,)`` or ``(C, L)``, an ``image`` ``(H, W)`` or
    ``(C, H, W)``, ``features`` any shape. ``None`` infers it from the shape: ``image`` for
    two or three dimensions, ``features`` otherwise (a signal is never inferred: ``(C, L)``
    and ``(H, W)`` look alike, so a signal is always named)."""
    if layout is None:
        return "image" if len(image_shape) in (2, 3) else "features"
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise DataError(f"{name}: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    forms = {"signal": ((1, 2), "(L,) or (C, L)"), "image": ((2, 3), "(H, W) or (C, H, W)")}
    if layout in forms and len(image_shape) not in forms[layout][0]:
        raise DataError(f"{name}: a {layout}'s shape is {forms[layout][1]}, got "
                        f"image_shape {image_shape}")
    return layout


def check_feature_names(names: object, n_features: int, name: str) -> tuple[str, ...]:
    """``names`` as a tuple of strings: empty, or one per feature."""
    out = tuple(str(n) for n in np.asarray(names, dtype=object).reshape(-1))
    if out and len(out) != n_features:
        raise DataError(f"{name}: {len(out)} feature names for {n_features} features; give "
                        "one name per feature or none")
    return out


def encode_labels(y: object, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels of any type (integers, strings, booleans, ...) as class indices.

    The classes are the distinct values, sorted (scikit-learn's ``LabelEncoder``): returns
    ``(codes, classes)`` with ``classes[codes] == y``. Refused with a :class:`DataError`:
    a missing label (None, NaN) or inf, labels that mix types, more than
    :data:`MAX_CLASSES` classes.

    Examples:
        >>> codes, classes = encode_labels(["cat", "dog", "cat"], "y")
        >>> codes.tolist(), classes.tolist()
        ([0, 1, 0], ['cat', 'dog'])
    """
    from sklearn.preprocessing import LabelEncoder

    values = np.asarray(y)
    if values.ndim != 1:
        raise DataError(f"{where} must be 1-D (n_samples,), got shape {values.shape}")
    if values.size == 0:
        raise DataError(f"{where} is empty")
    if np.issubdtype(values.dtype, np.complexfloating) or values.dtype.kind in "mMV":
        raise DataError(f"{where} must hold class labels (numbers or strings), got dtype "
                        f"{values.dtype}")
    missing = _missing_labels(values)
    if missing.any():
        raise DataError(f"{where} has {int(missing.sum())} missing or infinite label(s) (None, "
                        "NaN, inf); drop those samples or give them a class")
    try:
        encoder = LabelEncoder().fit(values)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in values.tolist()})
        raise DataError(f"{where} mixes label types ({', '.join(kinds)}); convert the labels "
                        "to one type (e.g. all strings)") from None
    if len(encoder.classes_) > MAX_CLASSES:
        raise DataError(f"{where} has {len(encoder.classes_):,} distinct labels, more than the "
                        f"{MAX_CLASSES:,} classes idmlp supports")
    return encoder.transform(values).astype(np.int64), encoder.classes_


def class_names_of(classes: np.ndarray) -> tuple[str, ...]:
    """One name per class value: ``str(v)``, and integral floats without ``.0``.

    Examples:
        >>> class_names_of(np.array([1.0, 2.5])), class_names_of(np.array(["a", "b"]))
        (('1', '2.5'), ('a', 'b'))
    """
    return tuple(str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
                 for v in classes.tolist())


def _missing_labels(values: np.ndarray) -> np.ndarray:
    if np.issubdtype(values.dtype, np.floating):
        return ~np.isfinite(values)
    if values.dtype == object:
        return np.array([v is None or (isinstance(v, float) and not math.isfinite(v))
                         for v in values.tolist()], dtype=bool)
    return np.zeros(values.shape, dtype=bool)
