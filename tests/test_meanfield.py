"""Mean-field theory of random inits against closed forms, quadrature and real networks."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.special import erf

from idmlp.activations import get_activation
from idmlp.theory import (
    activation_moments,
    chi,
    critical_point,
    fixed_point,
    free_spectrum,
    jacobian_eigenvalues,
    jacobian_means,
    jacobian_moments,
    ks_distance,
    length_map,
    random_mlp,
)

QS = [1e-8, 1e-3, 0.17, 1.0, 30.0, 1e4, 1e8]


def _closed_form(act: str, q: float) -> tuple[float, float, float]:
    if act == "hardtanh":
        a = 1 / math.sqrt(2 * q)
        e = q * (erf(a) - 2 * a * math.exp(-a * a) / math.sqrt(math.pi)) + math.erfc(a)
        return e, erf(a), erf(a)
    if act == "relu":
        return q / 2, 0.5, 0.5
    if act == "leaky_relu":
        s = 0.01
        return q * (1 + s * s) / 2, (1 + s * s) / 2, (1 + s**4) / 2
    return q, 1.0, 1.0  # linear


@pytest.mark.parametrize("act", ["hardtanh", "relu", "leaky_relu", "linear"])
@pytest.mark.parametrize("q", QS)
def test_moments_equal_closed_forms(act: str, q: float) -> None:
    ours = activation_moments(q, act)
    ref = _closed_form(act, q)
    # The hard-tanh closed form itself cancels for q >> 1 (q erf(a) - q 2a e^{-a^2}/sqrt(pi)).
    rtol = 1e-10 if (act == "hardtanh" and q >= 1e4) else 1e-13
    np.testing.assert_allclose(ours, ref, rtol=rtol)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "gelu", "selu"])
@pytest.mark.parametrize("q", [1e-3, 0.5, 4.0, 100.0, 1e6])
def test_moments_equal_adaptive_quadrature(act: str, q: float) -> None:
    """Two algorithms in float64: the graded Gauss-Legendre rule against scipy's QUADPACK."""
    fn = get_activation(act)

    def f(h: float, k: int) -> float:
        x = torch.tensor([h], dtype=torch.float64, requires_grad=True)
        y = fn(x)
        (d,) = torch.autograd.grad(y.sum(), x)
        val = (y.item() ** 2, d.item() ** 2, d.item() ** 4)[k]
        return val * math.exp(-h * h / (2 * q)) / math.sqrt(2 * math.pi * q)

    s = math.sqrt(q)
    # breakpoints at the kinks and on the activation's scale, so QUADPACK sees the bump
    scale = (1.0, 2.0, 5.0, 10.0, 20.0, 40.0)
    pts = sorted({0.0, *[c * v for v in scale for c in (-1.0, 1.0) if v < 13 * s]})
    edges = [-13 * s, *pts, 13 * s]
    ref = [sum(quad(f, a, b, args=(k,), epsabs=1e-14, epsrel=1e-12, limit=400)[0]
               for a, b in zip(edges, edges[1:], strict=False)) for k in range(3)]
    np.testing.assert_allclose(activation_moments(q, act), ref, rtol=1e-9, atol=1e-15)


def test_length_map_closed_forms() -> None:
    np.testing.assert_allclose(length_map(0.7, 2**0.5, 0.0, 5, "relu"), 1.4, rtol=1e-14)
    sw, sb, q0 = 0.9, 0.3, 2.0
    q = [sw**2 * q0 + sb**2]
    for _ in range(7):
        q.append(sw**2 * q[-1] + sb**2)
    np.testing.assert_allclose(length_map(q0, sw, sb, 8, "linear"), q, rtol=1e-14)




