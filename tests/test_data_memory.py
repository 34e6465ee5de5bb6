"""Data in memory (issue 19): numpy arrays, torch tensors, DataFrames, a torch Dataset or
DataLoader as a validated, split idmlp Dataset, with the errors of an npz file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, IterableDataset, Subset, TensorDataset
from torch.utils.data import Dataset as TorchDataset

from idmlp.data import DataError, Dataset, as_dataset, from_arrays, from_torch, load_dataset

RNG = np.random.default_rng(0)
X_SIGNAL = RNG.normal(size=(60, 2, 5))
Y_WORDS = np.array(["cat", "dog", "emu"] * 20)


# -- arrays ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "layout", "expected"), [
    ((12,), None, "features"), ((2, 6), "signal", "signal"), ((3, 4), None, "image"),
    ((1, 3, 4), None, "image"), ((12,), "signal", "signal"),
])
def test_any_input_shape(shape, layout, expected):
    X = RNG.normal(size=(60, *shape))
    ds = from_arrays(X, Y_WORDS, layout=layout)
    assert ds.image_shape == shape and ds.layout == expected and ds.n_features == 12
    assert ds.X_train.shape == (48, 12) and ds.X_train.dtype == np.float32
    # the flattening is row-major: a training row is one of X's samples, flattened
    rows = {tuple(r) for r in X.reshape(60, 12).astype(np.float32)}
    assert all(tuple(r) in rows for r in ds.X_train)


def test_labels_of_any_type_become_class_names():
    ds = from_arrays(X_SIGNAL, Y_WORDS, layout="signal")
    assert ds.class_names == ("cat", "dog", "emu")
    np.testing.assert_array_equal(np.bincount(ds.y_test), [4, 4, 4])  # stratified
    ints = from_arrays(X_SIGNAL, np.array([3, 10, 7] * 20))
    assert ints.class_names == ("3", "7", "10")  # sorted values, not text order
    floats = from_arrays(X_SIGNAL, np.array([0.0, 1.0, 2.5] * 20))
    assert floats.class_names == ("0", "1", "2.5")


def test_class_names_keep_indices_like_npz(tmp_path):
    """With class_names, labels are class indices, and the split is npz's split."""
    X, y = X_SIGNAL.reshape(60, 10), np.arange(60) % 3
    ds = from_arrays(X, y, class_names=["a", "b", "c"], seed=4)
    np.savez(tmp_path / "d.npz", X=X, y=y, class_names=np.array(["a", "b", "c"]))
    ref = load_dataset(f"npz:{tmp_path / 'd.npz'}", seed=4)
    np.testing.assert_array_equal(ds.X_train, ref.X_train)
    np.testing.assert_array_equal(ds.y_test, ref.y_test)
    assert ds.class_names == ref.class_names


def test_tensors_and_arrays_give_the_same_dataset():
    a = from_arrays(X_SIGNAL, np.arange(60) % 3, seed=2)
    t = from_arrays(torch.from_numpy(X_SIGNAL), torch.arange(60) % 3, seed=2)
    np.testing.assert_array_equal(a.X_train, t.X_train)
    np.testing.assert_array_equal(a.y_val if a.y_val is not None else a.y_test, t.y_test)
    half = from_arrays(torch.from_numpy(X_SIGNAL).to(torch.bfloat16), np.arange(60) % 3)
    assert half.X_train.dtype == np.float32


def test_official_test_split_and_validation_split():
    X = X_SIGNAL.reshape(60, 10)
    ds = from_arrays(X[:45], Y_WORDS[:45], test=(X[45:], Y_WORDS[45:]), val_size=0.2, seed=1)
    assert len(ds.y_test) == 15 and len(ds.y_val) == 9 and len(ds.y_train) == 36
    np.testing.assert_array_equal(ds.X_test, X[45:].astype(np.float32))
    assert ds.class_names == ("cat", "dog", "emu")
    np.testing.assert_array_equal(np.array(ds.class_names)[ds.y_test], Y_WORDS[45:])


def test_deterministic_given_seed():
    a, b = (from_arrays(X_SIGNAL, Y_WORDS, seed=5, val_size=0.1) for _ in range(2))
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_val, b.y_val)
    c = from_arrays(X_SIGNAL, Y_WORDS, seed=6, val_size=0.1)
    assert not np.array_equal(a.X_train, c.X_train)


@given(st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=24, max_size=60),
       st.integers(0, 2**16))
