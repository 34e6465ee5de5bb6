r"""Localization with ground truth: the grid pointing game (Böhle, Fritz and Schiele, CVPR
2022, "B-cos networks"; the CoDA-Nets line of work, CVPR 2021).

Test images that the network classifies correctly and confidently (probability of the true
class >= ``confidence``) are tiled into 2 x 2 grids of four *distinct* classes (seeded).
A fully convolutional network whose class score is a spatial mean (the interpretable CNN,
:class:`~idmlp.nets.cnn.InterpretableCNN`) reads a grid with the same weights
(:func:`resized_network`). Every grid is explained for each of its four classes; the score
of one explanation is the share of the map's **positive** attribution inside the cell of
the explained class,

.. math:: \mathrm{score} = \frac{\sum_{i \in \text{cell}} \max(a_i, 0)}{\sum_i \max(a_i, 0)},

averaged over the four classes of a grid (a map without positive attribution: NaN, left
out). *Higher is better*; a map that ignores the class scores about 1/4 on average.
Intervals: bootstrap over grids (:func:`~idmlp.faithfulness.statistics.bootstrap_interval`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .._validation import check_int, check_probability
from .statistics import Interval, bootstrap_interval

__all__ = ["PointingResult", "confident_images", "make_grids", "pointing_game",
           "pointing_scores", "resized_network", "run_pointing_game"]


def _image_dims(image_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    raise ValueError(f"the pointing game needs images, (H, W) or (C, H, W); got {shape}")


def confident_images(model: nn.Module, x: Tensor, y: Tensor, *, confidence: float = 0.9,
                     batch_size: int = 512) -> Tensor:
    """Indices of the images the model classifies correctly with probability of the true
    class at least ``confidence``."""
    confidence = check_probability("confidence", confidence, open_interval=False)
    keep = []
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            p = torch.softmax(model(x[s : s + batch_size]).double(), -1)
            ys = y[s : s + batch_size]
            keep.append((p.argmax(-1) == ys) & (p.gather(-1, ys[:, None])[:, 0] >= confidence))
    return torch.cat(keep).nonzero().flatten()


def make_grids(x: Tensor, y: Tensor, image_shape: Sequence[int], n_grids: int = 500, *,
               seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n_grids`` 2 x 2 grids of images of four distinct classes (seeded).

    Args:
        x: candidate images ``(M, N)`` flattened in ``image_shape``; y: their classes.

    Returns:
        ``(grids, classes)``: ``(G, 4 N)`` flattened grids of shape ``(C, 2H, 2W)`` and the
        class of each cell ``(G, 4)`` (cells in reading order: top left, top right, bottom
        left, bottom right).

    Examples:
        >>> x = torch.arange(4.0).repeat_interleave(4).reshape(4, 4)
        >>> g, c = make_grids(x, torch.arange(4), (2, 2), 1)
        >>> g.reshape(4, 4)[::2, ::2].flatten().tolist() == c[0].tolist()
        True
    """
    n_grids = check_int("n_grids", n_grids)
    ch, h, w = _image_dims(image_shape)
    classes = torch.unique(y)
    if len(classes) < 4:
        raise ValueError(f"the grids need images of at least 4 classes, got {len(classes)}")
    gen = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    pick = classes[torch.rand(n_grids, len(classes), generator=gen).argsort(-1)[:, :4]]
    order = torch.argsort(y, stable=True)  # candidates grouped by class
    counts = torch.bincount(y, minlength=int(classes.max()) + 1)
    starts = torch.cumsum(counts, 0) - counts
    offs = (torch.rand(n_grids, 4, generator=gen) * counts[pick]).long()
    idx = order[starts[pick] + offs]  # (G, 4) image of each cell
    cells = x[idx].reshape(n_grids, 2, 2, ch, h, w)
    grids = cells.permute(0, 3, 1, 4, 2, 5).reshape(n_grids, ch * 4 * h * w)
    return grids, y[idx]


def pointing_scores(maps: Tensor, image_shape: Sequence[int]) -> Tensor:
    """Share of each map's positive attribution in each cell: ``(G, 4, 4 N)`` maps (one per
    explained cell) -> ``(G, 4)`` shares of the explained cell (NaN without positive
    attribution)."""
    ch, h, w = _image_dims(image_shape)
    g = maps.shape[0]
    pos = maps.double().clamp_min(0).reshape(g, 4, ch, 2, h, 2, w)
    per_cell = pos.sum(dim=(2, 4, 6)).reshape(g, 4, 4)  # (grid, explained, cell)
    total = per_cell.sum(-1)
    own = per_cell.diagonal(dim1=1, dim2=2)
    return torch.where(total > 0, own / total.clamp_min(1e-300),
                       torch.full_like(total, math.nan))


