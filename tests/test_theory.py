import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from idmlp.activations import ACTIVATIONS
from idmlp.theory import (
    _quadrature_law,
    alpha,
    alpha_l,
    isometry_region,
    max_q0,
    scalar_jacobian,
    spectrum,
)

# The hand-checked table of docs/theory.md: (sigma, q0, L, alpha, sigma^(2L)).
TABLE = [
    (1.0, 0.5, 10, 0.843, 1.0),
    (1.05, 0.2, 20, 0.601, 7.040),
    (0.9, 1.0, 10, 0.733, 0.1216),
    (1.2, 0.01, 15, 0.484, 237.38),
    (0.5, 4.0, 5, 0.683, 0.000977),
]

sigmas = st.floats(0.5, 1.5, allow_nan=False)
q0s = st.floats(1e-3, 10.0, allow_nan=False)
depths = st.integers(1, 60)


@pytest.mark.parametrize(("sigma", "q0", "depth", "a", "top"), TABLE)
def test_alpha_matches_table(sigma: float, q0: float, depth: int, a: float, top: float) -> None:
    assert alpha(sigma, q0, depth) == pytest.approx(a, abs=6e-4)
    law = spectrum(sigma, q0, depth)
    assert law.atoms[-1][0] == pytest.approx(top, rel=5e-4)
    assert law.nonzero_fraction == pytest.approx(alpha(sigma, q0, depth), abs=1e-15)


@given(sigmas, q0s, depths)
@settings(max_examples=60, deadline=None)
def test_alpha_picks_first_or_last_layer(sigma: float, q0: float, depth: int) -> None:
    a = alpha(sigma, q0, depth)
    assert 0.0 <= a <= 1.0
    expected_layer = depth if sigma > 1 else 1
    assert a == pytest.approx(math.erf(1 / (sigma**expected_layer * math.sqrt(2 * q0))))


@given(sigmas, depths, st.floats(1e-3, 10.0), st.floats(1e-3, 10.0))
@settings(max_examples=60, deadline=None)
def test_alpha_decreases_with_q0(sigma: float, depth: int, q_a: float, q_b: float) -> None:
    lo, hi = sorted((q_a, q_b))
    assert alpha(sigma, lo, depth) >= alpha(sigma, hi, depth)


@given(sigmas, depths, st.floats(1e-4, 0.9))
@settings(max_examples=60, deadline=None)
def test_max_q0_is_the_inverse_of_alpha(sigma: float, depth: int, eps: float) -> None:
    q = max_q0(sigma, depth, eps)
    assert alpha(sigma, q, depth) == pytest.approx(1 - eps, abs=1e-9)


def test_alpha_vectorizes() -> None:
    s = np.linspace(0.8, 1.2, 5)
    q = np.logspace(-2, 0, 3)
    grid = alpha(s[None, :], q[:, None], 10)
    assert grid.shape == (3, 5)
    assert grid[1, 3] == alpha(s[3], q[1], 10)


@given(depths, st.floats(0.01, 0.5), st.floats(1.01, 100.0))
@settings(max_examples=40, deadline=None)
def test_isometry_region(depth: int, eps: float, kappa: float) -> None:
    r = isometry_region(depth, eps, kappa)
    assert r.sigma_max ** (2 * depth) == pytest.approx(kappa)
    assert r.sigma_min ** (2 * depth) == pytest.approx(1 / kappa)
    s, q = r.recommended()
    assert r.contains(s, q)
    assert alpha(s, q, depth) >= 1 - eps
    assert not r.contains(r.sigma_max * 1.001, q)
    assert not r.contains(1.0, 2 * r.q0_max(1.0))


@pytest.mark.parametrize(("sigma", "q0", "depth"), [(s, q, d) for s, q, d, _, _ in TABLE])
def test_hardtanh_theorem_equals_coordinate_recursion(sigma: float, q0: float, depth: int) -> None:
    """The poster's Bernoulli law equals the exact push-forward computed by quadrature."""
    k = 2**16
    quad = _quadrature_law(sigma, q0, depth, "hardtanh", k)
    closed = spectrum(sigma, q0, depth)
    assert len(quad.atoms) == 2
    for (loc_q, m_q), (loc_c, m_c) in zip(quad.atoms, closed.atoms, strict=True):
        assert loc_q == pytest.approx(loc_c, rel=1e-12)
        assert m_q == pytest.approx(m_c, abs=2.0 / k)


