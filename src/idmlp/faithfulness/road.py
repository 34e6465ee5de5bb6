r"""ROAD: RemOve And Debias (Rong et al., ICML 2022), with noisy linear imputation.

Deletion with a constant baseline leaks the class through the *shape* of the removed set
(a model can read "where the zeros are"). ROAD removes pixels by **noisy linear
imputation** instead: every removed pixel takes the weighted mean of its 8 neighbours,

.. math::

    \Big(\sum_{j \in \mathcal N(i)} w_{ij}\Big) x_i
    - \sum_{j \in \mathcal N(i) \cap R} w_{ij}\, x_j
    = \sum_{j \in \mathcal N(i) \setminus R} w_{ij}\, x_j \qquad (i \in R),

with :math:`w = 1/6` for the 4 direct and :math:`1/12` for the 4 diagonal neighbours (inside
the image; 1/2 for the 2 neighbours of a 1-D signal), and then Gaussian noise of standard
deviation ``noise`` (0.01, the paper's) is added to the imputed values. The system of every
connected removed region touches a kept pixel, so it is non-singular (irreducibly diagonally
dominant) whenever something is kept. All images of a batch (and all removal fractions) form
one block-diagonal system, built with array operations: no loop over images. (Hand-written
because the reference, Quantus' ``noisy_linear_imputation``, solves one image per call.)

The solve. The matrix is symmetric (:math:`w_{ij} = w_{ji}`) and, being irreducibly
diagonally dominant with a positive diagonal, positive definite. Numbered in the images'
row-major order, an unknown only meets unknowns at most :math:`W + 1` positions away
(its neighbours in the rows above and below), so the whole block-diagonal system is
*banded* with half-bandwidth :math:`k \le W + 1` (1 for a signal): LAPACK's banded
Cholesky (:func:`scipy.linalg.solveh_banded`) solves it exactly in :math:`O(U k^2)` for
:math:`U` unknowns, several times faster than a general sparse LU of the same matrix
(:func:`imputation_system` builds that sparse form; it is kept as the reference the tests
compare with, and as the fallback when a channel has no kept pixel and the system is
singular).

Curves: for removal fractions :math:`p` (10 %, ..., 90 %), the top :math:`\lfloor pN \rfloor`
pixels of the map's order are removed (**MoRF**, most relevant first) or the bottom ones
(**LeRF**, least relevant first), and the model's accuracy on the explained class (and its
probability) is recorded. A faithful map makes MoRF fall fast and LeRF stay high: the
**ROAD gap** :math:`\overline{\mathrm{LeRF}} - \overline{\mathrm{MoRF}}` (mean over
fractions) is *higher is better*; per image it is in :math:`[-1, 1]`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg, sparse
from scipy.sparse.linalg import spsolve
from torch import Tensor

from .._validation import check_int, check_real
from ._checks import check_xy, natural_inputs
from .perturbation import LogitsFn, pixel_ranks

__all__ = ["ROAD_FRACTIONS", "RoadCurves", "banded_imputation_system", "imputation_system",
           "noisy_linear_imputation", "road_curves"]

#: Removal fractions of the ROAD curves (the issue's 10-90 %).
ROAD_FRACTIONS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))

_OFFSETS_2D = (((0, 1), 1 / 6), ((0, -1), 1 / 6), ((1, 0), 1 / 6), ((-1, 0), 1 / 6),
               ((1, 1), 1 / 12), ((1, -1), 1 / 12), ((-1, 1), 1 / 12), ((-1, -1), 1 / 12))


def _grid(image_shape: Sequence[int], n: int) -> tuple[int, int, int]:
    """``(channels, H, W)`` of a flattened feature vector; 1-D signals are ``(1, 1, N)``."""
    shape = tuple(int(s) for s in image_shape)
    if math.prod(shape) != n:
        raise ValueError(f"image_shape {shape} has {math.prod(shape)} pixels, but the maps "
                         f"have {n}")
    if len(shape) == 1:
        return 1, 1, shape[0]
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    raise ValueError(f"image_shape must be (N,), (H, W) or (C, H, W), got {shape}")


def imputation_system(x: np.ndarray, removed: np.ndarray, image_shape: Sequence[int]
                      ) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    r"""The block-diagonal linear system of the imputation of every row of ``x``.

    Args:
        x: ``(B, N)`` float64 images (flattened, row-major over ``image_shape``).
        removed: ``(B, N)`` bool, the pixels to impute.
        image_shape: ``(N,)``, ``(H, W)`` or ``(C, H, W)`` (channels imputed separately).

    Returns:
        ``(A, b, flat)``: the sparse (CSC) matrix ``(U, U)`` and right-hand side ``(U,)`` over
        the ``U`` removed pixels of all images, and their flat indices into ``x.ravel()``.
    """
    bsz, n = x.shape
    c, h, w = _grid(image_shape, n)
    offsets = _OFFSETS_2D if h > 1 else (((0, 1), 0.5), ((0, -1), 0.5))
    rem = removed.reshape(bsz, c, h, w)
    var = np.full(rem.shape, -1, dtype=np.int64)
    flat = np.flatnonzero(rem)
    var.ravel()[flat] = np.arange(len(flat))
    ib, ic, ih, iw = np.unravel_index(flat, rem.shape)
    xs = x.reshape(bsz, c, h, w)
    diag = np.zeros(len(flat))
    rhs = np.zeros(len(flat))
    rows, cols, vals = [], [], []
    xflat = xs.ravel()
    strides = np.array([c * h * w, h * w, w, 1])
    for (dh, dw), wt in offsets:  # 8 neighbour directions, each vectorized over all pixels
        jh, jw = ih + dh, iw + dw
        ok = (jh >= 0) & (jh < h) & (jw >= 0) & (jw < w)
        sel = np.flatnonzero(ok)
        diag[sel] += wt
        nb = ib[sel] * strides[0] + ic[sel] * strides[1] + jh[sel] * strides[2] + jw[sel]
        nvar = var.ravel()[nb]
        unknown = nvar >= 0
        rows.append(sel[unknown])
        cols.append(nvar[unknown])
        vals.append(np.full(int(unknown.sum()), -wt))
        known = sel[~unknown]  # each pixel once per direction: a plain scatter-add
        rhs[known] += wt * xflat[nb[~unknown]]
    idx = np.arange(len(flat))
    a = sparse.csc_matrix((np.concatenate([diag, *vals]),
                           (np.concatenate([idx, *rows]), np.concatenate([idx, *cols]))),
                          shape=(len(flat), len(flat)))
    return a, rhs, flat


def banded_imputation_system(x: np.ndarray, removed: np.ndarray, image_shape: Sequence[int]
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The system of :func:`imputation_system` in LAPACK's lower banded storage.

    Built on the whole ``(B, C, H, W)`` grid at once: every neighbour direction is one
    shifted slice of the zero-padded arrays, so the right-hand side sums the same terms
    in the same order as :func:`imputation_system`.

    Args:
        x, removed, image_shape: as for :func:`imputation_system`.

    Returns:
        ``(ab, b, flat)``: ``ab`` ``(k + 1, U)`` with ``ab[i - j, j] = A[i, j]`` for
        ``0 <= i - j <= k`` (:func:`scipy.linalg.solveh_banded`'s ``lower=True`` form),
        the right-hand side ``(U,)`` and the flat indices of the unknowns into ``x.ravel()``.

    Examples:
        >>> ab, b, flat = banded_imputation_system(np.array([[0.0, 1.0, 0.0, 3.0]]),
        ...                                        np.array([[False, True, True, False]]), (4,))
        >>> ab.tolist(), b.tolist(), flat.tolist()
        ([[1.0, 1.0], [-0.5, 0.0]], [0.0, 1.5], [1, 2])
    """
    bsz, n = x.shape
    c, h, w = _grid(image_shape, n)
    offsets = _OFFSETS_2D if h > 1 else (((0, 1), 0.5), ((0, -1), 0.5))
    rem = removed.reshape(bsz, c, h, w)
    flat = np.flatnonzero(rem)
    var = np.cumsum(rem.ravel()) - 1  # the unknown's number at each removed pixel
    pad = ((0, 0), (0, 0), (1, 1), (1, 1))
    kept_pad = np.pad(np.where(rem, 0.0, x.reshape(rem.shape)), pad)
    rem_pad = np.pad(rem, pad)
    inside_pad = np.pad(np.ones((h, w), dtype=bool), 1)

    def shifted(a: np.ndarray, dh: int, dw: int) -> np.ndarray:
        """``a`` padded by one, read at the neighbour ``(i + dh, j + dw)`` of every pixel."""
        return a[..., 1 + dh : 1 + dh + h, 1 + dw : 1 + dw + w]

    diag = np.zeros((h, w))
    rhs = np.zeros(rem.shape)
    band = []
    for (dh, dw), wt in offsets:
        diag += wt * shifted(inside_pad, dh, dw)
        rhs += wt * shifted(kept_pad, dh, dw)  # a removed neighbour adds an exact 0
        step = dh * w + dw
        if step < 0:  # the neighbour comes first: an entry below the diagonal
            pos = np.flatnonzero(rem & shifted(rem_pad, dh, dw))
            band.append((var[pos] - var[pos + step], var[pos + step], wt))
    k = max((int(d.max()) for d, _, _ in band if len(d)), default=0)
    ab = np.zeros((k + 1, len(flat)))
    ab[0] = np.broadcast_to(diag, rem.shape).ravel()[flat]
    for d, col, wt in band:
        ab[d, col] = -wt
    return ab, rhs.ravel()[flat], flat


