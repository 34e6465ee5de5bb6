"""``idmlp benchmark``: every model on every dataset with the same splits, the tidy CSV, the
markdown table, the figure and report, resume, one line per failure, bad input."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from idmlp.benchmark import COLUMNS, read_results, run_benchmark
from idmlp.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"depth": 2, "epochs": 3}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A small table (unordered features) and a small set of 1-D signals."""
    root = tmp_path_factory.mktemp("bench_data")
    rng = np.random.default_rng(0)
    y = np.arange(150) % 3
    table = rng.normal(size=(150, 6)) + 0.8 * y[:, None]
    np.savez(root / "table.npz", X=table.astype(np.float32), y=y)
    pos = np.arange(16)
    sig = rng.normal(0, 0.3, size=(150, 16)) + np.exp(
        -0.5 * (pos[None] - (3 + 5 * y)[:, None]) ** 2)
    np.savez(root / "signals.npz", X=sig.astype(np.float32), y=y, image_shape=np.array([16]))
    return {"table": f"npz:{root / 'table.npz'}", "signals": f"npz:{root / 'signals.npz'}"}


def test_benchmark_writes_every_output(tmp_path, data):
    out = tmp_path / "bench"
    res = run_benchmark(out, datasets=[data["table"], data["signals"]], progress=False,
                        changes=SMALL)
    assert len(res.rows) == 10 and not res.failed
    cnn_table = res.row(data["table"], "cnn")
    assert cnn_table["status"] == "skipped" and "unordered" in cnn_table["error"]
    for r in res.rows:
        if r["status"] == "ok":
            assert r["ci_low"] <= r["test_accuracy"] <= r["ci_high"]
            assert r["n_test"] == 30 and r["parameters"] > 0 and r["train_seconds"] >= 0
    assert "1-D CNN" in res.row(data["signals"], "cnn")["setting"]
    with open(out / "results.csv", newline="") as f:
        assert tuple(next(csv.reader(f))) == COLUMNS
    assert read_results(out) == res.rows or len(read_results(out)) == 10
    table = (out / "results.md").read_text()
    assert table.startswith("| dataset | logistic regression |") and "skipped" in table
    assert (out / "benchmark.png").stat().st_size > 5000
    html = (out / "report.html").read_text()
    assert "Benchmark" in html and "<img" in html


def test_benchmark_resumes_and_retries_failures(tmp_path, data, capsys):
    out = tmp_path / "bench"
    missing = f"npz:{tmp_path / 'missing.npz'}"
    res = run_benchmark(out, datasets=[data["table"], missing], models=["logreg"],
                        progress=False, changes=SMALL)
    assert [r["status"] for r in res.rows] == ["ok", "failed"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.npz" in err and "failed" in err
    first = res.row(data["table"], "logreg")
    # resume with one more model: the finished row is kept as it was, the rest fitted
    res2 = run_benchmark(out, datasets=[data["table"]], models=["logreg", "sklearn_mlp"],
                         progress=False, changes=SMALL, resume=True)
    assert res2.row(data["table"], "logreg") == first
    assert res2.row(data["table"], "sklearn_mlp")["status"] == "ok"
    with pytest.raises(ValueError, match="other settings"):
        run_benchmark(out, datasets=[data["table"]], models=["logreg"], seed=1,
                      progress=False, changes=SMALL, resume=True)


def _cli(argv):
    try:
        return main(argv)
    except SystemExit as err:
        return int(err.code)


@pytest.mark.parametrize(("argv", "words"), [
    (["--models", "logreg,forest"], "unknown model 'forest'"),
    (["--datasets", " , "], "--datasets must be a comma list"),
    (["--datasets", "cifar"], "dataset must be one of"),
    (["--val-size", "0"], "--val-size must be > 0"),
    (["--seed", "-1"], "expected an integer >= 0"),
    (["--seed", "x"], "expected an integer >= 0"),
    (["--resume", "--overwrite"], "drop --overwrite"),
    (["--layout", "curve"], "layout must be one of"),
])
def test_benchmark_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, argv, words):
    out = tmp_path / "bench"
    assert _cli(["benchmark", "--out", str(out), "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert not out.exists()


def test_benchmark_resume_needs_a_benchmark_folder(tmp_path, capsys):
    (tmp_path / "other").mkdir()
    assert _cli(["benchmark", "--out", str(tmp_path / "other"), "--resume", "--quiet"]) == 2
    assert "not a benchmark folder" in capsys.readouterr().err
