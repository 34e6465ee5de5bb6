r"""Data in memory as a :class:`~idmlp.data.Dataset`: numpy arrays, torch tensors, pandas
``DataFrame`` s (:func:`from_arrays`), a ``torch.utils.data.Dataset`` or ``DataLoader``
(:func:`from_torch`), or any of them (:func:`as_dataset`).

The result is validated and split exactly like a built-in or npz dataset (one
:class:`~idmlp.data.DataError` for NaN or inf, wrong shapes, mismatched lengths, a single
class, a class too small to stratify, ...): a stratified test fraction ``test_size`` unless a
test split is given, and a stratified validation fraction ``val_size`` of the training split.

Inputs of any shape: ``X`` of shape ``(n, N)`` holds flat features, ``(n, C, L)`` a signal
(say ``layout="signal"``), ``(n, H, W)`` and ``(n, C, H, W)`` images; the samples are
flattened row-major and their shape kept as ``image_shape``. Labels of any type (integers,
strings, booleans) are encoded as class indices, the sorted distinct values
(scikit-learn's ``LabelEncoder``), and their values kept as the class names; give
``class_names`` to pass class indices ``0..C-1`` as they are (the npz convention).

torch is imported only by :func:`from_torch` (and to recognize a tensor, only if torch is
already loaded), so arrays need nothing but numpy.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_int, check_probability, check_real
from .dataset import Dataset, split_dataset
from .validation import (
    DataError,
    check_label_range,
    check_labels,
    class_names_of,
    encode_labels,
)

__all__ = ["as_dataset", "from_arrays", "from_torch"]

#: Samples per batch when :func:`from_torch` reads a dataset.
READ_BATCH = 256


def from_arrays(
    X: Any,
    y: Any,
    *,
    test: tuple[Any, Any] | None = None,
    layout: str | None = None,
    class_names: Sequence[str] | None = None,
    name: str = "arrays",
    test_size: float = 0.2,
    val_size: float = 0.0,
    seed: int = 0,
) -> Dataset:
    """A validated, split :class:`~idmlp.data.Dataset` of samples ``X`` and labels ``y``.

    Args:
        X: numpy array, torch tensor or pandas ``DataFrame`` of shape ``(n, ...)``: flat
            ``(n, N)``, a signal ``(n, C, L)`` (with ``layout="signal"``), an image
            ``(n, H, W)`` or ``(n, C, H, W)``. A ``DataFrame``'s columns must be numeric;
            their names become ``feature_names``.
        y: ``n`` labels of any type (array, tensor, list, pandas ``Series``).
        test: an official test split ``(X_test, y_test)``; else a stratified fraction
            ``test_size`` of ``(X, y)`` is held out.
        layout: ``"features"``, ``"signal"`` or ``"image"`` (default: inferred from the
            sample shape, see :class:`~idmlp.data.Dataset`).
        class_names: the names of classes ``0..C-1``; ``y`` must then be class indices.
            Default: the sorted distinct labels.
        name: the dataset's name (it starts every error message).
        test_size: the held-out test fraction in (0, 1) when ``test`` is not given.
        val_size: the validation fraction of the training split in [0, 1) (0: none).
        seed: the seed of the stratified splits (>= 0).

    Raises:
        DataError: NaN or inf, shapes that do not fit, mismatched lengths, missing or
            mixed-type labels, a single class, a class too small to stratify, ...

    Examples:
        >>> X = np.random.default_rng(0).normal(size=(40, 1, 6))
        >>> ds = from_arrays(X, ["up", "down"] * 20, layout="signal", test_size=0.25)
        >>> ds.class_names, ds.image_shape, ds.channel_shape, len(ds.y_test)
        (('down', 'up'), (1, 6), (1, 6), 10)
    """
    name = str(name)
    test_size = check_probability("test_size", test_size)
    val_size = _check_val_size(val_size)
    seed = check_int("seed", seed, minimum=0)
    X, feature_names = _samples(X, f"{name}: X")
    y = _labels(y, f"{name}: y")
    if len(X) != len(y):
        raise DataError(f"{name}: X has {len(X)} samples but y has {len(y)}")
    if test is not None:
        if not (isinstance(test, (tuple, list)) and len(test) == 2):
            raise ValueError(f"{name}: test must be a pair (X_test, y_test), got "
                             f"{type(test).__name__}")
        X_test, test_names = _samples(test[0], f"{name}: X_test")
        y_test = _labels(test[1], f"{name}: y_test")
        if len(X_test) != len(y_test):
            raise DataError(f"{name}: X_test has {len(X_test)} samples but y_test has "
                            f"{len(y_test)}")
        if X_test.shape[1:] != X.shape[1:]:
            raise DataError(f"{name}: X_test's samples have shape {X_test.shape[1:]} but X's "
                            f"have {X.shape[1:]}")
        if test_names != feature_names:
            raise DataError(f"{name}: X_test's columns differ from X's")
    image_shape = tuple(int(d) for d in X.shape[1:])
    flat = X.reshape(len(X), -1)
    if class_names is not None:
        names = tuple(str(c) for c in class_names)
        if not names:
            raise DataError(f"{name}: class_names is empty")
        labels = [check_labels(y, f"{name}: y")]
        if test is not None:
            labels.append(check_labels(y_test, f"{name}: y_test"))
        check_label_range(labels, len(names), name)
    else:
        both = y if test is None else np.concatenate([y, y_test])
        codes, classes = encode_labels(both, f"{name}: y" if test is None else f"{name}: labels")
        labels, names = [codes[: len(y)], codes[len(y):]], class_names_of(classes)
    if test is None:
        ds = split_dataset(name, flat, labels[0], image_shape, names, test_size, seed, layout,
                           feature_names)
    else:
        ds = Dataset(name, flat, labels[0], X_test.reshape(len(X_test), -1), labels[1],
                     image_shape, names, layout=layout, feature_names=feature_names)
    return ds.with_validation(val_size, seed) if val_size else ds


def from_torch(
    data: Any,
    *,
    test: Any = None,
    layout: str | None = None,
    class_names: Sequence[str] | None = None,
    name: str = "torch",
    test_size: float = 0.2,
    val_size: float = 0.0,
    seed: int = 0,
) -> Dataset:
    """A validated, split :class:`~idmlp.data.Dataset` read from a
    ``torch.utils.data.Dataset`` (map-style or iterable) or ``DataLoader`` whose samples
    are ``(input, label)`` pairs: the labels come from the dataset.

    The samples are read once, in batches of :data:`READ_BATCH`, and stacked (they must all
    have one shape); then it is :func:`from_arrays`. A map-style dataset is read in index
    order. A ``DataLoader`` is read as it yields (its sampler and ``collate_fn`` decide the
    samples), except that one which only shuffles is read in its dataset's order (every
    sample, whatever ``drop_last``), so the split is the same on every call. A
    ``TensorDataset`` of ``(inputs, labels)`` is taken as it is.

    Args:
        data: the training data (``Dataset`` or ``DataLoader``).
        test: an official test split (``Dataset`` or ``DataLoader``); else a stratified
            fraction ``test_size`` of ``data`` is held out.
        layout, class_names, name, test_size, val_size, seed: as for :func:`from_arrays`.

    Examples:
        >>> from torch.utils.data import TensorDataset
        >>> pairs = TensorDataset(torch.randn(30, 1, 4, 4), torch.arange(30) % 3)
        >>> ds = from_torch(pairs, test_size=0.2)
        >>> ds.image_shape, ds.layout, ds.class_names
        ((1, 4, 4), 'image', ('0', '1', '2'))
    """
    X, y = _read_torch(data, str(name))
    split = None if test is None else _read_torch(test, f"{name} (test)")
    return from_arrays(X, y, test=split, layout=layout, class_names=class_names, name=name,
                       test_size=test_size, val_size=val_size, seed=seed)


def as_dataset(data: Any, y: Any = None, **options: Any) -> Dataset:
    """``data`` as a :class:`~idmlp.data.Dataset`: one returned as it is, arrays, tensors
    or a ``DataFrame`` with labels ``y`` (:func:`from_arrays`), a torch ``Dataset`` or
    ``DataLoader`` (:func:`from_torch`, labels from the data). ``options`` are those of
    the function it calls.

    Examples:
        >>> as_dataset(np.eye(4).repeat(5, axis=0), np.arange(20) % 4).num_classes
        4
    """
    if isinstance(data, Dataset):
        if y is not None or options:
            raise ValueError("a Dataset is used as it is: give it without y or options")
        return data
    if _is_torch_data(data):
        if y is not None:
            raise ValueError("a torch Dataset or DataLoader carries its labels: give no y")
        return from_torch(data, **options)
    if y is None:
        raise ValueError(f"labels y are needed with {type(data).__name__} inputs (or give a "
                         "torch Dataset, a DataLoader or an idmlp Dataset)")
    return from_arrays(data, y, **options)


# -- arrays -----------------------------------------------------------------------------


def _check_val_size(val_size: float) -> float:
    val_size = check_real("val_size", val_size)
    if not 0.0 <= val_size < 1.0:
        raise ValueError(f"val_size must lie in [0, 1), got {val_size!r}")
    return val_size


def _samples(X: Any, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """``X`` as a numpy array of shape ``(n, ...)`` and its feature names (a DataFrame's
    columns; else none). Values are checked by :class:`~idmlp.data.Dataset`."""
    if _is_frame(X):
        from .tabular import frame_features

        return frame_features(X, where)
    x = _numpy(X, where)
    if x.ndim < 2:
        raise DataError(f"{where} must have shape (n_samples, ...), got {x.shape}; one feature "
                        "per sample is X.reshape(-1, 1)")
    if x.size == 0:
        raise DataError(f"{where} is empty (shape {x.shape})")
    return x, ()


def _labels(y: Any, where: str) -> np.ndarray:
    values = _numpy(y, where)
    if values.ndim != 1:
        raise DataError(f"{where} must be 1-D (one label per sample), got shape {values.shape}; "
                        "labels are class values, not one-hot rows")
    return values


def _numpy(values: Any, where: str) -> np.ndarray:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(values, torch.Tensor):
        tensor = values.detach().cpu()
        if tensor.dtype in (torch.bfloat16, torch.float16):
            tensor = tensor.float()  # checked in float32 (numpy has no bfloat16)
        return tensor.numpy()
    try:
        return np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged lists
        reason = " ".join(str(exc).split()).split(". ")[0]
        raise DataError(f"{where} cannot be made an array ({reason}); every sample must "
                        "have the same shape") from None


def _is_frame(X: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(X, pandas.DataFrame)


# -- torch ------------------------------------------------------------------------------


def _is_torch_data(data: Any) -> bool:
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    from torch.utils.data import DataLoader
    from torch.utils.data import Dataset as TorchDataset

    return isinstance(data, (TorchDataset, DataLoader))


def _read_torch(data: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """All ``(input, label)`` samples of ``data``, stacked: ``(X, y)``."""
    import torch
    from torch.utils.data import (
        DataLoader,
        IterableDataset,
        RandomSampler,
        TensorDataset,
    )
    from torch.utils.data import Dataset as TorchDataset

    if isinstance(data, TensorDataset):
        if len(data.tensors) != 2:
            raise DataError(f"{name}: a TensorDataset of (inputs, labels) is needed, got "
                            f"{len(data.tensors)} tensors")
        return _numpy(data.tensors[0], f"{name}: inputs"), _numpy(data.tensors[1],
                                                                  f"{name}: labels")
    if isinstance(data, DataLoader):
        sampler = data.sampler
        only_shuffles = (isinstance(sampler, RandomSampler) and not sampler.replacement
                         and sampler.num_samples == len(data.dataset)
                         and data.batch_size is not None)
        if only_shuffles:
            return _read_torch(DataLoader(data.dataset, batch_size=data.batch_size,
                                          collate_fn=data.collate_fn), name)
        batches: Any = data
        unbatched = data.batch_size is None and data.batch_sampler is None
    elif isinstance(data, TorchDataset):
        if not isinstance(data, IterableDataset) and len(data) == 0:
            raise DataError(f"{name}: the dataset is empty")
        batches = DataLoader(data, batch_size=READ_BATCH, collate_fn=_collate(name))
        unbatched = False
    else:
        raise ValueError(f"{name}: expected a torch.utils.data.Dataset or DataLoader, got "
                         f"{type(data).__name__}")
    inputs, labels = [], []
    with torch.no_grad():
        for batch in batches:
            if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
                raise DataError(f"{name}: each sample must be an (input, label) pair, got "
                                f"{_describe(batch)}")
            x, y = _numpy(batch[0], f"{name}: inputs"), _numpy(batch[1], f"{name}: labels")
            if x.dtype.kind not in "biuf":
                raise DataError(f"{name}: the inputs must be tensors or arrays of numbers, got "
                                f"{_describe(batch[0])} of dtype {x.dtype}")
            inputs.append(x[None] if unbatched else x)
            labels.append(y[None] if unbatched else y)
    if not inputs:
        raise DataError(f"{name}: the dataset is empty")
    shapes = {x.shape[1:] for x in inputs}
    if len(shapes) > 1:
        raise DataError(f"{name}: the inputs have different shapes ({', '.join(map(str, shapes))}"
                        "); every sample must have the same shape")
    return np.concatenate(inputs), np.concatenate(labels)


def _collate(name: str) -> Any:
    """torch's default collation, with a one-line :class:`DataError` for samples that it
    cannot stack."""
    from torch.utils.data import default_collate

    def collate(samples: list[Any]) -> Any:
        first = samples[0]
        if not (isinstance(first, (tuple, list)) and len(first) == 2):
            raise DataError(f"{name}: each sample must be an (input, label) pair, got "
                            f"{_describe(first)}")
        try:
            return default_collate(samples)
        except (TypeError, RuntimeError) as exc:
            reason = " ".join(str(exc).split())
            raise DataError(f"{name}: cannot stack the samples ({reason}); each must be an "
                            "(input, label) pair of a tensor or array of one shape and a "
                            "number or string") from None

    return collate


def _describe(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"
