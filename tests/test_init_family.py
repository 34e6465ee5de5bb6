"""The identity family (idmlp.init.family): each init equals its paper's definition on small
shapes, refuses the shapes it does not apply to in one line, and is known to init_weight_."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from idmlp.init import (
    SCHEMES,
    delta_orthogonal_,
    hadamard,
    identity_,
    idinit_,
    init_weight_,
    looks_linear_,
    zero_,
)

F64 = torch.float64


def _zero_reference(m: int, n: int) -> np.ndarray:
    """ZerO as the paper states it, with scipy's Hadamard matrix."""
    if m <= n:
        return np.eye(m, n)
    k = math.ceil(math.log2(m))
    p = 2**k
    return np.eye(m, p) @ (scipy.linalg.hadamard(p) / 2 ** (k / 2)) @ np.eye(p, n)


def test_hadamard_is_scipys() -> None:
    for p in (1, 2, 4, 8, 64):
        assert np.array_equal(hadamard(p, torch.int64).numpy(), scipy.linalg.hadamard(p))
    with pytest.raises(ValueError, match="power of two"):
        hadamard(12)


@given(m=st.integers(1, 40), n=st.integers(1, 40), sigma=st.floats(0.1, 3.0))
@settings(max_examples=60, deadline=None, derandomize=True)
def test_zero_is_the_papers_definition(m: int, n: int, sigma: float) -> None:
    w = torch.empty(m, n, dtype=F64)
    assert zero_(w, sigma) is w
    np.testing.assert_allclose(w.numpy(), sigma * _zero_reference(m, n), rtol=0, atol=1e-15)
    if m > n:  # the Hadamard layer: orthonormal columns scaled by sqrt(m / p)... at m = p
        p = 2 ** math.ceil(math.log2(m))
        if m == p:
            torch.testing.assert_close(w.T @ w, sigma**2 * torch.eye(n, dtype=F64))


def test_zero_at_equal_widths_is_the_identity_and_conv_uses_the_centre_tap() -> None:
    assert torch.equal(zero_(torch.empty(7, 7), 1.3), identity_(torch.empty(7, 7), 1.3))
    w = zero_(torch.empty(6, 3, 3, 5, dtype=F64))
    centre = w[:, :, 1, 2]
    np.testing.assert_allclose(centre.numpy(), _zero_reference(6, 3), atol=1e-15)
    w[:, :, 1, 2] = 0
    assert not w.any()


def test_idinit_tiles_the_identity() -> None:
    for m, n in [(5, 2), (2, 5), (4, 4), (7, 3), (1, 6)]:
        w = idinit_(torch.empty(m, n, dtype=F64), sigma=2.0)
        r = min(m, n)
        ref = np.array([[2.0 * (i % r == j % r) for j in range(n)] for i in range(m)])
        np.testing.assert_array_equal(w.numpy(), ref)
        assert np.linalg.matrix_rank(w.numpy()) == r  # no dead row or column
        assert (w != 0).any(dim=0).all() and (w != 0).any(dim=1).all()
    # deterministic by default (the paper's IDI); square: exactly identity_
    assert torch.equal(idinit_(torch.empty(6, 6), 1.3), identity_(torch.empty(6, 6), 1.3))
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a = idinit_(torch.empty(300, 200, dtype=F64), eps=1e-3, generator=g1)
    b = idinit_(torch.empty(300, 200, dtype=F64), eps=1e-3, generator=g2)
    assert torch.equal(a, b)
    noise = a - idinit_(torch.empty(300, 200, dtype=F64))
    assert float(noise.std()) == pytest.approx(1e-3, rel=0.02)


def test_idinit_patch_maintain_convolution() -> None:
    # the definition: the 2-D IDI on the kernel reshaped to out x (in * taps)
    for shape in [(3, 3, 3, 3), (27, 3, 3, 3), (2, 5, 3, 3), (8, 2, 3), (4, 2, 2, 3)]:
        w = idinit_(torch.empty(*shape, dtype=F64), sigma=1.5)
        flat = idinit_(torch.empty(shape[0], math.prod(shape[1:]), dtype=F64), sigma=1.5)
        assert torch.equal(w.reshape(shape[0], -1), flat)
    x = torch.randn(2, 3, 6, 6, dtype=F64)
    wide = nn.Conv2d(3, 27, 3, padding=1, bias=False, dtype=F64)
    idinit_(wide.weight)
    y = wide(x)
    # out = in * taps: every (channel, tap) of the 3 x 3 patch kept exactly once, an unfold
    patches = nn.functional.unfold(x, 3, padding=1).reshape(2, 27, 6, 6)
    assert torch.equal(y, patches)
    same = nn.Conv2d(3, 3, 3, padding=1, bias=False, dtype=F64)
    idinit_(same.weight)
    assert not torch.equal(same(x), x)  # patch-maintain, not the Dirac channel-maintain
    assert torch.equal(same(x), patches[:, 0:3] + patches[:, 3:6] + patches[:, 6:9]
                       + patches[:, 9:12] + patches[:, 12:15] + patches[:, 15:18]
                       + patches[:, 18:21] + patches[:, 21:24] + patches[:, 24:27])


