"""Gaussian input noise (``OptimConfig.input_noise``): only training sees it, with the stated
law; it is seeded and resumable; it leaves the network, its identity start and the
evaluation alone; it is validated everywhere a user can set it."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from idmlp.cli import main
from idmlp.config import OptimConfig, RunConfig
from idmlp.config.sweep import OPTIM_COLUMNS, TrainSettings
from idmlp.train.loop import Trainer, layer_cross_entropy
from idmlp.train.runs import build_network

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(seed: int = 0, n: int = 64, d: int = 5):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    return X, (X[:, 0] > 0).long()


class _Seen(nn.Module):
    """A linear classifier that records the inputs it is given."""

    def __init__(self, d: int = 5) -> None:
        super().__init__()
        self.lin = nn.Linear(d, 2)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.lin(x)


def _trainer(noise: float, model: nn.Module | None = None, **kw) -> Trainer:
    X, y = _data()
    torch.manual_seed(0)
    return Trainer(model if model is not None else nn.Linear(5, 2), X, y,
                   {"val": _data(1), "test": _data(2)},
                   optim=OptimConfig(input_noise=noise, epochs=3, batch_size=16,
                                     early_stopping=False, **kw))


def test_default_is_set_and_dicts_without_it_trained_on_clean_inputs():
    assert OptimConfig().input_noise is None  # resolved by the data's layout:
    assert OptimConfig().resolved_input_noise("image") == 0.3
    assert OptimConfig().resolved_input_noise("signal") == 0.3
    assert OptimConfig().resolved_input_noise("features") == 0.0
    assert OptimConfig(input_noise=0.2).resolved_input_noise("features") == 0.2
    assert RunConfig.from_changes({"dataset": "digits"}).optim.input_noise is None
    assert RunConfig.from_changes({"arch": "cnn"}).optim.input_noise == 0.0  # its preset
    assert RunConfig.from_changes({"arch": "cnn", "input_noise": 0.2}).optim.input_noise == 0.2
    old = {k: v for k, v in dataclasses.asdict(OptimConfig()).items() if k != "input_noise"}
    assert RunConfig.from_dict({"optim": old}).optim.input_noise == 0.0


@settings(max_examples=20, deadline=None)
@given(s=st.floats(0.05, 2.0))
def test_training_sees_x_plus_s_xi_and_evaluation_the_clean_input(s):
    model = _Seen(d=400)
    X = torch.randn(256, 400, generator=torch.Generator().manual_seed(1))
    y = (X[:, 0] > 0).long()
    trainer = Trainer(model, X, y, {"val": (X, y)},
                      optim=OptimConfig(input_noise=s, epochs=1, early_stopping=False))
    model.train()
    model.seen.clear()
    torch.manual_seed(3)
    trainer.loss(X, y)
    xi = (model.seen[-1] - X) / s
    # xi ~ N(0, I): 102,400 draws, so the mean and std are within ~5 / sqrt(n) of 0 and 1
    tol = 5 / (X.numel() ** 0.5)
    assert abs(float(xi.mean())) < tol and abs(float(xi.std()) - 1) < 3 * tol
    # exactly the trainer's RNG: the same seed draws the same noise
    torch.manual_seed(3)
    assert torch.equal(model.seen[-1], X + s * torch.randn_like(X))
    model.eval()
    model.seen.clear()
    loss, _ = trainer.loss(X, y)
    assert torch.equal(model.seen[-1], X)
    assert torch.equal(loss, layer_cross_entropy(model.lin(X), y, None, 0.1))


def test_zero_noise_is_the_clean_trajectory_and_noise_changes_it():
    a, b, c = _trainer(0.0), _trainer(0.0), _trainer(0.5)
    for t in (a, b, c):
        t.run(progress=False)
    assert torch.equal(a.model.weight, b.model.weight)
    assert not torch.equal(a.model.weight, c.model.weight)
    # the evaluation is of the clean inputs: the records match a fresh evaluation
    m = c.evaluate(*_data(2))
    assert c.history[-1]["test_acc"] == m["acc"]


def test_noise_is_seeded_and_a_resumed_run_continues_it():
    full = _trainer(0.5)
    full.run(progress=False)
    again = _trainer(0.5)
    again.run(progress=False)
    assert torch.equal(full.model.weight, again.model.weight)
    part = _trainer(0.5)
    part.run(stop_after=1, progress=False)
    state = part.state_dict()
    resumed = _trainer(0.5, model=nn.Linear(5, 2))
    resumed.load_state_dict(state)
    resumed.run(progress=False)
    assert torch.equal(full.model.weight, resumed.model.weight)
    assert torch.equal(full.model.bias, resumed.model.bias)
    other = _trainer(0.5, seed=1)
    other.run(progress=False)
    assert not torch.equal(full.model.weight, other.model.weight)


def test_network_and_identity_start_are_unchanged_by_the_setting():
    """The noise lives in the trainer: the same seed builds the same network, still the
    identity on (f, k) with zero logits at initialization, whatever ``input_noise`` is."""
    cfg = RunConfig.from_changes({"dataset": "digits", "depth": 3, "input_noise": 0.0})
    noisy = cfg.replace(input_noise=1.0)
    assert cfg.model == noisy.model
    a, b = (build_network(c, 64, 10, (8, 8)) for c in (cfg, noisy))
    for u, v in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(u, v)
    logits = a.readout(torch.randn(4, 64)).logits
    assert torch.equal(logits, torch.zeros_like(logits))


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), "0.3", True])
def test_bad_values_are_refused(value):
    with pytest.raises(ValueError, match="input_noise"):
        OptimConfig(input_noise=value)


def test_cli_flag_and_its_refusal(capsys, tmp_path):
    capsys.readouterr()
    out = tmp_path / "run"
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--input-noise" in capsys.readouterr().out
    rc = main(["train", "--dataset", "digits", "--input-noise", "-1", "--out", str(out),
               "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "input_noise must be >= 0" in err
    assert not out.exists()


def test_sweep_trains_on_clean_inputs_only():
    assert "input_noise" not in OPTIM_COLUMNS
    assert TrainSettings().optim.input_noise == 0.0
    with pytest.raises(ValueError, match="a sweep trains on clean inputs"):
        TrainSettings.make(input_noise=0.3)
