import json
from pathlib import Path

import numpy as np
import pytest
import torch

from idmlp.cli import main
from idmlp.reproduce import reproduce
from idmlp.train.runs import RunConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("repro") / "run"
    rc = main(["reproduce", "--dataset", "digits", "--depth", "4", "--epochs", "2",
               "--probe-epochs", "1", "--out", str(out), "--quiet"])
    assert rc == 0
    return out


def test_reproduce_writes_a_complete_run_folder(small_run: Path) -> None:
    names = {p.name for p in small_run.iterdir()}
    assert {"config.json", "metrics.jsonl", "checkpoint.pt", "report.html", "reproduce.json",
            "interpretation.json", "interpretation.npz", "contribution_maps.png",
            "layer_accuracy.png", "identity_distance.png", "confusion_matrix.png"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    summary = json.loads((small_run / "reproduce.json").read_text())
    acc = summary["per_layer_test_accuracy"]
    assert len(acc) == 4 and all(0.0 <= a <= 1.0 for a in acc)
    assert summary["last_layer_test_accuracy"] == acc[-1]
    assert acc[-1] > 0.5  # 2 epochs on digits already beat chance (0.1) by far
    base = summary["baselines"]
    assert any(k.startswith("LogisticRegression") for k in base)
    assert any(k.startswith("MLPClassifier") for k in base)
    assert all(0.5 < v["test accuracy"] <= 1.0 for v in base.values())
    probes = summary["probes"]
    assert len(probes["readout_accuracy"]) == 4
    metrics = [json.loads(line) for line in (small_run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]


def test_report_is_self_contained(small_run: Path) -> None:
    html = (small_run / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2  # identity distance and probes
    assert "http://" not in html and "https://" not in html
    assert 'id="idmlp-data"' in html  # the interactive views' data (tests/test_report*.py)
    for title in ("How to read this report", "Every layer as a classifier", "Examples",
                  "Linear probes", "Accuracy cost of interpretability", "Configuration"):
        assert title in html
    assert "idmlp reproduce --dataset digits" in html  # the exact command line
    # Tabular text goes in captioned tables that scroll in their own box at phone width
    # (tests/test_report_browser.py); a plain <pre> block would widen the whole page.
    assert "<pre>" not in html
    assert "Faithfulness at the output" in html


def test_reproduce_is_deterministic(small_run: Path, tmp_path: Path) -> None:
    cfg = RunConfig().replace(dataset="digits", depth=4, epochs=2)
    res = reproduce(tmp_path / "again", config=cfg, probes=False, progress=False)
    first = torch.load(small_run / "checkpoint.pt", weights_only=False)["model"]
    again = torch.load(res.path / "checkpoint.pt", weights_only=False)["model"]
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert res.probes is None


@pytest.mark.parametrize(
    "argv",
    [
        ["--dataset", "cifar"],
        ["--dataset", "npz:/nonexistent/file.npz"],
        ["--epochs", "0"],
        ["--depth", "-3"],
        ["--probe-epochs", "0"],
        ["--device", "tpu"],
        ["--seeds", "x"],
        ["--seeds", "0"],
        ["--scaling", "minmax"],
        ["--layer-loss", "first"],
        ["--val-size", "1.5"],
        ["--faithfulness-samples", "0"],
    ],
)
def test_bad_input_exit_2_one_line_nothing_written(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "never"
    try:
        rc = main(["reproduce", *argv, "--out", str(out), "--quiet"])
    except SystemExit as exc:  # argparse errors
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused(small_run: Path, capsys: pytest.CaptureFixture) -> None:
    before = sorted(p.name for p in small_run.iterdir())
    rc = main(["reproduce", "--dataset", "digits", "--out", str(small_run), "--quiet"])
    assert rc == 2
    assert "--overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in small_run.iterdir()) == before


def test_seed_study_compares_readout_and_probe_over_seeds(tmp_path: Path) -> None:
    cfg = RunConfig().replace(dataset="digits", depth=3, epochs=1)
    res = reproduce(tmp_path / "s", config=cfg, seeds=(1,), faithfulness=False,
                    progress=False)
    study = res.seeds
    assert study.seeds.tolist() == [0, 1] and study.readout.shape == study.probe.shape == (2, 3)
    np.testing.assert_array_equal(study.readout[0], res.interpretation.accuracy)
    assert not np.array_equal(study.readout[0], study.readout[1])  # another seed, another run
    stored = json.loads((res.path / "seeds.json").read_text())
    assert stored["readout"] == study.readout.tolist() and set(stored["goals"]) == {
        "at least probe (b) - 0.01 at every layer", "non-decreasing within 0.005",
        "last layer >= 0.955"}
    assert not (res.path / "seeds").exists() or not any((res.path / "seeds").iterdir())
    with pytest.raises(ValueError, match="differ from the run's seed"):
        reproduce(tmp_path / "t", config=cfg, seeds=(0,), progress=False)
    with pytest.raises(ValueError, match="need probes"):
        reproduce(tmp_path / "t", config=cfg, seeds=(1,), probes=False, progress=False)