@given(st.floats(0.7, 1.3), st.integers(1, 30))
@settings(max_examples=20, deadline=None)
def test_relu_linear_leaky_atoms(sigma: float, depth: int) -> None:
    top = sigma ** (2 * depth)
    relu = spectrum(sigma, 1.0, depth, "relu", points=4096)
    assert relu.atoms == ((0.0, 0.5), (pytest.approx(top, rel=1e-12), 0.5))
    lin = spectrum(sigma, 1.0, depth, "linear", points=4096)
    assert len(lin.atoms) == 1 and lin.atoms[0][1] == 1.0
    assert lin.mean() == pytest.approx(top, rel=1e-12)
    leaky = spectrum(sigma, 1.0, depth, "leaky_relu", points=4096)
    assert [m for _, m in leaky.atoms] == [0.5, 0.5]
    assert leaky.atoms[0][0] == pytest.approx((0.01 * sigma) ** (2 * depth), rel=1e-9)


@pytest.mark.parametrize("activation", ["tanh", "gelu", "sigmoid", "selu"])
def test_quadrature_law_agrees_with_monte_carlo(activation: str) -> None:
    law = spectrum(1.0, 0.5, 8, activation)
    draws = law.sample(200_000, seed=1)
    se = draws.std() / math.sqrt(draws.size)
    assert abs(draws.mean() - law.mean()) < 4 * se + 1e-12
    for t in law.quantile([0.1, 0.5, 0.9]):
        assert abs(np.mean(draws <= t) - law.cdf(t)) < 4 * math.sqrt(0.25 / draws.size) + 1e-4


@given(st.sampled_from(ACTIVATIONS), st.floats(0.5, 1.5), st.floats(0.01, 4.0), depths)
@settings(max_examples=30, deadline=None)
def test_law_is_a_probability_distribution(act: str, sigma: float, q0: float, depth: int) -> None:
    law = spectrum(sigma, q0, depth, act, points=4096)
    assert law.weights.sum() == pytest.approx(1.0)
    assert np.all(np.diff(law.values) > 0)
    assert law.cdf(law.values[-1]) == pytest.approx(1.0)
    assert 0.0 <= law.mass_at_zero <= 1.0
    p = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    qs = law.quantile(p)
    assert np.all(np.diff(qs) >= 0)
    assert np.all(law.cdf(qs) >= p - 1e-9)
    mass, _ = law.histogram(bins=np.linspace(-1.0, 1.01 * law.values[-1] + 1.0, 11))
    assert mass.sum() == pytest.approx(1.0)


def test_scalar_jacobian_matches_autograd_through_the_network() -> None:
    u = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    x = u
    for _ in range(6):
        x = torch.tanh(1.1 * x)
    (grad,) = torch.autograd.grad(x.sum(), u)
    torch.testing.assert_close(scalar_jacobian(u, 1.1, 6, "tanh"), grad)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: alpha(0.0, 1.0, 5), "sigma"),
        (lambda: alpha(-1.0, 1.0, 5), "sigma"),
        (lambda: alpha(math.nan, 1.0, 5), "sigma"),
        (lambda: alpha(1.0, math.inf, 5), "q0"),
        (lambda: alpha(1.0, 0.0, 5), "q0"),
        (lambda: alpha(1.0, 1.0, 0), "depth"),
        (lambda: alpha(1.0, 1.0, 2.5), "depth"),
        (lambda: alpha(1.0, 1.0, True), "depth"),
        (lambda: alpha(np.array([1.0, -1.0]), 1.0, 3), "sigma"),
        (lambda: alpha_l(1.0, 1.0, 0), "l must"),
        (lambda: max_q0(1.0, 5, eps=0.0), "eps"),
        (lambda: max_q0(1.0, 5, eps=1.0), "eps"),
        (lambda: isometry_region(5, kappa=1.0), "kappa"),
        (lambda: isometry_region(0), "depth"),
        (lambda: spectrum(1.0, 1.0, 5, "swish"), "activation"),
        (lambda: spectrum(1.0, -1.0, 5, "tanh"), "q0"),
        (lambda: spectrum(1.0, 1.0, 5).quantile(1.5), "p must"),
    ],
)
def test_bad_arguments_name_the_argument(call, match: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=match):
        call()
