"""The analysis of ``idmlp theory`` as library functions (idmlp.theory.report), and the one
KS distance and strict-JSON helper it uses."""

import json
import math

import numpy as np
import pytest
import torch

from idmlp.jacobian.lanczos import slq
from idmlp.nets.mlp import IdentityMLP
from idmlp.theory import (
    compare_spectrum,
    empirical_check,
    jacobian_path,
    ks_distance,
    measure_inits,
    spectrum,
    theory_report,
    theory_summary,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _strict(obj: object) -> None:
    json.dumps(obj, allow_nan=False)  # raises on NaN / Infinity / numpy scalars


def test_jacobian_path_by_width_and_by_choice() -> None:
    assert jacobian_path("auto", 1024)[0] == "dense"
    path, why = jacobian_path("auto", 1025)
    assert path == "slq" and "1025 > 1024" in why
    assert jacobian_path("dense", 10**6) == ("dense", "as asked (--jacobian)")
    with pytest.raises(ValueError, match="--jacobian must be one of auto, dense, slq"):
        jacobian_path("qr", 10)


def test_theory_summary_is_strict_json_even_when_float64_overflows() -> None:
    s = theory_summary(3.0, 1.0, 400, "relu")
    _strict(s)
    assert s["law"]["mean"] is None and s["law"]["log10_mean"] == pytest.approx(381.4, abs=0.01)
    assert "alpha" not in s  # hard-tanh only
    h = theory_summary(1.05, 0.2, 20)
    assert h["alpha"]["a"] == pytest.approx(0.600632, abs=1e-6)


def test_empirical_check_dense_is_compare_spectrum_of_the_same_eigenvalues() -> None:
    lam, s = empirical_check(1.05, 0.2, 20, width=200, samples=4, seed=3)
    _strict(s)
    assert lam.shape == (4, 200) and s["jacobian"] == "dense" and s["dtype"] == "float64"
    ref = compare_spectrum(lam, spectrum(1.05, 0.2, 20))
    assert s["ks"] == ref.ks and s["z"] == ref.z and s["n"] == 800
    assert abs(s["z"]) < 4 and s["ks"] < s["ks_bound"]


def test_empirical_check_slq_matches_the_law_of_a_two_atom_network() -> None:
    lam, s = empirical_check(1.0, 0.5, 20, width=200, samples=8, jacobian="slq")
    _strict(s)
    assert s["jacobian"] == "slq" and s["dtype"] == "float32" and lam.shape == (8, 200)
    assert s["ks"] < 0.05
    assert abs(s["nonzero_empirical"] - s["nonzero_theory"]) < 0.05


@pytest.mark.numerics
def test_ks_of_a_measure_is_the_sup_of_the_two_cdfs_on_the_grid() -> None:
    """The measure path of ks_distance is the grid computation ``idmlp theory --empirical``
    made by hand before (SLQ's interpolated CDF against the law's)."""
    torch.manual_seed(0)
    net = IdentityMLP(120, 10, 1.0, "tanh")
    est = slq(net, 0.7 * torch.randn(4, 120))
    law = spectrum(1.0, 0.5, 10, "tanh")
    top = float(np.max(est.nodes))
    grid = np.geomspace(top * est.resolution, 1.01 * top, 4000)
    by_hand = float(np.max(np.abs(est.cdf(grid) - law.cdf(grid))))
    assert ks_distance(est, law, floor=est.resolution).ks == by_hand
    # and the sample path of the same helper, against exact eigenvalues, stays small
    x = 0.7 * torch.randn(4, 120)
    from idmlp.jacobian.dense import singular_values

    exact = (singular_values(net, x, dtype=torch.float64) ** 2).numpy()
    assert ks_distance(exact, slq(net, x), floor=est.resolution).ks < 0.2


def test_measure_inits_table_and_comparison() -> None:
    cmp, table = measure_inits(6, 48, "tanh", 1.0, 0.05, 0.5, samples=2, seed=1)
    _strict(table)
    assert table["jacobian"] == "dense" and set(table["inits"]) == {
        "identity", "orthogonal", "gaussian"}
    for init, row in table["inits"].items():
        lam = cmp.eigenvalues[init]
        assert lam.shape == (2, 48)
        assert row["measured_mean"] == pytest.approx(float(lam.mean()))
        assert row["ks"] == ks_distance(lam, cmp.laws[init]).ks
    _, slq_table = measure_inits(6, 48, "tanh", 1.0, 0.0, 0.5, samples=2, jacobian="slq",
                                 inits=("identity", "orthogonal"))
    assert slq_table["jacobian"] == "slq" and set(slq_table["inits"]) == {
        "identity", "orthogonal"}
    row = slq_table["inits"]["orthogonal"]
    assert row["measured_mean"] == pytest.approx(row["theory_mean"], rel=0.2)


def test_theory_report_runs_every_part() -> None:
    r = theory_report(1.0, 0.5, 8, "hardtanh", empirical=True, compare=True, width=32,
                      samples=2, sigma_b=0.05)
    _strict(r.summary)
    assert set(r.summary) == {"law", "isometry_region", "alpha", "empirical", "inits"}
    assert r.eigenvalues.shape == (2, 32) and r.data_law is None
    assert r.inits is not None and r.inits.sigma_b == 0.05
    assert r.law.nonzero_fraction == pytest.approx(math.erf(1 / math.sqrt(2 * 0.5)))
