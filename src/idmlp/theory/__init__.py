"""Theory of the input-output Jacobian spectrum at initialization.

- :mod:`idmlp.theory.identity`: identity initialization, exact (Kubota et al., ICASSP 2021):
  the law of the eigenvalues of :math:`J J^T` for Gaussian inputs (:func:`spectrum`) and
  for a real data set (:func:`spectrum_on_data`), the isometry region.
"""

from __future__ import annotations

from .identity import (
    IsometryRegion,
    SpectralLaw,
    _quadrature_law,  # noqa: F401  (used by the tests)
    alpha,
    alpha_l,
    isometry_region,
    max_q0,
    scalar_jacobian,
    scalar_log_eigenvalue,
    spectrum,
    spectrum_on_data,
)

__all__ = [
    "IsometryRegion",
    "SpectralLaw",
    "alpha",
    "alpha_l",
    "isometry_region",
    "max_q0",
    "scalar_jacobian",
    "scalar_log_eigenvalue",
    "spectrum",
    "spectrum_on_data",
]
