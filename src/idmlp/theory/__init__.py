"""Theory of the input-output Jacobian spectrum of deep MLPs at initialization.

- :mod:`~idmlp.theory.identity`: identity initialization, exact (Kubota et al., ICASSP
  2021): the law of the eigenvalues of :math:`J J^T` for Gaussian inputs
  (:func:`spectrum`) and on a real data set (:func:`spectrum_on_data`), the isometry
  region; held in log space.
- :mod:`~idmlp.theory.meanfield`: random orthogonal and Gaussian weights: the length map,
  its fixed point, :math:`\\chi`, the critical point, and the mean and variance of the
  spectrum (Poole et al. 2016; Schoenholz et al. 2017; Pennington et al. 2017, 2018).
- :mod:`~idmlp.theory.free`: the full density for random weights by numerical free
  multiplicative convolution (Pennington et al. 2017, 2018).
- :mod:`~idmlp.theory.compare`: measured eigenvalues against the theory, and the three
  initializations side by side.
"""

from __future__ import annotations

from .compare import (
    INITS,
    InitComparison,
    KSResult,
    compare_inits,
    jacobian_eigenvalues,
    ks_distance,
    random_mlp,
)
from .free import FreeSpectrum, free_spectrum
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
    theory_summary,
)
from .meanfield import (
    WEIGHT_LAWS,
    CriticalPoint,
    JacobianMoments,
    activation_moments,
    chi,
    critical_point,
    fixed_point,
    jacobian_means,
    jacobian_moments,
    length_map,
)

__all__ = [
    "INITS",
    "WEIGHT_LAWS",
    "CriticalPoint",
    "FreeSpectrum",
    "InitComparison",
    "IsometryRegion",
    "JacobianMoments",
    "KSResult",
    "SpectralLaw",
    "activation_moments",
    "alpha",
    "alpha_l",
    "chi",
    "compare_inits",
    "critical_point",
    "fixed_point",
    "free_spectrum",
    "isometry_region",
    "jacobian_eigenvalues",
    "jacobian_means",
    "jacobian_moments",
    "ks_distance",
    "length_map",
    "max_q0",
    "random_mlp",
    "scalar_jacobian",
    "scalar_log_eigenvalue",
    "spectrum",
    "spectrum_on_data",
    "theory_summary",
]
