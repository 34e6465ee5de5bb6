"""The residual interpretable MLP (ReZero blocks): identity at initialization, the exact
evidence split, and the arch through the registry (config, train, reproduce, sweep)."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import perturb_
from idmlp.cli import main
from idmlp.config import ARCHS, DataConfig, ModelConfig, OptimConfig, ResidualOptions, RunConfig
from idmlp.jacobian import singular_values
from idmlp.nets.base import InterpretableNet, build_model
from idmlp.nets.residual import ResidualMLP
from idmlp.train.runs import fit, load_run

F64 = torch.float64
EPS = torch.finfo(F64).eps


def _perturbed(net: ResidualMLP, scale: float = 0.05, seed: int = 0) -> ResidualMLP:
    """Weights moved off sigma I and branch scales off zero, as training would."""
    g = torch.Generator().manual_seed(seed)
    perturb_(net, scale, g, bias_std=0.01)
    with torch.no_grad():
        net.alpha.copy_(0.3 * torch.randn(net.depth, generator=g, dtype=F64))
    return net


@settings(max_examples=20, deadline=None)
@given(depth=st.integers(1, 12), sigma=st.floats(0.5, 1.5), q0=st.floats(0.01, 4.0),
       activation=st.sampled_from(["hardtanh", "tanh", "relu", "gelu"]),
       init=st.sampled_from(["identity", "orthogonal", "he"]))
def test_identity_network_at_initialization(depth, sigma, q0, activation, init):
    """alpha = 0: every state is x^0 whatever W, and the Jacobian of the stack is I."""
    net = ResidualMLP(5, 3, depth, sigma, activation, q0=q0, init=init, dtype=F64,
                      generator=torch.Generator().manual_seed(1))
    z = torch.randn(4, 5, dtype=F64)
    states = net.hidden_states(z)
    assert torch.equal(states, net.embed(z)[:, None].expand_as(states))
    r = net.readout(z)
    assert torch.count_nonzero(r.logits) == 0
    assert torch.equal(r.identity_states, r.states)
    sv = singular_values(net.layer_stack(), net.embed(z), dtype=F64)
    torch.testing.assert_close(sv, torch.ones_like(sv), rtol=0, atol=0)


@pytest.mark.numerics
@pytest.mark.parametrize("bias", [False, True])
def test_evidence_split_is_exact_for_unsaturated_hardtanh(bias):
    """Feature + class terms sum to x^l[c] - x^{l-1}[c] (minus alpha_l b_c with a bias)."""
    net = _perturbed(ResidualMLP(12, 4, depth=6, sigma=0.9, bias=bias, dtype=F64))
    z = 0.1 * torch.randn(9, 12, dtype=F64, generator=torch.Generator().manual_seed(2))
    r = net.readout(z)
    pre = torch.stack([layer(r.states[:, l]) for l, layer in enumerate(net.layers)], 1)
    assert pre.abs().max() < 0.99  # no branch saturates: the split is exact
    y = torch.arange(9) % 4
    feat, cls = r.evidence_terms(y)
    k = r.states[torch.arange(9), :, 12 + y]  # (B, L+1)
    change = k[:, 1:] - k[:, :-1]
    if bias:
        b = torch.stack([layer.bias[12 + y] for layer in net.layers], 1).detach()
        change = change - net.alpha.detach() * b
    torch.testing.assert_close(feat.sum(-1) + cls.sum(-1), change, rtol=0, atol=64 * EPS)
    # summed over layers: the whole final class coordinate (it starts at 0)
    if not bias:
        total = feat.sum((1, 2)) + cls.sum((1, 2))
        torch.testing.assert_close(total, k[:, -1], rtol=0, atol=256 * EPS)
    torch.testing.assert_close(r.class_evidence(y, part="signed")[:, -1], feat.sum(1))


@pytest.mark.numerics
def test_evidence_is_exact_for_the_linear_activation_and_drops_saturated_layers():
    net = _perturbed(ResidualMLP(6, 2, depth=3, activation="linear", dtype=F64), scale=0.5)
    z = 3.0 * torch.randn(5, 6, dtype=F64, generator=torch.Generator().manual_seed(3))
    r = net.readout(z)
    feat, cls = r.evidence_terms(1)
    k = r.states[:, :, 7]
    torch.testing.assert_close(feat.sum(-1) + cls.sum(-1), k[:, 1:] - k[:, :-1], rtol=0,
                               atol=1e3 * EPS)
    # a hard-tanh branch pushed far past 1 has phi' = 0: its terms are dropped
    sat = ResidualMLP(2, 2, depth=1, dtype=F64)
    with torch.no_grad():
        sat.layers[0].weight[2, :2] = torch.tensor([50.0, 50.0])
        sat.alpha.fill_(0.5)
    feat, cls = sat.readout(torch.ones(1, 2, dtype=F64)).evidence_terms(0)
    assert torch.count_nonzero(feat) == 0 and torch.count_nonzero(cls) == 0


def test_registry_config_and_checkpoint_round_trip(tmp_path):
    assert ARCHS["residual"].load() is ResidualMLP
    cfg = ModelConfig(arch="residual", depth=3).replace(alpha_init=0.25).for_data(8, 3, (8,))
    net = build_model(cfg)
    assert isinstance(net, InterpretableNet) and isinstance(net, ResidualMLP)
    assert net.config == cfg and net.options == ResidualOptions(0.25, 1.0)
    assert torch.equal(net.alpha.detach(), torch.full((3,), 0.25))
    assert "residual MLP" in net.describe()
    with pytest.raises(ValueError, match="alpha_init applies to arch 'residual' only"):
        ModelConfig().replace(alpha_init=0.1)
    with pytest.raises(ValueError, match="alpha_init must be a finite real number"):
        ResidualOptions(float("nan"))
    assert RunConfig.from_dict(RunConfig(model=cfg).to_dict()).model == cfg
    # the branch scales are parameters: they train and are saved
    assert "alpha" in dict(net.named_parameters())
    metrics = net.layer_metrics()
    assert metrics["alpha"] == [0.25] * 3 and set(metrics["identity_distance"]) == {
        "feature", "class"}


def test_trains_through_fit_and_the_command_line(tmp_path, capsys):
    config = RunConfig(DataConfig(dataset="digits"), ModelConfig(arch="residual", depth=4),
                       OptimConfig(epochs=3, lr=1e-2))
    run = fit(config, tmp_path / "fit", progress=False)
    assert isinstance(run.model, ResidualMLP)
    last = run.metrics[-1]
    assert last["test_acc"] > 0.8  # ten classes: chance is 0.1
    assert any(a != 0 for a in last["alpha"])  # the branch scales moved off zero
    again = load_run(tmp_path / "fit")
    assert isinstance(again.model, ResidualMLP)
    for a, b in zip(again.model.state_dict().values(), run.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    out = tmp_path / "cli"
    assert main(["train", "--arch", "residual", "--alpha-init", "0", "--dataset", "digits",
                 "--depth", "3", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    info = json.loads((out / "config.json").read_text())
    assert info["model"]["arch"] == "residual" and info["model"]["options"] == {
        "alpha_init": 0.0, "class_init_std": 1.0}
    assert main(["interpret", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", "--alpha-init", "0.1", "--dataset", "digits", "--out",
                 str(tmp_path / "bad")]) == 2
    assert "applies to arch 'residual' only" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_a_sweep_trains_residual_runs(tmp_path):
    from idmlp.sweep import read_results, run

    rows = run(sigma="1.0", q0="0.1,1", depth=[3], steps=20, arch="residual",
               out=tmp_path / "sweep", progress=False)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert all(r["arch"] == "residual" and r["alpha_init"] == 0.0 for r in rows)
    assert all(r["init_nonzero_frac"] == 1.0 for r in rows)  # J = I at initialization
    def known(rs):  # NaN cells (options the arch lacks) compare unequal to themselves
        return [{k: v for k, v in r.items() if v == v} for r in rs]

    assert known(read_results(tmp_path / "sweep")) == known(rows)
