"""Theory against measurement: KS distance, the three inits side by side, the figure."""

import json
import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from idmlp.plots.spectra import plot_init_spectra
from idmlp.theory import (
    FreeSpectrum,
    SpectralLaw,
    compare_inits,
    jacobian_eigenvalues,
    ks_distance,
    random_mlp,
    spectrum,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_ks_distance_is_the_plain_ks_at_rtol_zero() -> None:
    """Against scipy's one-sample KS statistic for a continuous law."""
    from scipy.stats import kstest

    law = spectrum(1.0, 0.5, 8, "tanh")
    draws = law.sample(2000, seed=3)
    ours = ks_distance(draws, law, floor=0.0, rtol=0.0).ks
    ref = kstest(draws, lambda t: law.cdf(t)).statistic
    assert ours == pytest.approx(ref, abs=1.0 / law.values.size + 1e-12)


def test_ks_distance_tolerates_rounding_of_atoms_only() -> None:
    law = spectrum(1.05, 0.2, 20)  # atoms at 0 and 1.05^40
    top = 1.05**40
    lam = np.r_[np.zeros(40), np.full(60, top * (1 + 1e-12))]
    a = law.nonzero_fraction
    assert ks_distance(lam, law).ks == pytest.approx(abs(0.6 - a), abs=1e-12)
    assert ks_distance(lam, law, rtol=0.0).ks > 0.5  # the plain KS sees the shift
    shifted = np.r_[np.zeros(40), np.full(60, top * 1.01)]
    assert ks_distance(shifted, law).ks > 0.5
    weights = np.r_[np.full(40, 2.0), np.full(60, 1.0)]  # weighted: 80/140 at zero
    assert ks_distance(lam, law, weights=weights).ks == pytest.approx(abs(60 / 140 - a))


def test_inputs_are_independent_of_the_weights_seed() -> None:
    """Same seed for the network and the inputs must not align inputs with weight rows."""
    net = random_mlp(300, 2, 1.0, 0.0, "tanh", "gaussian", seed=4)
    lam = jacobian_eigenvalues(net, 1.0, 2, seed=4)
    w = net.layers[0].weight.detach()
    x = torch.from_numpy(np.random.default_rng(4).standard_normal((2, 300)))
    cos = (w @ x.T).abs().max() / (w.norm(dim=1).max() * x.norm(dim=1).max())
    assert cos < 0.3 and lam.shape == (2, 300)


def test_compare_inits_side_by_side() -> None:
    cmp = compare_inits(10, 200, "hardtanh", 1.0, 0.05, 0.2, samples=3, seed=1)
    assert isinstance(cmp.laws["identity"], SpectralLaw)
    assert isinstance(cmp.laws["orthogonal"], FreeSpectrum)
    assert cmp.laws["orthogonal"].mean() == pytest.approx(cmp.laws["gaussian"].mean())
    ks = cmp.ks()
    for init in ("identity", "orthogonal", "gaussian"):
        assert cmp.eigenvalues[init].shape == (3, 200)
        assert ks[init].ks < ks[init].dkw, (init, ks[init])
    text = json.dumps(cmp.summary(), allow_nan=False)
    assert '"gaussian"' in text
    theory_only = compare_inits(5, 50, "tanh", 1.1, 0.1, 1.0, inits=("orthogonal",))
    assert list(theory_only.laws) == ["orthogonal"] and theory_only.eigenvalues == {}


def test_figure_has_shared_axes_and_no_pyplot_state() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    cmp = compare_inits(6, 64, "tanh", 1.0, 0.1, 0.5, samples=2)
    fig = plot_init_spectra(cmp, bins=30)
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    top = fig.axes[:3]
    assert all(ax.get_xlim() == top[0].get_xlim() for ax in fig.axes)
    assert plt.get_fignums() == before
    fig.canvas.draw()  # renders (mathtext included)
    plot_init_spectra(compare_inits(6, 64, "relu", 1.2, 0.0, 1.0))  # theory only


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ks_distance([], spectrum(1.0, 1.0, 2)), "non-empty"),
        (lambda: ks_distance([-1.0], spectrum(1.0, 1.0, 2)), ">= 0"),
        (lambda: ks_distance([1.0], spectrum(1.0, 1.0, 2), floor=1.0), "floor"),
        (lambda: ks_distance([1.0], spectrum(1.0, 1.0, 2), rtol=0.1), "rtol"),
        (lambda: ks_distance([1.0, 2.0], spectrum(1.0, 1.0, 2), weights=[1.0]), "weights"),
        (lambda: compare_inits(4, 8, inits=("kaiming",)), "inits"),
        (lambda: compare_inits(4, 8, samples=-1), "samples"),
        (lambda: compare_inits(0, 8), "depth"),
        (lambda: random_mlp(8, 2, 1.0, 0.1, "tanh", "identity"), "sigma_b"),
        (lambda: random_mlp(8, 2, 1.0, 0.1, "tanh", "kaiming"), "init"),
        (lambda: jacobian_eigenvalues(random_mlp(8, 2, 1.0), 0.0), "q0"),
        (lambda: plot_init_spectra(compare_inits(2, 8, "relu"), bins=2), "bins"),
        (lambda: plot_init_spectra(compare_inits(2, 8, "relu"), floor=0.0), "floor"),
    ],
)
def test_bad_arguments(call, match: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=match):
        call()


def test_sigma_b_zero_gives_no_bias_parameters() -> None:
    net = random_mlp(8, 2, 1.0, 0.0, "tanh", "orthogonal")
    assert not net.has_bias
    assert math.isclose(float(torch.linalg.svdvals(net.layers[0].weight.detach()).max()), 1.0,
                        rel_tol=1e-12)
