import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from idmlp.init import identity_, identity_init_, init_weight_, is_diagonal


@given(
    rows=st.integers(1, 12),
    cols=st.integers(1, 12),
    sigma=st.floats(1e-3, 10.0, allow_nan=False),
)
@settings(max_examples=40, deadline=None)
def test_identity_is_scaled_padded_eye(rows: int, cols: int, sigma: float) -> None:
    w = torch.randn(rows, cols)
    out = identity_(w, sigma)
    assert out is w
    expected = sigma * torch.eye(rows, cols)
    torch.testing.assert_close(w, expected)


def test_identity_in_place_without_grad() -> None:
    layer = nn.Linear(5, 5)
    identity_(layer.weight, 2.0)
    assert layer.weight.is_leaf and layer.weight.grad_fn is None
    assert torch.equal(layer.weight, 2.0 * torch.eye(5))


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), ()])
def test_identity_rejects_non_matrix(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="2-D"):
        identity_(torch.empty(shape))


@pytest.mark.parametrize("sigma", [0.0, -1.0, math.nan, math.inf, "1", True, None])
def test_identity_rejects_bad_sigma(sigma: object) -> None:
    with pytest.raises(ValueError, match="sigma"):
        identity_(torch.empty(3, 3), sigma)  # type: ignore[arg-type]


def test_identity_init_applies_to_every_linear_and_zeroes_bias() -> None:
    net = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Sequential(nn.Linear(4, 6)))
    identity_init_(net, sigma=0.5)
    assert torch.equal(net[0].weight, 0.5 * torch.eye(4))
    assert torch.equal(net[2][0].weight, 0.5 * torch.eye(6, 4))
    assert torch.count_nonzero(net[0].bias) == 0 and torch.count_nonzero(net[2][0].bias) == 0


def test_random_schemes_have_their_gain() -> None:
    gen = torch.Generator().manual_seed(0)
    n = 400
    w = init_weight_(torch.empty(n, n), "orthogonal", 1.5, gen)
    torch.testing.assert_close(w @ w.T, 2.25 * torch.eye(n), atol=1e-4, rtol=0)
    w = init_weight_(torch.empty(n, n), "xavier", 2.0, gen)
    assert abs(w.std().item() - 2.0 / math.sqrt(n)) < 0.02 * 2.0 / math.sqrt(n)
    w = init_weight_(torch.empty(n, n), "he", 1.0, gen)
    assert abs(w.std().item() - math.sqrt(2.0 / n)) < 0.02 * math.sqrt(2.0 / n)


def test_init_weight_rejects_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="identity, orthogonal, xavier, he"):
        init_weight_(torch.empty(3, 3), "kaiming")


def test_is_diagonal() -> None:
    assert is_diagonal(torch.diag(torch.tensor([1.0, 2.0])))
    w = torch.eye(3)
    w[0, 1] = 1e-30
    assert not is_diagonal(w)
    assert not is_diagonal(torch.eye(2, 3))
