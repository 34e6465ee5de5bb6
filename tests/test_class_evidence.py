"""Class evidence as a Captum-style attribution (idmlp.attribution.ClassEvidence), natural
input shapes in the networks, and an interpretable MLP trained by a plain PyTorch loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from idmlp.attribution import ClassEvidence
from idmlp.config import ModelConfig
from idmlp.nets.base import build_model
from idmlp.nets.mlp import InterpretableMLP


def _net(arch: str, depth: int = 4) -> torch.nn.Module:
    cfg = ModelConfig(arch=arch, depth=depth).for_data(16, 3, (4, 4))
    net = build_model(cfg, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # move off the identity so that the evidence is not zero
        for name, p in net.named_parameters():
            if "logit" not in name:  # weights, and the residual arm's branch scales
                p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    return net.eval()


@pytest.mark.parametrize("arch", ["mlp", "cnn", "residual"])
@pytest.mark.parametrize("shape", [(16,), (4, 4), (1, 4, 4)])
def test_attribute_is_the_readout_map_in_the_inputs_shape(arch, shape):
    net = _net(arch)
    x = torch.randn(6, *shape, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    readout = net.readout(x.reshape(6, 16))
    for signed, name in ((False, "evidence"), (True, "evidence_signed")):
        maps = readout.maps(name, target=y)
        got = ClassEvidence(net).attribute(x, target=y, signed=signed)
        assert got.shape == x.shape
        assert torch.equal(got, maps[:, -1].reshape(x.shape))
        assert torch.equal(ClassEvidence(net).attribute(x, target=y, layer=2, signed=signed),
                           maps[:, 1].reshape(x.shape))
    # default target: the prediction at the last layer
    pred = readout.logits[:, -1].argmax(-1)
    assert torch.equal(ClassEvidence(net).attribute(x), readout.maps(target=pred)[:, -1]
                       .reshape(x.shape))
    assert torch.count_nonzero(ClassEvidence(net).attribute(x, target=y)) > 0


def test_numpy_in_numpy_out_and_quantus_signature():
    net = _net("mlp")
    x = np.random.default_rng(0).normal(size=(4, 1, 4, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    a = ClassEvidence(net).attribute(x, target=y)
    assert isinstance(a, np.ndarray) and a.shape == x.shape
    ref = net.readout(torch.from_numpy(x).flatten(1)).maps("evidence", target=torch.from_numpy(y))
    np.testing.assert_array_equal(a, ref[:, -1].reshape(x.shape).detach().numpy())
    # Quantus calls explain_func(model=..., inputs=..., targets=..., **kwargs)
    np.testing.assert_array_equal(ClassEvidence(net)(model=net, inputs=x, targets=y), a)
    other = _net("mlp", depth=3)
    np.testing.assert_array_equal(ClassEvidence(net)(model=other, inputs=x, targets=y),
                                  ClassEvidence(other).attribute(x, target=y))
    assert ClassEvidence(net).has_convergence_delta() is False


def test_bad_input_is_one_clear_value_error():
    net = _net("mlp")
    x = torch.randn(2, 16)
    with pytest.raises(ValueError, match=r"layer must be in 1\.\.4 or -4\.\.-1"):
        ClassEvidence(net).attribute(x, layer=0)
    with pytest.raises(ValueError, match=r"target must hold one class in 0\.\.2"):
        ClassEvidence(net).attribute(x, target=torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"with 16 features, of shape \(B, 16\) or \(B, 4, 4\)"):
        ClassEvidence(net).attribute(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="needs an interpretable network"):
        ClassEvidence(torch.nn.Linear(16, 3))
    with pytest.raises(ValueError, match="non-empty batch"):
        ClassEvidence(net).attribute([[0.0] * 16])


def test_networks_take_inputs_in_their_natural_shape():
    net = _net("cnn")
    x = torch.randn(3, 1, 4, 4)
    torch.testing.assert_close(net(x), net(x.reshape(3, 16)), rtol=0, atol=0)
    torch.testing.assert_close(net.layer_logits(x.reshape(3, 4, 4)),
                               net.layer_logits(x.reshape(3, 16)), rtol=0, atol=0)
    with pytest.raises(ValueError, match="expected inputs with 16 features, of shape"):
        net(torch.randn(3, 15))


def test_a_plain_pytorch_training_loop_and_the_maps():
    """No idmlp trainer: Adam over the last layer's cross-entropy, by hand; the trained
    network reads out every layer, and its maps and ClassEvidence work."""
    digits = load_digits()
    X = torch.tensor(digits.data, dtype=torch.float32)
    X = ((X - X.mean()) / X.std()).reshape(-1, 1, 8, 8)  # standardized, natural shape
    y = torch.tensor(digits.target)
    torch.manual_seed(0)
    net = InterpretableMLP(64, 10, depth=6, image_shape=(8, 8))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    before = (net(X).argmax(1) == y).float().mean()
    for _epoch in range(3):
        for idx in torch.randperm(len(y)).split(64):
            loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        readout = net.readout(X)
    acc = readout.accuracy(y)
    assert acc.shape == (6,) and float(acc[-1]) > 0.9 > float(before)
    maps = readout.maps("evidence", target=y)
    assert maps.shape == (len(y), 6, 64) and bool((maps >= 0).all())
    attr = ClassEvidence(net).attribute(X[:32], target=y[:32])
    assert attr.shape == (32, 1, 8, 8)
    torch.testing.assert_close(attr, maps[:32, -1].reshape(32, 1, 8, 8), rtol=0, atol=0)
    # the split is exact: per layer, the class coordinate's change is the sum of its terms
    # over the coordinates of the layer before (hard-tanh, unsaturated, no bias)
    feats, others = readout.evidence_terms(y)
    states = readout.states
    k = states[..., 64:74].gather(-1, y[:, None, None].expand(-1, 7, 1)).squeeze(-1)
    change = k[:, 1:] - net.sigma * k[:, :-1]
    unsat = k[:, 1:].abs() < 1
    total = (feats.sum(-1) + others.sum(-1))
    torch.testing.assert_close(total[unsat], change[unsat], rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def digits_net():
    """An interpretable MLP briefly trained on 200 digits, and those digits (1 x 8 x 8)."""
    digits = load_digits()
    X = torch.tensor(digits.data[:200], dtype=torch.float32)
    X = ((X - X.mean()) / X.std()).reshape(-1, 1, 8, 8)
    y = torch.tensor(digits.target[:200])
    torch.manual_seed(0)
    net = InterpretableMLP(64, 10, depth=4, image_shape=(8, 8))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval(), X, y


def test_quantus_road_runs_with_class_evidence_as_explain_func(digits_net):
    quantus = pytest.importorskip("quantus")
    net, X, y = digits_net
    road = quantus.ROAD(noise=0.01, percentages=[10, 50, 90], display_progressbar=False,
                        disable_warnings=True)
    scores = road(model=net, x_batch=X[:16].numpy(), y_batch=y[:16].numpy(), device="cpu",
                  explain_func=ClassEvidence(net))
    assert sorted(scores) == [10, 50, 90]
    assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_only_the_layers_answer_to_reset_parameters():
    """Quantus' MPRT re-initializes every module with ``reset_parameters``: the networks'
    own initialization must not be one of them (it would reset every layer to the identity
    instead of randomizing it)."""
    from idmlp.nets.cnn import InterpretableCNN
    from idmlp.nets.residual import ResidualMLP

    for net in (InterpretableMLP(16, 3, depth=3), ResidualMLP(16, 3, depth=3),
                InterpretableCNN((4, 4), 3, depth=2)):
        names = [n for n, m in net.named_modules() if hasattr(m, "reset_parameters")]
        assert names == [f"layers.{i}" for i in range(net.depth)], (type(net), names)


def test_quantus_cascading_randomization_runs_with_the_default_map(digits_net):
    quantus = pytest.importorskip("quantus")
    net, X, y = digits_net
    mprt = quantus.MPRT(layer_order="top_down", return_last_correlation=True,
                        disable_warnings=True, display_progressbar=False)
    scores = mprt(model=net, x_batch=X[:16].numpy(), y_batch=y[:16].numpy(), device="cpu",
                  explain_func=ClassEvidence(net, map="logit_split"))
    # the last stage is every layer randomized (not the identity network): finite scores,
    # far from the 1 of a map that ignores the weights
    scores = np.asarray(scores, dtype=float)
    assert scores.shape == (16,) and np.isfinite(scores).all()
    assert abs(scores.mean()) < 0.9
