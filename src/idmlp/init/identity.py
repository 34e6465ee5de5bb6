"""Identity initialization in the style of :mod:`torch.nn.init`.

Kubota, Hayashi, Hayase and Uchida, "Layer-wise Interpretation of Deep Neural Networks
Using Identity Initialization", ICASSP 2021 (arXiv:2102.13333).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._validation import check_int, check_positive

__all__ = ["identity_", "identity_init_", "is_diagonal"]


def _conv_shape_error(tensor: Tensor, why: str) -> ValueError:
    return ValueError(
        f"identity_ needs a 2-D weight (out, in) or a convolution weight (out, in/groups, "
        f"k1[, k2[, k3]]) with odd kernel sizes and groups dividing out; got "
        f"{tuple(tensor.shape)} ({why})")


def identity_(tensor: Tensor, sigma: float = 1.0, groups: int = 1, *,
              gain: float | None = None) -> Tensor:
    r"""Fill ``tensor`` with a scaled identity: :math:`W = \sigma I`, or
    :math:`\sigma` times the Dirac kernel for a convolution weight.

    The identity initialization of Kubota et al., "Layer-wise Interpretation of Deep
    Neural Networks Using Identity Initialization", ICASSP 2021. Every layer of an MLP
    starts as :math:`W^\ell = \sigma I`, so at initialization the network acts coordinate
    by coordinate, :math:`h^\ell_i = \sigma\,\phi(h^{\ell-1}_i)`, and the change of the
    features :math:`x^\ell - x^0` reads as the contribution of layers :math:`1..\ell`.

    A rectangular ``(out, in)`` weight gets the padded identity
    :math:`W_{ij} = \sigma\,\delta_{ij}` (as :func:`torch.nn.init.eye_`), so extra output
    rows start at zero.

    A convolution weight ``(out, in/groups, k_1[, k_2[, k_3]])`` (``nn.Conv1d/2d/3d``) gets
    :math:`\sigma` times the Dirac kernel (:func:`torch.nn.init.dirac_`),
    :math:`W_{oi\,t} = \sigma\,\delta_{oi}\,\delta_{t,\lfloor k/2 \rfloor}`: output
    channel ``o`` copies input channel ``o`` at the kernel's centre tap, so
    :math:`(W \star x)_o = \sigma x_o` pixel by pixel, for any dilation and any padding that
    keeps the size (zeros, reflect, replicate, circular: the padded values are never read),
    the identity initialization of dilated context modules (Yu and Koltun, "Multi-Scale
    Context Aggregation by Dilated Convolutions", ICLR 2016). Every kernel size must be odd
    (an even kernel has no centre: its "identity" shifts the image by half a pixel). As
    :func:`torch.nn.init.dirac_` (and :func:`torch.nn.init.eye_` for 2-D weights), extra
    output channels start at zero and, with fewer output than input channels, output ``o``
    still copies input ``o`` (the last input channels are not read). With ``groups`` each
    group keeps its own channels.

    Args:
        tensor: a 2-D weight, or a 3-, 4- or 5-D convolution weight, filled in place
            without autograd.
        sigma: the scale :math:`\sigma`, a finite number > 0.
        groups: the convolution's ``groups`` (convolution weights only; integer >= 1
            dividing ``out``).
        gain: :mod:`torch.nn.init`'s name for the scale; ``identity_(w, gain=2.0)`` is
            ``identity_(w, sigma=2.0)`` (give one of the two).

    Returns:
        ``tensor``.

    Examples:
        >>> w = torch.empty(3, 5)
        >>> identity_(w, sigma=1.05)
        tensor([[1.0500, 0.0000, 0.0000, 0.0000, 0.0000],
                [0.0000, 1.0500, 0.0000, 0.0000, 0.0000],
                [0.0000, 0.0000, 1.0500, 0.0000, 0.0000]])
        >>> conv = nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect", bias=False,
        ...                  dtype=torch.float64)
        >>> _ = identity_(conv.weight, sigma=2.0)
        >>> x = torch.randn(1, 2, 5, 5, dtype=torch.float64)
        >>> torch.equal(conv(x), 2.0 * x)
        True
    """
    if not isinstance(tensor, Tensor) or tensor.ndim not in (2, 3, 4, 5):
        shape = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
        raise ValueError(f"identity_ needs a 2-D weight (out, in) or a 3-, 4- or 5-D "
                         f"convolution weight (out, in/groups, *kernel), got {shape}")
    if not tensor.is_floating_point():
        raise ValueError(f"identity_ needs a floating-point tensor, got {tensor.dtype}; "
                         "create the weight with dtype=torch.float32 (or float64)")
    if gain is not None:
        if sigma != 1.0 and sigma != gain:
            raise ValueError(f"give the scale once, as sigma or as gain (got sigma={sigma!r} "
                             f"and gain={gain!r})")
        sigma = gain
    sigma = check_positive("sigma" if gain is None else "gain", sigma)
    groups = check_int("groups", groups)
    if tensor.ndim == 2:
        if groups != 1:
            raise ValueError(f"groups applies to convolution weights only, got {groups} for "
                             f"a 2-D weight")
        with torch.no_grad():
            nn.init.eye_(tensor)
            tensor.mul_(sigma)
        return tensor
    out, per_group, *kernel = tensor.shape
    if any(k % 2 == 0 for k in kernel):
        raise _conv_shape_error(tensor, f"kernel {tuple(kernel)} has an even size")
    if out % groups:
        raise _conv_shape_error(tensor, f"out = {out} is not divisible by groups = {groups}")
    with torch.no_grad():
        nn.init.dirac_(tensor, groups)
        tensor.mul_(sigma)
    return tensor


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def identity_init_(module: nn.Module, sigma: float = 1.0) -> nn.Module:
    r"""Identity-initialize every :class:`torch.nn.Linear` (:math:`W = \sigma I`) and every
    :class:`torch.nn.Conv1d`, ``Conv2d`` and ``Conv3d`` (:math:`\sigma` times the Dirac
    kernel, :func:`identity_`) in ``module``.

    Biases, where present, are set to zero, so the initial map of every linear layer is
    exactly :math:`x \mapsto \sigma x` (padded with zeros if it widens; for a convolution,
    when its padding keeps the size).

    Examples:
        >>> net = nn.Sequential(nn.Linear(4, 4), nn.Hardtanh(), nn.Linear(4, 4))
        >>> _ = identity_init_(net, sigma=1.0)
        >>> torch.equal(net(torch.full((1, 4), 0.5)), torch.full((1, 4), 0.5))
        True
        >>> cnn = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Hardtanh(),
        ...                     nn.Conv2d(3, 3, 5, padding=4, dilation=2)).double()
        >>> _ = identity_init_(cnn)
        >>> x = torch.rand(2, 3, 8, 8, dtype=torch.float64) - 0.5
        >>> torch.equal(cnn(x), x)
        True
    """
    sigma = check_positive("sigma", sigma)
    for m in module.modules():
        if isinstance(m, nn.Linear):
            identity_(m.weight, sigma)
        elif isinstance(m, _CONVS):
            identity_(m.weight, sigma, groups=m.groups)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return module


def is_diagonal(weight: Tensor) -> bool:
    """Whether ``weight`` is square with every off-diagonal entry exactly zero."""
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1]:
        return False
    return bool(torch.count_nonzero(weight - torch.diag_embed(torch.diagonal(weight))) == 0)
