"""The interpretable CNN on 1-D signals: Conv1d layers started at the Dirac kernel, the
layout of a sample (signal or image), the exact evidence split, and the maps as curves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from idmlp.analysis.interpret import interpret, interpret_run
from idmlp.cli import main
from idmlp.config import DataConfig, ModelConfig, OptimConfig, RunConfig, conv_layout
from idmlp.nets.base import build_model
from idmlp.nets.cnn import ClassChannels, InterpretableCNN
from idmlp.plots.interpret import save_interpretation_figures
from idmlp.train.runs import fit, load_run

F64 = torch.float64
EPS = torch.finfo(F64).eps

pytestmark = pytest.mark.usefixtures("one_thread")


@settings(max_examples=20, deadline=None)
@given(length=st.integers(4, 30), c_in=st.integers(1, 3), extra=st.integers(0, 4),
       depth=st.integers(1, 5), sigma=st.floats(0.5, 1.5), kernel=st.sampled_from([1, 3, 5]),
       std=st.floats(0.0, 2.0))
def test_conv1d_dirac_start_is_sigma_identity_on_input_and_class_channels(
        length, c_in, extra, depth, sigma, kernel, std):
    shape = (length,) if c_in == 1 else (c_in, length)
    net = InterpretableCNN(shape, 3, depth, sigma, extra_channels=extra, kernel_size=kernel,
                           extra_init_std=std, layout="signal",
                           generator=torch.Generator().manual_seed(0), dtype=F64)
    assert all(isinstance(layer, nn.Conv1d) for layer in net.layers)
    assert net.state_shape == (c_in + extra + 3, length)
    z = torch.randn(6, c_in * length, dtype=F64, generator=torch.Generator().manual_seed(1))
    states = net.hidden_states(z).reshape(6, depth + 1, *net.state_shape)
    x = states[:, 0]
    for l in range(1, depth + 1):  # f and k: phi(sigma x) coordinate-wise
        x = net.act(sigma * x)
        torch.testing.assert_close(states[:, l, :c_in], x[:, :c_in], rtol=0, atol=0)
        assert torch.count_nonzero(states[:, l, c_in + extra :]) == 0
    assert torch.count_nonzero(net.readout(z).logits) == 0
    # every kernel: sigma times the 1-D Dirac kernel on the rows of f and k
    for layer in net.layers:
        w = layer.weight.detach()
        keep = [*range(c_in), *range(c_in + extra, net.channels)]
        torch.testing.assert_close(w[keep], net.dirac()[keep], rtol=0, atol=0)


@pytest.mark.numerics
def test_evidence_of_a_signal_cnn_splits_exactly():
    net = InterpretableCNN((2, 12), 3, depth=3, sigma=0.9, extra_channels=2, layout="signal",
                           generator=torch.Generator().manual_seed(2), dtype=F64)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(0.03 * torch.randn(layer.weight.shape, generator=g, dtype=F64))
    z = 0.2 * torch.randn(5, 24, dtype=F64, generator=g)
    r = net.readout(z)
    assert r.states.abs().max() < 0.95
    y = torch.tensor([0, 1, 2, 0, 1])
    feat, other = r.evidence_terms(y)
    assert feat.shape == (5, 3, 2, 12) and other.shape == (5, 3, 2 + 3)
    k = r.states[torch.arange(5), :, 4 + y].mean(-1)  # class channel means, (B, L+1)
    change = k[:, 1:] - net.sigma * k[:, :-1]
    torch.testing.assert_close(feat.sum((-2, -1)) + other.sum(-1), change, rtol=0,
                               atol=64 * EPS)
    shares = r.evidence_shares(y)
    assert float(shares["extra"].detach().mean()) > 0


def test_layout_decides_signal_or_image():
    assert conv_layout((40,)) == "signal" and conv_layout((2, 40)) == "image"
    assert conv_layout((2, 40), "signal") == "signal"
    assert conv_layout((40,), "features") == "signal"  # a flat vector: one signal
    for shape, layout in [((2, 3, 4), "signal"), ((40,), "image"), ((2, 2, 2, 2), None),
                          ((2, 2, 2, 2), "features")]:
        with pytest.raises(ValueError, match="arch cnn needs a signal"):
            conv_layout(shape, layout)
    rule = ClassChannels((2, 40), 3, layout="signal")
    assert rule.channel_shape == (2, 40) and rule.state_ndim == 2 and rule.is_signal
    x = rule.embed(torch.ones(1, 80))
    assert x.shape == (1, 5, 40)
    torch.testing.assert_close(rule.logits(x + 1, 2.0), torch.full((1, 3), 2.0))
    cfg = ModelConfig(arch="cnn", depth=2).for_data(80, 3, (2, 40), "signal")
    net = build_model(cfg)
    assert net.layout == "signal" and net.config == cfg
    assert "1-D CNN" in net.describe() and "samples" in net.describe()
    assert isinstance(build_model(cfg.for_data(80, 3, (2, 40))).layers[0], nn.Conv2d)


def _signals(tmp_path, *, channels: int = 1, layout: str | None = "signal", n: int = 90):
    """A small npz of signals: class c is a bump at position 4 + 6c (noisy)."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    pos = np.arange(24)
    X = rng.normal(0, 0.3, size=(n, channels, 24))
    X += np.exp(-0.5 * (pos[None, None] - (4 + 6 * y)[:, None, None]) ** 2)
    arrays = {"X": X.reshape(n, -1).astype(np.float32), "y": y,
              "image_shape": np.array((channels, 24) if channels > 1 else (24,))}
    if layout is not None:
        arrays["layout"] = np.array(layout)
    path = tmp_path / f"signals{channels}.npz"
    np.savez(path, **arrays)
    return path


