"""The free-probability density of J J^T against exact laws and closed-form moments."""

import math

import numpy as np
import pytest
import torch
from scipy.special import comb, erf

from idmlp.theory import (
    critical_point,
    free_spectrum,
    jacobian_eigenvalues,
    length_map,
    random_mlp,
)


def test_marchenko_pastur() -> None:
    """One Gaussian linear layer: W W^T is Marchenko-Pastur with ratio 1 on [0, 4]."""
    law = free_spectrum(1.0, 0.0, 1.0, 1, "linear", "gaussian")
    assert law.top == pytest.approx(4.0, rel=1e-10)
    x = law.grid[(law.grid > 1e-3) & (law.grid < 3.99)]
    exact = np.sqrt(x * (4 - x)) / (2 * np.pi * x)
    np.testing.assert_allclose(law.pdf(x), exact, rtol=2e-3)
    assert law.cdf(1.0) == pytest.approx(1 / 3 + math.sqrt(3) / (2 * math.pi), abs=1e-4)
    assert law.cdf(law.top) == 1.0 and law.cdf(4.0) == pytest.approx(1.0, abs=1e-5)
    assert law.atoms == ()


def test_fuss_catalan_moments() -> None:
    """Products of L square Gaussian matrices: m_k = binom((L+1)k, k) / (Lk + 1)."""
    depth = 3
    law = free_spectrum(1.0, 0.0, 1.0, depth, "linear", "gaussian")
    lx = np.log(law.grid)
    for k in (1, 2, 3):
        mk = np.trapezoid(law.grid ** (k + 1) * law.density, lx)
        assert mk == pytest.approx(comb((depth + 1) * k, k) / (depth * k + 1), rel=2e-3)
    assert law.top == pytest.approx((depth + 1) ** (depth + 1) / depth**depth, rel=1e-8)


CP = critical_point("hardtanh", sigma_b=0.05)


@pytest.mark.parametrize(
    "args",
    [
        (CP.sigma_w, CP.sigma_b, 1.0, 32, "hardtanh", "orthogonal"),
        (CP.sigma_w, CP.sigma_b, 1.0, 20, "hardtanh", "gaussian"),
        (1.3, 0.2, 0.5, 6, "hardtanh", "orthogonal"),
        (1.2, 0.1, 2.0, 10, "tanh", "orthogonal"),
        (0.9, 0.3, 2.0, 8, "tanh", "gaussian"),
        (2**0.5, 0.0, 1.0, 5, "relu", "gaussian"),
        (1.0, 0.1, 1.0, 6, "selu", "orthogonal"),
    ],
)
def test_density_moments_equal_closed_forms(args: tuple) -> None:
    """Two computations of the same law: the integrated density (and atoms) against the
    S-transform expansion of idmlp.theory.meanfield."""
    law = free_spectrum(*args)
    mean, var = law.density_moments()
    assert mean == pytest.approx(law.mean(), rel=3e-4)
    assert var == pytest.approx(law.var(), rel=5e-4)
    assert law.mass_below_grid > -1e-4  # mass below the grid: tiny (or Gaussian's 0-tail)
    t = np.geomspace(law.grid[0], law.top, 200)
    cdf = law.cdf(t)
    assert np.all(np.diff(cdf) >= -1e-9) and 0 <= cdf[0] and cdf[-1] == 1.0
    q = law.quantile([0.1, 0.5, 0.9])
    assert np.all(np.diff(q) >= 0) and np.all(law.cdf(q) >= np.array([0.1, 0.5, 0.9]) - 1e-3)




def test_atoms_of_orthogonal_hardtanh(one_thread: None) -> None:
    """Zero: max_l P(saturated at layer l). Top, sigma_w^(2L): the subspace every layer keeps,
    mass sum_l p_l - (L - 1) (Belinschi 2003); a real network keeps
    N - sum_l (N - r_l) directions exactly, r_l its unsaturated units."""
    sw, sb, q0, depth, width = 1.01, 0.05, 0.1, 4, 400
    law = free_spectrum(sw, sb, q0, depth, "hardtanh", "orthogonal")
    p = erf(1 / np.sqrt(2 * length_map(q0, sw, sb, depth, "hardtanh")))
    assert law.atoms[0] == (0.0, pytest.approx(1 - p.min(), rel=1e-12))
    assert law.atoms[1][0] == pytest.approx(sw ** (2 * depth), rel=1e-12)
    assert law.atoms[1][1] == pytest.approx(p.sum() - (depth - 1), rel=1e-10)
    lam = np.stack([jacobian_eigenvalues(random_mlp(width, depth, sw, sb, "hardtanh",
                                                    "orthogonal", seed=s), q0, 4, seed=s)
                    for s in range(3)])
    at_top = np.mean(np.abs(lam / sw ** (2 * depth) - 1) < 1e-9)
    # each r_l / N is binomial: the kept fraction has sd <= sqrt(L p (1 - p) / n)
    sd = math.sqrt(depth * p.max() * (1 - p.min()) / lam[..., 0].size / width)
    assert abs(at_top - law.atoms[1][1]) < 4 * sd + 1.0 / width


def test_purely_atomic_law() -> None:
    law = free_spectrum(1.1, 0.0, 1.0, 5, "linear", "orthogonal")
    assert law.atoms == ((pytest.approx(1.1**10, rel=1e-12), pytest.approx(1.0, abs=1e-12)),)
    assert law.cdf(1.1**10 * 0.999) == 0.0 and law.cdf(1.1**10) == 1.0
    assert law.var() == 0.0


def test_summary_is_strict_json() -> None:
    import json

    law = free_spectrum(CP.sigma_w, CP.sigma_b, 1.0, 8, "hardtanh", "gaussian")
    json.dumps(law.summary(), allow_nan=False)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: free_spectrum(1.0, 0.0, 1.0, 3, "tanh", "gaussian", lowest=0.0), "lowest"),
        (lambda: free_spectrum(1.0, 0.0, 1.0, 3, "tanh", "gaussian", lowest=1.0), "lowest"),
        (lambda: free_spectrum(1.0, 0.0, 1.0, 3, "tanh", points_per_decade=2), "points_per"),
        (lambda: free_spectrum(1.0, 0.0, 1.0, 3, "tanh", "haar"), "weights"),
        (lambda: free_spectrum(-1.0, 0.0, 1.0, 3), "sigma_w"),
        (lambda: free_spectrum(1.0, 0.0, 1.0, 3, "relu").quantile(2.0), "p must"),
    ],
)
def test_bad_arguments(call, match: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=match):
        call()


def test_no_torch_state_leaks() -> None:
    threads = torch.get_num_threads()
    free_spectrum(1.2, 0.1, 1.0, 4, "tanh", "orthogonal")
    assert torch.get_num_threads() == threads
