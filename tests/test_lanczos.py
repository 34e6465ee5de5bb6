"""Stochastic Lanczos quadrature of J^T J against dense Jacobians (float64)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from idmlp.jacobian.dense import jacobian, singular_values
from idmlp.jacobian.lanczos import slq
from idmlp.nets.mlp import IdentityMLP
from idmlp.theory import critical_point, ks_distance, random_mlp

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _inputs(b: int, n: int, q0: float, seed: int = 1) -> torch.Tensor:
    return torch.randn(b, n, generator=torch.Generator().manual_seed(seed), dtype=F64) * q0**0.5


def _trained_like(width: int, depth: int, act: str, eps: float = 0.05) -> IdentityMLP:
    """W = I + eps G / sqrt(N): ||W - I||_F / ||I||_F = eps, like a trained identity net."""
    net = IdentityMLP(width, depth, 1.0, act, dtype=F64)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(torch.randn(width, width, generator=gen, dtype=F64)
                              * eps / math.sqrt(width))
    return net


def test_full_lanczos_recovers_every_eigenvalue() -> None:
    net = random_mlp(30, 5, 1.2, 0.1, "tanh", "gaussian", seed=2)
    x = _inputs(3, 30, 1.0)
    est = slq(net, x, steps=30)
    dense = np.sort((singular_values(net, x, dtype=F64) ** 2).numpy(), axis=1)
    nodes = np.sort(est.nodes[:, 0], axis=1)
    np.testing.assert_allclose(nodes, dense, atol=1e-10 * dense.max(), rtol=1e-8)
    np.testing.assert_allclose(est.node_weights.sum(axis=2), 1.0, rtol=1e-12)


def test_each_rule_is_gauss_quadrature_for_its_probe() -> None:
    """sum_i tau_i theta_i^j = v^T (J^T J)^j v for j <= 2k - 1 (the probe is NumPy's PCG64
    draw for the seed)."""
    width, steps = 40, 4
    net = random_mlp(width, 6, 1.1, 0.05, "tanh", "orthogonal", seed=5)
    x = _inputs(2, width, 0.5)
    est = slq(net, x, steps=steps, probes=2, seed=7)
    j = jacobian(net, x, dtype=F64).repeat_interleave(2, dim=0).numpy()
    a = np.einsum("bmi,bmj->bij", j, j)
    v = np.random.default_rng(7).standard_normal((4, width))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    theta, tau = est.nodes.reshape(4, steps), est.node_weights.reshape(4, steps)
    for power in range(2 * steps):
        exact = np.einsum("bi,bij,bj->b", v, np.linalg.matrix_power(a, power), v)
        np.testing.assert_allclose((tau * theta**power).sum(axis=1), exact, rtol=1e-9)


def test_identity_init_is_exact_in_two_steps() -> None:
    """J = diag(sigma^L or 0): Lanczos meets the invariant subspace after two steps."""
    net = IdentityMLP(100, 15, 1.02, dtype=F64)
    x = _inputs(4, 100, 0.5)
    est = slq(net, x, steps=20)
    assert np.all(np.count_nonzero(est.node_weights > 0, axis=2) <= 2) and est.exact.all()
    lam = (singular_values(net, x, dtype=F64) ** 2).numpy()
    # one probe per input: only the probe's randomness, sd sqrt(a(1-a)/(N/2)) / sqrt(B)
    a = float((lam > 0).mean())
    assert ks_distance(lam, est, floor=est.resolution).ks < 4 * math.sqrt(a * (1 - a) * 2 / 100 / 4)
    top = est.nodes[est.node_weights > 0].max()
    assert top == pytest.approx(1.02**30, rel=1e-12)


@pytest.mark.parametrize(("act", "bound"), [("hardtanh", 0.04), ("tanh", 0.05)])
def test_density_matches_dense_singular_values(act: str, bound: float) -> None:
    """A trained-like identity network (width 200, depth 20), 8 inputs x 2 probes, 40 steps:
    the pooled SLQ CDF within a stated KS bound of the exact eigenvalues of the same inputs
    (probe noise ~ sqrt(1/(2N)) / sqrt(16) = 0.013, quadrature ~ max tau / 2)."""
    net = _trained_like(200, 20, act)
    x = _inputs(8, 200, 0.1)
    lam = (singular_values(net, x, dtype=F64) ** 2).numpy()
    est = slq(net, x, steps=40, probes=2)
    assert ks_distance(lam, est, floor=est.resolution).ks < bound
    assert est.mean() == pytest.approx(lam.mean(), rel=0.05)

    class Steps:  # the quadrature rules' own step functions
        atoms = ()

        def cdf(self, t: np.ndarray) -> np.ndarray:
            return est.cdf(t, interpolate=False)

    step_ks = ks_distance(lam, Steps(), floor=est.resolution).ks
    # the CMS interpolation does no worse here
    assert ks_distance(lam, est, floor=est.resolution).ks <= step_ks + 1e-12


def test_random_network_moments_are_unbiased() -> None:
    cp = critical_point("tanh", sigma_b=0.05)
    net = random_mlp(150, 8, cp.sigma_w, cp.sigma_b, "tanh", "orthogonal", seed=1)
    x = _inputs(4, 150, 1.0)
    lam = (singular_values(net, x, dtype=F64) ** 2).numpy()
    est = slq(net, x, steps=20, probes=16)
    # v^T A v over 64 unit probes: standard error sqrt(2 E[l^2] / N / 64)
    se = math.sqrt(2 * np.mean(lam**2) / 150 / 64)
    assert abs(est.mean() - lam.mean()) < 4 * se


def test_any_module() -> None:
    conv = nn.Sequential(nn.Unflatten(1, (1, 16)), nn.Conv1d(1, 2, 3), nn.Tanh(),
                         nn.Flatten()).double()
    x = torch.randn(3, 16, dtype=F64)
    est = slq(conv, x, steps=16)
    j = jacobian(conv, x, dtype=F64)
    dense = np.sort(torch.linalg.eigvalsh(j.mT @ j).clamp(min=0).numpy(), axis=1)
    np.testing.assert_allclose(np.sort(est.nodes[:, 0], axis=1), dense, atol=1e-9)
    before = [p.clone() for p in conv.parameters()]
    slq(conv, x, steps=4, dtype=torch.float32)
    assert all(torch.equal(a, b) for a, b in zip(before, conv.parameters(), strict=True))


def test_float32_model_agrees_with_float64() -> None:
    net = _trained_like(64, 6, "tanh")
    x = _inputs(2, 64, 0.1)
    est64 = slq(net, x, steps=8)
    est32 = slq(net.float(), x.float(), steps=8)
    assert est32.eps == pytest.approx(torch.finfo(torch.float32).eps)
    # same probes; Lanczos in float32 moves the nodes by ~ eps_32 * kappa
    np.testing.assert_allclose(est32.nodes, est64.nodes, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: slq(lambda x: x, torch.zeros(2, 4)), "nn.Module"),
        (lambda: slq(nn.Linear(4, 4), torch.zeros(4)), "2-D"),
        (lambda: slq(nn.Linear(4, 4), torch.zeros(2, 4), steps=0), "steps"),
        (lambda: slq(nn.Linear(4, 4), torch.zeros(2, 4), steps=5), "steps"),
        (lambda: slq(nn.Linear(4, 4), torch.zeros(2, 4), probes=0), "probes"),
        (lambda: slq(nn.Linear(4, 4), torch.zeros(2, 4), seed=-1), "seed"),
        (lambda: slq(nn.Linear(4, 4), torch.zeros(2, 4), dtype=torch.int64), "dtype"),
    ],
)
def test_bad_arguments(call, match: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=match):
        call()
