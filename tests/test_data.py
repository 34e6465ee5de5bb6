"""Tests for idmlp.data: IDX format, dataset loading/validation and InputScaler."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from idmlp import data
from idmlp.data import (
    DATASETS,
    DataError,
    Dataset,
    InputScaler,
    builtin,
    download,
    load_dataset,
    read_idx,
    write_idx,
)

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
IDX_NAMES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


# -- IDX format ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    arr=hnp.arrays(
        dtype=st.sampled_from(IDX_DTYPES),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
        elements={"allow_nan": False},
    ),
    gz=st.booleans(),
)
def test_idx_round_trip(tmp_path_factory, arr, gz):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, arr)
    out = read_idx(path)
    assert out.dtype == arr.dtype
    assert out.dtype.isnative
    assert out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


def test_idx_header_is_big_endian(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int16))
    raw = path.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0B, 2])
    assert raw[4:12] == (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert raw[12:14] == (1).to_bytes(2, "big")
    assert len(raw) == 12 + 6 * 2


def test_idx_gzip_detected_by_magic_bytes(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    gz_path = write_idx(tmp_path / "a.gz", arr)
    plain_name = tmp_path / "compressed-without-suffix"
    plain_name.write_bytes(gz_path.read_bytes())
    np.testing.assert_array_equal(read_idx(plain_name), arr)


def test_write_idx_rejects_unsupported(tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        write_idx(tmp_path / "a.idx", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="dims"):
        write_idx(tmp_path / "a.idx", np.array(3, dtype=np.uint8))


def _good_idx_bytes() -> bytes:
    return bytes([0, 0, 8, 2]) + np.array([2, 3], ">u4").tobytes() + bytes(range(6))


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"\x00\x01\x08\x01" + np.array([1], ">u4").tobytes() + b"\x00", "magic"),
        (b"\x00\x00\x07\x01" + np.array([1], ">u4").tobytes() + b"\x00", "type code 0x07"),
        (_good_idx_bytes()[:-1], "truncated"),
        (_good_idx_bytes()[:10], "truncated IDX header"),
        (b"\x00\x00", "truncated"),
        (_good_idx_bytes() + b"\x00\x00", "trailing"),
    ],
    ids=["magic", "dtype", "truncated-data", "truncated-header", "tiny", "trailing"],
)
def test_read_idx_errors(tmp_path, raw, match):
    path = tmp_path / "bad-file.idx"
    path.write_bytes(raw)
    with pytest.raises(DataError, match=match) as info:
        read_idx(path)
    assert "bad-file.idx" in str(info.value)
    assert "\n" not in str(info.value)


def test_read_idx_corrupt_gzip(tmp_path):
    good = gzip.compress(_good_idx_bytes())
    path = tmp_path / "broken.idx.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="corrupt gzip") as info:
        read_idx(path)
    assert "broken.idx.gz" in str(info.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.idx"):
        read_idx(tmp_path / "nope.idx")


# -- IDX datasets (fake MNIST on disk) ------------------------------------------------------


def _write_fake_mnist(folder: Path, *, gz: bool, n_train: int = 50, n_test: int = 20) -> dict:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for base, arr in arrays.items():
        write_idx(folder / (base + (".gz" if gz else "")), arr)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_load_fake_mnist_from_data_dir(tmp_path, gz):
    arrays = _write_fake_mnist(tmp_path, gz=gz)
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert ds.name == "mnist"
    assert ds.X_train.shape == (50, 784) and ds.X_test.shape == (20, 784)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.image_shape == (28, 28)
    assert ds.n_features == 784 and ds.num_classes == 10
    assert ds.class_names == tuple(str(i) for i in range(10))
    assert 0.0 <= ds.X_train.min() and ds.X_train.max() <= 1.0
    expected = arrays["train-images-idx3-ubyte"].reshape(50, -1) / 255.0
    np.testing.assert_allclose(ds.X_train, expected, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_load_fake_mnist_from_named_subfolder(tmp_path):
    _write_fake_mnist(tmp_path / "mnist", gz=True)
    ds = load_dataset("mnist", data_dir=str(tmp_path))
    assert len(ds.y_train) == 50 and len(ds.y_test) == 20


def test_fashion_and_kmnist_class_names(tmp_path):
    _write_fake_mnist(tmp_path / "fashion-mnist", gz=False)
    _write_fake_mnist(tmp_path / "kmnist", gz=False)
    fashion = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[-1] == "Ankle boot"
    assert len(fashion.class_names) == 10
    kmnist = load_dataset("kmnist", data_dir=tmp_path)
    assert kmnist.class_names == ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")


def test_missing_idx_files_error_names_directory(tmp_path):
    _write_fake_mnist(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=tmp_path)
    msg = str(info.value)
    assert "t10k-labels-idx1-ubyte" in msg and "train-images" not in msg
    assert str(tmp_path) in msg and "--download" in msg
    assert "\n" not in msg


def test_idx_dataset_count_mismatch(tmp_path):
    _write_fake_mnist(tmp_path, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(49, dtype=np.uint8))
    with pytest.raises(DataError, match="50 images but 49 labels"):
        load_dataset("mnist", data_dir=tmp_path)


def test_idx_dataset_wrong_ndim(tmp_path):
    _write_fake_mnist(tmp_path, gz=False)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((20, 784), dtype=np.uint8))
    with pytest.raises(DataError, match="3-D"):
        load_dataset("mnist", data_dir=tmp_path)


def test_idx_dataset_label_out_of_range(tmp_path):
    _write_fake_mnist(tmp_path, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(50, 12, dtype=np.uint8))
    with pytest.raises(DataError, match=r"0\.\.9"):
        load_dataset("mnist", data_dir=tmp_path)


# -- download (no network: the fetcher is monkeypatched) ------------------------------------


def test_download_checksum_mismatch_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def fake_fetch(url, dest, timeout=60.0):
        calls.append(url)
        Path(dest).write_bytes(b"definitely not the MNIST file")

    monkeypatch.setattr(download, "_fetch", fake_fetch)
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("mnist", data_dir=tmp_path, download=True)
    assert calls and calls[0].startswith("https://ossci-datasets.s3.amazonaws.com/mnist/")
    assert list(tmp_path.rglob("*")) == []


def test_download_success_with_verified_checksums(tmp_path, monkeypatch):
    payloads = {}
    for i, base in enumerate(IDX_NAMES):
        if "images" in base:
            arr = np.full((6, 28, 28), i, dtype=np.uint8)
        else:  # two classes, both in the training split
            arr = (np.arange(6) % 2).astype(np.uint8)
        payloads[base + ".gz"] = gzip.compress(
            bytes([0, 0, 8, arr.ndim]) + np.array(arr.shape, ">u4").tobytes() + arr.tobytes()
        )
    md5 = {base: hashlib.md5(payloads[base + ".gz"]).hexdigest() for base in IDX_NAMES}
    source = builtin._IdxSource("https://mirror.invalid/", md5, builtin._DIGIT_NAMES)
    monkeypatch.setitem(builtin._IDX_SOURCES, "mnist", source)

    def fake_fetch(url, dest, timeout=60.0):
        Path(dest).write_bytes(payloads[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(download, "_fetch", fake_fetch)
    ds = load_dataset("mnist", data_dir=tmp_path, download=True)
    assert ds.X_train.shape == (6, 784)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(payloads)


def test_download_network_failure_is_one_data_error(tmp_path, monkeypatch):
    def offline(url, dest, timeout=60.0):
        raise OSError("network unreachable")

    monkeypatch.setattr(download, "_fetch", offline)
    with pytest.raises(DataError, match="download of .* failed"):
        load_dataset("kmnist", data_dir=tmp_path, download=True)
    assert list(tmp_path.rglob("*.part")) == []


def test_checksum_table_is_complete():
    for name in ("mnist", "fashion-mnist", "kmnist"):
        md5 = builtin._IDX_SOURCES[name].md5
        assert set(md5) == set(IDX_NAMES)
        assert all(re.fullmatch("[0-9a-f]{32}", h) for h in md5.values()), md5


# -- bundled datasets -----------------------------------------------------------------------


def test_digits_shapes_and_split():
    ds = load_dataset("digits")
    assert ds.image_shape == (8, 8) and ds.n_features == 64 and ds.num_classes == 10
    assert len(ds.y_train) + len(ds.y_test) == 1797
    assert len(ds.y_test) == math.ceil(0.2 * 1797)
    assert 0.0 <= ds.X_train.min() and ds.X_train.max() <= 1.0


def test_mnist5k_shapes_and_class_balance():
    ds = load_dataset("mnist5k")
    assert ds.image_shape == (28, 28) and ds.n_features == 784 and ds.num_classes == 10
    assert ds.X_train.shape == (4000, 784) and ds.X_test.shape == (1000, 784)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert 0.0 <= ds.X_train.min() and ds.X_train.max() <= 1.0
    # the source is sorted by class; the stratified split must keep 500/class exactly
    np.testing.assert_array_equal(np.bincount(ds.y_train), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(ds.y_test), np.full(10, 100))
    assert not np.all(np.diff(ds.y_train) >= 0)  # shuffled, not sorted


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_split_reproducible_and_seed_dependent(name):
    a = load_dataset(name, seed=1)
    b = load_dataset(name, seed=1)
    c = load_dataset(name, seed=2)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, c.X_train)
    counts = np.bincount(a.y_test, minlength=10) / len(a.y_test)
    overall = np.bincount(np.concatenate([a.y_train, a.y_test])) / (len(a.y_train) + len(a.y_test))
    np.testing.assert_allclose(counts, overall, atol=0.01)


def test_test_size_respected_and_cache_not_mutated():
    ds = load_dataset("digits", test_size=0.5)
    assert abs(len(ds.y_test) - 1797 / 2) <= 1
    ds.X_train[:] = -1.0  # arrays handed out are the caller's own
    assert load_dataset("digits", test_size=0.5).X_train.min() >= 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_size": 0.0}, "test_size"),
        ({"test_size": 1.5}, "test_size"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"download": "yes"}, "download"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_dataset("digits", **kwargs)


def test_unknown_name_lists_valid_names():
    with pytest.raises(DataError) as info:
        load_dataset("cifar10")
    msg = str(info.value)
    assert "cifar10" in msg
    for name in DATASETS:
        assert name in msg


# -- npz datasets ---------------------------------------------------------------------------


def _npz(tmp_path: Path, **arrays) -> str:
    path = tmp_path / "own.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


def test_npz_images_flattened_and_split(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3, 4)).astype(np.float64)
    y = np.repeat(np.arange(3), 20)
    ds = load_dataset(_npz(tmp_path, X=X, y=y, class_names=np.array(["a", "b", "c"])), seed=3)
    assert ds.image_shape == (3, 4) and ds.n_features == 12
    assert ds.class_names == ("a", "b", "c")
    assert len(ds.y_train) == 48 and len(ds.y_test) == 12
    np.testing.assert_array_equal(np.bincount(ds.y_test), [4, 4, 4])
    assert ds.X_train.dtype == np.float32


def test_npz_with_explicit_test_split_and_image_shape(tmp_path):
    X = np.ones((10, 6))
    X_test = np.zeros((4, 6))
    name = _npz(
        tmp_path,
        X=X,
        y=np.arange(10) % 2,
        X_test=X_test,
        y_test=np.array([0, 1, 1, 0]),
        image_shape=np.array([2, 3]),
    )
    ds = load_dataset(name)
    assert ds.image_shape == (2, 3)
    assert ds.num_classes == 2 and ds.class_names == ("0", "1")
    np.testing.assert_array_equal(ds.X_test, X_test)


def test_npz_flat_vectors_default_image_shape(tmp_path):
    ds = load_dataset(_npz(tmp_path, X=np.eye(20), y=np.arange(20) % 2))
    assert ds.image_shape == (20,)


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"X": np.array([[0.0, np.nan]] * 10), "y": np.arange(10) % 2}, "NaN"),
        ({"X": np.array([[0.0, np.inf]] * 10), "y": np.arange(10) % 2}, "NaN or inf"),
        ({"X": np.ones((10, 2)), "y": np.arange(10) % 2 - 1}, "negative label -1"),
        (
            {"X": np.ones((10, 2)), "y": np.arange(10) % 4, "class_names": np.array(["a", "b"])},
            r"labels must lie in 0\.\.1",
        ),
        ({"X": np.ones((10, 2)), "y": np.linspace(0, 1, 10)}, "integer"),
        ({"X": np.ones((10, 2)), "y": np.arange(9) % 2}, "10 samples but y has 9"),
        ({"X": np.ones((0, 2)), "y": np.zeros(0, dtype=int)}, "empty"),
        ({"X": np.ones((10, 6)), "y": np.arange(10) % 2, "image_shape": np.array([4, 2])}, "6"),
        ({"X": np.ones(10), "y": np.arange(10) % 2}, "n_samples"),
        ({"y": np.arange(10) % 2}, "missing key"),
        ({"X": np.ones((10, 2)), "y": np.arange(10) % 2, "X_test": np.ones((2, 2))}, "both"),
        ({"X": np.ones((10, 2)), "y": np.arange(10)}, "stratified"),
    ],
    ids=[
        "nan",
        "inf",
        "negative-label",
        "label-vs-class-names",
        "float-labels",
        "length",
        "empty",
        "image-shape",
        "1d-X",
        "missing-X",
        "half-test",
        "singleton-classes",
    ],
)
def test_npz_validation_errors(tmp_path, arrays, match):
    with pytest.raises(DataError, match=match) as info:
        load_dataset(_npz(tmp_path, **arrays))
    assert "\n" not in str(info.value)


def _no_warnings_data_error(name: str, match: str) -> str:
    """load_dataset(name) raises one DataError line matching ``match`` and warns nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would fail the test
        with pytest.raises(DataError, match=match) as info:
            load_dataset(name)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_npz_that_is_a_npy_array(tmp_path):
    path = tmp_path / "data.npz"
    with path.open("wb") as fh:  # np.save to a file object keeps the .npz name
        np.save(fh, np.ones((10, 3)))
    msg = _no_warnings_data_error(f"npz:{path}", "single .npy array, not a .npz")
    assert str(path) in msg and "np.savez" in msg


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, -1])
def test_truncated_npz(tmp_path, keep):
    rng = np.random.default_rng(0)
    full = tmp_path / "full.npz"
    np.savez(full, X=rng.normal(size=(40, 5)), y=np.arange(40) % 2)
    raw = full.read_bytes()
    path = tmp_path / "cut.npz"
    path.write_bytes(raw[: int(len(raw) * keep)] if keep >= 0 else raw[:-1])
    msg = _no_warnings_data_error(f"npz:{path}", "cannot read .* as .npz")
    assert str(path) in msg and "np.savez" in msg


