"""The interpretable MLP with extra features: state (f, e, k), identity on (f, k) at
initialization, the exact evidence split over f, e and k, the evidence shares, the law of
J J^T at initialization, the automatic H and the options through the config."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import perturb_
from idmlp.config import AUTO_MIN_WIDTH, MLPOptions, ModelConfig, RunConfig
from idmlp.jacobian import singular_values
from idmlp.nets.base import build_model
from idmlp.nets.mlp import InterpretableMLP

F64 = torch.float64
EPS = torch.finfo(F64).eps


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 12), h=st.integers(1, 20), c=st.integers(2, 5),
       depth=st.integers(1, 8), sigma=st.floats(0.5, 1.5),
       std=st.one_of(st.just(0.0), st.floats(1e-3, 2.0)),  # (a subnormal std underflows to 0)
       activation=st.sampled_from(["hardtanh", "tanh", "relu"]))
def test_extra_features_start_as_the_identity_on_f_and_k(n, h, c, depth, sigma, std,
                                                         activation):
    """f and k follow phi(sigma x) coordinate-wise exactly as without extra features: zero
    logits, the same features; the extra rows start as zero rows plus their random part."""
    g = torch.Generator().manual_seed(0)
    wide = InterpretableMLP(n, c, depth, sigma, activation, extra_features=h,
                            extra_init_std=std, generator=g, dtype=F64)
    narrow = InterpretableMLP(n, c, depth, sigma, activation, dtype=F64)
    z = torch.randn(7, n, dtype=F64, generator=torch.Generator().manual_seed(1))
    rw, rn = wide.readout(z), narrow.readout(z)
    assert torch.equal(rw.logits, torch.zeros_like(rw.logits))
    assert torch.equal(rw.features, rn.features)
    assert torch.equal(rw.maps("change"), rn.maps("change"))
    assert wide.width == n + h + c and wide.rule.class_start == n + h
    for layer in wide.layers:
        w = layer.weight.detach()
        keep = torch.cat([torch.arange(n), torch.arange(n + h, n + h + c)])
        assert torch.equal(w[keep], sigma * torch.eye(n + h + c, dtype=F64)[keep])
        assert (std == 0) == bool(torch.all(w[n : n + h] == 0))
    # the deterministic start: every block distance zero but the extra rows' (about std)
    dist = wide.block_identity_distance()
    assert torch.all(dist["feature"] == 0) and torch.all(dist["class"] == 0)


def _trained_like(net: InterpretableMLP, scale: float = 0.05, seed: int = 0) -> InterpretableMLP:
    return perturb_(net, scale, torch.Generator().manual_seed(seed), bias_std=0.01)


@pytest.mark.numerics
@pytest.mark.parametrize("bias", [False, True])
def test_evidence_splits_exactly_over_features_extra_and_class(bias):
    n, h, c = 10, 6, 4
    net = _trained_like(InterpretableMLP(n, c, depth=5, sigma=0.95, bias=bias,
                                         extra_features=h, extra_init_std=0.5, dtype=F64))
    z = 0.2 * torch.randn(9, n, dtype=F64, generator=torch.Generator().manual_seed(2))
    r = net.readout(z)
    assert r.states.abs().max() < 0.95  # unsaturated: the split is exact
    y = torch.arange(9) % c
    feat, other = r.evidence_terms(y)
    assert feat.shape == (9, 5, n) and other.shape == (9, 5, h + c)
    k = r.states[torch.arange(9), :, n + h + y]  # the explained class coordinate
    change = k[:, 1:] - net.sigma * k[:, :-1]
    if bias:
        change = change - torch.stack([l.bias[n + h + y] for l in net.layers], 1).detach()
    torch.testing.assert_close(feat.sum(-1) + other.sum(-1), change, rtol=0, atol=64 * EPS)
    # the extra columns carry evidence once trained: their terms are W_{k,e} e
    assert other[..., :h].abs().sum() > 0
    shares = r.evidence_shares(y)
    total = shares["feature"] + shares["extra"] + shares["class"]
    torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=16 * EPS)
    assert float(shares["extra"].detach().mean()) > 0


def test_evidence_shares_have_no_extra_part_without_extra_features():
    net = _trained_like(InterpretableMLP(6, 3, depth=3, dtype=F64))
    r = net.readout(0.2 * torch.randn(4, 6, dtype=F64, generator=torch.Generator().manual_seed(3)))
    shares = r.evidence_shares(torch.tensor([0, 1, 2, 0]))
    assert torch.equal(shares["extra"], torch.zeros_like(shares["extra"]))
    # an untrained network changes nothing: the shares are undefined (NaN)
    fresh = InterpretableMLP(6, 3, depth=3, dtype=F64).readout(torch.randn(2, 6, dtype=F64))
    assert torch.isnan(fresh.evidence_shares(0)["feature"]).all()


@pytest.mark.numerics
@pytest.mark.parametrize("std", [0.0, 1.0])
def test_jjt_law_at_initialization_with_extra_features(std):
    """The (f, k) block of J J^T is the paper's diagonal law; the spectrum interlaces with
    it (Cauchy); with zero extra rows it is the paper's spectrum plus H zeros."""
    n, h, c, depth = 8, 5, 3, 6
    g = torch.Generator().manual_seed(4)
    wide = InterpretableMLP(n, c, depth, sigma=1.1, extra_features=h, extra_init_std=std,
                            generator=g, dtype=F64)
    narrow = InterpretableMLP(n, c, depth, sigma=1.1, dtype=F64)
    z = torch.randn(1, n, dtype=F64, generator=torch.Generator().manual_seed(5))
    x_wide, x_narrow = wide.embed(z)[0], narrow.embed(z)[0]
    jw = torch.autograd.functional.jacobian(wide.layer_stack(), x_wide)
    jn = torch.autograd.functional.jacobian(narrow.layer_stack(), x_narrow)
    assert torch.equal(jn, torch.diag(torch.diagonal(jn)))  # the paper's J is diagonal
    fk = torch.cat([torch.arange(n), torch.arange(n + h, n + h + c)])
    jjt = jw @ jw.T
    torch.testing.assert_close(jjt[fk][:, fk], jn @ jn.T, rtol=0, atol=16 * EPS)
    mu = torch.linalg.eigvalsh(jjt)  # ascending, N + H + C
    lam = torch.linalg.eigvalsh(jn @ jn.T)  # ascending, N + C
    slack = 64 * EPS * float(mu.abs().max())
    assert torch.all(mu[: n + c] <= lam + slack) and torch.all(lam <= mu[h:] + slack)
    if std == 0:
        expected = torch.sort(torch.cat([lam, torch.zeros(h, dtype=F64)])).values
        torch.testing.assert_close(mu, expected, rtol=0, atol=slack)
    # the library's Jacobian agrees (singular values of the same stack)
    sv = singular_values(wide.layer_stack(), x_wide[None], dtype=F64)[0]
    torch.testing.assert_close(torch.sort(sv**2).values, mu.clamp(min=0), rtol=0,
                               atol=1e3 * slack)