@dataclass(frozen=True, eq=False)
class PointingResult:
    """Per-grid pointing scores ``(G,)`` of every method, with their intervals."""

    scores: dict[str, np.ndarray]
    n_grids: int
    n_candidates: int
    confidence: float
    grid_shape: tuple[int, ...]
    n_resamples: int = 2000
    seed: int = 0

    def interval(self, name: str) -> Interval:
        return bootstrap_interval(self.scores[name], n_resamples=self.n_resamples,
                                  seed=self.seed)

    def rows(self) -> list[dict[str, Any]]:
        return [{"method": name, "pointing": iv.mean, "pointing_lo": iv.low,
                 "pointing_hi": iv.high, "n_grids": iv.n}
                for name, iv in ((n, self.interval(n)) for n in self.scores)]

    def to_dict(self) -> dict[str, Any]:
        return {"n_grids": self.n_grids, "candidates": self.n_candidates,
                "confidence": self.confidence, "grid_shape": list(self.grid_shape),
                "rows": self.rows()}

    def summary(self) -> str:
        lines = [f"grid pointing game: {self.n_grids} 2x2 grids {self.grid_shape}, "
                 f"{self.n_candidates} confidently classified test images (p >= "
                 f"{self.confidence:g}); share of positive attribution in the explained "
                 "digit's cell (higher is better), 95% bootstrap over grids"]
        width = max(len(n) for n in self.scores)
        for r in self.rows():
            lines.append(f"{r['method'].ljust(width)}  {r['pointing']:.3f} "
                         f"[{r['pointing_lo']:.3f}, {r['pointing_hi']:.3f}]")
        return "\n".join(lines)


def resized_network(model: nn.Module, image_shape: Sequence[int]) -> nn.Module:
    """The same fully convolutional network (shared weights, a copy) built for inputs of
    ``image_shape``."""
    cfg = model.config
    shape = tuple(int(s) for s in image_shape)
    big = type(model).from_config(dataclasses.replace(cfg, image_shape=shape,
                                                      in_features=math.prod(shape)))
    big.load_state_dict(model.state_dict())
    return big.to(next(model.parameters()).device).eval()


def pointing_game(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    methods: Mapping[str, Callable[[nn.Module], Callable[[Tensor, Tensor], Tensor]]],
    *,
    n_grids: int = 500,
    confidence: float = 0.9,
    batch_size: int = 64,
    n_resamples: int = 2000,
    seed: int = 0,
) -> PointingResult:
    """The grid pointing game of ``methods`` on a convolutional network (module docstring).

    Args:
        model: a fully convolutional interpretable network (``config``, ``from_config``),
            eval mode.
        x, y: test images ``(M, N)`` (flattened, the model's ``image_shape``) and labels.
        methods: name -> ``factory(network) -> fn(x, y)``: the map of the grid network
            (``(B, 4N)``, or per layer ``(B, L, 4N)``: the last layer is used).
        n_grids, confidence, seed: the grids (:func:`make_grids`, :func:`confident_images`).
        batch_size: grids x classes per map call.
    """
    if not hasattr(model, "config") or getattr(model.config, "arch", None) != "cnn":
        raise ValueError("the pointing game needs a fully convolutional network "
                         "(--arch cnn): an MLP's weights depend on the image size")
    shape = tuple(model.image_shape)
    ch, h, w = _image_dims(shape)
    keep = confident_images(model, x, y, confidence=confidence)
    grids, classes = make_grids(x[keep], y[keep], shape, n_grids, seed=seed)
    grid_shape = (2 * h, 2 * w) if len(shape) == 2 else (ch, 2 * h, 2 * w)
    big = resized_network(model, grid_shape)
    gx = grids.repeat_interleave(4, dim=0)  # every grid once per cell's class
    gy = classes.flatten()
    scores = {}
    for name, factory in methods.items():
        fn = factory(big)
        out = []
        for s in range(0, len(gx), batch_size):
            a = torch.as_tensor(fn(gx[s : s + batch_size], gy[s : s + batch_size])).detach()
            out.append(a[:, -1] if a.ndim == 3 else a)
        maps = torch.cat(out).reshape(n_grids, 4, -1)
        with np.errstate(invalid="ignore"):
            scores[name] = np.nanmean(pointing_scores(maps, shape).numpy(), axis=1)
    return PointingResult(scores, n_grids, len(keep), confidence, grid_shape, n_resamples,
                          seed)


def run_pointing_game(run: Any, *, maps: Sequence[str] = ("logit split", "class evidence"),
                      methods: Sequence[str] = (), n_grids: int = 500, steps: int = 32,
                      n_resamples: int = 2000, seed: int = 0) -> PointingResult:
    """:func:`pointing_game` of a trained CNN run's test images: the registry's built-in
    ``maps`` and ``methods`` (LRP, Captum) and ``abs_input``, each map's positive part
    (what the score reads)."""
    from .methods import METHODS

    names = [n for n in (*maps, *methods) if "cnn" in METHODS[n].archs] + ["abs_input"]

    def factory(name: str) -> Callable[[nn.Module], Callable[[Tensor, Tensor], Tensor]]:
        spec = METHODS[name]
        return lambda net: spec.map_fn(model=net, logits_fn=net, steps=steps, seed=seed)

    x, y = run.tensors("test")
    return pointing_game(run.model.eval(), x, y,
                         {f"{n}+" if METHODS[n].family != "baseline" else n: factory(n)
                          for n in names},
                         n_grids=n_grids, n_resamples=n_resamples, seed=seed)