def test_npz_corrupt_member(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, X=np.ones((40, 5)), y=np.arange(40) % 2)
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF  # inside X's data: the zip CRC check fails
    path.write_bytes(bytes(raw))
    _no_warnings_data_error(f"npz:{path}", "cannot read")


def test_npz_with_object_array(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, X=np.array([[1, "a"]] * 4, dtype=object), y=np.arange(4) % 2)
    _no_warnings_data_error(f"npz:{path}", "holds Python objects: save numeric arrays")


def test_npz_that_is_text(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("X,y\n1,0\n")
    _no_warnings_data_error(f"npz:{path}", "truncated or not a .npz")


@pytest.mark.parametrize("value", [1e39, -1e39, 1e300])
def test_values_beyond_float32_refused_without_warning(tmp_path, value):
    X = np.ones((20, 3))
    X[4, 1] = value
    msg = _no_warnings_data_error(_npz(tmp_path, X=X, y=np.arange(20) % 2), "float32 range")
    assert "in 1 sample(s)" in msg


def test_idx_values_beyond_float32_refused_without_warning(tmp_path):
    _write_fake_mnist(tmp_path, gz=False)
    images = np.zeros((50, 28, 28))
    images[3, 0, 0] = 1e39
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="float32 range"):
            load_dataset("mnist", data_dir=tmp_path)