def _solve(x: np.ndarray, removed: np.ndarray, image_shape: Sequence[int]
           ) -> tuple[np.ndarray, np.ndarray]:
    """The imputed values and their flat indices: the banded Cholesky solve, or a sparse
    LU where the system is singular (a channel with nothing kept)."""
    ab, rhs, flat = banded_imputation_system(x, removed, image_shape)
    try:
        return np.atleast_1d(linalg.solveh_banded(ab, rhs, lower=True, check_finite=False)), flat
    except linalg.LinAlgError:
        a, rhs, flat = imputation_system(x, removed, image_shape)
        return np.atleast_1d(spsolve(a, rhs, permc_spec="NATURAL")), flat


def noisy_linear_imputation(x: Tensor, removed: Tensor, image_shape: Sequence[int], *,
                            noise: float = 0.01, seed: int = 0) -> Tensor:
    r"""Impute the ``removed`` pixels of every image by their neighbours (see the module
    docstring), plus Gaussian noise of standard deviation ``noise`` (seeded).

    Args:
        x: ``(B, N)`` images, flattened.
        removed: ``(B, N)`` bool; at least one pixel of every image must be kept.
        image_shape: one image's shape (``(H, W)``, ``(C, H, W)`` or ``(N,)``).
        noise: standard deviation of the noise added to the imputed values (>= 0).
        seed: the noise's seed.

    Returns:
        ``(B, N)`` in ``x``'s dtype: kept pixels unchanged, removed ones imputed.

    Examples:
        >>> x = torch.tensor([[0.0, 1.0, 0.0, 3.0]])
        >>> noisy_linear_imputation(x, torch.tensor([[False, True, True, False]]), (4,),
        ...                         noise=0.0)
        tensor([[0., 1., 2., 3.]])
    """
    noise = check_real("noise", noise)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    if x.ndim != 2 or removed.shape != x.shape:
        raise ValueError(f"x must be (B, N) and removed the same shape, got {tuple(x.shape)} "
                         f"and {tuple(removed.shape)}")
    rem = removed.detach().cpu().numpy().astype(bool)
    if rem.all(axis=1).any():
        raise ValueError("every image must keep at least one pixel (nothing to impute from)")
    xn = x.detach().cpu().double().numpy()
    out = xn.copy()
    if rem.any():
        # whole images per solve, about 2**18 unknowns each: bounds the band's memory
        # (the cost is linear in the unknowns, so the pieces cost nothing)
        rows = max(1, 2**18 // xn.shape[1])
        parts = [(s, *_solve(xn[s : s + rows], rem[s : s + rows], image_shape))
                 for s in range(0, len(xn), rows)]
        sol = np.concatenate([p for _, p, _ in parts])
        flat = np.concatenate([f + s * xn.shape[1] for s, _, f in parts])
        rng = np.random.default_rng(check_int("seed", seed, minimum=0))
        out.ravel()[flat] = sol + noise * rng.standard_normal(len(flat))
    return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)


