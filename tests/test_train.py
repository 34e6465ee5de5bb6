"""Tests of idmlp.train.loop (the loop), idmlp.train.runs (run folders) and ``idmlp train``: resume,
determinism, layer losses, failures."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from idmlp._io import OutputExistsError
from idmlp.cli import main
from idmlp.config import DataConfig, ModelConfig, OptimConfig
from idmlp.nets.mlp import InterpretableMLP
from idmlp.train.loop import Trainer, TrainingDiverged, fit_model, layer_cross_entropy
from idmlp.train.runs import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    RunConfig,
    fit,
    load_config,
    load_run,
)

# digits: 1437 train / 360 test images of 8x8; a 3-layer net trains in well under a second.
SMALL = RunConfig(DataConfig(dataset="digits"), ModelConfig(depth=3),
                  OptimConfig(epochs=2, batch_size=256, lr=1e-3))

pytestmark = pytest.mark.usefixtures("one_thread")


def _without_elapsed(metrics: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "elapsed"} for r in metrics]


def _states_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert len(text.splitlines()) == 1, text
    return text


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("runs") / "small"
    return out, fit(SMALL, out, progress=False)


# -- the run folder ------------------------------------------------------------------


def test_run_folder_layout_and_metrics(small_run):
    out, run = small_run
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE,
                                                      "stopping.json"]
    lines = [json.loads(s) for s in (out / METRICS_FILE).read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert lines == run.metrics
    for r in lines:
        assert len(r["layer_test_acc"]) == SMALL.model.depth
        assert r["layer_test_acc"][-1] == r["test_acc"]
        assert set(r["identity_distance"]) == {"feature", "class", "extra"}  # H > 0 on digits
        assert all(len(v) == SMALL.model.depth for v in r["identity_distance"].values())
        assert 0 <= r["train_acc"] <= 1 and 0 <= r["test_acc"] <= 1
        assert r["train_loss"] > 0 and r["test_loss"] > 0 and r["lr"] > 0
        assert r["logit_scale"] == pytest.approx(SMALL.model.logit_scale)
    assert lines[1]["elapsed"] > lines[0]["elapsed"] > 0
    assert lines[1]["lr"] < lines[0]["lr"]  # cosine schedule
    # The weights moved away from the identity, but stayed close to it.
    dist = lines[-1]["identity_distance"]
    assert 0 < max(dist["class"]) < 0.5
    # Digits is easy: two epochs of a 3-layer net already beat chance by far.
    assert lines[-1]["test_acc"] > 0.5


def test_config_json_records_everything(small_run):
    out, run = small_run
    info = json.loads((out / CONFIG_FILE).read_text())
    assert RunConfig.from_dict(info["config"]) == SMALL == load_config(out)
    assert ModelConfig(**{**info["model"], "image_shape": (8, 8)}) == run.model.config
    assert info["model"]["in_features"] == 64 and info["model"]["image_shape"] == [8, 8]
    d = info["dataset"]
    assert d["n_train"] + d["n_val"] + d["n_test"] == 1797 and d["n_val"] == 144
    assert info["versions"]["torch"] == torch.__version__
    assert info["scaler"]["scaling"] == "global"  # "auto" on 8x8 images
    assert len(info["scaler"]["mean"]) == 64


def test_load_run_round_trip(small_run):
    out, run = small_run
    loaded = load_run(out)
    assert loaded.config == run.config and loaded.path == out
    assert loaded.metrics == run.metrics and loaded.complete
    assert _states_equal(loaded.model, run.model) and not loaded.model.training
    x, y = loaded.test_tensors()
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (360, 64)
    assert float(x.var()) == pytest.approx(1.0, rel=0.3)  # train stats (global), test data
    with torch.no_grad():
        acc = loaded.model.readout(x).accuracy(y)
    np.testing.assert_allclose(acc.numpy(), run.metrics[-1]["layer_test_acc"], atol=1e-6)
    xt, yt = loaded.train_tensors()
    assert xt.shape == (1293, 64) and len(yt) == 1293  # 10% of 1437 went to validation


def test_same_seed_same_run_and_other_seed_differs(small_run, tmp_path):
    _, first = small_run
    again = fit(SMALL, tmp_path / "again", progress=False)
    assert _states_equal(first.model, again.model)
    assert _without_elapsed(first.metrics) == _without_elapsed(again.metrics)
    other = fit(SMALL.replace(seed=1), tmp_path / "other", progress=False)
    assert not _states_equal(first.model, other.model)


def test_training_leaves_the_callers_rng_alone(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(SMALL.replace(epochs=1), tmp_path / "run", progress=False)
    assert torch.equal(torch.rand(3), expected)


# -- resume --------------------------------------------------------------------------


def test_resume_equals_uninterrupted_run(small_run, tmp_path):
    _, straight = small_run
    out = tmp_path / "run"
    part = fit(SMALL, out, stop_after=1, progress=False)
    assert part.epochs_done == 1 and not part.complete
    assert len((out / METRICS_FILE).read_text().splitlines()) == 1
    resumed = fit(None, out, resume=True, progress=False)
    assert _states_equal(resumed.model, straight.model)
    assert _without_elapsed(resumed.metrics) == _without_elapsed(straight.metrics)
    assert _states_equal(load_run(out).model, straight.model)
    assert len((out / METRICS_FILE).read_text().splitlines()) == 2


def test_resume_after_crash_mid_epoch(small_run, tmp_path, monkeypatch):
    """A crash after epoch 2's training steps but before its checkpoint loses only epoch 2."""
    _, straight = small_run
    out = tmp_path / "run"
    config = SMALL.replace(epochs=3)
    reference = fit(config, tmp_path / "reference", progress=False)
    original = Trainer._epoch_record

    def crash_in_epoch_2(self, *args):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(Trainer, "_epoch_record", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        fit(config, out, progress=False)
    monkeypatch.undo()
    assert torch.load(out / CHECKPOINT_FILE, weights_only=True)["epoch"] == 1
    resumed = fit(config, out, resume=True, progress=False)
    assert _states_equal(resumed.model, reference.model)
    assert not _states_equal(resumed.model, straight.model)  # 3 epochs, not 2


def test_resume_of_a_complete_run_trains_nothing(small_run):
    out, run = small_run
    before = (out / CHECKPOINT_FILE).read_bytes()
    again = fit(None, out, resume=True, progress=False)
    assert (out / CHECKPOINT_FILE).read_bytes() == before
    assert _states_equal(again.model, run.model)


def test_resume_refuses_another_config_or_a_non_run(small_run, tmp_path):
    out, _ = small_run
    with pytest.raises(ValueError, match="lr differ") as err:
        fit(SMALL.replace(lr=0.5), out, resume=True, progress=False)
    _one_line(err)
    with pytest.raises(ValueError, match="not an idmlp training run") as err:
        fit(None, tmp_path, resume=True, progress=False)
    _one_line(err)
    with pytest.raises(ValueError, match="exclude"):
        fit(None, out, resume=True, overwrite=True)


# -- failures ------------------------------------------------------------------------


def test_existing_folder_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="--overwrite") as err:
        fit(SMALL, out, progress=False)
    _one_line(err)
    assert (out / "keep.txt").read_text() == "mine"
    fit(SMALL.replace(epochs=1), out, overwrite=True, progress=False)
    assert not (out / "keep.txt").exists() and (out / CHECKPOINT_FILE).is_file()


