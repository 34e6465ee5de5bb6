import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from idmlp.jacobian.dense import jacobian, singular_values
from idmlp.nets.mlp import MLP, IdentityMLP, InterpretableMLP
from idmlp.theory import alpha, compare_spectrum, spectrum

F64 = torch.float64


def _inputs(batch: int, width: int, q0: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, width, generator=gen, dtype=F64) * math.sqrt(q0)


@given(
    sigma=st.floats(0.8, 1.2),
    q0=st.floats(0.01, 2.0),
    depth=st.integers(10, 50),
)
@settings(max_examples=20, deadline=None, derandomize=True)
def test_hardtanh_identity_network_follows_the_bernoulli_law(
    sigma: float, q0: float, depth: int
) -> None:
    width, batch = 500, 8
    net = IdentityMLP(width, depth, sigma=sigma, dtype=F64)
    lam = singular_values(net, _inputs(batch, width, q0, seed=depth), dtype=F64) ** 2
    law = spectrum(sigma, q0, depth)
    cmp = compare_spectrum(lam, law)
    n = lam.numel()
    a = alpha(sigma, q0, depth)
    assert cmp.nonzero_theory == pytest.approx(a, abs=1e-12)
    se = math.sqrt(max(a * (1 - a), 1e-12) / n)
    assert abs(cmp.nonzero_empirical - a) <= 4 * se + 1.0 / n
    nonzero = lam[lam > 0]
    top = sigma ** (2 * depth)
    assert torch.all(torch.abs(nonzero / top - 1) < 1e-6)


@pytest.mark.parametrize(("sigma", "q0", "depth"), [(1.0, 0.5, 10), (1.05, 0.2, 20)])
def test_dense_path_at_identity_equals_diagonal_path(sigma: float, q0: float, depth: int) -> None:
    net = IdentityMLP(60, depth, sigma=sigma)
    x = _inputs(4, 60, q0, seed=0)
    fast = singular_values(net, x, dtype=F64)
    dense = singular_values(net, x, dtype=F64, method="mlp")
    torch.testing.assert_close(fast, dense, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize(("activation", "sigma", "q0"), [("tanh", 1.0, 0.5), ("relu", 1.02, 1.0),
                                                        ("tanh", 1.1, 2.0)])
def test_tanh_relu_empirical_law_matches_spectrum(activation: str, sigma: float, q0: float) -> None:
    """KS distance below the Dvoretzky-Kiefer-Wolfowitz radius: i.i.d. draws of the law
    exceed sqrt(ln(2/0.01)/(2n)) with probability <= 1 %; the quadrature adds <= 1/K."""
    width, batch, depth = 500, 16, 20
    net = IdentityMLP(width, depth, sigma=sigma, activation=activation, dtype=F64)
    lam = singular_values(net, _inputs(batch, width, q0, seed=7), dtype=F64) ** 2
    law = spectrum(sigma, q0, depth, activation)
    cmp = compare_spectrum(lam, law)
    assert cmp.n == width * batch
    assert cmp.ks < cmp.ks_bound + 1.0 / law.values.size
    assert cmp.ks_bound == pytest.approx(math.sqrt(math.log(200) / (2 * 8000)))


def _perturbed(width: int, depth: int, activation: str = "hardtanh", bias: bool = False) -> MLP:
    torch.manual_seed(3)
    net = IdentityMLP(width, depth, sigma=1.0, activation=activation, bias=bias)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(0.05 * torch.randn_like(layer.weight))
            if layer.bias is not None:
                layer.bias.add_(0.05 * torch.randn_like(layer.bias))
    return net


def _reference(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model = model.double()
    return torch.stack([
        torch.linalg.svdvals(torch.autograd.functional.jacobian(model, xi.double()))
        for xi in x
    ])


@pytest.mark.parametrize("method", ["auto", "mlp", "autograd"])
@pytest.mark.parametrize(("activation", "bias"), [("hardtanh", False), ("tanh", True)])
def test_perturbed_network_matches_autograd_reference(method: str, activation: str,
                                                      bias: bool) -> None:
    net = _perturbed(40, 12, activation, bias)
    x = torch.randn(3, 40) * 0.4
    ours = singular_values(net, x, dtype=F64, method=method)
    ref = _reference(net, x)
    assert ours.dtype == F64
    torch.testing.assert_close(ours, ref, atol=1e-8, rtol=0)


def test_any_differentiable_model_uses_autograd_path() -> None:
    torch.manual_seed(0)
    net = InterpretableMLP(20, 4, depth=5)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(0.1 * torch.randn_like(layer.weight))
    x = torch.randn(3, 20) * 0.3
    ours = singular_values(net, x, dtype=F64)
    assert ours.shape == (3, 4)
    torch.testing.assert_close(ours, _reference(net, x), atol=1e-8, rtol=0)
    conv = nn.Sequential(nn.Unflatten(1, (1, 16)), nn.Conv1d(1, 2, 3), nn.Tanh(), nn.Flatten())
    j = jacobian(conv, torch.randn(2, 16))
    assert j.shape == (2, 28, 16)


def test_float32_by_default() -> None:
    net = _perturbed(16, 4)
    x = torch.randn(2, 16) * 0.3
    assert singular_values(net, x).dtype == torch.float32


def test_compare_counts_and_ks_on_exact_samples() -> None:
    law = spectrum(1.0, 0.5, 10)
    n = 10_000
    lam = np.concatenate([np.zeros(1573), np.full(n - 1573, 1.0 + 1e-9)])
    cmp = compare_spectrum(lam, law)
    assert cmp.nonzero_empirical == pytest.approx(1 - 0.1573)
    assert abs(cmp.z) < 0.1
    assert cmp.ks < 1e-4
    assert cmp.mean_empirical == pytest.approx(cmp.nonzero_empirical)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: singular_values(IdentityMLP(4, 2), torch.zeros(4)), "2-D"),
        (lambda: singular_values(lambda x: x, torch.zeros(2, 4)), "nn.Module"),
        (lambda: singular_values(IdentityMLP(4, 2), torch.zeros(2, 4), method="svd"), "method"),
        (lambda: singular_values(nn.Linear(4, 4), torch.zeros(2, 4), method="mlp"), "autograd"),
        (lambda: singular_values(_perturbed(4, 2), torch.zeros(2, 4), method="diagonal"),
         "diagonal"),
        (lambda: compare_spectrum([], spectrum(1.0, 1.0, 2)), "non-empty"),
        (lambda: compare_spectrum([np.nan], spectrum(1.0, 1.0, 2)), "finite"),
    ],
)
def test_bad_arguments(call, match: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=match):
        call()