@pytest.mark.parametrize(
    ("label", "dtype"),
    [(10**12, np.int64), (2**64 - 1, np.uint64), (1e300, np.float64), (10_000, np.int16)],
)
def test_huge_label_refused(tmp_path, label, dtype):
    y = (np.arange(30) % 2).astype(dtype)
    y[7] = label
    msg = _no_warnings_data_error(_npz(tmp_path, X=np.ones((30, 2)), y=y), "holds the label")
    assert f"more than the {data.MAX_CLASSES:,}" in msg and "np.unique" in msg


def test_huge_label_refused_in_constant_memory(tmp_path):
    # Before the fix, a label L built L + 1 class names (label 10**12: OOM-killed).
    y = np.arange(2000) % 2
    y[-1] = 10**7
    name = _npz(tmp_path, X=np.ones((2000, 2)), y=y)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="holds the label 10000000"):
            load_dataset(name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5e6  # bytes; the arrays themselves are ~50 KB


def test_more_classes_than_samples_refused(tmp_path):
    y = np.arange(20) % 2
    y[3] = 500  # 501 classes for 20 samples: labels that are not class indices
    msg = _no_warnings_data_error(_npz(tmp_path, X=np.ones((20, 2)), y=y),
                                  "makes 501 classes for only 20")
    assert "np.unique" in msg


def test_test_labels_unseen_in_training_refused(tmp_path):
    name = _npz(tmp_path, X=np.ones((10, 2)), y=np.arange(10) % 2,
                X_test=np.ones((6, 2)), y_test=np.array([0, 1, 2, 2, 3, 1]))
    msg = _no_warnings_data_error(name, "never occur in the training split")
    assert "'2', '3'" in msg


def test_single_training_class_refused(tmp_path):
    name = _npz(tmp_path, X=np.ones((10, 2)), y=np.zeros(10, dtype=int),
                X_test=np.ones((4, 2)), y_test=np.zeros(4, dtype=int))
    _no_warnings_data_error(name, "single class .'0'.; a classifier needs")
    # also with class names that promise more classes than the training split has
    name = _npz(tmp_path, X=np.ones((10, 2)), y=np.ones(10, dtype=int),
                X_test=np.ones((4, 2)), y_test=np.ones(4, dtype=int),
                class_names=np.array(["cat", "dog"]))
    _no_warnings_data_error(name, "single class .'dog'.")


def test_dataset_constructor_refuses_untrainable_classes():
    X = np.zeros((6, 2), dtype=np.float32)
    with pytest.raises(DataError, match="single class"):
        Dataset("t", X, np.zeros(6, dtype=int), X, np.zeros(6, dtype=int), (2,))
    many = np.array([0, 1, 0, 1, 0, 1])
    with pytest.raises(DataError, match="'c' that never occur"):
        Dataset("t", X, many, X, np.array([0, 1, 2, 0, 1, 2]), (2,), ("a", "b", "c"))
    with pytest.raises(DataError, match="10,001 class names"):
        Dataset("t", X, many, X, many, (2,), tuple(str(i) for i in range(10_001)))
    with pytest.raises(DataError, match="y_test holds the label 99999"):
        Dataset("t", X, many, X, np.array([0, 1, 0, 1, 0, 99999]), (2,))


def test_npz_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset(f"npz:{tmp_path / 'absent.npz'}")


def test_dataset_constructor_validates():
    X = np.zeros((4, 6), dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    with pytest.raises(DataError, match="features"):
        Dataset("t", X, y, np.zeros((4, 5)), y, (6,), ("a", "b"))
    with pytest.raises(DataError, match="image_shape"):
        Dataset("t", X, y, X, y, (4, 4), ("a", "b"))
    ds = Dataset("t", X, y.astype(np.float64), X, y, [2, 3], ["a", "b"])
    assert ds.y_train.dtype == np.int64 and ds.image_shape == (2, 3)
    assert "n_train=4" in repr(ds)
    with pytest.raises(AttributeError):
        ds.name = "other"  # frozen


def test_fit_scaler_uses_train_statistics():
    ds = load_dataset("digits")
    scaler = ds.fit_scaler("feature")
    X_tr, X_te = scaler.transform(ds.X_train), scaler.transform(ds.X_test)
    assert X_tr.dtype == np.float32 and X_te.dtype == np.float32
    np.testing.assert_allclose(scaler.mean_, ds.X_train.mean(axis=0, dtype=np.float64))
    live = ~scaler.constant_mask_
    np.testing.assert_allclose(X_tr[:, live].var(axis=0), 1.0, rtol=1e-4)
    assert np.all(X_tr[:, ~live] == 0) and np.all(X_te[:, ~live] == 0)
    assert np.isfinite(X_te).all()


# -- InputScaler ----------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), scaling=st.sampled_from(["feature", "global"]))
def test_scaler_mean_zero_variance_one(seed, scaling):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=rng.normal(size=5) * 10, scale=rng.uniform(0.1, 10, size=5), size=(200, 5))
    U = InputScaler(scaling).fit_transform(X)
    if scaling == "feature":
        np.testing.assert_allclose(U.mean(axis=0), 0.0, atol=1e-9)
        np.testing.assert_allclose(U.var(axis=0), 1.0, rtol=1e-9)
    else:  # one mean and deviation over all entries: the features keep their relations
        assert abs(U.mean()) < 1e-9 and U.var() == pytest.approx(1.0, rel=1e-9)
        np.testing.assert_allclose(np.diff(U, axis=1), np.diff(X, axis=1) / X.std(),
                                   rtol=1e-9, atol=1e-9)


def test_global_scaling_keeps_an_image_and_bounds_the_largest_input():
    ds = load_dataset("mnist5k")
    per_pixel = ds.fit_scaler("feature").transform(ds.X_test)
    whole = ds.fit_scaler("global").transform(ds.X_test)
    assert np.abs(per_pixel).max() > 100  # near-constant border pixels get huge gains
    assert np.abs(whole).max() < 10
    floored = ds.fit_scaler("feature", std_floor=0.1).transform(ds.X_test)
    assert np.abs(floored).max() < np.abs(per_pixel).max() / 10


def test_std_floor_lifts_only_small_deviations():
    X = np.column_stack([np.linspace(0, 1, 50), np.linspace(0, 1e-4, 50),
                         np.full(50, 2.0)])
    plain, floored = InputScaler("feature").fit(X), InputScaler("feature", 0.1).fit(X)
    rms = math.sqrt(np.mean(X.std(axis=0) ** 2))
    assert floored.std_[0] == plain.std_[0]  # large enough already
    assert floored.std_[1] == pytest.approx(0.1 * rms) and floored.std_[1] > plain.std_[1]
    assert floored.constant_mask_.tolist() == [False, False, True]  # constants stay 0


def test_scaler_constant_feature_maps_to_zero():
    X = np.column_stack([np.full(50, 3.7), np.linspace(0, 1, 50), np.zeros(50)]).astype(np.float32)
    scaler = InputScaler().fit(X)
    U = scaler.transform(X)
    assert U.dtype == np.float32
    assert np.isfinite(U).all()
    assert np.all(U[:, 0] == 0) and np.all(U[:, 2] == 0)
    np.testing.assert_array_equal(scaler.constant_mask_, [True, False, True])
    X_new = np.array([[100.0, 0.5, -4.0]], dtype=np.float32)
    assert scaler.transform(X_new)[0, 0] == 0 and scaler.transform(X_new)[0, 2] == 0
    back = scaler.inverse_transform(U)
    np.testing.assert_allclose(back, X, rtol=1e-6, atol=1e-6)


def test_scaler_fitted_on_train_only():
    rng = np.random.default_rng(0)
    X_train = rng.normal(2.0, 3.0, size=(500, 4))
    X_test = rng.normal(10.0, 1.0, size=(100, 4))
    scaler = InputScaler().fit(X_train)
    U_test = scaler.transform(X_test)
    expected = (X_test - X_train.mean(axis=0)) / X_train.std(axis=0)
    np.testing.assert_allclose(U_test, expected, rtol=1e-12)
    assert U_test.mean() > 2.0  # test data are not re-centred


@pytest.mark.parametrize("scaling", ["feature", "global"])
def test_scaler_inverse_round_trip(scaling):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 7)) * 5 + 1
    scaler = InputScaler(scaling).fit(X)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)), X, rtol=1e-12)


