"""Localization (issue 20, item 2): the CNN's class-channel map splits every layer's logit
exactly over positions and finds a class placed in one cell; the binary cross-entropy loss
matches its definition; and checkpoints written in the background equal those written in
place."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import tol
from idmlp.config import DataConfig, ModelConfig, OptimConfig, RunConfig
from idmlp.faithfulness.methods import METHODS
from idmlp.faithfulness.pointing import pointing_game
from idmlp.nets.cnn import InterpretableCNN
from idmlp.nets.mlp import InterpretableMLP
from idmlp.train.checkpoint import CheckpointWriter
from idmlp.train.losses import layer_cross_entropy
from idmlp.train.runs import fit

F64 = torch.float64
pytestmark = pytest.mark.usefixtures("one_thread")


def _cnn(shape=(6, 5), channels=None, seed=0, classes=3) -> InterpretableCNN:
    image = shape if channels is None else (channels, *shape)
    net = InterpretableCNN(image, classes, depth=3, logit_scale=5.0, dtype=F64,
                           layout=None if channels is None else "image").eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(0.3 * torch.randn(layer.weight.shape, dtype=F64, generator=g))
    return net


@pytest.mark.numerics
@pytest.mark.parametrize("channels", [None, 3])
def test_class_channels_split_every_logit_exactly_over_positions(channels):
    net = _cnn(channels=channels)
    n = net.in_features
    x = torch.randn(7, n, dtype=F64, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([0, 1, 2, 0, 1, 2, 1])
    r = net.readout(x)
    m = r.maps("class_channels", target=target)  # (B, L, *F)
    assert m.shape == (7, net.depth, *r.features.shape[2:])
    want = r.logits.gather(-1, target[:, None, None].expand(7, net.depth, 1))[..., 0]
    # two summation orders of the same n terms: |z| <= s, so an absolute bound s n eps
    atol = float(net.logit_scale) * tol(F64, m[0, 0].numel())
    torch.testing.assert_close(m.flatten(2).sum(-1), want, rtol=0, atol=atol)
    # the input channels share a position's evidence equally
    if channels:
        torch.testing.assert_close(m[:, :, 0], m[:, :, 2], rtol=0, atol=0)


def test_class_channels_need_class_channels():
    mlp = InterpretableMLP(4, 3, depth=2)
    with pytest.raises(ValueError, match="class channels"):
        mlp.readout(torch.randn(2, 4)).maps("class_channels", target=0)
    assert METHODS["class channels"].archs == ("cnn",)


def test_pointing_game_plays_the_class_channels():
    net = _cnn(shape=(4, 4), seed=3, classes=4)
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(9), dtype=F64)
    y = torch.arange(64) % 4
    spec = METHODS["class channels"]
    res = pointing_game(net, x, y, {"cc": lambda big: spec.map_fn(model=big)}, n_grids=8,
                        confidence=0.0, n_resamples=50)
    assert res.grid_shape == (8, 8)
    assert np.all((res.scores["cc"] >= 0) & (res.scores["cc"] <= 1))


def test_binary_cross_entropy_is_its_definition():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, 3, 4, dtype=F64, generator=g)  # (B, L, C)
    y = torch.tensor([0, 3, 1, 2, 3])
    w = torch.tensor([0.2, 0.3, 0.5], dtype=F64)
    eps = 0.1
    got = layer_cross_entropy(z, y, w, eps, loss="binary_cross_entropy")
    t = torch.full((5, 4), eps / 2, dtype=F64)
    t[torch.arange(5), y] = 1 - eps / 2
    p = torch.sigmoid(z)
    per = -(t[:, None] * p.log() + (1 - t[:, None]) * (1 - p).log()).sum(-1)  # (B, L)
    torch.testing.assert_close(got, per.mean(0) @ w)
    last = layer_cross_entropy(z[:, -1], y, None, 0.0, loss="binary_cross_entropy")
    ref = F.binary_cross_entropy_with_logits(z[:, -1], F.one_hot(y, 4).to(F64),
                                             reduction="sum") / 5
    torch.testing.assert_close(last, ref)
    with pytest.raises(ValueError, match="loss must be one of"):
        OptimConfig(loss="hinge")
    with pytest.raises(ValueError, match="loss must be one of"):
        layer_cross_entropy(z, y, w, loss="hinge")


def test_checkpoint_writer_keeps_order_and_reports_errors():
    done: list[int] = []
    state = {"w": torch.zeros(2)}
    with CheckpointWriter() as writer:
        writer.submit(lambda s, k: done.append((s["w"].tolist(), k)), state, 1)
        state["w"].add_(1.0)  # after submit: the job saw a copy
        writer.submit(lambda s, k: done.append((s["w"].tolist(), k)), state, 2)
    assert done == [([0.0, 0.0], 1), ([1.0, 1.0], 2)]

    def fail() -> None:
        raise OSError("disk full")

    writer = CheckpointWriter()
    writer.submit(fail)
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    with pytest.raises(KeyError), CheckpointWriter() as w:  # the block's error wins
        w.submit(fail)
        raise KeyError("first")


def test_background_checkpoints_equal_the_training_state(tmp_path):
    """Every epoch's checkpoint and metrics line, written in the background, hold the state
    at the end of that epoch: the last checkpoint loads the final weights and history."""
    cfg = RunConfig(DataConfig("digits"), ModelConfig(depth=3),
                    OptimConfig(epochs=3, early_stopping=False, loss="binary_cross_entropy"))
    run = fit(cfg, tmp_path / "run", progress=False)
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 3 and len(ckpt["metrics"]) == 3
    for k, v in run.model.state_dict().items():
        assert torch.equal(ckpt["model"][k], v)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(t)["epoch"] for t in lines] == [1, 2, 3]
    assert json.loads(lines[-1]) == run.metrics[-1]
    assert json.loads((tmp_path / "run" / "config.json").read_text()
                      )["config"]["optim"]["loss"] == "binary_cross_entropy"