def _nan_forward(self, x):
    return torch.full((len(x), self.num_classes), math.nan)


def _nan_layer_logits(self, x):
    return torch.full((len(x), self.depth, self.num_classes), math.nan)


def _diverge(monkeypatch) -> None:
    monkeypatch.setattr(InterpretableMLP, "forward", _nan_forward)
    monkeypatch.setattr(InterpretableMLP, "layer_logits", _nan_layer_logits)


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "run"
    fit(SMALL.replace(epochs=3), out, stop_after=1, progress=False)
    checkpoint = (out / CHECKPOINT_FILE).read_bytes()
    _diverge(monkeypatch)
    with pytest.raises(TrainingDiverged, match=r"nan at epoch 2.*last good checkpoint \(epoch 1\)"
                       ) as err:
        fit(None, out, resume=True, progress=False)
    _one_line(err)
    assert (out / CHECKPOINT_FILE).read_bytes() == checkpoint
    assert len((out / METRICS_FILE).read_text().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temp files left


def test_divergence_in_the_first_epoch_leaves_no_folder(tmp_path, monkeypatch):
    _diverge(monkeypatch)
    with pytest.raises(TrainingDiverged, match="nothing was written"):
        fit(SMALL, tmp_path / "run", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_absurd_learning_rate_diverges():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    X, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    with pytest.raises(TrainingDiverged, match="new run with a lower learning rate") as err:
        fit_model(net, X * 1e30, y, X, y, optimizer="sgd", lr=1e30, epochs=5, progress=False)
    _one_line(err)


def test_truncated_or_garbage_checkpoint_is_one_clear_error(small_run, tmp_path):
    src, _ = small_run
    out = tmp_path / "run"
    shutil.copytree(src, out)
    data = (src / CHECKPOINT_FILE).read_bytes()
    for broken in (data[: len(data) // 2], b"not a checkpoint at all", b""):
        (out / CHECKPOINT_FILE).write_bytes(broken)
        with pytest.raises(ValueError, match="truncated or corrupt") as err:
            load_run(out)
        _one_line(err)
        with pytest.raises(ValueError, match="truncated or corrupt"):
            fit(None, out, resume=True, progress=False)


def test_checkpoint_of_another_architecture_is_refused(small_run, tmp_path):
    src, _ = small_run
    other = fit(SMALL.replace(depth=2, epochs=1), tmp_path / "other", progress=False)
    out = tmp_path / "run"
    shutil.copytree(src, out)
    shutil.copy(other.path / CHECKPOINT_FILE, out / CHECKPOINT_FILE)
    with pytest.raises(ValueError, match="another architecture.*layers.2.weight") as err:
        load_run(out)
    _one_line(err)
    with pytest.raises(ValueError, match="another architecture"):
        fit(None, out, resume=True, progress=False)


def test_load_run_of_a_non_run_folder(tmp_path):
    with pytest.raises(ValueError, match="not an idmlp training run") as err:
        load_run(tmp_path)
    _one_line(err)


# -- RunConfig -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("depth", 0), ("depth", 2.5), ("sigma", 0.0), ("sigma", -1.0), ("q0", 0.0),
        ("q0", math.inf), ("lr", 0.0), ("lr", math.nan), ("logit_scale", -2.0),
        ("batch_size", 0), ("epochs", 0), ("seed", -1), ("momentum", 1.0),
        ("weight_decay", -0.1), ("test_size", 1.0), ("label_smoothing", 1.0), ("gamma", 0.0),
        ("warmup_epochs", -1.0),
        ("dataset", "cifar"), ("activation", "swish"), ("optimizer", "lbfgs"),
        ("schedule", "linear"), ("device", "tpu"), ("bias", "yes"), ("layer_loss", "first"),
        ("scaling", "minmax"), ("val_size", 1.0), ("std_floor", 2.0),
    ],
)
def test_config_rejects_bad_fields_in_one_line(field, value):
    with pytest.raises(ValueError, match=field) as err:
        RunConfig().replace(**{field: value})
    _one_line(err)


@settings(max_examples=50, deadline=None)
@given(
    field=st.sampled_from(["depth", "sigma", "q0", "lr", "logit_scale", "batch_size"]),
    value=st.one_of(st.floats(max_value=0.0), st.integers(max_value=0)),
)
def test_config_rejects_non_positive_sizes(field, value):
    with pytest.raises(ValueError, match=field):
        RunConfig().replace(**{field: value})


@settings(max_examples=50, deadline=None)
@given(
    depth=st.integers(1, 100), sigma=st.floats(0.01, 10), q0=st.floats(1e-4, 10),
    lr=st.floats(1e-6, 1), schedule=st.sampled_from(["constant", "cosine", "step"]),
    epochs=st.integers(1, 50), learn=st.booleans(),
)
def test_config_dict_round_trip(depth, sigma, q0, lr, schedule, epochs, learn):
    config = RunConfig().replace(depth=depth, sigma=sigma, q0=q0, lr=lr, schedule=schedule,
                                 epochs=epochs, learn_logit_scale=learn)
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_config_refuses_unknown_fields():
    with pytest.raises(ValueError, match="unknown RunConfig field"):
        RunConfig.from_dict({"depht": 3})
    with pytest.raises(ValueError, match="unknown OptimConfig field"):
        RunConfig.from_dict({"optim": {"depht": 3}})
    with pytest.raises(ValueError, match="unknown run setting 'depht'"):
        RunConfig().replace(depht=3)


@settings(max_examples=100, deadline=None)
@given(
    total=st.integers(1, 500), warmup_frac=st.floats(0, 1), decay_every=st.integers(1, 100),
    gamma=st.floats(0.01, 1),
)
def test_schedules_are_bounded_and_shaped(total, warmup_frac, decay_every, gamma):
    warmup = int(warmup_frac * total)

    def factor(schedule: str, gamma: float = gamma):  # one step per epoch
        optim = OptimConfig(schedule=schedule, warmup_epochs=warmup, step_epochs=decay_every,
                            gamma=gamma, epochs=total)
        return optim.lr_factor(steps_per_epoch=1, total_steps=total)

    for schedule in ("constant", "cosine", "step"):
        f = [factor(schedule)(t) for t in range(total)]
        assert all(0 <= v <= 1 for v in f)
        if schedule != "step":  # a step decay may fall inside the warmup
            assert all(a < b for a, b in zip(f[:warmup], f[1:warmup], strict=False))
        after = f[warmup:]
        assert all(b <= a + 1e-12 for a, b in zip(after, after[1:], strict=False))
        if schedule == "constant":
            assert after == [1.0] * len(after)
    assert factor("cosine", 1.0)(warmup) == pytest.approx(1.0)


# -- the generic loop --------------------------------------------------------------------


def test_fit_model_trains_any_module_mapping_to_logits():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 5, generator=g)
    y = (X @ torch.randn(5, 3, generator=g)).argmax(dim=1)  # 3 linearly separable classes
    net = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    seen = []
    hist = fit_model(net, X.numpy(), y.numpy(), X, y, lr=3e-2, epochs=15, batch_size=32,
                     schedule="step", step_epochs=5, gamma=0.5, progress=False,
                     on_epoch=seen.append)
    assert seen == hist and [r["epoch"] for r in hist] == list(range(1, 16))
    assert "layer_test_acc" not in hist[0]
    assert hist[-1]["test_acc"] > 0.85 and hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert hist[4]["lr"] == pytest.approx(3e-2) and hist[5]["lr"] == pytest.approx(1.5e-2)


def test_fit_model_shows_a_progress_bar(capsys):
    net = nn.Linear(4, 2)
    X, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    fit_model(net, X, y, X, y, epochs=1, progress=True)
    assert "train" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y_train": torch.zeros(3, dtype=torch.long)}, "y_train has 3 labels for 16"),
        ({"y_train": torch.zeros(16)}, "integer"),
        ({"X_test": torch.zeros(4, 5)}, "X_test has 5"),
        ({"y_test": torch.full((16,), 7)}, "C > 7"),
        ({"lr": -1.0}, "lr"),
        ({"schedule": "warm"}, "schedule"),
        ({"device": "gpu"}, "device"),
        ({"model": "not a module"}, "torch.nn.Module"),
    ],
)
def test_fit_model_validates_its_inputs(kwargs, match):
    X, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    args = {"model": nn.Linear(4, 2), "X_train": X, "y_train": y, "X_test": X, "y_test": y,
            **kwargs}
    with pytest.raises(ValueError, match=match) as err:
        fit_model(**args, progress=False)
    _one_line(err)