def test_train_interpret_and_draw_a_signal_cnn(tmp_path):
    data = _signals(tmp_path, channels=2)
    cfg = RunConfig(DataConfig(f"npz:{data}", val_size=0.2), ModelConfig("cnn", depth=3),
                    OptimConfig(epochs=3, lr=1e-2, early_stopping=False))
    run = fit(cfg, tmp_path / "run", progress=False)
    assert isinstance(run.model.layers[0], nn.Conv1d) and run.model.layout == "signal"
    assert load_run(tmp_path / "run").model.layout == "signal"
    interp = interpret_run(run)
    assert interp.is_signal and not interp.is_image
    assert interp.sample_maps["evidence"].shape[-2:] == (2, 24)
    paths = save_interpretation_figures(interp, tmp_path / "fig")
    assert {"contribution_maps", "class_contributions", "evidence_shares"} <= set(paths)
    assert all(p.stat().st_size > 1000 for p in paths.values())
    # an interpretation round-trips with its layout and shares
    interp.save(tmp_path / "i.npz")
    back = type(interp).load(tmp_path / "i.npz")
    assert back.layout == "signal" and set(back.evidence_shares) == {"feature", "extra",
                                                                      "class"}


def test_mlp_interpretation_of_signals_draws_curves(tmp_path):
    net = build_model(ModelConfig(depth=2).replace(extra_features=0).for_data(24, 3, (24,),
                                                                               "signal"))
    X, y = torch.randn(12, 24), torch.arange(12) % 3
    interp = interpret(net, X, y, layout="signal")
    assert interp.is_signal
    assert "contribution_maps" in save_interpretation_figures(interp, tmp_path)


def test_layout_flag_and_mismatches_are_one_line_exit_2(tmp_path, capsys):
    data = _signals(tmp_path, channels=2, layout=None)  # (2, 24) without a layout: an image
    out = tmp_path / "run"
    assert main(["train", "--dataset", f"npz:{data}", "--arch", "cnn", "--depth", "2",
                 "--epochs", "1", "--layout", "signal", "--quiet", "--out", str(out)]) == 0
    assert isinstance(load_run(out).model.layers[0], nn.Conv1d)
    capsys.readouterr()
    flat = _signals(tmp_path, channels=1)  # (24,): a signal cannot be an image
    for argv, words in [(["--dataset", f"npz:{flat}", "--layout", "image"], "(H, W)"),
                        (["--layout", "curve"], "layout must be one of")]:
        bad = tmp_path / "bad"
        assert main(["train", *argv, "--quiet", "--out", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err
        assert not bad.exists()