def test_automatic_h_widens_narrow_inputs_only():
    assert MLPOptions().extra_for(40, 10) == AUTO_MIN_WIDTH - 50
    assert MLPOptions().extra_for(784, 10) == 0 and MLPOptions().extra_for(4, 3) > 0
    assert MLPOptions(extra_features=7).extra_for(784, 10) == 7
    cfg = ModelConfig().for_data(40, 10, (40,))
    net = build_model(cfg)
    assert net.extra_features == AUTO_MIN_WIDTH - 50 and net.width == AUTO_MIN_WIDTH
    # the built network records the H it got, so the run folder rebuilds it
    assert net.config.options == MLPOptions(AUTO_MIN_WIDTH - 50, 1.0)
    assert build_model(net.config).width == net.width
    assert "extra" in net.describe()


def test_extra_feature_options_are_validated_and_routed():
    assert RunConfig().replace(extra_features=3).model.options.extra_features == 3
    with pytest.raises(ValueError, match="extra_features must be an integer >= 0"):
        MLPOptions(extra_features=-1)
    with pytest.raises(ValueError, match="extra_init_std"):
        MLPOptions(extra_init_std=-0.5)
    with pytest.raises(ValueError, match="extra_features applies to arch 'mlp' only"):
        ModelConfig(arch="cnn").replace(extra_features=3)
    # the old model dicts (no options) still load: H is then automatic
    d = RunConfig().to_dict()
    d["model"].pop("options")
    assert RunConfig.from_dict(d).model.options == MLPOptions()
