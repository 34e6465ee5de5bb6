r"""Measured faithfulness of attribution maps: deletion, insertion, sanity checks, cost.

The package, by concern:

* :mod:`~idmlp.faithfulness.methods`: the one registry of attribution methods (name, how
  to compute its map, paper, cost model, whether it needs Captum);
  :mod:`~idmlp.faithfulness.captum`: the Captum calls.
* :mod:`~idmlp.faithfulness.perturbation`: orderings, deletion and insertion curves
  (pixel flipping; Samek et al., IEEE TNNLS 2017; Petsiuk et al., BMVC 2018), AUC.
* :mod:`~idmlp.faithfulness.statistics`: bootstrap intervals over images, paired ratios,
  rank correlations.
* :mod:`~idmlp.faithfulness.measures`: the measures, their papers and directions.
* :mod:`~idmlp.faithfulness.road`: ROAD with noisy linear imputation (Rong et al., ICML
  2022); :mod:`~idmlp.faithfulness.correlation`: FaithfulnessCorrelation (Bhatt et al.,
  IJCAI 2020); :mod:`~idmlp.faithfulness.randomization`: model-parameter and label
  randomization (Adebayo et al., NeurIPS 2018), RandomLogit (Sixt et al., ICML 2020);
  :mod:`~idmlp.faithfulness.pointing`: the grid pointing game (Böhle et al., CVPR 2022).
* :mod:`~idmlp.faithfulness.lrp`: LRP-epsilon for these networks.
* :mod:`~idmlp.faithfulness.sanity`: the model-randomization reference (Adebayo et al.,
  NeurIPS 2018).
* :mod:`~idmlp.faithfulness.result`: :class:`FaithfulnessResult` with its CSV, JSON and
  table.
* :mod:`~idmlp.faithfulness.evaluation`: :func:`evaluate_faithfulness`, every method
  through every measure; :mod:`~idmlp.faithfulness.run`: :func:`faithfulness_run`, a
  trained run's built-in maps against Captum.

Directions: deletion AUC, lower is better; insertion AUC and the drop of the explained
class's probability, higher is better; the sanity correlation, lower is better; ROAD gap
and FaithfulnessCorrelation, higher is better; the randomization correlations and the
RandomLogit SSIM, lower is better; the pointing game, higher is better.
Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "BASELINE_ORDERINGS": "methods", "BUILTIN_MAPS": "methods", "CAPTUM_METHODS": "methods",
    "DEFAULT_METHODS": "methods", "DEFAULT_MAPS": "methods", "DEFAULT_ATTRIBUTION": "methods",
    "DEFAULT_REFERENCE": "methods", "DEFAULT_VARIANT": "methods",
    "METHODS": "methods", "Method": "methods", "method_names": "methods",
    "curve_auc": "perturbation", "perturbation_curve": "perturbation",
    "perturbation_schedule": "perturbation", "pixel_ranks": "perturbation",
    "Interval": "statistics", "bootstrap_interval": "statistics",
    "paired_ratio_interval": "statistics", "rank_correlation": "statistics",
    "REFERENCES": "sanity", "reference_model": "sanity",
    "DEFAULT_DROP_AT": "result", "METRICS": "result", "Cost": "result",
    "FaithfulnessResult": "result", "MethodFaithfulness": "result",
    "VARIANTS": "evaluation", "Explainer": "evaluation",
    "evaluate_faithfulness": "evaluation",
    "faithfulness_run": "run",
    "MEASURES": "measures", "FIELD_MEASURES": "measures", "RUN_MEASURES": "measures",
    "road_curves": "road", "noisy_linear_imputation": "road",
    "faithfulness_correlation": "correlation",
    "randomized_model": "randomization", "label_randomized_model": "randomization",
    "ssim": "randomization", "lrp_epsilon": "lrp",
    "pointing_game": "pointing", "PointingResult": "pointing",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
