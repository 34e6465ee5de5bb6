"""The logit split (issue 20, item 3): the default attribution map of the faithfulness study.

Every layer's (contrastive) logit split exactly over the input with each unit's secant
gate fixed; checked in float64 on saturating networks of every architecture, against
LRP at epsilon = 0, and through the registry and ``ClassEvidence``.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import perturb_, tol
from idmlp.activations import secant_gate
from idmlp.nets.cnn import InterpretableCNN
from idmlp.nets.evidence import ClassEvidence
from idmlp.nets.mlp import InterpretableMLP
from idmlp.nets.residual import ResidualMLP

F64 = torch.float64


def _perturbed(net: torch.nn.Module, scale: float, seed: int) -> torch.nn.Module:
    perturb_(net, scale, torch.Generator().manual_seed(seed))
    if hasattr(net, "alpha"):
        with torch.no_grad():
            net.alpha.fill_(0.5)
    return net.eval()


def _mlp(seed: int = 0) -> InterpretableMLP:
    return _perturbed(InterpretableMLP(6, 3, depth=4, logit_scale=2.0, dtype=F64), 0.6, seed)


def _cnn(seed: int = 0) -> InterpretableCNN:
    net = InterpretableCNN((6, 6), 3, depth=3, extra_channels=2, kernel_size=3,
                           dilations=(1, 2), dtype=F64)
    return _perturbed(net, 0.4, seed)


def _scores(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
            contrast: bool) -> torch.Tensor:
    z = net.layer_logits(x)  # (B, L, C)
    own = z[torch.arange(len(y)), :, y]
    return own - z.mean(-1) if contrast else own


@pytest.mark.numerics
@pytest.mark.parametrize("contrast", [True, False])
@pytest.mark.parametrize("make", [_mlp, _cnn], ids=["mlp", "cnn"])
def test_split_sums_to_every_layers_score(make, contrast):
    net = make()
    x = 3.0 * torch.randn(5, net.in_features, dtype=F64)  # large: hard-tanh clips
    y = torch.tensor([0, 1, 2, 0, 1])
    readout = net.readout(x)
    states = readout.states
    h = net.layers[0](states[:, 0])
    assert (h.abs() > 1).any(), "the test must exercise saturated units"
    split = readout.logit_split(y, contrast=contrast)
    assert split.shape == (5, net.depth, *readout.features.shape[2:])
    got = split.flatten(2).sum(-1)
    want = _scores(net, x, y, contrast)
    assert torch.allclose(got, want, atol=tol(F64, 100) * want.abs().max().item() + 1e-12)


@pytest.mark.numerics
def test_split_is_exact_for_the_residual_mlp():
    net = _perturbed(ResidualMLP(5, 3, depth=3, logit_scale=2.0, dtype=F64), 0.6, 1)
    x = 2.0 * torch.randn(4, 5, dtype=F64)
    y = torch.tensor([2, 0, 1, 1])
    got = net.readout(x).logit_split(y).flatten(2).sum(-1)
    assert torch.allclose(got, _scores(net, x, y, True), atol=1e-10)


@pytest.mark.numerics
def test_split_of_the_logit_is_lrp_at_epsilon_zero():
    from idmlp.faithfulness.lrp import lrp_epsilon

    net = _mlp(2)
    x = 2.0 * torch.randn(6, 6, dtype=F64)
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    split = net.readout(x).logit_split(y, contrast=False, layers=[net.depth])[:, 0]
    lrp = lrp_epsilon(net, x, y, epsilon=0.0)
    assert torch.allclose(split, lrp, atol=1e-10)


@pytest.mark.numerics
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_contrast_is_the_class_split_minus_the_mean_split(seed):
    net = _mlp(seed)
    x = 2.0 * torch.randn(3, 6, dtype=F64, generator=torch.Generator().manual_seed(seed))
    y = torch.tensor([0, 2, 1])
    readout = net.readout(x)
    every = torch.stack([readout.logit_split(torch.full((3,), k), contrast=False)
                         for k in range(3)], 1)  # (B, C, L, N)
    want = every[torch.arange(3), y] - every.mean(1)
    assert torch.allclose(readout.logit_split(y), want, atol=1e-10)


def test_layers_select_and_validate():
    net = _mlp()
    x = torch.randn(2, 6, dtype=F64)
    y = torch.tensor([1, 2])
    readout = net.readout(x)
    every = readout.logit_split(y)
    picked = readout.logit_split(y, layers=[3, 1])
    close = dict(atol=1e-12, rtol=0)  # K copies of the batch: the same sums, other order
    assert torch.allclose(picked[:, 0], every[:, 2], **close)
    assert torch.allclose(picked[:, 1], every[:, 0], **close)
    with pytest.raises(ValueError, match="layers must be in 1..4"):
        readout.logit_split(y, layers=[5])
    assert torch.equal(readout.maps("logit_split", target=y), every)


def test_secant_gate_makes_the_activation_linear():
    h = torch.tensor([-3.0, -1.0, -0.2, 0.0, 0.7, 2.5], dtype=F64)
    g = secant_gate(torch.nn.functional.hardtanh, h)
    assert torch.allclose(g * h, torch.nn.functional.hardtanh(h))
    assert g[3] == 1.0  # phi'(0) at 0


def test_registry_default_and_class_evidence():
    from idmlp.faithfulness.methods import (
        DEFAULT_ATTRIBUTION,
        DEFAULT_MAPS,
        DEFAULT_REFERENCE,
        METHODS,
    )

    # the default map is the logit split's positive part, compared with IG's positive part
    assert DEFAULT_ATTRIBUTION == "logit split+" and "logit split" in DEFAULT_MAPS
    assert DEFAULT_REFERENCE == "integrated_gradients+"
    # the variant reproduce measures names exactly these rows
    from idmlp.faithfulness.evaluation import _variant_name
    from idmlp.faithfulness.methods import DEFAULT_VARIANT

    assert _variant_name("logit split", DEFAULT_VARIANT) == DEFAULT_ATTRIBUTION
    assert _variant_name("integrated_gradients", DEFAULT_VARIANT) == DEFAULT_REFERENCE
    net = _mlp()
    x = torch.randn(3, 6, dtype=F64)
    y = torch.tensor([0, 1, 2])
    fn = METHODS["logit split"].map_fn(model=net)
    split = net.readout(x).logit_split(y)
    close = dict(atol=1e-12, rtol=0)
    assert torch.allclose(fn(x, y), split[:, -1], **close)
    assert torch.allclose(METHODS["logit split"].map_fn(model=net, layer=2)(x, y),
                          split[:, 1], **close)
    ce = ClassEvidence(net, map="logit_split")
    assert torch.allclose(ce.attribute(x, target=y, signed=True), split[:, -1], **close)
    assert torch.allclose(ce.attribute(x, target=y), split[:, -1].clamp(min=0), **close)
    assert torch.allclose(ce.attribute(x, target=y, layer=2, signed=True), split[:, 1],
                          **close)
    with pytest.raises(ValueError, match="map must be evidence or logit_split"):
        ClassEvidence(net, map="saliency")
