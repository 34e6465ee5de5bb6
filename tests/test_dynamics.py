"""Tests of idmlp.analysis.dynamics (snapshots during training), the Trainer's step hooks,
``idmlp train --snapshots`` and ``idmlp dynamics``."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from idmlp.analysis.dynamics import dynamics_summary, load_snapshots
from idmlp.cli import main
from idmlp.config import DataConfig, DynamicsConfig, ModelConfig, OptimConfig
from idmlp.nets.mlp import InterpretableMLP
from idmlp.report.dynamics import dynamics_section
from idmlp.train.evaluate import evaluate
from idmlp.train.loop import Trainer
from idmlp.train.runs import CHECKPOINT_FILE, RunConfig, fit, load_config, load_run, run_identity
from idmlp.train.snapshots import SNAPSHOT_FILE, SnapshotRecorder, Snapshots, snapshot_steps

# digits: 1437 train images of 8x8; batch 256 -> 6 steps per epoch, 12 in all.
BASE = RunConfig(DataConfig(dataset="digits"), ModelConfig(depth=3),  # the paper's width
                 OptimConfig(epochs=2, batch_size=256, lr=1e-3)).replace(extra_features=0)
SNAP = BASE.replace(snapshots=6, snapshot_examples=120, snapshot_jacobians=2,
                    snapshot_spectra=3)

pytestmark = pytest.mark.usefixtures("one_thread")


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert len(text.splitlines()) == 1, text
    return text


def _cli(argv: list[str]) -> int:
    """``idmlp ARGV``'s exit status (argparse's usage errors exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


def _states_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _same_snapshots(a: Snapshots, b: Snapshots) -> None:
    assert a.meta == b.meta
    assert np.array_equal(a.jacobian_inputs, b.jacobian_inputs)
    for name in a.arrays:
        if name != "seconds":  # wall time
            assert np.array_equal(a[name], b[name], equal_nan=True), name


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, object]]:
    root = tmp_path_factory.mktemp("dyn")
    return {name: (root / name, fit(cfg, root / name, progress=False))
            for name, cfg in (("plain", BASE), ("snap", SNAP))}


# -- the schedule ----------------------------------------------------------------------


def test_snapshot_steps_examples():
    assert snapshot_steps(12, 2) == (0, 12)
    assert snapshot_steps(12, 12) == (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12)
    steps = snapshot_steps(480, 16)
    assert steps[0] == 0 and steps[-1] == 480 and len(set(steps)) == 16
    ratios = np.diff(np.log(steps[6:]))  # log-spaced once rounding no longer merges steps
    assert np.allclose(ratios, math.log(480) / 14, atol=0.05)


@settings(max_examples=200, deadline=None)
@given(total=st.integers(1, 10**6), data=st.data())
def test_snapshot_steps_properties(total, data):
    k = data.draw(st.integers(2, min(total, 300))) if total >= 2 else None
    if k is None:
        with pytest.raises(ValueError, match="at most"):
            snapshot_steps(total, 2)
        return
    steps = snapshot_steps(total, k)
    assert len(steps) == k and steps[0] == 0 and steps[-1] == total
    assert all(b > a for a, b in zip(steps, steps[1:], strict=False))
    # the log-spaced targets, pushed apart only where rounding merges them
    g = np.rint(np.geomspace(1, total, k - 1)) if k > 2 else np.array([total])
    expected = [0, *(max(int(v), i + 1) for i, v in enumerate(g[:-1])), total]
    if all(b > a for a, b in zip(expected, expected[1:], strict=False)):
        assert list(steps) == expected


@pytest.mark.parametrize("total,k", [(5, 6), (1, 2), (10, 1), (10, 0), (0, 2), (10, 2.0)])
def test_snapshot_steps_refuses(total, k):
    with pytest.raises(ValueError):
        snapshot_steps(total, k)


def test_dynamics_config_validates():
    assert DynamicsConfig().snapshots == 0
    for bad in ({"snapshots": 1}, {"snapshots": -1}, {"snapshots": 2.5},
                {"snapshot_examples": 0}, {"snapshot_jacobians": -1}):
        with pytest.raises(ValueError):
            DynamicsConfig(**bad)
    with pytest.raises(ValueError, match="at most the run's number of optimizer steps"):
        fit(BASE.replace(snapshots=13), Path("/nonexistent/never"), progress=False)


# -- the step hook never changes training ------------------------------------------------