@settings(max_examples=25, deadline=None)
def test_splits_partition_the_samples(labels, seed):
    """Whatever the labels, train + val + test hold every sample exactly once."""
    y = np.array(labels)
    _, counts = np.unique(y, return_counts=True)
    assume(len(counts) >= 2 and counts.min() >= 4)  # else refused, tested below
    X = np.arange(len(y), dtype=np.float64)[:, None]  # each sample its own id
    ds = from_arrays(X, y, test_size=0.25, val_size=0.25, seed=seed)
    ids = np.concatenate([ds.X_train, ds.X_val, ds.X_test])[:, 0].astype(int)
    assert sorted(ids) == list(range(len(y)))
    names = np.array(ds.class_names)
    for part_X, part_y in ((ds.X_train, ds.y_train), (ds.X_val, ds.y_val), (ds.X_test, ds.y_test)):
        np.testing.assert_array_equal(names[part_y], y[part_X[:, 0].astype(int)])


def _nan_at_3():
    X = X_SIGNAL.copy()
    X[3, 1, 2] = np.nan
    return X


@pytest.mark.parametrize(("call", "match"), [
    (lambda: from_arrays(_nan_at_3(), Y_WORDS), "NaN or inf"),
    (lambda: from_arrays(X_SIGNAL * np.inf, Y_WORDS), "NaN or inf"),
    (lambda: from_arrays(X_SIGNAL, Y_WORDS[:50]), "60 samples but y has 50"),
    (lambda: from_arrays(X_SIGNAL, np.zeros(60)), "single class"),
    (lambda: from_arrays(X_SIGNAL, np.array([1, "a"] * 30, dtype=object)), "mixes label types"),
    (lambda: from_arrays(X_SIGNAL, np.array([None, "a"] * 30, dtype=object)), "missing"),
    (lambda: from_arrays(X_SIGNAL, np.r_[np.nan, np.arange(59) % 2]), "missing"),
    (lambda: from_arrays(X_SIGNAL[:, 0, 0], Y_WORDS), r"reshape\(-1, 1\)"),
    (lambda: from_arrays(X_SIGNAL, np.eye(3)[np.arange(60) % 3]), "not one-hot"),
    (lambda: from_arrays(X_SIGNAL, Y_WORDS, layout="sound"), "features, signal, image"),
    (lambda: from_arrays(RNG.normal(size=(60, 2, 2, 2)), Y_WORDS, layout="signal"),
     r"\(L,\) or \(C, L\)"),
    (lambda: from_arrays([[1.0, 2.0], [3.0]], [0, 1]), "same shape"),
    (lambda: from_arrays(X_SIGNAL.astype(complex), Y_WORDS), "numeric"),
    (lambda: from_arrays(X_SIGNAL, Y_WORDS, class_names=["a", "b"]), "integer class labels"),
    (lambda: from_arrays(X_SIGNAL, np.arange(60) % 3, class_names=["a", "b"]), r"0\.\.1"),
    (lambda: from_arrays(X_SIGNAL, np.r_[np.zeros(59), 1]), "stratified"),
    (lambda: from_arrays(X_SIGNAL[:40], Y_WORDS[:40], test=(X_SIGNAL[40:, :1], Y_WORDS[40:])),
     "shape"),
    (lambda: from_arrays(X_SIGNAL[:40], Y_WORDS[:40], test=(X_SIGNAL[40:], ["ant"] * 20)),
     "never occur in the training split"),
    (lambda: from_arrays(np.empty((0, 3)), []), "empty"),
], ids=["nan", "inf", "lengths", "one-class", "mixed-labels", "none-label", "nan-label",
        "1d-X", "one-hot", "bad-layout", "signal-3d", "ragged", "complex", "names-vs-strings",
        "names-vs-range", "class-of-one", "test-shape", "test-only-class", "empty"])
def test_bad_arrays_one_line(call, match):
    with pytest.raises(DataError, match=match) as info:
        call()
    assert "\n" not in str(info.value) and str(info.value).startswith("arrays")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"test_size": 1.5}, "test_size"), ({"val_size": 1.0}, "val_size"), ({"seed": -1}, "seed"),
    ({"test": (X_SIGNAL,)}, "pair"),
])
def test_bad_options_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        from_arrays(X_SIGNAL, Y_WORDS, **kwargs)


def test_dataframe_features_keep_their_names():
    frame = pd.DataFrame({"width": RNG.normal(size=30), "legs": RNG.integers(0, 4, 30),
                          "wild": RNG.random(30) > 0.5})
    ds = from_arrays(frame, ["a", "b", "c"] * 10)
    assert ds.feature_names == ("width", "legs", "wild") and ds.layout == "features"
    frame["colour"] = "red"
    with pytest.raises(DataError, match="'colour' not numeric"):
        from_arrays(frame, ["a", "b", "c"] * 10)