@pytest.mark.parametrize(("act", "init"), [("tanh", "gaussian"), ("hardtanh", "orthogonal")])
def test_length_map_matches_wide_networks(one_thread: None, act: str, init: str) -> None:
    """Empirical q^l = |h^l|^2 / N of 8 width-500 networks (2 inputs each) within 4
    standard errors; a network is one replicate (its weights are shared by its inputs)."""
    width, depth, sw, sb, q0 = 500, 6, 1.3, 0.2, 0.7
    reps = []
    for seed in range(8):
        net = random_mlp(width, depth, sw, sb, act, init, seed=seed)
        gen = torch.Generator().manual_seed(100 + seed)
        x = torch.randn(2, width, generator=gen, dtype=torch.float64)
        x *= math.sqrt(q0 * width) / x.norm(dim=1, keepdim=True)
        qs = []
        with torch.no_grad():
            for layer in net.layers:
                h = layer(x)
                qs.append((h**2).mean())
                x = net.act(h)
        reps.append(torch.stack(qs).numpy())
    reps = np.array(reps)
    se = reps.std(axis=0, ddof=1) / math.sqrt(len(reps))
    theory = length_map(q0, sw, sb, depth, act)
    assert np.all(np.abs(reps.mean(axis=0) - theory) < 4 * se), (reps.mean(axis=0), theory, se)


def test_fixed_point() -> None:
    q = fixed_point(1.5, 0.1, "tanh")
    assert length_map(1.0, 1.5, 0.1, 400, "tanh")[-1] == pytest.approx(q, rel=1e-12)
    assert fixed_point(0.9, 0.0, "tanh") == 0.0  # the zero fixed point is the stable one
    assert fixed_point(0.5, 0.2, "relu") == pytest.approx(0.04 / (1 - 0.125), rel=1e-12)
    with pytest.raises(ValueError, match="no fixed point"):
        fixed_point(2.0, 0.1, "relu")


@given(st.sampled_from(["hardtanh", "tanh"]), st.floats(0.01, 1.0))
@settings(max_examples=25, deadline=None)
def test_critical_point_is_critical(act: str, sigma_b: float) -> None:
    cp = critical_point(act, sigma_b=sigma_b)
    assert cp.chi == pytest.approx(1.0, abs=1e-12)
    assert cp.sigma_b == pytest.approx(sigma_b, rel=1e-9)
    assert fixed_point(cp.sigma_w, cp.sigma_b, act) == pytest.approx(cp.q_star, rel=1e-8)
    back = critical_point(act, q_star=cp.q_star)
    assert back.sigma_w == pytest.approx(cp.sigma_w, rel=1e-12)
    assert back.sigma_b == pytest.approx(sigma_b, rel=1e-8)


@given(st.floats(1.001, 3.0))
@settings(max_examples=25, deadline=None)
def test_hardtanh_without_bias_has_chi_above_one_at_every_nonzero_fixed_point(
        sigma_w: float) -> None:
    """Why the package's zero biases cannot reach the critical line for hard-tanh."""
    q = fixed_point(sigma_w, 0.0, "hardtanh")
    assert q > 0 and chi(sigma_w, q, "hardtanh") > 1.0
    assert critical_point("hardtanh", sigma_b=0.0).q_star == 0.0


