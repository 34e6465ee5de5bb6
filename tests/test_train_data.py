"""runs.fit on data in memory (arrays, tensors, torch Dataset / DataLoader) and
``idmlp train --dataset csv:PATH --target COLUMN``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from torch.utils.data import DataLoader, Dataset, TensorDataset

from idmlp.cli import main
from idmlp.config import RunConfig
from idmlp.data import DataError, from_arrays
from idmlp.train.runs import DATA_FILE, fit, load_run

SMALL = RunConfig.from_changes({"depth": 2, "epochs": 2, "lr": 0.01})


class Pairs(Dataset):
    """A map-style dataset of one's own: (image, label) pairs."""

    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(n, 1, 6, 6, generator=g), torch.arange(n) % 3

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], int(self.y[i])


def test_arrays_with_string_labels_make_a_run_that_loads_back(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(90, 2, 5)), np.array(["low", "mid", "high"] * 30)
    run = fit(SMALL, tmp_path / "run", X, y, progress=False)
    assert (tmp_path / "run" / DATA_FILE).is_file()
    assert run.config.data.dataset == "npz:data.npz"
    assert run.dataset.class_names == ("high", "low", "mid")
    assert run.dataset.image_shape == (2, 5) and run.dataset.has_validation
    back = load_run(tmp_path / "run")
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(back.dataset, f"X_{split}"),
                                      getattr(run.dataset, f"X_{split}"))
        np.testing.assert_array_equal(getattr(back.dataset, f"y_{split}"),
                                      getattr(run.dataset, f"y_{split}"))
    torch.testing.assert_close(back.model(back.tensors("test")[0]),
                               run.model(run.tensors("test")[0]), rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["tensors", "dataset", "loader", "idmlp"])
def test_tensors_torch_datasets_and_loaders(tmp_path, kind):
    pairs = Pairs(60)
    data, y = {
        "tensors": (pairs.x, pairs.y),
        "dataset": (pairs, None),
        "loader": (DataLoader(pairs, batch_size=8, shuffle=True), None),
        "idmlp": (from_arrays(pairs.x, pairs.y), None),
    }[kind]
    run = fit(SMALL, tmp_path / "run", data, y, progress=False)
    assert run.dataset.image_shape == (1, 6, 6) and run.dataset.num_classes == 3
    assert len(run.dataset.y_test) == 12 and run.epochs_done == 2
    if kind != "idmlp":  # every source splits the same samples the same way
        ref = fit(SMALL, tmp_path / "ref", TensorDataset(pairs.x, pairs.y), progress=False)
        np.testing.assert_array_equal(run.dataset.X_test, ref.dataset.X_test)


def test_an_in_memory_run_resumes_to_the_same_weights(tmp_path):
    X, y = load_iris(return_X_y=True)
    whole = fit(SMALL, tmp_path / "whole", X, y, progress=False)
    fit(SMALL, tmp_path / "part", X, y, progress=False, stop_after=1)
    resumed = fit(None, tmp_path / "part", resume=True, progress=False)
    for key, value in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)


def test_bad_data_is_one_line_and_writes_nothing(tmp_path):
    X, y = load_iris(return_X_y=True)
    cases = [
        ((np.where(X > 7, np.nan, X), y), DataError, "NaN or inf"),
        ((X, np.zeros(len(X))), DataError, "single class"),
        ((X, y[:-1]), DataError, "150 samples but y has 149"),
        ((X, None), ValueError, "labels y are needed"),
        ((TensorDataset(torch.as_tensor(X), torch.as_tensor(y)), y), ValueError,
         "carries its labels"),
        (("iris.csv", None), ValueError, "labels y are needed"),
    ]
    for (data, labels), error, message in cases:
        with pytest.raises(error, match=message) as info:
            fit(SMALL, tmp_path / "run", data, labels, progress=False)
        assert "\n" not in str(info.value)
        assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="y was given without data"):
        fit(SMALL, tmp_path / "run", None, y, progress=False)


def test_cli_csv_with_a_target_column(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    iris = load_iris(as_frame=True)
    table = iris.data.assign(species=iris.target_names[iris.target])
    table.to_csv("iris.csv", index=False)
    assert main(["train", "--dataset", "csv:iris.csv", "--target", "species", "--depth", "2",
                 "--epochs", "1", "--out", "run", "--quiet"]) == 0
    assert load_run("run").dataset.class_names == ("setosa", "versicolor", "virginica")
    capsys.readouterr()
    assert main(["train", "--target", "species", "--out", "other"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "csv:PATH" in err
    table.assign(colour="red").to_csv("mixed.csv", index=False)
    assert main(["train", "--dataset", "csv:mixed.csv", "--target", "species", "--out",
                 "other"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'colour'" in err
    assert not (tmp_path / "other").exists()
