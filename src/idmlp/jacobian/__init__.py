"""Measured input-output Jacobians: dense singular values (:mod:`.dense`) and stochastic
Lanczos quadrature for wide networks (:mod:`.lanczos`).

Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    **{name: "dense" for name in (
        "METHODS", "eigenvalue_summary",
        "empirical_spectrum", "jacobian", "singular_values", "spectrum_memory",
        "stacked_eigenvalues", "stacked_mlp_jacobian")},
    "SLQDensity": "lanczos", "slq": "lanczos",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
