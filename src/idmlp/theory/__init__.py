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
- :mod:`~idmlp.theory.family`: the identity family (ZerO, IDInit, looks-linear,
  delta-orthogonal): exact laws where they exist, and where they do not.
- :mod:`~idmlp.theory.compare`: measured eigenvalues against the theory (the one KS
  distance, :func:`compare_spectrum`), and the initializations side by side.
- :mod:`~idmlp.theory.report`: the analysis of ``idmlp theory`` as functions
  (:func:`theory_report`, :func:`empirical_check`, :func:`measure_inits`, ...).

Names are imported on first use (the command line's ``--help`` does not load torch).
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    **{name: "compare" for name in (
        "ALL_INITS", "FAMILY_INITS", "INITS", "InitComparison", "KSResult",
        "SpectrumComparison", "compare_inits", "compare_spectrum", "init_law",
        "jacobian_eigenvalues", "ks_distance", "random_mlp", "sphere_inputs")},
    **{name: "family" for name in (
        "WIDENING_INITS", "MixtureLaw", "delta_orthogonal_cnn", "delta_orthogonal_spectrum",
        "looks_linear_spectrum", "widened_mlp", "widened_spectrum")},
    "FreeSpectrum": "free", "free_spectrum": "free",
    **{name: "identity" for name in (
        "IsometryRegion", "SpectralLaw", "_quadrature_law", "alpha", "alpha_l",
        "isometry_region", "max_q0", "scalar_jacobian", "scalar_log_eigenvalue", "spectrum",
        "spectrum_on_data")},
    **{name: "meanfield" for name in (
        "WEIGHT_LAWS", "CriticalPoint", "JacobianMoments", "activation_moments", "chi",
        "critical_point", "fixed_point", "jacobian_means", "jacobian_moments",
        "length_map")},
    **{name: "report" for name in (
        "JACOBIAN_PATHS", "SLQ_WIDTH", "TheoryReport", "data_law", "empirical_check",
        "jacobian_path", "measure_inits", "theory_report", "theory_summary")},
}

__all__ = sorted(k for k in _LAZY if not k.startswith("_"))

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
