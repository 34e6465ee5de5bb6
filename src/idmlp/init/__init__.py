"""Weight initializations in the style of :mod:`torch.nn.init`.

- :mod:`~idmlp.init.identity`: identity initialization (Kubota et al., ICASSP 2021):
  :func:`identity_`, :func:`identity_init_`, :func:`is_diagonal`.
- :mod:`~idmlp.init.family`: the identity family: ZerO (:func:`zero_`), IDInit
  (:func:`idinit_`), looks-linear (:func:`looks_linear_`), delta-orthogonal
  (:func:`delta_orthogonal_`), and the Hadamard matrix (:func:`hadamard`).
- :mod:`~idmlp.init.schemes`: the registry :data:`SCHEMES` and :func:`init_weight_`.

Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "identity_": "identity", "identity_init_": "identity", "is_diagonal": "identity",
    "delta_orthogonal_": "family", "hadamard": "family", "idinit_": "family",
    "looks_linear_": "family", "zero_": "family",
    "SCHEMES": "schemes", "init_weight_": "schemes",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