def test_looks_linear_is_mirrored_orthogonal_and_linear_through_relu() -> None:
    gen = torch.Generator().manual_seed(0)
    w = looks_linear_(torch.empty(8, 6, dtype=F64), sigma=1.5, generator=gen)
    w0 = w[:4, :3] / 1.5
    assert torch.equal(w[:4, 3:], -w[:4, :3]) and torch.equal(w[4:, :3], -w[:4, :3])
    assert torch.equal(w[4:, 3:], w[:4, :3])
    torch.testing.assert_close(w0.T @ w0, torch.eye(3, dtype=F64))
    z = torch.randn(5, 3, dtype=F64)
    state = torch.cat([z.relu(), (-z).relu()], 1)
    out = (state @ w.T).relu()
    torch.testing.assert_close(out[:, :4] - out[:, 4:], 1.5 * z @ w0.T)  # relu(a) - relu(-a)
    conv = looks_linear_(torch.empty(4, 2, 3, 3, dtype=F64), generator=gen)
    assert torch.equal(conv[:2, 1:], -conv[:2, :1]) and not conv[:, :, 0, 0].any()


def test_delta_orthogonal_acts_pixel_by_pixel_for_any_padding() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 5, dtype=F64)
    for mode in ("zeros", "reflect", "circular"):
        conv = nn.Conv2d(3, 5, 3, padding=1, padding_mode=mode, bias=False, dtype=F64)
        delta_orthogonal_(conv.weight, sigma=1.2, generator=gen)
        q = conv.weight[:, :, 1, 1].detach()
        torch.testing.assert_close(q.T @ q, 1.44 * torch.eye(3, dtype=F64))
        torch.testing.assert_close(conv(x), torch.einsum("oc,bchw->bohw", q, x))
    w = delta_orthogonal_(torch.empty(4, 4, 3, 3, 3))
    w[:, :, 1, 1, 1] = 0
    assert not w.any()
    flat = delta_orthogonal_(torch.empty(6, 4, dtype=F64), generator=gen)
    torch.testing.assert_close(flat.T @ flat, torch.eye(4, dtype=F64))


@pytest.mark.parametrize(
    ("call", "valid"),
    [
        (lambda: looks_linear_(torch.empty(5, 4)), "even widths: a weight (2m, 2n)"),
        (lambda: looks_linear_(torch.empty(4, 3, 3, 3)), "(2m, 2n, *kernel)"),
        (lambda: looks_linear_(torch.empty(4)), "even widths"),
        (lambda: delta_orthogonal_(torch.empty(3, 8, 3, 3)), "out >= in channels"),
        (lambda: delta_orthogonal_(torch.empty(8, 3, 2, 2)), "odd kernel sizes and out >= in"),
        (lambda: zero_(torch.empty(4, 4, 2)), "odd kernel sizes"),
        (lambda: zero_(torch.empty(4)), "2-D weight (out, in)"),
        (lambda: idinit_(torch.empty(4)), "2-D weight (out, in) or a convolution"),
        (lambda: idinit_(torch.empty(2, 2), eps=-1.0), "eps"),
        (lambda: zero_(torch.empty(2, 2), sigma=0.0), "sigma"),
        (lambda: init_weight_(torch.empty(2, 2), "zeros"), "looks_linear, delta_orthogonal"),
    ],
)
def test_refusals_are_one_line_naming_the_valid_shapes(call, valid: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg and valid in msg, msg


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_init_weight_knows_every_scheme(scheme: str) -> None:
    gen = torch.Generator().manual_seed(0)
    w = init_weight_(torch.empty(6, 4, dtype=F64), scheme, 1.0, gen)
    assert w.shape == (6, 4) and torch.isfinite(w).all() and w.any()
    conv = init_weight_(torch.empty(6, 4, 3, 3, dtype=F64), scheme, 1.0, gen)
    assert conv.shape == (6, 4, 3, 3) and conv.any()