def test_scaler_state_dict_round_trip_via_json():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    X[:, 1] = 5.0
    scaler = InputScaler("feature", 0.05).fit(X)
    state = json.loads(json.dumps(scaler.state_dict()))
    clone = InputScaler.from_state_dict(state)
    assert (clone.scaling, clone.std_floor) == ("feature", 0.05)
    np.testing.assert_array_equal(clone.transform(X), scaler.transform(X))
    np.testing.assert_array_equal(clone.constant_mask_, scaler.constant_mask_)
    unfitted = InputScaler.from_state_dict(InputScaler("global").state_dict())
    assert not unfitted.is_fitted and unfitted.scaling == "global"
    legacy = InputScaler.from_state_dict({"q0": 2.0, "mean": state["mean"], "std": state["std"]})
    np.testing.assert_array_equal(legacy.transform(X), scaler.transform(X))  # 0.1 state


def test_scaler_torch_in_torch_out():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(64, 5)).astype(np.float32)
    scaler = InputScaler().fit(torch.from_numpy(X))
    T = torch.from_numpy(X).requires_grad_(True)
    U = scaler.transform(T)
    assert isinstance(U, torch.Tensor) and U.dtype == torch.float32
    np.testing.assert_allclose(U.detach().numpy(), scaler.transform(X), rtol=1e-5, atol=1e-6)
    U.sum().backward()  # differentiable w.r.t. the input
    assert T.grad is not None
    back = scaler.inverse_transform(U.detach())
    assert isinstance(back, torch.Tensor)
    torch.testing.assert_close(back, torch.from_numpy(X), rtol=1e-5, atol=1e-5)
    ints = scaler.transform(torch.ones(2, 5, dtype=torch.int64))
    assert ints.dtype == torch.get_default_dtype()