# -- torch ----------------------------------------------------------------------------------


class Words(TorchDataset):
    """40 samples (1, 4) with string labels; sample i is filled with i."""

    def __len__(self) -> int:
        return 40

    def __getitem__(self, i: int):
        return torch.full((1, 4), float(i)), ["cat", "dog"][i % 2]


class Stream(IterableDataset):
    def __iter__(self):
        for i in range(40):
            yield np.full(3, float(i)), i % 2


def test_torch_dataset_labels_from_the_dataset():
    ds = from_torch(Words(), layout="signal")
    assert ds.class_names == ("cat", "dog") and ds.image_shape == (1, 4)
    assert ds.layout == "signal" and len(ds.y_train) == 32
    i = ds.X_train[:, 0].astype(int)
    np.testing.assert_array_equal(np.array(ds.class_names)[ds.y_train],
                                  np.array(["cat", "dog"])[i % 2])


@pytest.mark.parametrize("make", [
    lambda: DataLoader(Words(), batch_size=7, shuffle=True),
    lambda: DataLoader(Words(), batch_size=5, shuffle=True, drop_last=True),
    lambda: DataLoader(Words(), batch_size=None),
    lambda: DataLoader(Words(), batch_size=16),
], ids=["shuffled", "shuffled-drop-last", "unbatched", "sequential"])
def test_loaders_give_the_dataset_split(make):
    ref = from_torch(Words(), seed=3)
    got = from_torch(make(), seed=3)
    np.testing.assert_array_equal(got.X_train, ref.X_train)
    np.testing.assert_array_equal(got.y_test, ref.y_test)


def test_sampler_decides_the_samples_of_a_loader():
    ds = from_torch(DataLoader(Subset(Words(), range(20)), batch_size=8))
    assert len(ds.y_train) + len(ds.y_test) == 20


def test_tensor_and_iterable_datasets():
    X, y = torch.randn(30, 3, 3), torch.arange(30) % 3
    ds = from_torch(TensorDataset(X, y), seed=1)
    ref = from_arrays(X, y, seed=1)
    np.testing.assert_array_equal(ds.X_train, ref.X_train)
    stream = from_torch(Stream(), test=DataLoader(Stream(), batch_size=9))
    assert len(stream.y_train) == 40 and len(stream.y_test) == 40 and stream.layout == "features"


class Dicts(Words):
    def __getitem__(self, i):
        return {"x": torch.zeros(2), "y": 0}


class Ragged(Words):
    def __getitem__(self, i):
        return torch.zeros(i % 3 + 1), 0


class Empty(Words):
    def __len__(self):
        return 0


class Unstackable(Words):
    def __getitem__(self, i):
        return "text", 0


@pytest.mark.parametrize(("data", "match"), [
    (Dicts(), "an \\(input, label\\) pair, got a dict"),
    (Ragged(), "cannot stack the samples"),
    (Empty(), "empty"),
    (Unstackable(), "inputs must be tensors or arrays of numbers"),
    (TensorDataset(torch.zeros(4, 2)), "got 1 tensors"),
    (DataLoader(Dicts(), batch_size=4, collate_fn=lambda b: b), "pair, got a list of 4"),
    (TensorDataset(torch.full((10, 2), float("nan")), torch.arange(10) % 2), "NaN"),
    (TensorDataset(torch.zeros(10, 2), torch.zeros(10, 1)), "1-D"),
])
def test_bad_torch_data_one_line(data, match):
    with pytest.raises(DataError, match=match) as info:
        from_torch(data)
    assert "\n" not in str(info.value)


def test_as_dataset_dispatches():
    ds = as_dataset(X_SIGNAL, Y_WORDS, layout="signal")
    assert ds.layout == "signal"
    assert as_dataset(ds) is ds
    assert as_dataset(Words()).class_names == ("cat", "dog")
    assert isinstance(as_dataset(DataLoader(Words(), batch_size=4)), Dataset)
    with pytest.raises(ValueError, match="labels y are needed"):
        as_dataset(X_SIGNAL)
    with pytest.raises(ValueError, match="carries its labels"):
        as_dataset(Words(), Y_WORDS)
    with pytest.raises(ValueError, match="as it is"):
        as_dataset(ds, seed=1)
    with pytest.raises(ValueError, match="torch.utils.data.Dataset or DataLoader"):
        from_torch([(1, 2)])
