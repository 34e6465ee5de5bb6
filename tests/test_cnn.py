"""Tests of the identity-initialized CNN: the Dirac identity, the class-channel readout, the
theory of its Jacobian, and the same training, interpretation, probes and CLI as the MLP."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from idmlp.analysis.interpret import interpret
from idmlp.analysis.probes import compare_probes, hidden_features
from idmlp.cli import main
from idmlp.config import ARCHS, CNNOptions, DataConfig, ModelConfig, OptimConfig
from idmlp.config.sweep import MODEL_COLUMNS
from idmlp.init import identity_, identity_init_, init_weight_
from idmlp.jacobian.dense import jacobian, singular_values
from idmlp.nets.cnn import ClassChannels, InterpretableCNN, image_channels
from idmlp.nets.mlp import InterpretableMLP, build_model
from idmlp.theory import alpha, compare_spectrum, spectrum
from idmlp.train.loop import Trainer
from idmlp.train.runs import RunConfig, fit, load_run

F64 = torch.float64
CONVS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

pytestmark = pytest.mark.usefixtures("one_thread")


def _perturb(net: nn.Module, scale: float, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if p.requires_grad:
                p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))


# -- identity_ for convolution weights -----------------------------------------------------


@given(
    dims=st.integers(1, 3),
    channels=st.integers(1, 4),
    extra_out=st.integers(0, 3),
    half_kernel=st.integers(0, 2),
    dilation=st.integers(1, 3),
    padding_mode=st.sampled_from(PADDING_MODES),
    sigma=st.floats(0.1, 3.0),
)
@settings(max_examples=60, deadline=None, derandomize=True)
def test_dirac_identity_is_sigma_times_the_input_for_any_padding(
    dims: int, channels: int, extra_out: int, half_kernel: int, dilation: int,
    padding_mode: str, sigma: float,
) -> None:
    """A same-size convolution with the Dirac kernel copies every input channel, scaled by
    sigma, at every pixel (border pixels included), for every padding mode; extra output
    channels are zero. In float64 the one nonzero product is exact."""
    k = 2 * half_kernel + 1
    size = 2 * dilation * half_kernel + 2  # circular/reflect padding need size > padding
    conv = CONVS[dims](channels, channels + extra_out, k, padding=dilation * half_kernel,
                       dilation=dilation, padding_mode=padding_mode, bias=False, dtype=F64)
    assert identity_(conv.weight, sigma) is conv.weight
    x = torch.randn(2, channels, *[size] * dims, dtype=F64)
    y = conv(x)
    assert y.shape[2:] == x.shape[2:]
    assert torch.equal(y[:, :channels], sigma * x)
    assert torch.count_nonzero(y[:, channels:]) == 0


def test_identity_of_a_grouped_convolution_keeps_every_group() -> None:
    conv = nn.Conv2d(4, 4, 3, padding=1, groups=2, bias=False, dtype=F64)
    identity_(conv.weight, 1.5, groups=2)
    x = torch.randn(3, 4, 5, 5, dtype=F64)
    assert torch.equal(conv(x), 1.5 * x)
    depthwise = nn.Conv1d(3, 3, 5, padding=2, groups=3, bias=False, dtype=F64)
    identity_init_(depthwise)
    x = torch.randn(2, 3, 9, dtype=F64)
    assert torch.equal(depthwise(x), x)


@pytest.mark.parametrize(
    ("shape", "groups", "match"),
    [
        ((4, 4, 2, 2), 1, "even size"),
        ((4, 4, 3, 4), 1, "even size"),
        ((4, 4, 2), 1, "even size"),
        ((6, 2, 3, 3), 4, "not divisible by groups"),
        ((4, 4, 3, 3, 3, 3), 1, "2-D weight"),
        ((4,), 1, "2-D weight"),
        ((), 1, "2-D weight"),
    ],
)
def test_identity_refuses_shapes_without_an_identity(
    shape: tuple[int, ...], groups: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match) as err:
        identity_(torch.empty(shape), groups=groups)
    assert "\n" not in str(err.value)
    if len(shape) in (3, 4, 5):  # the message names the valid shapes
        assert "odd kernel sizes" in str(err.value) and "groups dividing out" in str(
            err.value)


def test_identity_follows_torch_init_conventions() -> None:
    """gain= as torch.nn.init names it; fewer output than input channels as dirac_ does;
    an integer tensor refused in one line."""
    a, b = identity_(torch.empty(3, 3), gain=2.0), identity_(torch.empty(3, 3), sigma=2.0)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="give the scale once"):
        identity_(torch.empty(3, 3), sigma=2.0, gain=3.0)
    with pytest.raises(ValueError, match="gain must be a finite number > 0"):
        identity_(torch.empty(3, 3), gain=-1.0)
    narrow = identity_(torch.empty(2, 3, 3, 3), sigma=1.5)
    ref = nn.init.dirac_(torch.empty(2, 3, 3, 3)) * 1.5
    assert torch.equal(narrow, ref)
    with pytest.raises(ValueError, match="floating-point tensor, got torch.int64"):
        identity_(torch.empty(3, 3, dtype=torch.int64))


def test_identity_refuses_groups_on_a_matrix_and_bad_groups() -> None:
    with pytest.raises(ValueError, match="groups applies to convolution"):
        identity_(torch.empty(3, 3), groups=3)
    with pytest.raises(ValueError, match="groups must be an integer"):
        identity_(torch.empty(3, 3, 3), groups=0)


def test_identity_init_covers_conv1d_2d_3d_and_zeroes_their_bias() -> None:
    net = nn.Sequential(nn.Conv1d(2, 2, 3), nn.Conv2d(2, 3, 5), nn.Conv3d(3, 3, 1),
                        nn.Linear(4, 4))
    identity_init_(net, sigma=0.5)
    for m in net:
        assert torch.count_nonzero(m.bias) == 0
        w = m.weight
        assert torch.count_nonzero(w) == min(w.shape[:2])
        if w.ndim > 2:
            centre = w[(slice(None), slice(None), *(s // 2 for s in w.shape[2:]))]
            assert torch.equal(centre, 0.5 * torch.eye(*centre.shape))


@pytest.mark.parametrize("scheme", ["orthogonal", "xavier", "he"])
def test_random_schemes_on_convolution_weights_count_the_kernel_taps(scheme: str) -> None:
    gen = torch.Generator().manual_seed(0)
    w = init_weight_(torch.empty(64, 64, 3, 3), scheme, 2.0, gen)
    fan = 64 * 9
    if scheme == "orthogonal":
        flat = w.flatten(1)
        torch.testing.assert_close(flat @ flat.T, 4.0 * torch.eye(64), atol=1e-4, rtol=0)
    else:
        std = 2.0 * math.sqrt((2.0 / (2 * fan)) if scheme == "xavier" else 2.0 / fan)
        assert abs(w.std().item() / std - 1) < 0.05


# -- the readout rule and the network -----------------------------------------------------


def test_image_channels_and_rule_shapes() -> None:
    assert image_channels((5, 6)) == (1, 5, 6)
    assert image_channels((2, 5, 6)) == (2, 5, 6)
    assert image_channels((64,)) == (1, 64)  # a signal (1-D convolutions)
    for bad in [(1, 2, 3, 4), (0, 4), ()]:
        with pytest.raises(ValueError, match=r"signal \(L,\) or \(C, L\) or an image|"
                                             "image_shape must be positive"):
            image_channels(bad)
    rule = ClassChannels((2, 3, 4), num_classes=3, extra_channels=2)
    assert (rule.in_channels, rule.spatial, rule.in_features, rule.channels) == (2, (3, 4),
                                                                                  24, 7)
    z = torch.randn(5, 24, dtype=F64)
    x0 = rule.embed(z, input_scale=0.5)
    assert x0.shape == (5, 7, 3, 4)
    assert torch.equal(x0[:, :2], 0.5 * z.reshape(5, 2, 3, 4))
    assert torch.count_nonzero(x0[:, 2:]) == 0
    x = torch.randn(4, 5, 7, 3, 4, dtype=F64)  # leading (run, batch) dimensions pass through
    torch.testing.assert_close(rule.logits(x, 2.0), 2.0 * x[..., 4:, :, :].mean((-2, -1)))
    assert torch.equal(rule.features(x), x[..., :2, :, :])
    with pytest.raises(ValueError, match="expected flattened inputs with 24 features"):
        rule.embed(torch.randn(5, 23))


def test_identity_cnn_is_sigma_identity_on_input_and_class_channels() -> None:
    """At the Dirac start (extra channels' random filters included: nobody reads them yet)
    inputs inside the hard-tanh range pass unchanged: zero contributions, zero logits."""
    net = InterpretableCNN((2, 6, 7), 3, depth=5, extra_channels=3, dilations=(1, 2),
                           extra_init_std=1.0, dtype=F64,
                           generator=torch.Generator().manual_seed(0))
    z = torch.rand(4, 84, dtype=F64) * 1.8 - 0.9
    r = net.readout(z)
    assert r.logits.shape == (4, 5, 3) and r.states.shape == (4, 6, 8, 6, 7)
    assert r.contributions.shape == (4, 5, 2, 6, 7)
    assert r.contribution_images().shape == (4, 5, 2, 6, 7)
    assert torch.count_nonzero(r.contributions) == 0
    assert torch.count_nonzero(r.logits) == 0
    assert torch.count_nonzero(r.states[:, 1:, 2:5]) > 0  # the extra channels are alive
    assert torch.all(net.block_identity_distance()["class"] == 0)


def test_exact_dirac_start_leaves_the_extra_channels_dead() -> None:
    """Why the extra channels' rows get random filters: from the exact Dirac start their
    activations and their weights' gradients are exactly zero, so training never moves
    them (a saddle)."""
    net = InterpretableCNN((6, 6), 3, depth=3, extra_channels=2, extra_init_std=0.0,
                           logit_scale=4.0, dtype=F64)
    assert torch.all(net.identity_distance() == 0)
    X = torch.randn(64, 36, dtype=F64)
    y = torch.arange(64) % 3
    trainer = Trainer(net, X, y, {"val": (X, y)},
                      optim=OptimConfig(lr=1e-2, layer_loss="all", batch_size=16, epochs=2))
    trainer.run(progress=False)
    dirac = net.dirac()
    for layer in net.layers:
        assert torch.equal(layer.weight[1:3], dirac[1:3])  # extra rows: untouched
        assert torch.count_nonzero(layer.weight[:, 1:3] - dirac[:, 1:3]) == 0  # read by none
    assert torch.all(net.block_identity_distance()["class"] > 0)


def test_readout_rule_is_the_same_at_every_layer() -> None:
    net = InterpretableCNN((5, 5), 4, depth=4, extra_channels=2, kernel_size=3,
                           dilations="1,2", logit_scale=3.0, bias=True, dtype=F64,
                           generator=torch.Generator().manual_seed(1))
    _perturb(net, 0.1)
    z = torch.randn(6, 25, dtype=F64)
    states = net.forward_layers(net.embed(z))
    r = net.readout(z)
    assert torch.equal(r.states, states)
    s = float(net.logit_scale)
    torch.testing.assert_close(r.logits, s * states[:, 1:, 3:].mean((-2, -1)))
    torch.testing.assert_close(net.layer_logits(z), r.logits)
    torch.testing.assert_close(net(z), r.logits[:, -1])
    torch.testing.assert_close(r.contributions, states[:, 1:, :1] - states[:, :1, :1])
    assert net.hidden_states(z).shape == (6, 5, 7 * 25)
    torch.testing.assert_close(net.hidden_states(z), states.flatten(2))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    for l, acc in enumerate(r.accuracy(y)):
        assert acc == (states[:, l + 1, 3:].mean((-2, -1)).argmax(-1) == y).float().mean()


def test_receptive_field_and_dilations() -> None:
    net = InterpretableCNN((28, 28), 10, depth=6, extra_channels=1, dilations=(1, 2, 4))
    assert net.layer_dilations() == [1, 2, 4, 1, 2, 4]
    assert net.receptive_field() == [3, 7, 15, 17, 21, 29]
    assert [layer.padding for layer in net.layers] == [(d, d) for d in net.layer_dilations()]
    five = InterpretableCNN((28, 28), 10, depth=2, kernel_size=5)  # default dilations 1,2,4,8
    assert five.receptive_field() == [5, 13]
    assert "13 = 1 + 2 + 10 channels" in InterpretableCNN(
        (8, 8), 10, depth=2, extra_channels=2).describe()


def test_identity_distance_per_block() -> None:
    net = InterpretableCNN((4, 4), 2, depth=3, extra_channels=1, sigma=2.0, extra_init_std=0.0,
                           dtype=F64)
    with torch.no_grad():
        net.layers[1].weight[3, 0, 0, 0] = 0.5  # a class row
        net.layers[2].weight[0, 0, 1, 1] += 1.0  # the input channel's centre tap
    d = net.block_identity_distance()
    torch.testing.assert_close(d["class"], torch.tensor([0, 0.5 / (2 * 2**0.5), 0], dtype=F64))
    torch.testing.assert_close(d["feature"], torch.tensor([0, 0, 1.0 / 2], dtype=F64))
    assert torch.all(d["extra"] == 0)
    torch.testing.assert_close(net.identity_distance(),
                               torch.tensor([0, 0.125, 0.25], dtype=F64))
    m = net.layer_metrics()
    assert set(m) == {"identity_distance", "logit_scale"}
    assert {"feature", "class"} <= set(m["identity_distance"])


@pytest.mark.parametrize("init", ["identity", "orthogonal", "xavier", "he"])
def test_initializations_are_seeded_and_channels_last(init: str) -> None:
    def make(seed: int) -> InterpretableCNN:
        return InterpretableCNN((6, 6), 3, depth=2, init=init, extra_channels=2,
                                extra_init_std=0.5, generator=torch.Generator().manual_seed(seed))

    a, b, c = make(0), make(0), make(1)
    for la, lb, lc in zip(a.layers, b.layers, c.layers, strict=True):
        assert la.weight.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(la.weight, lb.weight) and not torch.equal(la.weight, lc.weight)
    assert torch.isfinite(a(torch.randn(4, 36))).all()
    # the random filters sit in the extra rows only; the other rows keep the Dirac start
    if init == "identity":
        d = a.weight_stack() - a.dirac()
        assert torch.count_nonzero(d[:, :1]) == 0 and torch.count_nonzero(d[:, 3:]) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernel_size": 4}, "kernel_size must be odd"),
        ({"kernel_size": 0}, "kernel_size must be an integer >= 1"),
        ({"dilations": "1,0"}, "dilations must be a comma list"),
        ({"dilations": ()}, "dilations must be a comma list"),
        ({"extra_channels": -1}, "extra_channels must be an integer >= 0"),
        ({"extra_init_std": -0.1}, "extra_init_std must be a finite number >= 0"),
        ({"image_shape": (2, 3, 4, 5)}, r"an image \(H, W\) or \(C, H, W\)"),
        ({"num_classes": 1}, "num_classes must be an integer >= 2"),
        ({"depth": 0}, "depth must be an integer >= 1"),
    ],
)
def test_cnn_refuses_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"image_shape": (8, 8), "num_classes": 3, "depth": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        InterpretableCNN(**args)


# -- configs -------------------------------------------------------------------------------


def test_model_config_for_cnn() -> None:
    cfg = ModelConfig(arch="cnn", depth=3).for_data(64, 10, (8, 8))
    assert cfg.options == CNNOptions()
    net = build_model(cfg)
    assert isinstance(net, InterpretableCNN) and net.config == cfg
    clone = build_model(net.config)
    clone.load_state_dict(net.state_dict())
    assert RunConfig().replace(arch="cnn", kernel_size=5, dilations="1, 2").model.options \
        == CNNOptions(kernel_size=5, dilations="1,2")
    assert RunConfig.from_dict(RunConfig(model=cfg).to_dict()).model == cfg
    # An MLP refuses the CNN's options (by name, or as an options object).
    with pytest.raises(ValueError, match="kernel_size applies to arch 'cnn' only"):
        ModelConfig().replace(kernel_size=3)
    with pytest.raises(ValueError, match="options of arch 'mlp' must be a MLPOptions"):
        ModelConfig(options=CNNOptions())
    with pytest.raises(ValueError, match="arch cnn needs a signal"):
        ModelConfig(arch="cnn").for_data(120, 10, (2, 3, 4, 5))
    with pytest.raises(ValueError, match="got a signal of shape"):
        ModelConfig(arch="cnn").for_data(120, 10, (2, 3, 20), "signal")
    with pytest.raises(ValueError, match="arch 'mlp'"):
        InterpretableMLP.from_config(cfg)
    assert "arch" in MODEL_COLUMNS and "options" not in MODEL_COLUMNS


# -- theory: the Jacobian at the Dirac start ------------------------------------------------


@pytest.mark.parametrize(("sigma", "q0", "depth"), [(1.0, 0.5, 4), (1.1, 0.3, 3), (0.9, 2.0, 4)])
def test_dirac_cnn_jacobian_follows_the_coordinatewise_law(
    sigma: float, q0: float, depth: int
) -> None:
    """With the Dirac start and no bias every pixel of every channel evolves on its own:
    J is diagonal and the eigenvalues of J J^T follow idmlp.theory.spectrum (hard-tanh: the
    atoms 0 and sigma^(2L), mass alpha at the latter), here at Gaussian states x^0 on all
    channels, through the autograd path of idmlp.jacobian.dense."""
    net = InterpretableCNN((6, 6), 2, depth=depth, sigma=sigma, extra_channels=1,
                           extra_init_std=0.0, dilations=(1, 2), dtype=F64)
    stack = net.layer_stack()
    d = net.channels * 36  # 4 channels x 36 pixels = 144 coordinates
    gen = torch.Generator().manual_seed(depth)
    x0 = torch.randn(12, d, generator=gen, dtype=F64) * math.sqrt(q0)
    J = jacobian(stack, x0, method="autograd", dtype=F64)
    assert J.shape == (12, d, d)
    assert torch.count_nonzero(J - torch.diag_embed(torch.diagonal(J, dim1=1, dim2=2))) == 0
    lam = singular_values(stack, x0, method="autograd", dtype=F64) ** 2
    law = spectrum(sigma, q0, depth)
    cmp = compare_spectrum(lam, law)
    n = lam.numel()
    a = alpha(sigma, q0, depth)
    assert cmp.nonzero_theory == pytest.approx(a, abs=1e-9)
    se = math.sqrt(max(a * (1 - a), 1e-12) / n)
    assert abs(cmp.nonzero_empirical - a) <= 4 * se + 1.0 / n
    top = sigma ** (2 * depth)
    atoms = (lam.abs() <= 1e-12 * top) | ((lam / top - 1).abs() <= 1e-9)
    assert bool(atoms.all())
    assert cmp.ks <= cmp.ks_bound


def test_dirac_cnn_jacobian_at_embedded_inputs() -> None:
    """From x^0 = (sqrt(q0) z, 0, 0): the zero-started channels sit at hard-tanh's slope 1,
    so their eigenvalues are the atom sigma^(2L); the input channel follows the law."""
    sigma, q0, depth = 1.05, 0.4, 3
    net = InterpretableCNN((5, 5), 2, depth=depth, sigma=sigma, q0=q0, extra_channels=1,
                           extra_init_std=0.0, dtype=F64)
    z = torch.randn(16, 25, generator=torch.Generator().manual_seed(3), dtype=F64)
    J = jacobian(net.layer_stack(), net.embed(z).flatten(1), method="autograd", dtype=F64)
    diag = torch.diagonal(J, dim1=1, dim2=2) ** 2  # (16, 4 channels x 25)
    torch.testing.assert_close(diag[:, 25:], torch.full_like(diag[:, 25:], sigma ** (2 * depth)))
    cmp = compare_spectrum(diag[:, :25], spectrum(sigma, q0, depth))
    assert abs(cmp.z) < 4 and cmp.ks <= cmp.ks_bound


def test_perturbed_cnn_jacobian_equals_torch_autograd() -> None:
    net = InterpretableCNN((2, 5, 4), 3, depth=3, activation="tanh", bias=True,
                           extra_channels=1, dilations=(1, 2), kernel_size=3, dtype=F64,
                           generator=torch.Generator().manual_seed(0))
    _perturb(net, 0.2, seed=1)
    stack = net.layer_stack()
    x0 = net.embed(torch.randn(3, 40, dtype=F64)).flatten(1)
    ours = jacobian(stack, x0, method="autograd", dtype=F64)
    for b in range(len(x0)):
        ref = torch.autograd.functional.jacobian(lambda v: stack(v[None])[0], x0[b])
        torch.testing.assert_close(ours[b], ref, atol=1e-8, rtol=0)
    ref_sv = torch.linalg.svdvals(torch.stack([
        torch.autograd.functional.jacobian(lambda v: stack(v[None])[0], x) for x in x0]))
    torch.testing.assert_close(singular_values(stack, x0, method="autograd", dtype=F64),
                               ref_sv, atol=1e-8, rtol=0)


# -- training, interpretation, probes, CLI -------------------------------------------------

DIGITS_CNN = RunConfig(DataConfig(dataset="digits", val_size=0.1, scaling="global"),
                       ModelConfig(arch="cnn", depth=3, options=CNNOptions(extra_channels=2)),
                       OptimConfig(epochs=2, batch_size=128, lr=3e-3, layer_loss="all"))


def test_fit_resume_and_load_run_of_a_cnn(tmp_path) -> None:
    whole = fit(DIGITS_CNN, tmp_path / "whole", progress=False)
    assert isinstance(whole.model, InterpretableCNN)
    part = tmp_path / "part"
    fit(DIGITS_CNN, part, stop_after=1, progress=False)
    resumed = fit(None, part, resume=True, progress=False)
    for (k, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values(),
                         strict=True):
        assert torch.equal(a, b), k
    loaded = load_run(tmp_path / "whole")
    assert loaded.model.config == whole.model.config
    last = loaded.metrics[-1]
    assert len(last["layer_val_acc"]) == 3 and len(last["identity_distance"]["class"]) == 3
    # the record was scored by the same evaluator on the same weights: equal, not close
    interp = interpret(loaded.model, *loaded.tensors("test"))
    assert interp.accuracy.tolist() == last["layer_test_acc"]
    assert interp.sample_contributions.shape == (10, 3, 8, 8)
    assert interp.class_contributions.shape[-2:] == (8, 8)
    # A run folder of the previous format (the CNN's options flat in the model config,
    # None for an MLP) loads and resumes to the same weights.
    old = tmp_path / "old"
    fit(DIGITS_CNN, old, stop_after=1, progress=False)
    info = json.loads((old / "config.json").read_text())
    for part in (info["config"]["model"], info["model"]):
        part.update(part.pop("options"))
    (old / "config.json").write_text(json.dumps(info))
    assert load_run(old).config == DIGITS_CNN
    again = fit(None, old, resume=True, progress=False)
    for a, b in zip(whole.model.state_dict().values(), again.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_probes_read_the_cnn_hidden_states() -> None:
    X = torch.randn(60, 16)
    y = torch.arange(60) % 3
    net = InterpretableCNN((4, 4), 3, depth=2, extra_channels=1,
                           generator=torch.Generator().manual_seed(0))
    _perturb(net, 0.05)
    assert hidden_features(net, X).shape == (60, 2, 5 * 16)
    cmp = compare_probes(net, X[:40], y[:40], X[40:], y[40:], max_iter=20)
    assert cmp.own is not None and cmp.own.n_features == 80 and cmp.depth == 2


def test_cli_train_interpret_round_trip(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    argv = ["train", "--dataset", "digits", "--arch", "cnn", "--depth", "3", "--extra-channels",
            "2", "--kernel-size", "3", "--dilations", "1,2", "--val-size", "0.1", "--scaling",
            "global", "--layer-loss", "all", "--epochs", "1", "--batch-size", "256",
            "--quiet", "--out", str(run)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "receptive" in printed and "last-layer test accuracy" in printed
    info = json.loads((run / "config.json").read_text())
    assert info["model"]["arch"] == "cnn" and info["model"]["options"]["dilations"] == "1,2"
    assert main(["interpret", str(run), "--quiet"]) == 0
    summary = json.loads((run / "interpret" / "interpretation.json").read_text())
    trained = load_run(run)
    assert summary["per_layer"]["accuracy"] == trained.metrics[-1]["layer_test_acc"]
    assert summary["image_shape"] == [8, 8]
    assert (run / "interpret" / "report.html").is_file()
    np.testing.assert_array_equal(summary["per_layer"]["class_distance"],
                                  trained.metrics[-1]["identity_distance"]["class"])


def _cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse usage errors
        return int(exc.code)


@pytest.mark.parametrize(
    "argv",
    [
        ["--arch", "rnn"],
        ["--arch", "cnn", "--kernel-size", "4"],
        ["--arch", "cnn", "--kernel-size", "three"],
        ["--arch", "cnn", "--dilations", "1,0"],
        ["--arch", "cnn", "--dilations", "1,x"],
        ["--arch", "cnn", "--extra-channels", "-1"],
        ["--arch", "cnn", "--extra-init-std", "-1"],
        ["--arch", "cnn", "--extra-init-std", "nan"],
        ["--kernel-size", "3"],
        ["--dilations", "1,2"],
    ],
)
def test_cli_bad_cnn_flags_are_one_line_exit_2_no_folder(tmp_path, capsys, argv) -> None:
    out = tmp_path / "run"
    assert _cli(["train", "--dataset", "digits", "--depth", "2", "--quiet", "--out", str(out),
                 *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err
    assert list(tmp_path.iterdir()) == []


def test_cli_cnn_on_flat_features_reads_one_signal(tmp_path, capsys) -> None:
    data = tmp_path / "flat.npz"
    rng = np.random.default_rng(0)
    np.savez(data, X=rng.normal(size=(60, 12)).astype(np.float32), y=np.arange(60) % 3)
    out = tmp_path / "run"
    assert _cli(["train", "--dataset", f"npz:{data}", "--arch", "cnn", "--depth", "2",
                 "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    assert "1-D CNN" in load_run(out).model.describe()
    capsys.readouterr()
    # samples of four dimensions are neither signals nor images: one line, nothing written
    bad = tmp_path / "4d.npz"
    np.savez(bad, X=rng.normal(size=(60, 2, 2, 2, 2)).astype(np.float32), y=np.arange(60) % 3)
    out2 = tmp_path / "run2"
    for cmd in ("train", "reproduce"):
        assert _cli([cmd, "--dataset", f"npz:{bad}", "--arch", "cnn", "--depth", "2",
                     "--quiet", "--out", str(out2)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "arch cnn needs a signal" in err
        assert not out2.exists()


def test_reproduce_a_cnn(tmp_path, capsys) -> None:
    out = tmp_path / "rep"
    assert main(["reproduce", "--dataset", "digits", "--arch", "cnn", "--depth", "2",
                 "--extra-channels", "1", "--epochs", "1", "--probe-epochs", "1", "--quiet",
                 "--out", str(out)]) == 0
    summary = json.loads((out / "reproduce.json").read_text())
    assert len(summary["per_layer_test_accuracy"]) == 2
    assert summary["probes"]["standard"] is not None
    html = (out / "report.html").read_text()
    assert "InterpretableCNN" in html and "CNN of depth 2" in html
    assert "default optimizer (Adam, lr 0.0003" in html  # not the CNN's rate


def test_arch_cnn_brings_its_recommended_settings_unless_given() -> None:
    from idmlp.cli import build_parser
    from idmlp.cli.train import config_changes

    for command in ("train", "reproduce"):  # one place decides, for both commands
        args = build_parser().parse_args([command, "--arch", "cnn", "--lr", "0.003"])
        cfg = RunConfig.from_changes(config_changes(args))
        assert cfg.optim.lr == 0.003  # given: kept
        assert cfg.model.depth == ARCHS["cnn"].presets["depth"]
        assert cfg.optim.layer_loss == "all"
        assert cfg.data.resolved_scaling((28, 28)) == "global"
        assert cfg.model.options == CNNOptions()
    plain = build_parser().parse_args(["train", "--depth", "5"])
    assert RunConfig.from_changes(config_changes(plain)) == RunConfig().replace(depth=5)
