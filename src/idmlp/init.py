"""Identity initialization in the style of :mod:`torch.nn.init`.

Kubota, Hayashi, Hayase and Uchida, "Layer-wise Interpretation of Deep Neural Networks
Using Identity Initialization", ICASSP 2021 (arXiv:2102.13333).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._validation import check_positive
from .config import INIT_SCHEMES

__all__ = ["INIT_SCHEMES", "identity_", "identity_init_", "init_weight_", "is_diagonal"]



def identity_(tensor: Tensor, sigma: float = 1.0) -> Tensor:
    r"""Fill the 2-D ``tensor`` with a scaled identity, :math:`W = \sigma I`.

    The identity initialization of Kubota et al., "Layer-wise Interpretation of Deep
    Neural Networks Using Identity Initialization", ICASSP 2021. Every layer of an MLP
    starts as :math:`W^\ell = \sigma I`, so at initialization the network acts coordinate
    by coordinate, :math:`h^\ell_i = \sigma\,\phi(h^{\ell-1}_i)`, and the change of the
    features :math:`x^\ell - x^0` reads as the contribution of layers :math:`1..\ell`.

    A rectangular ``(out, in)`` weight gets the padded identity
    :math:`W_{ij} = \sigma\,\delta_{ij}` (as :func:`torch.nn.init.eye_`), so extra output
    rows start at zero.

    Args:
        tensor: a 2-dimensional ``torch.Tensor``, filled in place without autograd.
        sigma: the scale :math:`\sigma`, a finite number > 0.

    Returns:
        ``tensor``.

    Examples:
        >>> w = torch.empty(3, 5)
        >>> identity_(w, sigma=1.05)
        tensor([[1.0500, 0.0000, 0.0000, 0.0000, 0.0000],
                [0.0000, 1.0500, 0.0000, 0.0000, 0.0000],
                [0.0000, 0.0000, 1.0500, 0.0000, 0.0000]])
    """
    if not isinstance(tensor, Tensor) or tensor.ndim != 2:
        shape = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
        raise ValueError(f"identity_ needs a 2-D tensor, got {shape}")
    sigma = check_positive("sigma", sigma)
    with torch.no_grad():
        nn.init.eye_(tensor)
        tensor.mul_(sigma)
    return tensor


def identity_init_(module: nn.Module, sigma: float = 1.0) -> nn.Module:
    r"""Identity-initialize every :class:`torch.nn.Linear` in ``module``: :math:`W = \sigma I`.

    Biases, where present, are set to zero, so the initial map of every linear layer is
    exactly :math:`x \mapsto \sigma x` (padded with zeros if it widens).

    Examples:
        >>> net = nn.Sequential(nn.Linear(4, 4), nn.Hardtanh(), nn.Linear(4, 4))
        >>> _ = identity_init_(net, sigma=1.0)
        >>> torch.equal(net(torch.full((1, 4), 0.5)), torch.full((1, 4), 0.5))
        True
    """
    sigma = check_positive("sigma", sigma)
    for m in module.modules():
        if isinstance(m, nn.Linear):
            identity_(m.weight, sigma)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def init_weight_(
    tensor: Tensor, scheme: str = "identity", sigma: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Initialize a 2-D weight by ``scheme`` with gain ``sigma`` (in place).

    - ``identity``: :math:`W = \sigma I` (:func:`identity_`).
    - ``orthogonal``: :math:`W = \sigma Q`, :math:`Q` Haar-orthogonal (Saxe et al., 2014).
    - ``xavier``: :math:`W_{ij} \sim N(0, \sigma^2 \cdot 2 / (n_{in} + n_{out}))`
      (Glorot and Bengio, 2010).
    - ``he``: :math:`W_{ij} \sim N(0, \sigma^2 \cdot 2 / n_{in})` (He et al., 2015).

    Examples:
        >>> w = torch.empty(4, 4)
        >>> _ = init_weight_(w, "orthogonal", sigma=2.0)
        >>> torch.allclose(w @ w.T, 4 * torch.eye(4), atol=1e-5)
        True
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {', '.join(INIT_SCHEMES)}; got {scheme!r}")
    if scheme == "identity":
        return identity_(tensor, sigma)
    sigma = check_positive("sigma", sigma)
    if tensor.ndim != 2:
        raise ValueError(f"init_weight_ needs a 2-D tensor, got {tuple(tensor.shape)}")
    fan_out, fan_in = tensor.shape
    with torch.no_grad():
        if scheme == "orthogonal":
            nn.init.orthogonal_(tensor, gain=sigma, generator=generator)
        else:
            var = 2.0 / (fan_in + fan_out) if scheme == "xavier" else 2.0 / fan_in
            tensor.normal_(0.0, sigma * var**0.5, generator=generator)
    return tensor


def is_diagonal(weight: Tensor) -> bool:
    """Whether ``weight`` is square with every off-diagonal entry exactly zero."""
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1]:
        return False
    return bool(torch.count_nonzero(weight - torch.diag_embed(torch.diagonal(weight))) == 0)