# -- the command line ----------------------------------------------------------------


def _cli(argv: list[str]) -> int:
    """``idmlp`` exit status (argparse usage errors exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


SMALL_ARGS = ["--dataset", "digits", "--depth", "3", "--batch-size", "256", "--lr", "1e-3",
              "--quiet"]


def test_cli_trains_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL_ARGS, "--epochs", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "last-layer test accuracy" in printed and printed.count("\n") >= 3 + 3
    assert load_run(out).config == SMALL
    # An interrupted run, continued from the command line.
    part = tmp_path / "part"
    fit(SMALL, part, stop_after=1, progress=False)
    assert main(["train", "--resume", str(part), "--quiet"]) == 0
    assert len((part / METRICS_FILE).read_text().splitlines()) == 2
    assert _states_equal(load_run(part).model, load_run(out).model)


@pytest.mark.parametrize(
    "argv",
    [
        ["--dataset", "cifar"], ["--depth", "0"], ["--sigma", "-1"], ["--q0", "0"],
        ["--lr", "0"], ["--activation", "swish"], ["--momentum", "1.5"],
        ["--device", "tpu"], ["--epochs", "2", "--warmup-epochs", "50"],
        ["--warmup-epochs", "5000"],  # longer than the default budget of optimizer steps
    ],
)
def test_cli_bad_input_is_one_line_exit_2_no_folder(tmp_path, capsys, argv):
    out = tmp_path / "run"
    assert _cli(["train", *SMALL_ARGS, "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_existing_out_and_bad_resume(small_run, tmp_path, capsys):
    out, _ = small_run
    before = (out / CHECKPOINT_FILE).read_bytes()
    cases = [
        ["train", *SMALL_ARGS, "--out", str(out)],
        ["train", "--resume", str(tmp_path)],
        ["train", "--resume", str(tmp_path / "missing")],
        ["train", "--resume", str(out), "--lr", "0.1"],
    ]
    for argv in cases:
        assert _cli(argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
    assert (out / CHECKPOINT_FILE).read_bytes() == before
    assert list(tmp_path.iterdir()) == []


# -- the loss over layers, the validation split, the step budget, 0.1 run folders -------


@pytest.mark.parametrize("kind", ["last", "all", "ramp"])
def test_each_layer_loss_puts_gradient_on_its_layers_only(kind):
    depth = 5
    weights = torch.tensor(OptimConfig(layer_loss=kind).layer_weights(depth), dtype=torch.float64)
    assert float(weights.sum()) == pytest.approx(1.0)
    logits = torch.randn(8, depth, 4, dtype=torch.float64, requires_grad=True)
    y = torch.arange(8) % 4
    layer_cross_entropy(logits, y, weights).backward()
    touched = logits.grad.abs().sum(dim=(0, 2)) > 0
    assert touched.tolist() == [bool(w > 0) for w in weights]
    expected = {"last": [False] * 4 + [True], "all": [True] * 5, "ramp": [True] * 5}[kind]
    assert touched.tolist() == expected
    if kind == "ramp":
        assert all(a < b for a, b in zip(weights, weights[1:], strict=False))


@pytest.mark.parametrize("kind", ["last", "all", "ramp"])
def test_trainer_loss_is_the_weighted_sum_of_layer_losses(kind):
    torch.manual_seed(0)
    net = InterpretableMLP(6, 3, depth=4, logit_scale=4.0, dtype=torch.float64)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(0.1 * torch.randn_like(layer.weight))
    X, y = torch.randn(32, 6, dtype=torch.float64), torch.arange(32) % 3
    trainer = Trainer(net, X, y, {"test": (X, y)},
                      optim=OptimConfig(layer_loss=kind, label_smoothing=0.1,
                                        input_noise=0.0, early_stopping=False))
    loss, last = trainer.loss(X, y)  # the clean objective (input noise: test_input_noise)
    per_layer = torch.stack([torch.nn.functional.cross_entropy(
        net.readout(X).logits[:, l], y, label_smoothing=0.1) for l in range(4)])
    w = torch.tensor(OptimConfig(layer_loss=kind).layer_weights(4), dtype=torch.float64)
    eps = torch.finfo(torch.float64).eps
    assert loss.item() == pytest.approx((per_layer @ w).item(), rel=100 * eps)
    torch.testing.assert_close(last, net(X), rtol=0, atol=100 * eps)


def test_a_plain_classifier_has_one_readout_so_every_layer_loss_is_the_same():
    X, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    runs = []
    for kind in ("last", "all", "ramp"):
        torch.manual_seed(0)
        net = nn.Linear(4, 2)
        fit_model(net, X, y, X, y, layer_loss=kind, epochs=2, progress=False)
        runs.append(net)
    assert _states_equal(runs[0], runs[1]) and _states_equal(runs[0], runs[2])


def test_loss_on_all_layers_makes_every_layer_a_classifier(tmp_path):
    run = fit(SMALL.replace(layer_loss="all", depth=4), tmp_path / "run", progress=False)
    acc = run.metrics[-1]["layer_test_acc"]
    assert min(acc) > 0.5, acc  # every layer's readout is trained, not only the last


def test_validation_split_is_scored_and_never_overlaps_test(tmp_path):
    config = SMALL.replace(val_size=0.2, epochs=1)
    run = fit(config, tmp_path / "run", progress=False)
    record = run.metrics[-1]
    assert {"val_loss", "val_acc", "layer_val_acc", "test_acc"} <= record.keys()
    ds, full = run.dataset, DataConfig(dataset="digits", val_size=0.0).load()
    assert len(ds.y_val) == math.ceil(0.2 * len(full.y_train))
    assert len(ds.y_train) + len(ds.y_val) == len(full.y_train)
    np.testing.assert_array_equal(ds.X_test, full.X_test)  # the test split is untouched
    # train and val partition the original training split (as multisets of rows)
    rows = np.concatenate([ds.X_train, ds.X_val])
    order = np.lexsort(rows.T)
    order_full = np.lexsort(full.X_train.T)
    np.testing.assert_array_equal(rows[order], full.X_train[order_full])
    stratified = np.abs(np.bincount(ds.y_val) - 0.2 * np.bincount(full.y_train))
    assert stratified.max() <= 1
    assert load_run(run.path).dataset.X_val.shape == ds.X_val.shape


def test_step_budget_stops_mid_epoch(tmp_path):
    X, y = torch.randn(100, 4), torch.randint(0, 2, (100,))
    hist = fit_model(nn.Linear(4, 2), X, y, X, y, batch_size=10, steps=25, progress=False)
    assert [r["epoch"] for r in hist] == [1, 2, 3]  # 10 + 10 + 5 steps


def test_a_run_folder_of_idmlp_0_1_loads(small_run, tmp_path):
    """A 0.1 run folder (flat train config, q0 inside the scaler) loads and resumes."""
    src, run = small_run
    out = tmp_path / "old"
    shutil.copytree(src, out)
    info = json.loads((out / CONFIG_FILE).read_text())
    train = {**{k: v for k, v in info["config"]["data"].items()
                if k not in ("val_size", "scaling", "std_floor")},
             **{k: v for k, v in info["config"]["model"].items()
                if k not in ("arch", "init", "in_features", "num_classes", "image_shape",
                             "options")},
             **{k: v for k, v in info["config"]["optim"].items()
                if k not in ("layer_loss", "steps")},
             "device": "cpu"}
    legacy = {"train": train, "model": {"kind": "interpretable"},
              "scaler": {"q0": 1.0, "mean": info["scaler"]["mean"], "std": info["scaler"]["std"]}}
    (out / CONFIG_FILE).write_text(json.dumps(legacy))
    loaded = load_run(out)
    assert loaded.config == SMALL
    assert _states_equal(loaded.model, run.model)
    x, y = loaded.test_tensors()
    np.testing.assert_array_equal(x.numpy(), run.test_tensors()[0].numpy())
    assert fit(None, out, resume=True, progress=False).epochs_done == 2
    assert "config" in json.loads((out / CONFIG_FILE).read_text())  # rewritten as 0.2