def test_step_hooks_cannot_change_the_trajectory():
    """A hook that draws random numbers and leaves the model in eval mode changes nothing;
    it sees step 0 and every step after."""
    X, y = torch.randn(64, 6), torch.arange(64) % 3

    def train(hooks):
        torch.manual_seed(0)
        model = InterpretableMLP(6, 3, depth=3)
        optim = OptimConfig(epochs=2, batch_size=16, early_stopping=False)
        t = Trainer(model, X, y, {"test": (X, y)}, optim=optim, step_hooks=hooks)
        t.run(progress=False)
        return t

    seen = []

    def meddle(trainer):
        seen.append(trainer.step)
        torch.randn(100)
        trainer.model.eval()
        assert not torch.is_grad_enabled()

    a, b = train([]), train([meddle])
    assert seen == list(range(9))
    assert _states_equal(a.model, b.model)
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]


def test_snapshots_leave_training_bit_identical(runs):
    (_, plain), (_, snap) = runs["plain"], runs["snap"]
    assert _states_equal(plain.model, snap.model)
    strip = [{k: v for k, v in r.items() if k != "elapsed"} for r in plain.metrics]
    assert strip == [{k: v for k, v in r.items() if k != "elapsed"} for r in snap.metrics]
    assert not (runs["plain"][0] / SNAPSHOT_FILE).exists()


# -- what a snapshot holds ---------------------------------------------------------------


def test_snapshot_contents(runs):
    out, run = runs["snap"]
    snaps = load_snapshots(out)
    assert snaps.complete and tuple(snaps.steps) == snapshot_steps(12, 6)
    meta = snaps.meta
    assert meta["split"] == "val" and meta["subset"] == 120  # digits has a validation split
    assert meta["run_id"] == run_identity(SNAP)
    assert len(meta["samples"]) == 10 and sorted(meta["labels"]) == list(range(10))
    depth, n, c = 3, 64, 10
    assert snaps["maps"].shape == (6, 10, depth, n)
    assert snaps.images().shape == (6, 10, depth, 8, 8)
    assert snaps["singular_values"].shape == (6, 2, n + c)
    # spectra at 3 of the 6 snapshots (indices 0, 2, 5: steps 0, 2, 12), NaN elsewhere
    assert meta["spectra"] == [0, 2, 12] and snaps.has_spectrum.tolist() == [
        True, False, True, False, False, True]
    sv = snaps["singular_values"]
    assert np.isnan(sv[~snaps.has_spectrum]).all() and np.isfinite(sv[snaps.has_spectrum]).all()
    # step 0 is the identity initialization: distance 0, J diagonal with entries 0 or 1
    first = {k: v[0] for k, v in snaps.arrays.items()}
    assert np.all(first["distance"] == 0) and np.all(first["class_distance"] == 0)
    assert set(np.unique(first["singular_values"])) <= {0.0, 1.0}
    x0 = snaps.jacobian_inputs  # hard-tanh: a coordinate survives iff |x0| <= 1
    alive = np.sort((np.abs(x0) <= 1).astype(float), axis=1)[:, ::-1]
    assert np.array_equal(first["singular_values"], alive)
    # the last snapshot is the trained network on the fixed subset (same code path)
    X, y = run.tensors("val")
    m = evaluate(run.model, X[:120], y[:120], confusion=False)
    assert np.array_equal(snaps["accuracy"][-1], m.accuracy.numpy())
    whole = run.model.identity_distance().double().numpy()  # float32, another summation
    rtol = 16 * 74 * 74 * torch.finfo(torch.float32).eps  # conftest.tol: n * eps, n = W^2
    assert np.allclose(snaps["distance"][-1], whole, rtol=rtol, atol=0)
    idx = list(meta["samples"])  # from the same pass over the subset
    maps = run.model.readout(X[:120]).maps(target=y[:120])[idx].detach().numpy()
    assert meta["maps"] == "evidence" and np.array_equal(snaps["maps"][-1], maps)
    assert np.all(snaps["class_distance"][-1] > 0)
    s = dynamics_summary(snaps)
    assert len(s["acc_step_90"]) == depth and s["acc_end"] == snaps["accuracy"][-1].tolist()


@pytest.mark.parametrize("val_size,split", [(0.2, "val"), (0.0, "test")])
def test_the_subset_is_the_validation_split_else_the_test_split(tmp_path, val_size, split):
    cfg = SNAP.replace(val_size=val_size, snapshot_examples=10_000, epochs=1, snapshots=2,
                       early_stopping=val_size > 0)
    fit(cfg, tmp_path / "run", progress=False)
    snaps = load_snapshots(tmp_path / "run")
    assert snaps.meta["split"] == split
    assert snaps.meta["subset"] == len(getattr(load_run(tmp_path / "run").dataset, f"y_{split}"))


