"""The faithfulness measures take inputs in their natural shape ((B, C, H, W), ...): the
same numbers as with the inputs flattened by hand, the model called with that shape."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from idmlp.attribution import ClassEvidence
from idmlp.faithfulness import (
    evaluate_faithfulness,
    faithfulness_correlation,
    perturbation_curve,
    road_curves,
)
from idmlp.nets.mlp import InterpretableMLP

SHAPE = (1, 4, 4)


class ImageModel(nn.Module):
    """A model of the user's own that takes images only."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
        torch.nn.init.normal_(self.net[1].weight, generator=torch.Generator().manual_seed(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != SHAPE:
            raise AssertionError(f"called with {tuple(x.shape)}")
        return self.net(x)


def data():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, *SHAPE, generator=g)
    return x, torch.arange(8) % 3, torch.rand(8, *SHAPE, generator=g)


def flat_model(model: nn.Module):
    return lambda v: model(v.reshape(len(v), *SHAPE))


def test_curves_road_and_correlation_take_natural_shapes():
    model = ImageModel().eval()
    x, y, a = data()
    flat_x, flat_a = x.reshape(8, 16), a.reshape(8, 16)
    for mode in ("deletion", "insertion"):
        torch.testing.assert_close(
            perturbation_curve(model, x, y, a, mode=mode, ks=[0, 4, 8, 16]),
            perturbation_curve(flat_model(model), flat_x, y, flat_a, mode=mode,
                               ks=[0, 4, 8, 16]), rtol=0, atol=0)
    got = road_curves(model, x, y, a, fractions=(0.25, 0.5))
    want = road_curves(flat_model(model), flat_x, y, flat_a, SHAPE, fractions=(0.25, 0.5))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=0)
    torch.testing.assert_close(
        faithfulness_correlation(model, x, y, a, subset_size=4, runs=10),
        faithfulness_correlation(flat_model(model), flat_x, y, flat_a, subset_size=4, runs=10),
        rtol=0, atol=0, equal_nan=True)
    with pytest.raises(ValueError, match=r"image_shape \(16,\) differs"):
        road_curves(model, x, y, a, (16,))


def test_evaluate_faithfulness_takes_natural_shapes():
    net = InterpretableMLP(16, 3, depth=3, image_shape=SHAPE)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(0.2 * torch.randn(layer.weight.shape,
                                                generator=torch.Generator().manual_seed(2)))
    net.eval()
    x, y, a = data()
    evidence = ClassEvidence(net)
    kw = dict(methods=(), baselines=("random",), schedule=4, drop_at=(4,), n_resamples=50,
              metrics=("road",), road={"fractions": (0.5,)})
    natural = evaluate_faithfulness(
        net, x, y, {"given": a, "evidence": lambda v, c: evidence.attribute(v, target=c)}, **kw)
    flat = evaluate_faithfulness(
        net, x.reshape(8, 16), y,
        {"given": a.reshape(8, 16),
         "evidence": lambda v, c: evidence.attribute(v, target=c)}, image_shape=SHAPE, **kw)
    assert natural.names == flat.names
    for name in natural.names:
        for mode in ("deletion", "insertion"):
            torch.testing.assert_close(natural.auc(name, mode), flat.auc(name, mode),
                                       rtol=0, atol=0)
