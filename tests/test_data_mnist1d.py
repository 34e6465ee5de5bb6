"""``--dataset mnist1d``: generated offline by the mnist1d package (no network), cached in
the data folder, read back from the cache (also without the package)."""

from __future__ import annotations

import random
import socket
import sys

import numpy as np
import pytest

from idmlp.data import DataError, load_dataset
from idmlp.data import builtin as builtin_data

pytest.importorskip("mnist1d.data")


@pytest.fixture
def offline(monkeypatch):
    """Every socket refused: any network access fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One generation (about a second of CPU), shared; sockets refused while it runs."""
    root = tmp_path_factory.mktemp("mnist1d")
    with pytest.MonkeyPatch.context() as mp:
        def refuse(*args, **kwargs):
            raise AssertionError("network access attempted")

        for name in ("socket", "create_connection", "getaddrinfo"):
            mp.setattr(socket, name, refuse)
        np.random.seed(7)  # noqa: NPY002 - the generator's own (legacy) global state
        random.seed(7)
        before = np.random.random(), random.random()  # noqa: NPY002
        np.random.seed(7)  # noqa: NPY002
        random.seed(7)
        ds = load_dataset("mnist1d", data_dir=root)
        after = np.random.random(), random.random()  # noqa: NPY002
    return root, ds, before, after


def test_generated_offline_with_the_package_defaults(cache):
    root, ds, _, _ = cache
    assert (len(ds.y_train), len(ds.y_test)) == (4000, 1000)
    assert ds.image_shape == (40,) and ds.layout == "signal" and ds.channel_shape == (1, 40)
    assert ds.class_names == tuple(str(i) for i in range(10))
    assert set(np.unique(ds.y_train)) == set(range(10))
    # the generator standardizes the whole set (train and test together)
    X = np.concatenate([ds.X_train, ds.X_test]).astype(np.float64)
    assert abs(X.mean()) < 1e-6 and abs(X.std() - 1.0) < 1e-6
    assert [p.name for p in root.iterdir()] == ["mnist1d.npz"]  # no temporary file left


def test_generation_restores_the_global_random_state(cache):
    _, _, before, after = cache
    assert before == after


def test_second_load_reads_the_cache_without_the_package(cache, offline, monkeypatch):
    root, ds, _, _ = cache
    monkeypatch.setitem(sys.modules, "mnist1d", None)  # import mnist1d now fails
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    again = load_dataset("mnist1d", data_dir=root)
    np.testing.assert_array_equal(again.X_train, ds.X_train)
    np.testing.assert_array_equal(again.y_test, ds.y_test)


def test_cache_is_an_npz_that_npz_path_reads(cache):
    root, ds, _, _ = cache
    same = load_dataset(f"npz:{root / 'mnist1d.npz'}")
    assert same.layout == "signal" and same.class_names == ds.class_names
    np.testing.assert_array_equal(same.X_test, ds.X_test)


def test_cache_in_the_named_subfolder_is_found(cache, tmp_path, monkeypatch):
    root, ds, _, _ = cache
    (tmp_path / "mnist1d").mkdir()
    (tmp_path / "mnist1d" / "mnist1d.npz").write_bytes((root / "mnist1d.npz").read_bytes())
    monkeypatch.setattr(builtin_data, "_generate_mnist1d", _must_not_generate)
    np.testing.assert_array_equal(load_dataset("mnist1d", data_dir=tmp_path).y_train,
                                  ds.y_train)


def test_unreadable_cache_is_generated_again(cache, tmp_path, offline):
    root, ds, _, _ = cache
    (tmp_path / "mnist1d.npz").write_bytes(b"half a file")
    again = load_dataset("mnist1d", data_dir=tmp_path)
    np.testing.assert_array_equal(again.X_train, ds.X_train)
    assert (tmp_path / "mnist1d.npz").read_bytes() != b"half a file"


def test_missing_package_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(DataError, match=r"pip install 'idmlp\[mnist1d\]'") as info:
        load_dataset("mnist1d", data_dir=tmp_path)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def _must_not_generate():
    raise AssertionError("the cache should have been used")