def test_recorder_alone():
    net = InterpretableMLP(4, 3, depth=2)
    X, y = 0.5 * torch.randn(30, 4), torch.arange(30) % 3
    rec = SnapshotRecorder(net, X, y, steps=(0, 1, 5), run_id="x", split="test", jacobians=0)
    rec.record(net, 0)
    assert len(rec.snapshots) == 1 and rec.snapshots["singular_values"].shape == (1, 0, 0)
    with pytest.raises(ValueError, match="steps"):
        SnapshotRecorder(net, X, y, steps=(1, 5), run_id="x", split="test")
    with pytest.raises(ValueError, match="snapshot_jacobians"):
        SnapshotRecorder(net, X, y, steps=(0, 5), run_id="x", split="test", jacobians=31)


# -- resume --------------------------------------------------------------------------


def test_resumed_snapshots_equal_uninterrupted(runs, tmp_path):
    out = tmp_path / "run"
    fit(SNAP, out, stop_after=1, progress=False)
    part = load_snapshots(out)
    assert not part.complete and part.steps.max() <= 6
    resumed = fit(None, out, resume=True, progress=False)
    _same_snapshots(load_snapshots(out), load_snapshots(runs["snap"][0]))
    assert _states_equal(resumed.model, runs["snap"][1].model)