class RoadCurves(tuple):
    """``(morf_correct, lerf_correct, morf_prob, lerf_prob)``, each ``(B, K)`` float64."""

    __slots__ = ()

    @property
    def gap(self) -> np.ndarray:
        """Per image: mean LeRF accuracy minus mean MoRF accuracy, ``(B,)``; higher is
        better."""
        return self[1].mean(axis=1) - self[0].mean(axis=1)


@torch.no_grad()
def road_curves(
    logits_fn: LogitsFn,
    x: Tensor,
    y: Tensor,
    attribution: Tensor,
    image_shape: Sequence[int] | None = None,
    *,
    fractions: Sequence[float] = ROAD_FRACTIONS,
    noise: float = 0.01,
    seed: int = 0,
    chunk: int = 4096,
) -> RoadCurves:
    r"""ROAD MoRF and LeRF curves of maps (Rong et al., ICML 2022).

    Args:
        logits_fn: ``(B, N) -> (B, C)`` (or ``(B, L, C)``: the last layer is read).
        x, y: images ``(B, N)`` (or in their shape ``(B, *S)``: ``logits_fn`` then sees that
            shape) and explained classes ``(B,)``.
        attribution: maps ``(B, N)`` (or ``(B, *S)``); ties broken at random (seeded,
            :func:`pixel_ranks`).
        image_shape: one image's shape, for the neighbours of the imputation (default: the
            inputs' own shape, ``(N,)`` for flat ones).
        fractions: removal fractions in ``(0, 1)``.
        noise, seed: of the imputation (and the tie-breaking).
        chunk: images per imputation and forward call (bounds memory).

    Returns:
        :class:`RoadCurves`: whether the model still predicts ``y`` and the probability
        it gives ``y``, after MoRF and LeRF removal, ``(B, len(fractions))`` each.

    Examples:
        >>> w = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
        >>> x = torch.tensor([[3.0, 0.0, 0.0, 1.0]])
        >>> c = road_curves(lambda v: v @ w.T, x, torch.tensor([0]), x.abs(), (4,),
        ...                 fractions=(0.25,), noise=0.0)
        >>> c[0].tolist(), c[1].tolist()  # MoRF removes x_0 (class lost), LeRF keeps it
        ([[0.0]], [[1.0]])
    """
    nat = natural_inputs(x, image_shape)
    logits_fn, attribution, image_shape = (nat.logits_fn(logits_fn), nat.flat_map(attribution),
                                           nat.shape)
    x, y = check_xy(nat.x, y)
    b, n = x.shape
    a = torch.as_tensor(attribution, device=x.device)
    if a.shape != (b, n):
        raise ValueError(f"attribution must have shape ({b}, {n}), got {tuple(a.shape)}")
    fr = [float(f) for f in fractions]
    if not fr or any(not 0 < f < 1 for f in fr):
        raise ValueError(f"fractions must be in (0, 1), got {list(fractions)}")
    chunk = check_int("chunk", chunk)
    ranks = pixel_ranks(a, seed=seed)  # 0 = most relevant
    ks = torch.tensor([int(f * n) for f in fr], device=x.device)
    # rows: (image, order, fraction); order 0 = MoRF (rank < k), 1 = LeRF (rank >= N - k)
    nk = len(fr)
    total = b * 2 * nk
    correct = np.empty(total)
    prob = np.empty(total)
    for start in range(0, total, chunk):
        idx = torch.arange(start, min(start + chunk, total), device=x.device)
        ib, io, ik = idx // (2 * nk), (idx // nk) % 2, idx % nk
        r, k = ranks[ib], ks[ik, None]
        removed = torch.where(io[:, None] == 0, r < k, r >= n - k)
        xi = noisy_linear_imputation(x[ib], removed, image_shape, noise=noise,
                                     seed=seed + start)
        logits = logits_fn(xi)
        if logits.ndim == 3:
            logits = logits[:, -1]
        logp = F.log_softmax(logits.double(), dim=-1)
        correct[start : start + len(idx)] = (logits.argmax(-1) == y[ib]).cpu().numpy()
        prob[start : start + len(idx)] = logp.gather(-1, y[ib, None]).exp().squeeze(-1).cpu()
    shape = (b, 2, nk)
    c, p = correct.reshape(shape), prob.reshape(shape)
    return RoadCurves((c[:, 0], c[:, 1], p[:, 0], p[:, 1]))
