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
