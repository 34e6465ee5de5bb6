"""The law of J J^T at initialization for the identity family (idmlp.theory.family),
checked against measured Jacobians; and the family side by side (compare_inits, the CLI)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from idmlp.cli import main
from idmlp.init import zero_
from idmlp.jacobian.dense import jacobian, singular_values
from idmlp.theory import (
    compare_inits,
    delta_orthogonal_cnn,
    delta_orthogonal_spectrum,
    free_spectrum,
    jacobian_eigenvalues,
    ks_distance,
    looks_linear_spectrum,
    random_mlp,
    scalar_jacobian,
    spectrum,
    widened_mlp,
    widened_spectrum,
)
from idmlp.theory.family import MixtureLaw

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

F64 = torch.float64


def _inputs(batch: int, width: int, q0: float, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((batch, width))) \
        * math.sqrt(q0)


def _widened_eigenvalues(init: str, n: int, m: int, depth: int, sigma: float, q0: float,
                         act: str, batch: int = 48) -> np.ndarray:
    """Eigenvalues of J J^T (m of them per input: the n squared singular values, and
    m - n zeros where the layer widens)."""
    net = widened_mlp(init, n, m, depth, sigma, act)
    jac = jacobian(net, _inputs(batch, n, q0), method="autograd")
    lam = (torch.linalg.svdvals(jac) ** 2).numpy()
    return np.concatenate([lam, np.zeros((batch, max(m - n, 0)))], 1)


def test_zero_at_equal_widths_is_the_identity_law_and_network() -> None:
    """With equal widths ZerO is sigma I: same weights, same eigenvalues, same law."""
    for act in ("hardtanh", "tanh"):
        law = widened_spectrum("zero", 50, 50, 1.05, 0.3, 12, act)
        ref = spectrum(1.05, 0.3, 12, act)
        np.testing.assert_array_equal(law.log_values, ref.log_values)
        np.testing.assert_array_equal(law.weights, ref.weights)
    zero_net = random_mlp(40, 8, 1.05, 0.0, "tanh", "zero", seed=1)
    ident = random_mlp(40, 8, 1.05, 0.0, "tanh", "identity", seed=1)
    for a, b in zip(zero_net.layers, ident.layers, strict=True):
        assert torch.equal(a.weight, b.weight)
    np.testing.assert_array_equal(jacobian_eigenvalues(zero_net, 0.3, 4),
                                  jacobian_eigenvalues(ident, 0.3, 4))
    cmp = compare_inits(8, 40, "tanh", 1.05, 0.0, 0.3, inits=("identity", "zero"))
    np.testing.assert_array_equal(cmp.laws["zero"].log_values, cmp.laws["identity"].log_values)


@pytest.mark.numerics
@pytest.mark.parametrize("act", ["hardtanh", "tanh"])
@pytest.mark.parametrize("n, m", [(32, 48), (32, 64), (8, 40)])
def test_zero_hadamard_layer_eigenvalues_are_exact_per_input(n: int, m: int, act: str) -> None:
    """n = 2^b: the nonzero eigenvalues are (n c_r / p) lambda(u_r), u = Z x, r < n."""
    depth, sigma, q0 = 6, 1.02, 0.5
    x = _inputs(3, n, q0, seed=2)
    net = widened_mlp("zero", n, m, depth, sigma, act)
    lam = torch.linalg.svdvals(jacobian(net, x, method="autograd")) ** 2
    z = zero_(torch.empty(m, n, dtype=F64))
    u = (x @ z.T)[:, :n]
    p = 2 ** math.ceil(math.log2(m))
    copies = torch.from_numpy(np.bincount(np.arange(m) % n, minlength=n)).to(F64)
    ref = (n * copies / p) * scalar_jacobian(u, sigma, depth, act) ** 2
    torch.testing.assert_close(lam, ref.sort(dim=1, descending=True).values, rtol=1e-10,
                               atol=1e-13)


@pytest.mark.parametrize(
    ("init", "n", "m"),
    [("identity", 24, 40), ("idinit", 24, 40), ("idinit", 40, 24), ("zero", 32, 48),
     ("zero", 32, 64), ("zero", 48, 32)],
)
@pytest.mark.parametrize("act", ["hardtanh", "tanh"])
def test_widened_law_matches_measured_jacobians(init: str, n: int, m: int, act: str) -> None:
    """KS below the 99% DKW radius (eigenvalues of one network are not i.i.d.: a scale)."""
    sigma = 1.05 if act == "hardtanh" else 1.0
    lam = _widened_eigenvalues(init, n, m, 10, sigma, 0.5, act)
    law = widened_spectrum(init, n, m, sigma, 0.5, 10, act)
    res = ks_distance(lam, law)
    assert res.ks < res.dkw, (res.ks, res.dkw)
    assert float(lam.mean()) == pytest.approx(law.mean(), rel=0.05)


def test_zero_hadamard_without_a_power_of_two_has_no_closed_form() -> None:
    with pytest.raises(ValueError, match="no closed form for ZerO's Hadamard layer 24 -> 40"):
        widened_spectrum("zero", 24, 40, 1.0, 0.5, 10, "tanh")
    lam = _widened_eigenvalues("zero", 24, 40, 10, 1.0, 0.5, "tanh", batch=4)  # measurable
    assert lam.shape == (4, 40) and np.all(lam[:, 24:] == 0)


@pytest.mark.numerics
def test_looks_linear_relu_is_an_exact_isometry_at_depth_200() -> None:
    """CReLU input u -> x^L: all singular values 1 (float64 tolerance); the full Jacobian
    x^0 -> x^L: n values sqrt(2), n zeros, i.e. the law 1/2 delta_0 + 1/2 delta_2."""
    net = random_mlp(64, 200, 1.0, 0.0, "relu", "looks_linear", seed=0)

    class CReLU(nn.Module):
        def forward(self, u: torch.Tensor) -> torch.Tensor:
            return torch.cat([u.relu(), (-u).relu()], -1)

    u = _inputs(6, 32, 1.0)
    s = torch.linalg.svdvals(jacobian(nn.Sequential(CReLU(), net), u, method="autograd"))
    eps = torch.finfo(F64).eps
    assert s.shape == (6, 32) and float((s - 1).abs().max()) < 200 * eps
    full = singular_values(net, _inputs(6, 64, 1.0, seed=1), dtype=F64)
    assert float((full[:, :32] - math.sqrt(2)).abs().max()) < 200 * eps
    assert float(full[:, 32:].max()) < 200 * eps
    law = looks_linear_spectrum(1.0, 1.0, 200)
    assert law.atoms == ((0.0, 0.5), (2.0, 0.5))
    assert ks_distance(full.numpy() ** 2, law, rtol=1e-12 * 200).ks < 1e-12


def test_looks_linear_odd_activation_is_half_zero_half_orthogonal() -> None:
    law = looks_linear_spectrum(1.0, 0.5, 10, "tanh")
    assert isinstance(law, MixtureLaw) and law.mass_at_zero == pytest.approx(0.5)
    ortho = free_spectrum(2.0, 0.0, 0.25, 10, "tanh", "orthogonal")
    assert law.mean() == pytest.approx(0.5 * ortho.mean())
    net = random_mlp(256, 10, 1.0, 0.0, "tanh", "looks_linear", seed=3)
    lam = jacobian_eigenvalues(net, 0.5, 6, seed=3)
    res = ks_distance(lam, law)
    assert res.ks < res.dkw
    json.dumps(law.summary(), allow_nan=False)
    with pytest.raises(ValueError, match="relu and the odd activations"):
        looks_linear_spectrum(1.0, 0.5, 10, "selu")


@pytest.mark.numerics
def test_delta_orthogonal_cnn_is_the_orthogonal_mlp_at_every_pixel() -> None:
    channels, depth, image = 32, 5, (3, 3)
    pixels = image[0] * image[1]
    net = delta_orthogonal_cnn(channels, depth, 1.0, "tanh", image=image, seed=0)
    x = _inputs(4, channels * pixels, 0.5)
    jac = jacobian(net, x, method="autograd").reshape(4, channels, pixels, channels, pixels)
    # the MLP of the centre taps, at each pixel's input
    qs = [conv.weight[:, :, 1, 1].detach() for conv in net if isinstance(conv, nn.Conv2d)]
    xp = x.reshape(4, channels, pixels).transpose(1, 2)  # (batch, pixel, channel)
    mlp = nn.Sequential(*[m for q in qs for m in (nn.Linear(channels, channels, bias=False,
                                                              dtype=F64), nn.Tanh())])
    with torch.no_grad():
        for lin, q in zip(mlp[::2], qs, strict=True):
            lin.weight.copy_(q)
    blocks = jacobian(mlp, xp.reshape(-1, channels), method="autograd").reshape(
        4, pixels, channels, channels)
    for p in range(pixels):
        torch.testing.assert_close(jac[:, :, p, :, p], blocks[:, p], rtol=1e-12, atol=1e-14)
        jac[:, :, p, :, p] = 0
    assert not jac.any()  # nothing between pixels, whatever the zero padding
    lam = (torch.linalg.svdvals(blocks) ** 2).numpy()
    res = ks_distance(lam, delta_orthogonal_spectrum(1.0, 0.0, 0.5, depth, "tanh"))
    assert res.ks < res.dkw


def test_compare_inits_puts_the_family_side_by_side() -> None:
    inits = ("identity", "zero", "idinit", "looks_linear", "delta_orthogonal")
    cmp = compare_inits(12, 128, "hardtanh", 1.0, 0.0, 0.5, samples=6, inits=inits)
    ks = cmp.ks()
    for init in inits:
        assert cmp.eigenvalues[init].shape == (6, 128)
        assert ks[init].ks < ks[init].dkw, (init, ks[init])
    json.dumps(cmp.summary(), allow_nan=False)
    with pytest.raises(ValueError, match="even width"):
        compare_inits(4, 65, "relu", samples=1, inits=("looks_linear",))


def test_cli_compare_inits_with_the_family(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "th"
    rc = main(["theory", "--sigma", "1", "--q0", "0.5", "--depth", "6", "--activation", "relu",
               "--compare-inits", "--inits", "identity,zero,looks_linear,delta_orthogonal",
               "--width", "32", "--samples", "2", "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "looks_linear" in text and "delta_orthogonal" in text
    inits = json.loads((out / "summary.json").read_text())["inits"]["inits"]
    assert list(inits) == ["identity", "zero", "looks_linear", "delta_orthogonal"]
    assert inits["looks_linear"]["theory_mass_at_zero"] == 0.5
    assert (out / "inits.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--compare-inits", "--inits", "looks_linear", "--width", "65"], "even --width"),
        (["--compare-inits", "--inits", "zero,nope"], "comma list of distinct names"),
        (["--compare-inits", "--inits", "looks_linear", "--activation", "selu"], "closed form"),
        (["--inits", "zero"], "add --compare-inits"),
    ],
)
def test_cli_bad_inits_is_one_line_exit_2(argv: list[str], match: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "never"
    rc = main(["theory", "--sigma", "1", "--q0", "1", "--depth", "3", *argv, "--out",
               str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and match in err[0], err
    assert not out.exists()
