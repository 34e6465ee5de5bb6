import pytest
import torch

from idmlp.config import ModelConfig
from idmlp.nets.mlp import MLP, IdentityMLP, InterpretableMLP, build_model


def test_identity_mlp_is_the_identity_map_inside_hardtanh_range() -> None:
    net = IdentityMLP(16, 30, sigma=1.0)
    x = torch.rand(5, 16) * 1.8 - 0.9
    assert torch.equal(net(x), x)
    assert torch.all(net.identity_distance() == 0)


def test_forward_layers_stacks_every_layer() -> None:
    torch.manual_seed(0)
    net = MLP(8, 6, sigma=1.2, activation="tanh", init="orthogonal", bias=True)
    x = torch.randn(3, 8)
    hs = net.forward_layers(x)
    assert hs.shape == (3, 7, 8)
    assert torch.equal(hs[:, 0], x)
    torch.testing.assert_close(hs[:, -1], net(x))
    torch.testing.assert_close(hs[:, 1], torch.tanh(net.layers[0](x)))


def test_identity_distance_measures_relative_frobenius_change() -> None:
    net = IdentityMLP(10, 3, sigma=2.0)
    with torch.no_grad():
        net.layers[1].weight[0, 1] = 2.0 * 0.5
    d = net.identity_distance()
    torch.testing.assert_close(d, torch.tensor([0.0, 0.5 / 10**0.5, 0.0]))


def test_interpretable_mlp_structure() -> None:
    net = InterpretableMLP(64, 10, depth=5, image_shape=(8, 8), logit_scale=4.0)
    assert net.width == 74
    x = torch.rand(7, 64) * 0.5
    r = net.readout(x)
    assert r.features.shape == (7, 6, 64)
    assert r.logits.shape == (7, 5, 10)
    assert r.contribution_images().shape == (7, 5, 8, 8)
    torch.testing.assert_close(r.logits[:, -1], net(x))
    # At identity init with inputs inside (-1, 1) nothing changes: zero contribution, zero logits.
    assert torch.count_nonzero(r.contributions) == 0
    assert torch.count_nonzero(r.logits) == 0


def test_interpretable_readout_rule_is_the_same_at_every_layer() -> None:
    torch.manual_seed(1)
    net = InterpretableMLP(12, 3, depth=4, logit_scale=3.0)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(0.1 * torch.randn_like(layer.weight))
    x = torch.randn(5, 12) * 0.3
    hs = net.forward_layers(net.embed(x))
    r = net.readout(x)
    torch.testing.assert_close(r.logits, 3.0 * hs[:, 1:, 12:])
    y = torch.tensor([0, 1, 2, 0, 1])
    acc = r.accuracy(y)
    for l in range(4):
        assert acc[l] == (hs[:, l + 1, 12:].argmax(-1) == y).float().mean()
    p = r.true_class_probability(y)
    torch.testing.assert_close(p[:, 2], torch.softmax(r.logits[:, 2], -1)[torch.arange(5), y])
    d = net.block_identity_distance()
    assert d["feature"].shape == d["class"].shape == (4,)
    assert torch.all(d["feature"] > 0) and torch.all(d["class"] > 0)


def test_config_round_trip() -> None:
    net = InterpretableMLP(6, 2, depth=3, sigma=0.9, activation="tanh", image_shape=(2, 3),
                           logit_scale=5.0, learn_logit_scale=True, q0=0.3)
    clone = build_model(net.config)
    assert isinstance(clone, InterpretableMLP)
    assert clone.config == net.config and clone.q0 == 0.3
    clone.load_state_dict(net.state_dict())
    same = InterpretableMLP.from_config(ModelConfig(depth=3, sigma=0.9, activation="tanh",
                                                    logit_scale=5.0, learn_logit_scale=True,
                                                    q0=0.3, options={"extra_features": 0}
                                                    ).for_data(6, 2, (2, 3)))
    assert same.config == net.config
    with pytest.raises(ValueError, match="in_features"):
        build_model(ModelConfig())  # the data's sizes are missing