def test_resume_after_crash_drops_snapshots_past_the_checkpoint(runs, tmp_path, monkeypatch):
    """A crash in epoch 2 after its snapshots were written, before its checkpoint: the
    resumed run takes them again and ends with the uninterrupted run's file."""
    out = tmp_path / "run"
    original = Trainer._epoch_record

    def crash_in_epoch_2(self, *args):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(Trainer, "_epoch_record", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        fit(SNAP, out, progress=False)
    monkeypatch.undo()
    assert torch.load(out / CHECKPOINT_FILE, weights_only=True)["step"] == 6
    assert Snapshots.load(out / SNAPSHOT_FILE).complete  # steps up to 12 were written
    fit(None, out, resume=True, progress=False)
    _same_snapshots(load_snapshots(out), load_snapshots(runs["snap"][0]))


def test_resume_refuses_changed_snapshot_settings(tmp_path):
    out = tmp_path / "run"
    fit(SNAP, out, stop_after=1, progress=False)
    with pytest.raises(ValueError, match="snapshots differ"):
        fit(SNAP.replace(snapshots=4), out, resume=True, progress=False)


# -- refusal of bad files ----------------------------------------------------------------


def test_truncated_or_foreign_files_are_refused(runs, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(runs["snap"][0], out)
    data = (out / SNAPSHOT_FILE).read_bytes()
    (out / SNAPSHOT_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as err:
        load_snapshots(out)
    assert "truncated" in _one_line(err)
    # a file of another run (another seed): its run id differs
    other = tmp_path / "other"
    fit(SNAP.replace(seed=1, epochs=1, snapshots=2), other, progress=False)
    shutil.copy(other / SNAPSHOT_FILE, out / SNAPSHOT_FILE)
    with pytest.raises(ValueError) as err:
        load_snapshots(out)
    assert "another run" in _one_line(err)
    # not a snapshot file at all
    np.savez(out / SNAPSHOT_FILE, x=np.zeros(3))
    with pytest.raises(ValueError) as err:
        load_snapshots(out)
    assert "not an idmlp snapshot file" in _one_line(err)
    with pytest.raises(ValueError) as err:
        load_snapshots(runs["plain"][0])
    assert "without snapshots" in _one_line(err)


def test_resume_refuses_truncated_or_foreign_file(tmp_path):
    out = tmp_path / "run"
    fit(SNAP, out, stop_after=1, progress=False)
    good = (out / SNAPSHOT_FILE).read_bytes()
    (out / SNAPSHOT_FILE).write_bytes(good[:-100])
    with pytest.raises(ValueError) as err:
        fit(None, out, resume=True, progress=False)
    assert "truncated" in _one_line(err)
    # fewer snapshots than the checkpoint has passed: refused, not silently re-planned
    (out / SNAPSHOT_FILE).write_bytes(good)
    partial = Snapshots.load(out / SNAPSHOT_FILE).truncate(1)
    partial.save(out / SNAPSHOT_FILE)
    with pytest.raises(ValueError) as err:
        fit(None, out, resume=True, progress=False)
    assert "truncated" in _one_line(err)
    (out / SNAPSHOT_FILE).write_bytes(good)
    assert fit(None, out, resume=True, progress=False).complete


# -- the command line ----------------------------------------------------------------------


def test_cli_train_and_dynamics_end_to_end(tmp_path, capsys):
    from PIL import Image

    run = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--depth", "3", "--epochs", "1",
                 "--batch-size", "256", "--snapshots", "4", "--snapshot-examples", "60",
                 "--out", str(run), "--quiet"]) == 0
    assert load_config(run).dynamics.snapshots == 4
    assert main(["dynamics", str(run), "--layers", "1", "3"]) == 0
    out = run / "dynamics"
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["heatmaps.png", "jacobian_spectrum.png", "maps.gif",
                            "dynamics.json", *(f"maps_sample{i}.png" for i in range(10))])
    with Image.open(out / "maps.gif") as gif:
        assert gif.n_frames == 4
    text = capsys.readouterr().out
    assert "4 snapshots at steps 0, 1, 2, 6" in text and text.strip().endswith(str(out))
    # an existing output folder is refused (before anything is drawn), and left as it was
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir())
    assert main(["dynamics", str(run), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir()) == before


@pytest.mark.parametrize("argv,message", [
    (["--snapshots", "1"], "snapshots must be 0"),
    (["--snapshots", "-2"], "snapshots must be an integer >= 0"),
    (["--snapshots", "two"], "expected an integer"),
    (["--snapshots", "7"], "at most the run's number of optimizer steps (6)"),
    (["--snapshots", "2", "--snapshot-examples", "0"], "snapshot_examples"),
    (["--snapshots", "2", "--snapshot-jacobians", "5000"], "snapshot_jacobians"),
])
def test_cli_train_bad_snapshot_flags(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    code = _cli(["train", "--dataset", "digits", "--depth", "2", "--epochs", "1",
                 "--batch-size", "256", "--out", str(out), "--quiet", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_dynamics_bad_input(runs, tmp_path, capsys):
    snap_run, plain_run = runs["snap"][0], runs["plain"][0]
    broken = tmp_path / "broken"
    shutil.copytree(snap_run, broken)
    data = (broken / SNAPSHOT_FILE).read_bytes()
    (broken / SNAPSHOT_FILE).write_bytes(data[:1000])
    cases = [
        ([str(tmp_path / "missing")], "does not exist"),
        ([str(plain_run), "--out", str(tmp_path / "o")], "without snapshots"),
        ([str(broken), "--out", str(tmp_path / "o")], "truncated"),
        ([str(snap_run), "--layers", "4", "--out", str(tmp_path / "o")], "--layers must be in"),
        ([str(snap_run), "--layers", "0"], "expected an integer >= 1"),
    ]
    for argv, message in cases:
        code = _cli(["dynamics", *argv, "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists() and not (broken / "dynamics").exists()
    assert main(["train", "--resume", str(snap_run), "--snapshots", "4"]) == 2
    assert "drop --snapshots" in capsys.readouterr().err


def test_report_section(runs):
    section = dynamics_section(load_snapshots(runs["snap"][0]))
    html = section.render()
    assert section.title == "During training" and html.count("<img") >= 3
    assert "snapshots at optimizer steps 0, 1, 2, 3, 6, 12" in html


def test_law_on_data_is_used_when_theory_has_it(runs, monkeypatch):
    """The spectrum figure's law: ``theory.spectrum_on_data`` at the Jacobian inputs' x^0
    (features only, the C class coordinates as num_classes) where it exists, else the
    Gaussian law of ``theory.spectrum``."""
    from idmlp import theory
    from idmlp.analysis import dynamics

    snaps = load_snapshots(runs["snap"][0])
    calls = []

    def on_data(X, sigma, depth, activation, *, num_classes):
        calls.append((np.array(X), sigma, depth, activation, num_classes))
        return theory.spectrum(sigma, 1.0, depth, activation)

    monkeypatch.setattr(theory, "spectrum_on_data", None)  # a theory without it (lazy package)
    law, label = dynamics._law(snaps)
    gaussian = theory.spectrum(1.0, 1.0, 3)  # sigma, q0, depth of SNAP
    assert "Gaussian" in label and law.nonzero_fraction == gaussian.nonzero_fraction
    monkeypatch.setattr(theory, "spectrum_on_data", on_data, raising=False)
    _, label = dynamics._law(snaps)
    (X, sigma, depth, activation, c), = calls
    assert "spectrum_on_data" in label and (sigma, depth, activation, c) == (1.0, 3, "hardtanh", 10)
    assert np.array_equal(X, snaps.jacobian_inputs[:, :64])


def test_the_interpret_report_of_a_run_with_snapshots_has_the_section(runs, tmp_path):
    run_dir, _ = runs["snap"]
    assert _cli(["interpret", str(run_dir), "--out", str(tmp_path / "i"), "--quiet"]) == 0
    html = (tmp_path / "i" / "report.html").read_text()
    assert "During training" in html
    run_dir, _ = runs["plain"]
    assert _cli(["interpret", str(run_dir), "--out", str(tmp_path / "p"), "--quiet"]) == 0
    assert "During training" not in (tmp_path / "p" / "report.html").read_text()
