"""Training length chosen on the validation split: early stopping keeps the best epoch (in
the trainer, the run folder, resume and snapshots), the budget in optimizer steps, the
record of why training stopped, the underfitting warning, and --no-early-stopping."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from idmlp.cli import main
from idmlp.config import DataConfig, ModelConfig, OptimConfig, RunConfig
from idmlp.config.optim import BUDGET_STEPS, MIN_DELTA
from idmlp.train.checks import fit_check
from idmlp.train.loop import PROGRESS, StopRule, Trainer, fit_model
from idmlp.train.runs import STOPPING_FILE, fit, load_run
from idmlp.train.snapshots import Snapshots

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(seed: int = 0, n: int = 64):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 5, generator=g)
    y = (X[:, 0] > 0).long()
    return X, y


def _trainer(optim: OptimConfig, flip_val: bool = True) -> Trainer:
    """A linear classifier whose validation labels are the training labels flipped: the
    better it fits, the worse the validation loss, so the best epoch is early."""
    X, y = _data()
    Xv, yv = _data(1)
    torch.manual_seed(0)
    net = nn.Linear(5, 2)
    return Trainer(net, X, y, {"val": (Xv, 1 - yv if flip_val else yv), "test": (Xv, yv)},
                   optim=optim)


def _weights_per_epoch(trainer: Trainer) -> tuple[list, list]:
    """Train; the weights at the end of every epoch (before any restoring) and the records."""
    seen: list[dict] = []

    def keep(model: nn.Module) -> dict:
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return {}

    trainer.hooks = (keep,)
    trainer.run(progress=False)
    return seen, trainer.history


def _expected(hist: list[dict], patience: int) -> tuple[int, int | None]:
    """The documented rule, written out plainly: (kept epoch, stop epoch or None)."""
    best_loss, best_epoch, kept, best_acc = float("inf"), 0, 0, -1.0
    for e, r in enumerate(hist, 1):
        if r["val_loss"] < best_loss - MIN_DELTA:
            best_loss, best_epoch = r["val_loss"], e
        if r["val_acc"] >= best_acc:
            best_acc, kept = r["val_acc"], e
        before = [h["train_acc"] for h in hist[: e - patience]]
        recent = [h["train_acc"] for h in hist[e - patience : e]]
        rising = e <= patience or max(recent) - max(before) > PROGRESS
        if e - best_epoch >= patience and not rising:
            return kept, e
    return kept, None


def test_early_stopping_keeps_the_best_epoch_and_says_why():
    trainer = _trainer(OptimConfig(lr=0.05, epochs=60, batch_size=16, patience=3))
    seen, hist = _weights_per_epoch(trainer)
    kept, stop = _expected(hist, 3)
    s = trainer.stopped
    assert s["reason"] == "patience" and stop == len(hist) < 60
    assert s["kept_epoch"] == kept and s["epoch"] == len(hist)
    assert s["kept_step"] == kept * trainer.steps_per_epoch
    assert s["kept_val_acc"] == max(r["val_acc"] for r in hist)
    # the model holds the kept epoch's weights, not the last ones
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, seen[kept - 1][k])
    if kept != len(hist):
        assert not torch.equal(trainer.model.weight, seen[-1]["weight"])
    # a second call does nothing: training has ended
    assert len(trainer.run(progress=False)) == len(hist)


def test_stop_rule_waits_while_the_training_accuracy_rises():
    rule = StopRule(patience=2)
    # the validation loss stalls at once, but the training accuracy keeps rising
    decisions = [rule.update(1.0, 0.5, t) for t in (0.1, 0.3, 0.5, 0.7, 0.9, 0.905, 0.906)]
    assert [stop for _, stop in decisions] == [False] * 6 + [True]
    assert rule.kept_epoch == 7 and rule.best_loss_epoch == 1  # accuracy ties: the later


def test_budget_spent_still_keeps_the_best_epoch():
    trainer = _trainer(OptimConfig(lr=0.05, epochs=4, batch_size=16, patience=10))
    seen, hist = _weights_per_epoch(trainer)
    assert trainer.stopped["reason"] == "budget" and len(hist) == 4
    kept = trainer.stopped["kept_epoch"]
    accs = [r["val_acc"] for r in hist]
    assert kept == max(e for e in range(1, 5) if accs[e - 1] == max(accs))
    assert torch.equal(trainer.model.weight, seen[kept - 1]["weight"])


def test_no_early_stopping_is_the_old_loop():
    """The whole budget (epochs x steps per epoch), the last weights, and a trajectory that
    no evaluation split changes."""
    opt = OptimConfig(lr=0.05, epochs=5, batch_size=16, early_stopping=False)
    a = _trainer(opt)
    _, hist = _weights_per_epoch(a)
    assert len(hist) == 5 and a.total_steps == 5 * a.steps_per_epoch
    assert a.stopped["reason"] == "budget" and a.stopped["kept_epoch"] == 5
    X, y = _data()
    torch.manual_seed(0)
    b = nn.Linear(5, 2)
    fit_model(b, X, y, *_data(1), optim=opt, progress=False)  # no validation split at all
    assert torch.equal(a.model.weight, b.weight) and torch.equal(a.model.bias, b.bias)


def test_budget_counts_optimizer_steps_whatever_the_data_size():
    t = _trainer(OptimConfig(batch_size=16))  # 64 examples: 4 steps per epoch
    assert (t.total_steps, t.epochs) == (BUDGET_STEPS, BUDGET_STEPS // 4)
    assert OptimConfig(batch_size=16).total_steps(6400) == BUDGET_STEPS  # 40 epochs
    assert OptimConfig(epochs=5).total_steps(64) == 5  # given epochs: a maximum of passes
    assert OptimConfig(epochs=5, steps=7).total_steps(64) == 7
    # optimization dicts written before early stopping existed: the old loop, 15 epochs
    old = {k: v for k, v in OptimConfig().__dict__.items()
           if k not in ("early_stopping", "patience")}
    old["epochs"] = 15
    upgraded = RunConfig.from_dict({"optim": old}).optim
    assert (upgraded.early_stopping, upgraded.epochs) == (False, 15)


def test_early_stopping_needs_a_validation_split():
    X, y = _data()
    with pytest.raises(ValueError, match="early stopping needs a validation split"):
        Trainer(nn.Linear(5, 2), X, y, {"test": (X, y)}, optim=OptimConfig())
    with pytest.raises(ValueError, match="patience must be an integer >= 1"):
        OptimConfig(patience=0)
    with pytest.raises(ValueError, match="early_stopping must be True or False"):
        OptimConfig(early_stopping="yes")


def _npz(tmp_path, flip: bool = False):
    """Two well separated classes; with ``flip`` the validation examples (the last 20 %
    of each class after the stratified split) are noise, so early stopping triggers."""
    rng = np.random.default_rng(0)
    n = 200
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 6)) + 1.5 * y[:, None]
    path = tmp_path / "two.npz"
    np.savez(path, X=X.astype(np.float32), y=y, X_test=X[:40].astype(np.float32),
             y_test=y[:40])
    return path


def _config(path, **optim) -> RunConfig:
    return RunConfig(DataConfig(f"npz:{path}", val_size=0.3), ModelConfig(depth=3),
                     OptimConfig(**{"epochs": 12, "batch_size": 16, "lr": 3e-2,
                                    "patience": 2, **optim}))


def test_run_folder_resume_and_load_follow_the_kept_epoch(tmp_path):
    cfg = _config(_npz(tmp_path), label_smoothing=0.0)
    full = fit(cfg, tmp_path / "full", progress=False)
    s = full.stopping["stopped"]
    assert s is not None and full.complete
    assert full.final_metrics is full.metrics[s["kept_epoch"] - 1]
    info = json.loads((tmp_path / "full" / STOPPING_FILE).read_text())
    assert info["stopped"] == s and info["message"].startswith(("stopped early", "trained"))
    assert {"train_accuracy", "chance", "linear_train_accuracy"} <= info["fit_check"].keys()
    # interrupted after 2 epochs, then resumed: the same stop, the same kept weights
    part = fit(cfg, tmp_path / "part", progress=False, stop_after=2)
    assert not part.complete and part.stopping["stopped"] is None
    mid = load_run(tmp_path / "part")  # the best so far
    assert mid.kept_epoch == part.stopping["kept_epoch"] == part.kept_epoch
    done = fit(None, tmp_path / "part", resume=True, progress=False)
    assert done.stopping["stopped"] == s and len(done.metrics) == len(full.metrics)
    for a, b in zip(done.model.state_dict().values(), full.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    loaded = load_run(tmp_path / "part")
    assert loaded.kept_epoch == s["kept_epoch"]
    for a, b in zip(loaded.model.state_dict().values(), full.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    # resuming an ended run changes nothing
    again = fit(None, tmp_path / "part", resume=True, progress=False)
    assert len(again.metrics) == len(full.metrics)
    assert torch.equal(again.model.layers[0].weight, full.model.layers[0].weight)


def test_snapshots_end_at_the_kept_weights(tmp_path):
    cfg = _config(_npz(tmp_path), epochs=40, patience=1, lr=0.1).replace(
        snapshots=6, snapshot_examples=20)
    run = fit(cfg, tmp_path / "run", progress=False)
    s = run.stopping["stopped"]
    assert s["reason"] == "patience"  # a short patience at a high rate stops early
    snaps = Snapshots.load(tmp_path / "run" / "snapshots.npz")
    assert snaps.complete and int(snaps.steps[-1]) == s["kept_step"]
    assert snaps.meta["kept_step"] == s["kept_step"]
    assert int(snaps.meta["planned_steps"][-1]) == s["max_steps"]
    # the last snapshot is the kept network: its accuracy is what the kept weights score
    X, y = run.tensors("val")
    with torch.no_grad():
        acc = (run.model(X[:20]).argmax(1) == y[:20]).float().mean()
    assert float(snaps["accuracy"][-1, -1]) == pytest.approx(float(acc))


def test_underfitting_warning_names_the_fix():
    X, y = _data(n=200)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 2))
    with torch.no_grad():  # a network that predicts one class: chance
        net[0].weight.zero_()
        net[0].bias.copy_(torch.tensor([1.0, 0.0]))
    ran_out = {"reason": "budget", "epoch": 15, "kept_epoch": 15}
    check = fit_check(net, X, y, stopped=ran_out, lr=3e-4, extra_features=0)
    assert check["linear_train_accuracy"] > 0.9
    assert "close to chance" in check["warning"] and "--epochs" in check["warning"]
    stopped = {"reason": "patience", "epoch": 15, "kept_epoch": 5}
    check = fit_check(net, X, y, stopped=stopped, lr=3e-4, extra_features=0)
    assert "--lr" in check["warning"] and "--extra-features" in check["warning"]
    with torch.no_grad():  # a network that fits
        net[0].weight.copy_(torch.tensor([[-5.0, 0, 0, 0, 0], [5.0, 0, 0, 0, 0]]))
        net[0].bias.zero_()
    assert fit_check(net, X, y, stopped=stopped, lr=3e-4, extra_features=0)["warning"] is None


def _cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as err:  # argparse's usage errors
        return int(err.code)


def test_cli_prints_why_it_stopped_and_validates_the_new_flags(tmp_path, capsys):
    data = _npz(tmp_path)
    out = tmp_path / "run"
    assert main(["train", "--dataset", f"npz:{data}", "--depth", "2", "--epochs", "3",
                 "--patience", "1", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("stopped early" in printed or "trained the whole budget" in printed)
    assert "kept epoch" in printed
    for argv, words in [(["--patience", "0"], "patience must be an integer >= 1"),
                        (["--steps", "0"], "steps must be an integer >= 1"),
                        (["--patience", "x"], "expected an integer"),
                        (["--val-size", "0", "--early-stopping"],
                         "early stopping needs a validation split")]:
        bad = tmp_path / "bad"
        assert _cli(["train", "--dataset", f"npz:{data}", "--depth", "2", "--quiet",
                     "--out", str(bad), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err
        assert not bad.exists()
    # without a validation split there is nothing to stop on: the whole budget is trained
    assert main(["train", "--dataset", f"npz:{data}", "--depth", "2", "--epochs", "2",
                 "--val-size", "0", "--quiet", "--out", str(tmp_path / "noval")]) == 0
    assert "no early stopping" in capsys.readouterr().out
    # --no-early-stopping trains the whole budget without a validation split
    assert main(["train", "--dataset", f"npz:{data}", "--depth", "2", "--epochs", "2",
                 "--no-early-stopping", "--val-size", "0", "--quiet",
                 "--out", str(tmp_path / "old")]) == 0
    assert "no early stopping" in capsys.readouterr().out