def test_q0_scales_the_first_state_only() -> None:
    net = InterpretableMLP(4, 2, depth=2, q0=0.25, dtype=torch.float64)
    z = torch.randn(3, 4, dtype=torch.float64)
    x0 = net.readout(z).features[:, 0]
    torch.testing.assert_close(x0, 0.5 * z, rtol=0, atol=0)
    plain = InterpretableMLP(4, 2, depth=2, dtype=torch.float64)
    torch.testing.assert_close(net(z), plain(0.5 * z), rtol=0, atol=0)


def test_random_init_of_the_interpretable_structure() -> None:
    gen = torch.Generator().manual_seed(0)
    net = InterpretableMLP(6, 2, depth=3, init="orthogonal", generator=gen)
    w = net.weight_stack()
    torch.testing.assert_close(w @ w.mT, torch.eye(8).expand(3, 8, 8), atol=1e-5, rtol=0)
    assert net.config.init == "orthogonal"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: IdentityMLP(0, 3), "width"),
        (lambda: IdentityMLP(4, 0), "depth"),
        (lambda: IdentityMLP(4, 3, sigma=0.0), "sigma"),
        (lambda: IdentityMLP(4, 3, activation="swish"), "activation"),
        (lambda: MLP(4, 3, init="lecun"), "init"),
        (lambda: InterpretableMLP(64, 1, 3), "num_classes"),
        (lambda: InterpretableMLP(64, 10, 3, image_shape=(7, 7)), "image_shape"),
        (lambda: InterpretableMLP(64, 10, 3, logit_scale=-1.0), "logit_scale"),
        (lambda: InterpretableMLP(4, 2, 3)(torch.zeros(2, 5)), "4 features"),
        (lambda: InterpretableMLP(4, 2, 3, q0=0.0), "q0"),
    ],
)
def test_bad_arguments(call, match: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=match):
        call()


def test_sigma_b_draws_gaussian_biases_after_the_weights() -> None:
    def net(sigma_b: float, bias: bool = True) -> MLP:
        return MLP(400, 3, 1.1, "tanh", bias=bias, init="orthogonal", sigma_b=sigma_b,
                   generator=torch.Generator().manual_seed(7), dtype=torch.float64)

    plain, zero, noisy = net(0.0, bias=False), net(0.0), net(0.3)
    # the weights never depend on sigma_b (biases are drawn after every weight)
    assert torch.equal(plain.weight_stack(), noisy.weight_stack())
    assert torch.equal(zero.weight_stack(), noisy.weight_stack())
    assert all(torch.count_nonzero(layer.bias) == 0 for layer in zero.layers)
    b = torch.stack([layer.bias.detach() for layer in noisy.layers])
    # 1200 draws of N(0, 0.09): the sample std is within 5 standard errors of 0.3
    assert abs(float(b.std()) - 0.3) < 5 * 0.3 / (2 * b.numel()) ** 0.5
    assert abs(float(b.mean())) < 5 * 0.3 / b.numel() ** 0.5
    noisy.init_parameters(torch.Generator().manual_seed(7))  # same seed, same network
    assert torch.equal(torch.stack([layer.bias.detach() for layer in noisy.layers]), b)
    ident = IdentityMLP(6, 2, bias=True, sigma_b=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(ident.layers[0].weight, torch.eye(6))
    assert torch.count_nonzero(ident.layers[0].bias) == 6


@pytest.mark.parametrize("sigma_b", [-0.1, float("nan"), float("inf"), "0.1"])
def test_sigma_b_must_be_a_finite_number_at_least_zero(sigma_b: object) -> None:
    with pytest.raises(ValueError, match="sigma_b must be a finite"):
        MLP(4, 2, bias=True, sigma_b=sigma_b)  # type: ignore[arg-type]


def test_sigma_b_needs_biases() -> None:
    with pytest.raises(ValueError, match="sigma_b=0.1 > 0 needs bias=True"):
        MLP(4, 2, sigma_b=0.1)
    with pytest.raises(ValueError, match="needs bias=True"):
        IdentityMLP(4, 2, sigma_b=0.1)
