"""The training loss of every layer's readout (:class:`~idmlp.config.OptimConfig`:
``loss`` and ``label_smoothing``), for one network or ``R`` stacked ones (a sweep's)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .._validation import check_choice
from ..config.optim import LOSSES

__all__ = ["layer_cross_entropy"]


def layer_cross_entropy(logits: Tensor, y: Tensor, weights: Tensor | None = None,
                        label_smoothing: float = 0.0, loss: str = "cross_entropy") -> Tensor:
    r"""The training loss :math:`\sum_\ell w_\ell\, \mathrm{CE}_\epsilon(z^\ell, y)`, mean over
    the batch, for each of ``R`` leading runs.

    Args:
        logits: ``(*R, B, C)`` (the last layer alone, ``weights=None``) or ``(*R, B, L, C)``.
        y: labels ``(B,)`` shared by the runs, or ``(*R, B)``.
        weights: ``(L,)`` layer weights (:meth:`~idmlp.config.OptimConfig.layer_weights`).
        label_smoothing: :math:`\epsilon \in [0, 1)`.
        loss: ``cross_entropy`` (softmax) or ``binary_cross_entropy``: the sum over classes
            of :math:`\mathrm{BCE}(\sigma(z_c), t_c)`, targets :math:`1 - \epsilon/2` for the
            true class and :math:`\epsilon/2` for the others
            (:class:`~idmlp.config.OptimConfig`).

    Returns:
        ``(*R,)`` (a scalar for one network).

    Examples:
        >>> z = torch.zeros(4, 3, 5)  # 4 examples, 3 layers, 5 classes
        >>> layer_cross_entropy(z, torch.arange(4), torch.tensor([0.0, 0.5, 0.5]))
        tensor(1.6094)
    """
    binary = check_choice("loss", loss, LOSSES) == "binary_cross_entropy"
    if weights is None and logits.ndim == 2 and not binary:
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    lead = logits.shape[:-1]  # (*R, B) or (*R, B, L)
    target = (y if weights is None else y[..., None]).expand(lead)
    if binary:
        t = F.one_hot(target, logits.shape[-1]).to(logits.dtype)
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
        ce = F.binary_cross_entropy_with_logits(logits, t, reduction="none").sum(-1)
    else:
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                             label_smoothing=label_smoothing, reduction="none").view(lead)
    if weights is None:
        return ce.mean(-1)
    return ce.mean(-2) @ weights
