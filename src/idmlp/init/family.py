r"""The identity family: initializations that start a deep network at (or near) the identity
or an isometry, in the style of :mod:`torch.nn.init` (in place, return the tensor).

- :func:`zero_`: ZerO (Zhao, Schaefer and Anandkumar, TMLR 2022): deterministic; partial
  identity, or a Hadamard transform where the layer widens.
- :func:`idinit_`: IDInit (Pan et al., ICLR 2025): identity repeated (not zero-padded) over
  a non-square weight, deterministic, "patch-maintain" for convolutions.
- :func:`looks_linear_`: looks-linear (Balduzzi et al., ICML 2017): mirrored blocks
  :math:`[[W_0, -W_0], [-W_0, W_0]]`, an exact linear (orthogonal) map through ReLUs.
- :func:`delta_orthogonal_`: delta-orthogonal (Xiao et al., ICML 2018): an orthogonal
  matrix at the kernel's centre tap, zero elsewhere.

Each refuses a shape it does not apply to with one line naming the valid shapes. The
theory of :math:`J J^T` at these initializations is in :mod:`idmlp.theory.family`.
The Hadamard matrix is built here by Sylvester's recursion (a few lines of torch, in the
weight's dtype); the tests check it against :func:`scipy.linalg.hadamard`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .._validation import check_nonnegative, check_positive

__all__ = ["delta_orthogonal_", "hadamard", "idinit_", "looks_linear_", "zero_"]


def _shape(tensor: object) -> object:
    return tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__


def _check_kernel(name: str, tensor: object, rule: str) -> tuple[int, int, list[int]]:
    """``(out, in, kernel)`` of a 2-D weight or a convolution weight with odd kernel sizes."""
    valid = isinstance(tensor, Tensor) and tensor.ndim in (2, 3, 4, 5)
    if valid:
        out, fan_in, *kernel = tensor.shape
        valid = all(k % 2 == 1 for k in kernel)
    if not valid:
        raise ValueError(f"{name} needs a 2-D weight (out, in) or a convolution weight "
                         f"(out, in, k1[, k2[, k3]]) with odd kernel sizes{rule}; got "
                         f"{_shape(tensor)}")
    return out, fan_in, kernel


def _centre(tensor: Tensor, matrix: Tensor) -> Tensor:
    """Write ``matrix`` (out x in) at the centre tap of ``tensor`` (zeros elsewhere)."""
    with torch.no_grad():
        tensor.zero_()
        centre = (slice(None), slice(None), *(k // 2 for k in tensor.shape[2:]))
        tensor[centre] = matrix.to(tensor.dtype)
    return tensor


def hadamard(p: int, dtype: torch.dtype = torch.float64) -> Tensor:
    r"""The Sylvester-Hadamard matrix :math:`H_p` (entries :math:`\pm 1`, :math:`H_p H_p^T =
    p I`): :math:`H_1 = [1]`, :math:`H_{2p} = [[H_p, H_p], [H_p, -H_p]]`, so
    :math:`(H_p)_{ij} = (-1)^{\mathrm{popcount}(i \,\&\, j)}`, the order of
    :func:`scipy.linalg.hadamard`.

    Examples:
        >>> hadamard(4, torch.int64)
        tensor([[ 1,  1,  1,  1],
                [ 1, -1,  1, -1],
                [ 1,  1, -1, -1],
                [ 1, -1, -1,  1]])
    """
    if not isinstance(p, int) or p < 1 or p & (p - 1):
        raise ValueError(f"hadamard needs a power of two p >= 1, got {p!r}")
    h = torch.ones(1, 1, dtype=dtype)
    block = torch.tensor([[1, 1], [1, -1]], dtype=dtype)
    while h.shape[0] < p:
        h = torch.kron(block, h)
    return h


def _zero_matrix(m: int, n: int, dtype: torch.dtype) -> Tensor:
    if m <= n:
        return torch.eye(m, n, dtype=dtype)
    k = math.ceil(math.log2(m))
    return hadamard(2**k, dtype)[:m, :n] / 2 ** (k / 2)


def zero_(tensor: Tensor, sigma: float = 1.0) -> Tensor:
    r"""ZerO initialization (Zhao, Schaefer and Anandkumar, "ZerO Initialization:
    Initializing Neural Networks with only Zeros and Ones", TMLR 2022), times ``sigma``.

    For :math:`W \in \mathbb{R}^{m \times n}` (``(out, in)``):

    .. math::
        W = \sigma\, I_{m \times n} \quad (m \le n), \qquad
        W = \sigma\, I_{m \times p}\, \frac{H_p}{2^{k/2}}\, I_{p \times n} \quad (m > n),

    with :math:`I_{a \times b}` the partial identity (ones on the diagonal),
    :math:`p = 2^k`, :math:`k = \lceil \log_2 m \rceil` and :math:`H_p` the Hadamard matrix
    (:func:`hadamard`; :math:`H_p / 2^{k/2}` is orthogonal, the normalization of the
    authors' reference code). Deterministic; with equal widths it is :math:`\sigma I`,
    exactly :func:`~idmlp.init.identity.identity_`. Where a layer widens, the Hadamard
    transform spreads each input over all outputs instead of leaving :math:`m - n` rows at
    zero: with plain partial identities the change :math:`W - W_0` stays of bounded rank
    during training (the paper's Theorem 1, "training degeneracy"). A convolution weight
    ``(out, in, *kernel)`` (odd kernel sizes) gets the same matrix at its centre tap.

    Args:
        tensor: a 2-D weight, or a 3-, 4- or 5-D convolution weight, filled in place.
        sigma: a gain, a finite number > 0 (the paper: 1).

    Returns:
        ``tensor``.

    Examples:
        >>> zero_(torch.empty(4, 2))
        tensor([[ 0.5000,  0.5000],
                [ 0.5000, -0.5000],
                [ 0.5000,  0.5000],
                [ 0.5000, -0.5000]])
    """
    out, fan_in, _ = _check_kernel("zero_", tensor, "")
    sigma = check_positive("sigma", sigma)
    matrix = sigma * _zero_matrix(out, fan_in, torch.float64)
    if tensor.ndim == 2:
        with torch.no_grad():
            tensor.copy_(matrix)
        return tensor
    return _centre(tensor, matrix)


def _tiled(m: int, n: int, dtype: torch.dtype) -> Tensor:
    """:math:`T_{ij} = [i \\equiv j \\pmod{\\min(m, n)}]`."""
    r = min(m, n)
    return (torch.arange(m)[:, None] % r == torch.arange(n)[None, :] % r).to(dtype)


def idinit_(tensor: Tensor, sigma: float = 1.0, eps: float = 0.0,
            generator: torch.Generator | None = None) -> Tensor:
    r"""IDInit (Pan, Wang, Wu, Wang, Zhang and Xu, "IDInit: A Universal and Stable
    Initialization Method for Neural Network Training", ICLR 2025): the paper's
    identity-preserving :math:`\mathrm{IDI}_\tau`, an identity matrix padded with further
    identities (repeated, not padded with zeros) over a non-square weight; deterministic.

    For a weight viewed as a matrix :math:`W \in \mathbb{R}^{m \times n}`:

    .. math::
        W_{ij} = \tau\, [\, i \equiv j \pmod{\min(m, n)} \,],

    i.e. :math:`[I; I; \dots]` where the layer widens and :math:`[I, I, \dots]` where it
    narrows, so no row or column starts dead and the rank is :math:`\min(m, n)`; a square
    weight gets :math:`\tau I`, exactly :func:`~idmlp.init.identity.identity_`.

    A convolution weight ``(out, in, *kernel)`` gets the paper's *patch-maintain*
    convolution: the same matrix on the kernel reshaped to ``out x (in * prod(kernel))``
    (torch's memory order: column :math:`j = c \prod k + t` is input channel :math:`c` at
    tap :math:`t`), reshaped back. With ``out = in * prod(kernel)`` it is the identity on
    that matrix: output channel :math:`o` copies channel :math:`\lfloor o / \prod k
    \rfloor` at tap :math:`o \bmod \prod k`, every (channel, tap) of the patch kept once
    (an unfold); it is *not* the Dirac kernel (the paper's "channel-maintain"
    convolution, :func:`~idmlp.init.identity.identity_`) at ``out = in``.

    Our reading of the paper (its code is not public here): the reshape to
    ``c_out x c_in k^2`` and the repeated identities come from the paper and its public
    reviews; the layout of a wide matrix (identities repeated along the columns rather
    than zero-padded) and torch's flattening order are our choices. The paper's
    :math:`\varepsilon = 10^{-6}` belongs to its zero-preserving
    :math:`\mathrm{IDIZ}_\varepsilon` for the last layer of a residual branch (not
    implemented here); ``eps > 0`` adds an optional Gaussian perturbation
    :math:`\varepsilon \xi_{ij}`, :math:`\xi_{ij} \sim N(0, 1)`, which is not the paper's.

    Args:
        tensor: a 2-D weight, or a 3-, 4- or 5-D convolution weight (any kernel size),
            filled in place.
        sigma: :math:`\tau`, a finite number > 0 (the paper: 1).
        eps: standard deviation of the optional Gaussian perturbation, >= 0 (default 0:
            the paper's deterministic initialization).
        generator: random source of the perturbation.

    Returns:
        ``tensor``.

    Examples:
        >>> idinit_(torch.empty(2, 5))
        tensor([[1., 0., 1., 0., 1.],
                [0., 1., 0., 1., 0.]])
    """
    if not isinstance(tensor, Tensor) or tensor.ndim not in (2, 3, 4, 5):
        raise ValueError(f"idinit_ needs a 2-D weight (out, in) or a convolution weight "
                         f"(out, in, k1[, k2[, k3]]); got {_shape(tensor)}")
    out = tensor.shape[0]
    sigma = check_positive("sigma", sigma)
    eps = check_nonnegative("eps", eps)
    with torch.no_grad():
        tensor.copy_((sigma * _tiled(out, tensor[0].numel(), torch.float64)
                      ).reshape(tensor.shape))
        if eps > 0:
            tensor.add_(eps * torch.randn(tensor.shape, generator=generator,
                                          dtype=tensor.dtype, device=tensor.device))
    return tensor


def looks_linear_(tensor: Tensor, sigma: float = 1.0,
                  generator: torch.Generator | None = None) -> Tensor:
    r"""Looks-linear initialization (Balduzzi, Frean, Leary, Lewis, Ma and McWilliams, "The
    Shattered Gradients Problem: If resnets are the answer, then what is the question?",
    ICML 2017; Burkholz and Dubatovka, NeurIPS 2019): mirrored blocks

    .. math::
        W = \sigma \begin{pmatrix} W_0 & -W_0 \\ -W_0 & W_0 \end{pmatrix},

    :math:`W_0` Haar-orthogonal of shape :math:`(m/2, n/2)` (orthonormal rows or columns,
    :func:`torch.nn.init.orthogonal_`). On a mirrored state
    :math:`x = [\mathrm{relu}(z), \mathrm{relu}(-z)]`,
    :math:`W x = \sigma [W_0 z, -W_0 z]` because :math:`\mathrm{relu}(z) - \mathrm{relu}(-z)
    = z`, and the next ReLU gives the mirrored state of :math:`z' = \sigma W_0 z`: a ReLU
    network of such layers is the linear map :math:`\sigma^L W_0^L \cdots W_0^1` at
    initialization, an isometry for :math:`\sigma = 1`
    (:func:`idmlp.theory.family.looks_linear_spectrum`). A convolution weight
    ``(out, in, *kernel)`` takes :math:`W_0` from :func:`delta_orthogonal_` (so
    ``out >= in`` and odd kernel sizes).

    Args:
        tensor: a 2-D weight ``(out, in)`` or a 3-, 4- or 5-D convolution weight, with
            ``out`` and ``in`` even; filled in place.
        sigma: the gain :math:`\sigma`, a finite number > 0.
        generator: random source of :math:`W_0`.

    Returns:
        ``tensor``.

    Examples:
        >>> w = looks_linear_(torch.empty(4, 6, dtype=torch.float64))
        >>> torch.equal(w[:2, :3], -w[2:, :3]) and torch.equal(w[:2, :3], w[2:, 3:])
        True
    """
    ok = isinstance(tensor, Tensor) and tensor.ndim in (2, 3, 4, 5)
    if not ok or tensor.shape[0] % 2 or tensor.shape[1] % 2:
        raise ValueError("looks_linear_ needs even widths: a weight (2m, 2n) or a convolution "
                         "weight (2m, 2n, *kernel) of mirrored blocks [[W0, -W0], [-W0, W0]]; "
                         f"got {_shape(tensor)}")
    sigma = check_positive("sigma", sigma)
    half = torch.empty(tensor.shape[0] // 2, tensor.shape[1] // 2, *tensor.shape[2:],
                       dtype=torch.float64)
    if tensor.ndim == 2:
        nn.init.orthogonal_(half, generator=generator)
    else:
        delta_orthogonal_(half, generator=generator)
    with torch.no_grad():
        tensor.copy_(sigma * torch.cat([torch.cat([half, -half], 1),
                                        torch.cat([-half, half], 1)], 0))
    return tensor


def delta_orthogonal_(tensor: Tensor, sigma: float = 1.0,
                      generator: torch.Generator | None = None) -> Tensor:
    r"""Delta-orthogonal initialization (Xiao, Bahri, Sohl-Dickstein, Schoenholz and
    Pennington, "Dynamical Isometry and a Mean Field Theory of CNNs: How to Train
    10,000-Layer Vanilla Convolutional Neural Networks", ICML 2018).

    .. math::
        W_{:, :, t} = \sigma\, Q\, \delta_{t, \mathrm{centre}}, \qquad Q^T Q = I_{in},

    :math:`Q` Haar-distributed with orthonormal columns (``out x in``), at the centre tap
    of an odd kernel, zero elsewhere. The convolution then acts pixel by pixel as
    :math:`\sigma Q` (for any padding: the zero taps never read it), so a CNN of such
    layers has the input-output Jacobian of an orthogonal MLP of width ``in`` at every
    pixel (:func:`idmlp.theory.family.delta_orthogonal_spectrum`). ``out >= in`` keeps
    every input channel; a 2-D weight is the kernel of size 1 (plain orthogonal).

    Args:
        tensor: a 3-, 4- or 5-D convolution weight ``(out, in, *kernel)`` with odd kernel
            sizes and ``out >= in``, or a 2-D weight ``(out, in)``; filled in place.
        sigma: the gain :math:`\sigma`, a finite number > 0.
        generator: random source of :math:`Q`.

    Returns:
        ``tensor``.

    Examples:
        >>> w = delta_orthogonal_(torch.empty(4, 3, 3, 3, dtype=torch.float64))
        >>> q, corner = w[:, :, 1, 1], w[:, :, 0, 0]
        >>> torch.allclose(q.T @ q, torch.eye(3, dtype=torch.float64)), bool(corner.any())
        (True, False)
    """
    out, fan_in, _ = _check_kernel("delta_orthogonal_", tensor, " and out >= in channels")
    if out < fan_in:
        raise ValueError("delta_orthogonal_ needs out >= in channels (an orthogonal matrix at "
                         "the centre tap that keeps every input channel): a weight (out, in, "
                         f"*kernel) with out >= in and odd kernel sizes; got {_shape(tensor)}")
    sigma = check_positive("sigma", sigma)
    q = nn.init.orthogonal_(torch.empty(out, fan_in, dtype=torch.float64), gain=sigma,
                            generator=generator)
    if tensor.ndim == 2:
        with torch.no_grad():
            tensor.copy_(q)
        return tensor
    return _centre(tensor, q)
