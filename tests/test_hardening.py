"""Every promise holds (issue 22): tampered files, sizes that cannot fit, out-of-range
arguments and API misuse give one line (exit 2 for bad input, 1 for the environment),
never a traceback, and nothing half-written or locked is left behind."""

from __future__ import annotations

import io
import signal
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from _helpers import assert_one_line
from idmlp import IdentityMLP, InterpretableMLP, identity_
from idmlp.cli import main
from idmlp.config import RunConfig
from idmlp.jacobian import singular_values, slq
from idmlp.train.runs import fit, load_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hard") / "run"
    assert main(["train", "--dataset", "digits", "--depth", "3", "--epochs", "1", "--quiet",
                 "--out", str(out)]) == 0
    return out


def _tampered(run_dir: Path, tmp_path: Path, edit) -> Path:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    path = copy / "checkpoint.pt"
    if isinstance(edit, bytes):
        path.write_bytes(edit)
    else:
        ckpt = torch.load(path, weights_only=True)
        edit(ckpt)
        torch.save(ckpt, path)
    return copy


def _set(key, value):
    def edit(ckpt):
        ckpt[key] = value
    return edit


def _weight(value):
    def edit(ckpt):
        w = ckpt["model"]["layers.0.weight"]
        ckpt["model"]["layers.0.weight"] = value if value == 3 else torch.full_like(w, value)
    return edit


def _drop(key):
    def edit(ckpt):
        del ckpt[key]
    return edit


@pytest.mark.parametrize(("edit", "command", "words"), [
    (b"hello, not a checkpoint\n", "interpret", ("truncated or corrupt",)),
    (_set("epoch", -3), "resume", ("epoch counter -3",)),
    (_set("metrics", "x"), "interpret", ("metrics are a str",)),
    (_set("metrics", [{}]), "interpret", ("lacks epoch",)),
    (_weight(3), "interpret", ("is a int, not a tensor",)),
    (_weight(float("nan")), "interpret", ("NaN or infinite weights",)),
    (_drop("optimizer"), "resume", ("no valid optimizer state",)),
    (_set("rng", [1, 2]), "resume", ("no valid rng state",)),
])
def test_a_tampered_checkpoint_is_refused_in_one_line(run_dir, tmp_path, capsys, edit,
                                                      command, words):
    bad = _tampered(run_dir, tmp_path, edit)
    argv = (["train", "--resume", str(bad), "--quiet"] if command == "resume"
            else ["interpret", str(bad), "--quiet"])
    before = sorted(p.name for p in bad.iterdir())
    assert main(argv) == 2
    assert_one_line(capsys.readouterr().err, "checkpoint.pt", *words)
    assert sorted(p.name for p in bad.iterdir()) == before  # nothing written, no lock left


@pytest.mark.parametrize("argv", [
    ["--depth", "1000000000000"],
    ["--arch", "cnn", "--extra-channels", "100000"],
])
def test_sizes_that_cannot_fit_are_refused_before_allocation(tmp_path, capsys, argv):
    out = tmp_path / "big"
    assert main(["train", "--dataset", "digits", *argv, "--out", str(out)]) == 1
    assert_one_line(capsys.readouterr().err, "of memory", "smaller depth")
    assert list(tmp_path.iterdir()) == []  # no folder, no temporary, no lock


def test_a_huge_depth_in_a_run_config_is_refused(run_dir, tmp_path, capsys):
    import json
    import shutil

    bad = tmp_path / "deep"
    shutil.copytree(run_dir, bad)
    info = json.loads((bad / "config.json").read_text())
    info["config"]["model"]["depth"] = 10**12
    (bad / "config.json").write_text(json.dumps(info))
    assert main(["interpret", str(bad), "--quiet"]) == 1
    assert_one_line(capsys.readouterr().err, "of memory")


@pytest.mark.parametrize(("argv", "words"), [
    (["--out", ""], ("names no folder of its own",)),
    (["--seed", "99999999999999999999999"],
     ("seed must be an integer in [0, 9223372036854775807]",)),
    (["--split-seed", "1099511627776"], ("split_seed must be an integer in [0, 4294967295]",)),
])
def test_out_of_range_arguments(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "digits", *argv]) == 2
    assert_one_line(capsys.readouterr().err, *words)
    assert list(tmp_path.iterdir()) == []


def _npz_declaring(path: Path, n: int) -> None:
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    forged = buf.getvalue().replace(b"'shape': (3,)", f"'shape': ({n},)".encode())
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X.npy", forged)
        zf.writestr("y.npy", buf.getvalue())


def test_npz_files_are_checked_before_reading(tmp_path, capsys):
    huge = tmp_path / "huge.npz"
    _npz_declaring(huge, 10**12)
    assert main(["train", "--dataset", f"npz:{huge}", "--out", str(tmp_path / "a")]) == 2
    assert_one_line(capsys.readouterr().err, "declares shape (1000000000000,)")
    text = tmp_path / "text.npz"
    text.write_text("hello")
    assert main(["train", "--dataset", f"npz:{text}", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert_one_line(err, "not a .npz")
    assert "allow_pickle" not in err and "unsafe" not in err  # never advise loading pickles


def test_an_interrupt_that_a_library_swallows_still_ends_with_130(monkeypatch, capsys):
    from idmlp.cli import interpret

    def swallowing(args):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass  # what "Exception ignored in ..." amounts to
        return 0

    monkeypatch.setattr(interpret, "run", swallowing)
    # the handler found at the start: Python's default_int_handler, or SIG_IGN when the
    # tests themselves run as a background job of a non-interactive shell
    before = signal.getsignal(signal.SIGINT)
    assert main(["interpret", "somewhere"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_public_functions_validate_at_their_boundary(tmp_path):
    with pytest.raises(ValueError, match="floating-point tensor"):
        identity_(torch.empty(3, 3, dtype=torch.int64))
    net = InterpretableMLP(4, 3, 2, dtype="float64")  # a dtype's name works
    assert net.log_logit_scale.dtype == torch.float64
    with pytest.raises(ValueError, match="dtype must be a floating torch.dtype"):
        InterpretableMLP(4, 3, 2, dtype=torch.int64)
    z = np.zeros((2, 4))
    assert net.readout(z).logits.shape == (2, 2, 3)  # numpy and integer inputs convert
    assert net(torch.zeros(2, 4, dtype=torch.int64)).shape == (2, 3)
    with pytest.raises(TypeError, match="torch.Tensor or numpy array"):
        net.readout([[1, 2, 3, 4]])
    with pytest.raises(ValueError, match=r"expected inputs with 4 features, of shape \(B, 4\)"):
        net(torch.zeros(2, 5))
    mlp = IdentityMLP(4, 3)
    with pytest.raises(ValueError, match="x has 5 features"):
        singular_values(mlp, torch.randn(2, 5))
    with pytest.raises(ValueError, match="x has 5 features"):
        slq(mlp, torch.randn(2, 5))
    config = RunConfig().replace(dataset="digits", depth=2, epochs=1)
    for bad in (None, 123, ""):
        with pytest.raises(ValueError, match="out_dir must be a folder path"):
            fit(config, bad)
    with pytest.raises(ValueError, match="run_dir must be a folder path"):
        load_run(None)