@pytest.mark.parametrize(("args", "match"), [
    (("minmax",), "scaling"), (("feature", -0.1), "std_floor"), (("feature", 2.0), "std_floor"),
    (("feature", float("nan")), "std_floor"), (("feature", "1"), "std_floor"),
])
def test_scaler_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        InputScaler(*args)


def test_scaler_errors():
    with pytest.raises(ValueError, match="not fitted"):
        InputScaler().transform(np.zeros((2, 3)))
    scaler = InputScaler().fit(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(ValueError, match=r"\(n_samples, 3\)"):
        scaler.transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="2-D"):
        InputScaler().fit(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        InputScaler().fit(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="state"):
        InputScaler.from_state_dict({"scaling": "feature", "mean": [0.0, 1.0], "std": [1.0]})
    with pytest.raises(ValueError, match="at least one sample"):
        InputScaler().fit(np.zeros((0, 3)))


# -- layout: features, signal, image ---------------------------------------------------------


@pytest.mark.parametrize(("shape", "layout", "channels"), [
    ((6,), "features", (6,)), ((2, 3), "image", (1, 2, 3)), ((1, 2, 3), "image", (1, 2, 3)),
    ((6,), "signal", (1, 6)), ((2, 3), "signal", (2, 3)), ((1, 2, 3), "features", (6,)),
])
def test_dataset_layout_and_channel_shape(shape, layout, channels):
    X, y = np.ones((4, 6)), np.array([0, 1, 0, 1])
    given = None if layout == "image" else layout  # an image is inferred
    ds = Dataset("t", X, y, X, y, shape, layout=given)
    assert ds.layout == layout and ds.channel_shape == channels
    assert ds.with_validation(0.5).layout == layout


@pytest.mark.parametrize(("shape", "layout", "match"), [
    ((1, 2, 3), "signal", r"\(L,\) or \(C, L\)"), ((6,), "image", r"\(H, W\) or \(C, H, W\)"),
    ((6,), "sequence", "one of features, signal, image"),
])
def test_dataset_layout_refused(shape, layout, match):
    X, y = np.ones((4, 6)), np.array([0, 1, 0, 1])
    with pytest.raises(DataError, match=match):
        Dataset("t", X, y, X, y, shape, layout=layout)


def test_npz_layout_rules(tmp_path):
    """(L,) in image_shape: a signal; (C, L) is an image unless layout='signal' says so."""
    X, y = np.random.default_rng(0).normal(size=(20, 2, 5)), np.arange(20) % 2
    assert load_dataset(_npz(tmp_path, X=X, y=y)).layout == "image"
    ds = load_dataset(_npz(tmp_path, X=X, y=y, layout="signal"))
    assert ds.layout == "signal" and ds.image_shape == (2, 5) and ds.channel_shape == (2, 5)
    flat = X.reshape(20, 10)
    assert load_dataset(_npz(tmp_path, X=flat, y=y)).layout == "features"
    ds = load_dataset(_npz(tmp_path, X=flat, y=y, image_shape=np.array([10])))
    assert ds.layout == "signal" and ds.channel_shape == (1, 10)
    ds = load_dataset(_npz(tmp_path, X=flat, y=y, image_shape=[10], layout="features"))
    assert ds.layout == "features"


@pytest.mark.parametrize(("layout", "match"), [
    (np.array(["signal", "image"]), "one string"), (np.array(3), "one string"),
    (np.array("sound"), "one of features, signal, image"),
])
def test_npz_bad_layout_is_one_line(tmp_path, layout, match):
    X, y = np.ones((10, 2, 3)), np.arange(10) % 2
    with pytest.raises(DataError, match=match) as info:
        load_dataset(_npz(tmp_path, X=X, y=y, layout=layout))
    assert "\n" not in str(info.value)


def test_feature_names_checked():
    X, y = np.ones((4, 2)), np.array([0, 1, 0, 1])
    assert Dataset("t", X, y, X, y, (2,), feature_names=["a", "b"]).feature_names == ("a", "b")
    with pytest.raises(DataError, match="3 feature names for 2 features"):
        Dataset("t", X, y, X, y, (2,), feature_names=["a", "b", "c"])


# -- the package: names without numpy, no cycle with config ----------------------------------


def test_names_load_without_numpy_and_config_shares_them():
    import subprocess
    import sys

    code = ("import sys, idmlp.data, idmlp.data.registry, idmlp.config as c\n"
            "from idmlp.data import registry as r\n"
            "assert c.DATASETS is r.DATASETS and c.SCALINGS is r.SCALINGS\n"
            "assert c.check_dataset_name is r.check_dataset_name\n"
            "print(sorted(m for m in ('numpy', 'torch') if m in sys.modules))")
    src = str(Path(data.__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": src, "PATH": ""}, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", ["digits", "MNIST1D", "csv:t.csv", "npz:t.npz"])
def test_dataset_names_accepted(name):
    assert data.check_dataset_name(name) == name


@pytest.mark.parametrize("name", ["csv:", "npz:", "cifar", 3])
def test_dataset_names_refused(name):
    with pytest.raises(ValueError, match="csv:PATH"):
        data.check_dataset_name(name)


@given(st.lists(st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b", "ç"])), min_size=1)
       .filter(lambda v: len({type(x) for x in v}) == 1))
@settings(max_examples=60, deadline=None)
def test_encode_labels_round_trip(labels):
    codes, classes = data.encode_labels(np.asarray(labels), "y")
    assert codes.dtype == np.int64 and list(classes[codes]) == labels
    assert list(classes) == sorted(set(labels))
