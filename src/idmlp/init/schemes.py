r"""One registry of weight initializations, :data:`SCHEMES`, and :func:`init_weight_`, the
one call that every network (MLP, CNN, the sweep's stacked MLPs, probes) initializes a
weight with.

``config.INIT_SCHEMES`` lists the schemes that ``idmlp train`` and ``idmlp sweep`` offer
(every scheme of :data:`SCHEMES`, the identity family of :mod:`idmlp.init.family`
included); ``idmlp theory --compare-inits --inits`` takes them too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .._validation import check_positive
from .family import delta_orthogonal_, idinit_, looks_linear_, zero_
from .identity import identity_

__all__ = ["SCHEMES", "init_weight_"]

Init = Callable[[Tensor, float, "torch.Generator | None"], Tensor]


def _fans(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim not in (2, 3, 4, 5):
        raise ValueError(f"init_weight_ needs a 2-D weight or a 3-, 4- or 5-D convolution "
                         f"weight, got {tuple(tensor.shape)}")
    taps = tensor[0, 0].numel()
    return tensor.shape[1] * taps, tensor.shape[0] * taps


def _orthogonal(tensor: Tensor, sigma: float, generator: torch.Generator | None) -> Tensor:
    _fans(tensor)
    with torch.no_grad():
        return nn.init.orthogonal_(tensor, gain=sigma, generator=generator)


def _gaussian(scale: Callable[[int, int], float]) -> Init:
    def init(tensor: Tensor, sigma: float, generator: torch.Generator | None) -> Tensor:
        fan_in, fan_out = _fans(tensor)
        with torch.no_grad():
            return tensor.normal_(0.0, sigma * scale(fan_in, fan_out) ** 0.5,
                                  generator=generator)
    return init


#: ``{name: init(tensor, sigma, generator)}``, every scheme :func:`init_weight_` knows.
SCHEMES: dict[str, Init] = {
    "identity": lambda t, s, g: identity_(t, s),
    "orthogonal": _orthogonal,
    "xavier": _gaussian(lambda fan_in, fan_out: 2.0 / (fan_in + fan_out)),
    "he": _gaussian(lambda fan_in, fan_out: 2.0 / fan_in),
    "zero": lambda t, s, g: zero_(t, s),
    "idinit": lambda t, s, g: idinit_(t, s, generator=g),
    "looks_linear": lambda t, s, g: looks_linear_(t, s, generator=g),
    "delta_orthogonal": lambda t, s, g: delta_orthogonal_(t, s, generator=g),
}


def init_weight_(
    tensor: Tensor, scheme: str = "identity", sigma: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Initialize a 2-D weight (or a convolution weight) by ``scheme`` with gain ``sigma``
    (in place).

    - ``identity``: :math:`W = \sigma I` (:func:`~idmlp.init.identity.identity_`; the
      Dirac kernel for a convolution).
    - ``orthogonal``: :math:`W = \sigma Q`, :math:`Q` Haar-orthogonal (Saxe et al., 2014);
      a convolution weight ``(out, in, *k)`` is orthogonal as an ``out x (in k)`` matrix.
    - ``xavier``: :math:`W_{ij} \sim N(0, \sigma^2 \cdot 2 / (n_{in} + n_{out}))`
      (Glorot and Bengio, 2010).
    - ``he``: :math:`W_{ij} \sim N(0, \sigma^2 \cdot 2 / n_{in})` (He et al., 2015).
    - ``zero``, ``idinit``, ``looks_linear``, ``delta_orthogonal``: the identity family,
      :mod:`idmlp.init.family` (ZerO, IDInit (deterministic; patch-maintain for a
      convolution), looks-linear, delta-orthogonal), each refusing the shapes it does not
      apply to.

    For a convolution weight the fans count the kernel taps: :math:`n_{in} = in \cdot
    \prod k`, :math:`n_{out} = out \cdot \prod k`.

    Examples:
        >>> w = torch.empty(4, 4)
        >>> _ = init_weight_(w, "orthogonal", sigma=2.0)
        >>> torch.allclose(w @ w.T, 4 * torch.eye(4), atol=1e-5)
        True
    """
    if scheme not in SCHEMES:
        raise ValueError(f"init must be one of {', '.join(SCHEMES)}; got {scheme!r}")
    return SCHEMES[scheme](tensor, check_positive("sigma", sigma), generator)
