import json
from pathlib import Path

import pytest

from idmlp.cli import main


def test_theory_empirical_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "th"
    rc = main(["theory", "--sigma", "1.05", "--q0", "0.2", "--depth", "20", "--empirical",
               "--width", "500", "--samples", "8", "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "alpha^L = 0.600632" in text
    assert {p.name for p in out.iterdir()} == {"spectrum.png", "alpha_map.png", "summary.json"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["alpha"]["a"] == pytest.approx(0.600632, abs=1e-6)
    emp = summary["empirical"]
    assert emp["n"] == 4000
    assert abs(emp["z"]) < 4
    assert (out / "spectrum.png").stat().st_size > 10_000


def test_theory_other_activation(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["theory", "--sigma", "1", "--q0", "1", "--depth", "5", "--activation", "relu",
               "--out", str(tmp_path / "t")])
    assert rc == 0
    assert "mass 0.500000" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["--sigma", "0", "--q0", "1", "--depth", "3"],
        ["--sigma", "nan", "--q0", "1", "--depth", "3"],
        ["--sigma", "1", "--q0", "-2", "--depth", "3"],
        ["--sigma", "1", "--q0", "1", "--depth", "2.5"],
        ["--sigma", "1", "--q0", "1", "--depth", "3", "--activation", "swish"],
        ["--sigma", "1", "--q0", "1", "--depth", "3", "--eps", "1.5"],
        ["--sigma", "1", "--q0", "1", "--depth", "3", "--kappa", "0.5"],
        ["--sigma", "1", "--q0", "1"],
        ["--sigma", "1", "--q0", "1", "--depth", "3", "--compare-inits", "--sigma-b", "-1"],
        ["--sigma", "1", "--q0", "1", "--depth", "3", "--compare-inits", "--sigma-b", "inf"],
        ["--sigma", "1", "--q0", "1", "--depth", "3", "--sigma-b", "0.1"],
        ["--sigma", "1", "--q0", "1", "--depth", "3", "--jacobian", "slq"],
        ["--sigma", "1", "--q0", "1", "--depth", "3", "--compare-inits", "--jacobian", "qr"],
        ["--sigma", "1", "--q0", "1", "--depth", "3", "--dataset", "nope"],
    ],
)
def test_theory_bad_input_is_one_line_exit_2_and_no_files(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as exc:
        rc = main(["theory", *argv, "--out", str(out)])
        raise SystemExit(rc)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_theory_refuses_existing_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    rc = main(["theory", "--sigma", "1", "--q0", "1", "--depth", "3", "--out", str(out)])
    assert rc == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "x"
    rc = main(["theory", "--sigma", "1", "--q0", "1", "--depth", "3", "--out", str(out),
               "--overwrite"])
    assert rc == 0 and not (out / "keep.txt").exists()


def test_theory_dataset_and_compare_inits(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "th"
    rc = main(["theory", "--sigma", "1", "--q0", "0.5", "--depth", "10", "--dataset", "digits",
               "--compare-inits", "--width", "64", "--samples", "2", "--sigma-b", "0.05",
               "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "law on digits" in text and "dense Jacobians (width 64 <= 1024" in text
    assert {p.name for p in out.iterdir()} == {"spectrum.png", "alpha_map.png", "inits.png",
                                               "summary.json"}
    summary = json.loads((out / "summary.json").read_text())
    data, gauss = summary["data_law"], summary["law"]
    assert data["dataset"] == "digits" and data["num_classes"] == 10
    assert data["source"] == "data" and gauss["source"] == "gaussian"
    # the class block and constant pixels never saturate: more survive than N(0, q0) says
    assert data["nonzero_fraction"] > gauss["nonzero_fraction"] + 0.01
    assert data["mean"] == pytest.approx(data["nonzero_fraction"])  # hard-tanh at sigma 1
    inits = summary["inits"]
    assert inits["jacobian"] == "dense" and set(inits["inits"]) == {
        "identity", "orthogonal", "gaussian"}
    for row in inits["inits"].values():
        assert row["measured_mean"] > 0 and 0 <= row["ks"] <= 1
    assert summary["config"]["sigma_b"] == 0.05


def test_theory_compare_inits_slq_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["theory", "--sigma", "1", "--q0", "0.5", "--depth", "6", "--activation", "tanh",
               "--compare-inits", "--width", "96", "--samples", "2", "--jacobian", "slq",
               "--out", str(tmp_path / "t"), "--quiet"])
    assert rc == 0
    assert "random networks: SLQ (as asked" in capsys.readouterr().out
    inits = json.loads((tmp_path / "t" / "summary.json").read_text())["inits"]
    assert inits["jacobian"] == "slq"
    # orthogonal tanh at sigma_w 1: the SLQ mean is a trace estimate of the same matrices
    row = inits["inits"]["orthogonal"]
    assert row["measured_mean"] == pytest.approx(row["theory_mean"], rel=0.2)


def test_theory_empirical_slq_path(tmp_path: Path, capsys: pytest.CaptureFixture,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Above SLQ_WIDTH --empirical switches to stochastic Lanczos quadrature by itself
    (the threshold is lowered here so that the test stays small)."""
    import idmlp.theory.report as report

    monkeypatch.setattr(report, "SLQ_WIDTH", 100)
    out = tmp_path / "th"
    rc = main(["theory", "--sigma", "1.0", "--q0", "0.5", "--depth", "20", "--empirical",
               "--width", "200", "--samples", "8", "--out", str(out), "--quiet"])
    assert rc == 0
    assert "SLQ, width 200 > 100" in capsys.readouterr().out
    emp = json.loads((out / "summary.json").read_text())["empirical"]
    assert emp["jacobian"] == "slq"
    # Hard-tanh at identity init: two atoms (0 and 1); Lanczos finds both exactly, and the
    # weights are a one-probe trace estimate per input: 8 x 200 coordinates.
    assert emp["ks"] < 0.05
    assert abs(emp["nonzero_empirical"] - emp["nonzero_theory"]) < 0.05
    assert emp["mean_empirical"] == pytest.approx(emp["mean_theory"], abs=0.05)