def test_jacobian_moments_closed_forms() -> None:
    lin = jacobian_moments(1.1, 0.0, 1.0, 7, "linear", "gaussian")
    assert lin.mean == pytest.approx(1.1**14, rel=1e-13) and lin.normalized_var == 7.0
    assert jacobian_moments(1.1, 0.0, 1.0, 7, "linear", "orthogonal").var == 0.0
    relu = jacobian_moments(2**0.5, 0.0, 1.0, 5, "relu", "orthogonal")  # mu1 = mu2 = 1/2
    assert relu.mean == pytest.approx(1.0, rel=1e-13)
    assert relu.normalized_var == pytest.approx(5.0, rel=1e-13)
    # At the fixed point: the papers' L (mu2 / mu1^2 - 1 - s1).
    cp = critical_point("tanh", sigma_b=0.3)
    x_sq = (cp.q_star - cp.sigma_b**2) / cp.sigma_w**2  # input mean square with q^1 = q*
    for weights, s1 in (("orthogonal", 0.0), ("gaussian", -1.0)):
        m = jacobian_moments(cp.sigma_w, cp.sigma_b, x_sq, 20, "tanh", weights)
        np.testing.assert_allclose(m.q, cp.q_star, rtol=1e-12)
        assert m.mean == pytest.approx(1.0, rel=1e-10)
        assert m.normalized_var == pytest.approx(20 * (cp.mu2 / cp.mu1**2 - 1 - s1), rel=1e-10)
    ht = jacobian_moments(1.3, 0.2, 0.5, 6, "hardtanh", "gaussian")
    sat = 1 - erf(1 / np.sqrt(2 * length_map(0.5, 1.3, 0.2, 6, "hardtanh")))
    np.testing.assert_allclose(ht.zero_mass, sat, rtol=1e-12)
    assert ht.mass_at_zero == pytest.approx(sat.max(), rel=1e-12)
    assert free_spectrum(1.3, 0.2, 0.5, 6, "hardtanh", "gaussian").mass_at_zero == \
        pytest.approx(ht.mass_at_zero, rel=1e-12)
    assert jacobian_moments(1.0, 0.1, 1.0, 4, "tanh").mass_at_zero == 0.0
    deep = jacobian_moments(10.0, 0.0, 1.0, 1000, "tanh", "gaussian")
    assert deep.to_dict()["mean"] is None and deep.mean == math.inf
    assert deep.log_mean == pytest.approx(1000 * math.log(100 * deep.mu1[-1]), rel=1e-3)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: activation_moments(-1.0, "tanh"), "q must"),
        (lambda: activation_moments(1.0, "swish"), "activation"),
        (lambda: chi(0.0, 1.0), "sigma_w"),
        (lambda: length_map(1.0, 1.0, -0.1, 3), "sigma_b"),
        (lambda: length_map(1.0, 1.0, 0.1, 0), "depth"),
        (lambda: length_map(1.0, 3.0, 0.0, 2000, "relu"), "diverges"),
        (lambda: critical_point("tanh"), "exactly one"),
        (lambda: critical_point("tanh", sigma_b=0.1, q_star=1.0), "exactly one"),
        (lambda: critical_point("tanh", q_star=0.0), "q_star"),
        (lambda: critical_point("tanh", sigma_b=-1.0), "sigma_b"),
        (lambda: jacobian_moments(1.0, 0.0, 1.0, 3, "tanh", "uniform"), "weights"),
        (lambda: jacobian_moments(1.0, 0.0, math.nan, 3), "q0"),
    ],
)
def test_bad_arguments(call, match: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------------------
# The 12-case check against real networks (moments and densities)
# --------------------------------------------------------------------------------------

_HT = critical_point("hardtanh", sigma_b=0.05)
_TH = critical_point("tanh", sigma_b=0.05)
# (width, depth, activation, init, sigma_w, sigma_b, q0): critical and off-critical points,
# inputs away from the fixed point so the length map is followed layer by layer.
CASES = [
    (500, 4, "hardtanh", "orthogonal", _HT.sigma_w, _HT.sigma_b, 1.0),
    (500, 32, "hardtanh", "orthogonal", _HT.sigma_w, _HT.sigma_b, 1.0),
    (500, 4, "hardtanh", "gaussian", _HT.sigma_w, _HT.sigma_b, 1.0),
    (500, 16, "hardtanh", "gaussian", _HT.sigma_w, _HT.sigma_b, 1.0),
    (750, 4, "hardtanh", "orthogonal", 1.3, 0.2, 0.5),
    (500, 8, "hardtanh", "gaussian", 1.3, 0.2, 0.5),
    (500, 8, "tanh", "orthogonal", _TH.sigma_w, _TH.sigma_b, 1.0),
    (500, 32, "tanh", "orthogonal", _TH.sigma_w, _TH.sigma_b, 1.0),
    (500, 8, "tanh", "gaussian", _TH.sigma_w, _TH.sigma_b, 1.0),
    (500, 16, "tanh", "gaussian", _TH.sigma_w, _TH.sigma_b, 1.0),
    (500, 16, "tanh", "orthogonal", 0.9, 0.3, 2.0),
    (750, 4, "tanh", "gaussian", 0.9, 0.3, 2.0),
]
NETS, INPUTS = 6, 2


@pytest.fixture(scope="module")
def measured() -> dict[tuple, np.ndarray]:
    """Eigenvalues of J J^T, ``(NETS, INPUTS, width)`` per case, float64 (~40 s on one
    thread; see ``one_thread``)."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    for case in CASES:
        width, depth, act, init, sw, sb, q0 = case
        out[case] = np.stack([
            jacobian_eigenvalues(random_mlp(width, depth, sw, sb, act, init, seed=r), q0,
                                 INPUTS, seed=1000 + r)
            for r in range(NETS)
        ])
    torch.set_num_threads(prev)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[2]}-{c[3]}-N{c[0]}-L{c[1]}")
def test_moments_within_three_standard_errors(measured: dict, case: tuple) -> None:
    """Per network, the mean and variance of the eigenvalues averaged over its inputs is one
    replicate; the standard error is over the NETS independent networks."""
    width, depth, act, init, sw, sb, q0 = case
    lam = measured[case]
    per_net = np.stack([lam.mean(axis=2).mean(axis=1), lam.var(axis=2).mean(axis=1)], axis=1)
    mean, se = per_net.mean(axis=0), per_net.std(axis=0, ddof=1) / math.sqrt(NETS)
    theory = jacobian_moments(sw, sb, q0, depth, act, init)
    z = (mean - [theory.mean, theory.var]) / se
    assert np.all(np.abs(z) < 3), (z, mean, se, theory.mean, theory.var)


@pytest.mark.slow
@pytest.mark.parametrize("case", [CASES[i] for i in (1, 3, 7, 9)],
                         ids=lambda c: f"{c[2]}-{c[3]}-N{c[0]}-L{c[1]}")
def test_density_within_the_sampling_radius(measured: dict, case: tuple) -> None:
    """KS distance of the pooled eigenvalues (t >= 1e-20 max) to the free-probability law,
    below the 99% DKW radius sqrt(ln(200) / 2n) of n i.i.d. draws; the law of the other
    weight distribution (checked for hard-tanh, the cheaper law) is far outside it."""
    width, depth, act, init, sw, sb, q0 = case
    lam = measured[case]
    law = free_spectrum(sw, sb, q0, depth, act, init)
    res = ks_distance(lam, law)
    assert res.n == NETS * INPUTS * width
    assert res.ks < res.dkw, res
    if act == "hardtanh":
        other = "gaussian" if init == "orthogonal" else "orthogonal"
        assert ks_distance(lam, free_spectrum(sw, sb, q0, depth, act, other)).ks > 2 * res.dkw


@pytest.mark.parametrize("activation", ["hardtanh", "tanh", "relu"])
def test_jacobian_means_vectorized_equals_one_at_a_time(activation: str) -> None:
    """The sweep's many-inputs path (one activation call for all rules) against
    jacobian_moments one input at a time: same quadrature, other summation order."""
    q0s = np.array([1e-3, 0.07, 0.5, 1.3, 4.0, 20.0])
    mean, zero = jacobian_means(1.05, 0.1, q0s, 12, activation)
    for q0, m, z in zip(q0s, mean, zero, strict=True):
        ref = jacobian_moments(1.05, 0.1, float(q0), 12, activation)
        assert m == pytest.approx(ref.mean, rel=1e-12)
        assert z == pytest.approx(ref.mass_at_zero, rel=1e-12, abs=1e-15)
    with pytest.raises(ValueError, match="q0"):
        jacobian_means(1.0, 0.0, [1.0, -1.0], 3)
