import json
import math
import warnings

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.special import erfinv

from idmlp.activations import (
    ACTIVATIONS,
    get_activation,
    log_abs_derivative,
    value_and_derivative,
)
from idmlp.data import InputScaler, load_dataset
from idmlp.jacobian.dense import singular_values
from idmlp.nets.mlp import IdentityMLP
from idmlp.theory import (
    _quadrature_law,
    alpha,
    alpha_l,
    isometry_region,
    max_q0,
    scalar_jacobian,
    scalar_log_eigenvalue,
    spectrum,
    spectrum_on_data,
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


# --------------------------------------------------------------------------------------
# Log-space laws: no spurious zeros from underflow, no overflow (issues 9 and 11)
# --------------------------------------------------------------------------------------

def test_log_abs_derivative_matches_autograd_and_never_underflows() -> None:
    kinks = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    h = torch.cat([torch.linspace(-6, 6, 1201, dtype=torch.float64), kinks])
    for act in ACTIVATIONS:
        _, d = value_and_derivative(get_activation(act), h)
        log_d = log_abs_derivative(act, h)
        normal = d.abs() > 1e-300
        # |phi'| from autograd carries a relative error ~ eps * cosh(h)^2 (tanh) or the
        # cancellation of gelu's phi' near its zero: 1e-8 covers both on |h| <= 6.
        torch.testing.assert_close(log_d[normal].exp(), d[normal].abs(), rtol=1e-8, atol=1e-15)
        assert torch.equal(torch.isinf(log_d), d == 0), act  # -inf exactly at genuine zeros
    far = torch.tensor([-400.0, -30.0, 30.0, 400.0], dtype=torch.float64)
    for act in ("tanh", "sigmoid", "selu"):
        assert torch.isfinite(log_abs_derivative(act, far)).all()
    assert torch.isfinite(log_abs_derivative("gelu", far)).all()
    # tanh: log sech^2 h = 2 log 2 - 2|h| - 2 log1p(e^{-2|h|}), checked in 50 digits.
    mpmath.mp.dps = 50
    for x in (30.0, 400.0):
        ref = float(2 * mpmath.log(mpmath.sech(x)))
        got = float(log_abs_derivative("tanh", torch.tensor([x], dtype=torch.float64)))
        assert got == pytest.approx(ref, rel=1e-15)


def test_tanh_at_q0_100_has_no_spurious_mass_at_zero() -> None:
    """1 - tanh^2 rounds to 0 for |h| > 19.1: the old law reported 0.057 at zero."""
    law = spectrum(1.0, 100.0, 20, "tanh")
    assert law.mass_at_zero == 0.0 and law.cdf(0.0) == 0.0
    assert np.all(np.isfinite(law.log_values))
    u = torch.from_numpy(np.sqrt(200.0) * erfinv(2 * (np.arange(2**14) + 0.5) / 2**14 - 1))
    old_zero = scalar_jacobian(u, 1.0, 20, "tanh") == 0
    assert 0.05 < float(old_zero.double().mean()) < 0.06  # what the old law called zero
    assert law.cdf(1e-30) >= float(old_zero.double().mean())  # now tiny, positive
    # The recursion in log space against 50-digit arithmetic, where autograd gives 0.
    mpmath.mp.dps = 50
    for u0 in (25.0, -60.0, 300.0):
        h, ref = mpmath.mpf(u0), mpmath.mpf(0)
        for _ in range(20):
            ref += 2 * mpmath.log(mpmath.sech(h) ** 2)
            h = mpmath.tanh(h)
        got = scalar_log_eigenvalue(torch.tensor([u0], dtype=torch.float64), 1.0, 20, "tanh")
        assert float(got) == pytest.approx(float(ref), rel=1e-13)


def test_hardtanh_law_survives_overflow_of_sigma_power() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for sigma, q0, depth in [(1.5, 1.0, 2000), (1e10, 1.0, 50), (1.0, 1e300, 10)]:
            law = spectrum(sigma, q0, depth)
            layer = depth if sigma > 1 else 1
            log_x = -(layer * math.log(sigma) + 0.5 * math.log(2 * q0))
            log_a = math.log(math.erf(math.exp(log_x))) if log_x > -20 else \
                math.log(2 / math.sqrt(math.pi)) + log_x
            assert law.log_mean() == pytest.approx(log_a + 2 * depth * math.log(sigma), rel=1e-12)
            summary = law.summary()
            json.dumps(summary, allow_nan=False)
            assert summary["log10_mean"] == pytest.approx(law.log_mean() / math.log(10))
            assert summary["atoms"][-1]["log10_lambda"] == pytest.approx(
                2 * depth * math.log10(sigma), rel=1e-12)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_extreme_arguments_give_a_finite_summary_or_one_valueerror(activation: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning either
        for sigma, q0, depth in [(3.0, 1.0, 400), (1.0, 1e300, 10), (1e10, 1.0, 50),
                                 (1.5, 1.0, 2000), (1e-10, 1e-300, 10)]:
            try:
                law = spectrum(sigma, q0, depth, activation, points=4096)
            except ValueError as err:
                assert activation in ("gelu", "selu", "sigmoid", "tanh")
                assert "overflows float64" in str(err) and "\n" not in str(err)
                continue
            text = json.dumps(law.summary(), allow_nan=False)
            assert "Infinity" not in text and "NaN" not in text
            assert law.weights.sum() == pytest.approx(1.0)


def test_relu_law_past_float64() -> None:
    law = spectrum(3.0, 1.0, 400, "relu", points=4096)
    assert law.mass_at_zero == 0.5
    assert law.mean() == math.inf
    assert law.log_mean() == pytest.approx(math.log(0.5) + 800 * math.log(3.0), rel=1e-14)
    # Var = E[l^2] - m^2 = (1/2 - 1/4) 3^1600
    assert law.log_var() == pytest.approx(math.log(0.25) + 1600 * math.log(3.0), rel=1e-14)
    assert law.cdf(1e308) == 0.5 and law.cdf(math.inf) == 1.0


@given(st.sampled_from(ACTIVATIONS), sigmas, q0s, depths)
@settings(max_examples=40, deadline=None)
def test_log_moments_equal_direct_moments(act: str, sigma: float, q0: float,
                                          depth: int) -> None:
    law = spectrum(sigma, q0, depth, act, points=4096)
    vals = law.values
    assume(np.all(np.isfinite(vals)) and vals.max() < 1e150)
    mean = float(np.dot(vals, law.weights))
    assert law.mean() == pytest.approx(mean, rel=1e-12, abs=1e-300)
    var = float(np.dot((vals - mean) ** 2, law.weights))
    assert law.var() == pytest.approx(var, rel=1e-9, abs=1e-12 * mean**2 + 1e-300)


# --------------------------------------------------------------------------------------
# The law on real data
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_train() -> np.ndarray:
    return load_dataset("digits").X_train


@pytest.mark.parametrize(("sigma", "q0", "depth"), [(1.0, 1.0, 20), (1.05, 0.3, 30),
                                                    (0.95, 4.0, 10)])
def test_data_law_is_exact_on_digits(digits_train: np.ndarray, sigma: float, q0: float,
                                     depth: int) -> None:
    """Identity init: J is diagonal, so the data law is the eigenvalues, coordinate by
    coordinate. The Gaussian law misses the padded class block and the constant pixels."""
    X = InputScaler("feature").fit(digits_train).transform(digits_train.astype(np.float64))
    X = X * math.sqrt(q0)  # the network scales by sqrt(q0)
    law = spectrum_on_data(X, sigma, depth, num_classes=10)
    net = IdentityMLP(74, depth, sigma, dtype=torch.float64)
    lam = singular_values(net, F.pad(torch.from_numpy(X), (0, 10)), dtype=torch.float64) ** 2
    n = lam.numel()
    assert law.nonzero_fraction == float((lam > 0).double().mean())  # exact, no tolerance
    top = float(law.atoms[-1][0])
    assert torch.allclose(lam[lam > 0], torch.tensor(top, dtype=torch.float64), rtol=1e-12)
    gauss = spectrum(sigma, q0, depth).nonzero_fraction
    se = math.sqrt(gauss * (1 - gauss) / n)
    assert abs(law.nonzero_fraction - gauss) > 50 * se
    assert law.source == "data" and 0.9 * q0 < law.q0 <= q0 * (1 + 1e-6)  # constant pixels: 0


def test_data_law_tanh_matches_network_values(digits_train: np.ndarray) -> None:
    X = InputScaler("feature").fit(digits_train).transform(digits_train[:200].astype(np.float64))
    X = X * math.sqrt(2.0)
    law = spectrum_on_data(X, 1.02, 15, "tanh", num_classes=10)
    net = IdentityMLP(74, 15, 1.02, "tanh", dtype=torch.float64)
    lam = (singular_values(net, F.pad(torch.from_numpy(X), (0, 10)), dtype=torch.float64)
           ** 2).numpy().ravel()
    # Same float64 recursion: the sorted values agree to rounding wherever autograd's
    # 1 - tanh^2 keeps its relative precision (lambda > 1e-10 here).
    ours = np.sort(np.repeat(law.values, np.round(law.weights * lam.size).astype(int)))
    ref = np.sort(lam)
    big = ref > 1e-10
    np.testing.assert_allclose(ours[big], ref[big], rtol=1e-6)
    assert law.mass_at_zero == 0.0


@given(st.sampled_from(ACTIVATIONS), st.integers(1, 4), st.integers(0, 3), depths,
       st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None)
def test_data_law_equals_coordinatewise_recursion(act: str, n: int, classes: int, depth: int,
                                                  seed: int) -> None:
    """Counting distinct values (and the padded zeros) is the same measure as running every
    coordinate through the recursion (up to the last bit: torch's vectorized and scalar
    exp/log round differently by array position)."""
    rng = np.random.default_rng(seed)
    X = rng.choice([-2.0, -0.5, 0.0, 0.3, 1.0], size=(n, 5)) * rng.choice([1.0, 0.7])
    law = spectrum_on_data(X, 1.05, depth, act, num_classes=classes)
    padded = np.pad(X, ((0, 0), (0, classes))).ravel()
    brute = np.sort(scalar_log_eigenvalue(torch.from_numpy(padded), 1.05, depth, act).numpy())
    ours = np.repeat(law.log_values, np.round(law.weights * padded.size).astype(int))
    assert ours.size == brute.size and law.weights.sum() == pytest.approx(1.0)
    finite = np.isfinite(brute)
    np.testing.assert_array_equal(np.isfinite(ours), finite)
    np.testing.assert_allclose(ours[finite], brute[finite], rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: spectrum_on_data(np.zeros(4), 1.0, 3), "2-D"),
        (lambda: spectrum_on_data(np.zeros((0, 4)), 1.0, 3), "2-D"),
        (lambda: spectrum_on_data(np.full((2, 2), np.nan), 1.0, 3), "finite"),
        (lambda: spectrum_on_data(np.zeros((2, 2)), 1.0, 3, num_classes=-1), "num_classes"),
        (lambda: spectrum_on_data(np.zeros((2, 2)), 0.0, 3), "sigma"),
        (lambda: spectrum_on_data(np.zeros((2, 2)), 1.0, 3, "swish"), "activation"),
        (lambda: log_abs_derivative("swish", torch.zeros(2)), "activation"),
        (lambda: scalar_log_eigenvalue(torch.zeros(2), 1.0, 0), "depth"),
    ],
)
def test_bad_arguments_of_the_new_laws(call, match: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=match):
        call()
