r"""Randomization tests of maps: model parameters, data labels, and the explained logit.

* **Model-parameter randomization** (Adebayo et al., NeurIPS 2018, "Sanity checks for
  saliency maps"): the weights of layers are re-initialized by the layer's standard random
  initialization (``reset_parameters``: Kaiming-uniform for ``nn.Linear``/``nn.Conv2d``,
  as Quantus' ``ModelParameterRandomisation`` does), **cascading** from the top layer
  (layers :math:`L, L-1, \ldots, \ell` random) or **independently** (layer :math:`\ell`
  alone). The similarity of the map before and after is Spearman's rank correlation of
  the absolute maps (Quantus' default): *lower is better*; a map that ignores the model,
  such as :math:`|x|`, scores 1.
* **Data (label) randomization** (Adebayo et al., 2018): the same architecture trained
  from scratch on a random permutation of the training labels
  (:func:`label_randomized_model`); the maps of the two models are compared the same way.
* **RandomLogit** (Sixt, Granz and Landgraf, ICML 2020, "When explanations lie"): the map
  for the explained class against the map for a uniformly drawn *other* class, by SSIM
  (Wang et al., IEEE TIP 2004) of the max-normalized maps: *lower is better* (a map that
  does not depend on the class scores 1).

:func:`ssim` is written here (no scikit-image dependency): the mean SSIM over all
``7 x 7`` windows inside the map (``7``-long windows for 1-D maps), uniform weights,
sample covariances, :math:`K_1 = 0.01`, :math:`K_2 = 0.03` and the data range of the pair,
which is what ``skimage.metrics.structural_similarity`` computes with its defaults; batched.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_choice, check_int

__all__ = ["ORDERS", "label_randomized_model", "random_other_class", "randomization_stages",
           "randomized_model", "ssim"]

#: Orders of the model-parameter randomization.
ORDERS: tuple[str, ...] = ("cascading", "independent")


def randomization_stages(depth: int, order: str = "cascading", count: int | None = None
                         ) -> list[tuple[str, list[int]]]:
    """The randomized layers (``1..L``) of each stage: cascading from the top, or one layer
    at a time; ``count`` stages evenly spaced over ``1..L`` (always with the last, ``top L``
    / ``layer L``), default all ``L``.

    Examples:
        >>> randomization_stages(3)
        [('top 1', [3]), ('top 2', [2, 3]), ('top 3', [1, 2, 3])]
        >>> randomization_stages(2, "independent")
        [('layer 1', [1]), ('layer 2', [2])]
        >>> [name for name, _ in randomization_stages(20, count=5)]
        ['top 1', 'top 6', 'top 10', 'top 15', 'top 20']
    """
    depth = check_int("depth", depth)
    order = check_choice("order", order, ORDERS)
    count = depth if count is None else min(check_int("count", count), depth)
    ks = sorted({round(1 + i * (depth - 1) / max(count - 1, 1)) for i in range(count)})
    ks = ks if count > 1 else [depth]
    if order == "cascading":
        return [(f"top {k}", list(range(depth - k + 1, depth + 1))) for k in ks]
    return [(f"layer {l}", [l]) for l in ks]


def randomized_model(model: nn.Module, layers: Sequence[int], seed: int = 0) -> nn.Module:
    r"""A copy of ``model`` (eval mode) whose layers ``layers`` (``1..L`` of
    ``model.layers``) are re-initialized by their own ``reset_parameters`` (seeded per
    layer, so a layer gets the same random weights in every stage).

    Examples:
        >>> from idmlp.nets.mlp import InterpretableMLP
        >>> net = InterpretableMLP(4, 2, depth=3)
        >>> r = randomized_model(net, [3])
        >>> torch.equal(r.layers[0].weight, net.layers[0].weight), torch.equal(
        ...     r.layers[2].weight, net.layers[2].weight)
        (True, False)
    """
    depth = len(model.layers)
    ref = copy.deepcopy(model).eval()
    for l in layers:
        l = check_int("layers", l)
        if l > depth:
            raise ValueError(f"layers must be in 1..{depth}, got {l}")
        layer = ref.layers[l - 1]
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(check_int("seed", seed, minimum=0) * 1009 + l)
            layer.reset_parameters()
    return ref


def label_randomized_model(run: Any, *, seed: int = 0, epochs: int | None = None,
                           progress: bool = False) -> nn.Module:
    """The run's architecture trained from scratch, with the run's optimizer settings, on
    its training images with the labels randomly permuted (seeded): the reference of the
    data randomization test. ``epochs`` overrides the run's.
    """
    from ..train.loop import fit_model

    model = run.model
    fresh = type(model).from_config(model.config, generator=torch.Generator().manual_seed(seed))
    x, y = run.tensors("train")
    xt, yt = run.tensors("test")
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    overrides = {} if epochs is None else {"epochs": check_int("epochs", epochs)}
    fit_model(fresh, x.cpu(), y.cpu()[perm], xt.cpu(), yt.cpu(), optim=run.config.optim,
              device=x.device, progress=progress, **overrides)
    return fresh.eval()


def random_other_class(y: Tensor, num_classes: int, seed: int = 0) -> Tensor:
    """For every label, a class drawn uniformly among the ``num_classes - 1`` others.

    Examples:
        >>> y = torch.tensor([0, 1, 2, 0])
        >>> bool((random_other_class(y, 3) != y).all())
        True
    """
    c = check_int("num_classes", num_classes, minimum=2)
    gen = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    shift = torch.randint(1, c, y.shape, generator=gen).to(y.device)
    return (y + shift) % c


def ssim(a: Tensor, b: Tensor, image_shape: Sequence[int], *, window: int = 7,
         k1: float = 0.01, k2: float = 0.03) -> Tensor:
    r"""Mean structural similarity of paired maps, ``(B,)`` float64.

    .. math::
        \mathrm{SSIM} = \frac{(2\mu_a\mu_b + C_1)(2\sigma_{ab} + C_2)}
                             {(\mu_a^2 + \mu_b^2 + C_1)(\sigma_a^2 + \sigma_b^2 + C_2)},
        \quad C_i = (K_i R)^2,

    with local means and sample (co)variances over ``window``-wide windows, averaged over
    the windows inside the map, :math:`R` the data range of the pair (max - min of both).
    Identical non-constant maps score 1.

    Args:
        a, b: ``(B, N)`` maps, flattened in ``image_shape`` (``(H, W)``, ``(C, H, W)``: the
            channels averaged; or ``(N,)``).

    Examples:
        >>> a = torch.rand(2, 64, generator=torch.Generator().manual_seed(0))
        >>> ssim(a, a, (8, 8)).tolist()
        [1.0, 1.0]
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"a and b must be (B, N) maps of the same shape, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    shape = tuple(int(s) for s in image_shape)
    if math.prod(shape) != a.shape[1]:
        raise ValueError(f"image_shape {shape} does not have {a.shape[1]} pixels")
    a, b = a.detach().double(), b.detach().double()
    both = torch.cat([a, b], dim=1)
    rng = (both.max(1).values - both.min(1).values)
    c1 = ((k1 * rng) ** 2)[:, None, None, None]
    c2 = ((k2 * rng) ** 2)[:, None, None, None]
    if len(shape) == 1:
        grid, kernel = (1, 1, shape[0]), (1, min(window, shape[0]))
    else:
        grid = (1, *shape) if len(shape) == 2 else shape
        kernel = (min(window, grid[1]), min(window, grid[2]))
    u, v = a.reshape(-1, *grid), b.reshape(-1, *grid)
    npx = kernel[0] * kernel[1]
    cov = npx / max(1, npx - 1)  # sample covariance, as skimage's default

    def mean(t: Tensor) -> Tensor:
        return F.avg_pool2d(t, kernel, stride=1)

    mu_u, mu_v = mean(u), mean(v)
    vu = cov * (mean(u * u) - mu_u * mu_u)
    vv = cov * (mean(v * v) - mu_v * mu_v)
    cuv = cov * (mean(u * v) - mu_u * mu_v)
    s = ((2 * mu_u * mu_v + c1) * (2 * cuv + c2)) / ((mu_u**2 + mu_v**2 + c1) * (vu + vv + c2))
    return s.flatten(1).mean(1).cpu()
