r"""Measured faithfulness of attribution maps: deletion, insertion, sanity checks, cost.

The package, by concern:

* :mod:`~idmlp.faithfulness.methods`: the one registry of attribution methods (name, how
  to compute its map, paper, cost model, whether it needs Captum);
  :mod:`~idmlp.faithfulness.captum`: the Captum calls.
* :mod:`~idmlp.faithfulness.perturbation`: orderings, deletion and insertion curves
  (pixel flipping; Samek et al., IEEE TNNLS 2017; Petsiuk et al., BMVC 2018), AUC.
* :mod:`~idmlp.faithfulness.statistics`: bootstrap intervals over images, paired ratios,
  rank correlations.
* :mod:`~idmlp.faithfulness.sanity`: the model-randomization reference (Adebayo et al.,
  NeurIPS 2018).
* :mod:`~idmlp.faithfulness.result`: :class:`FaithfulnessResult` with its CSV, JSON and
  table.
* :mod:`~idmlp.faithfulness.evaluation`: :func:`evaluate_faithfulness`, every method
  through every measure; :mod:`~idmlp.faithfulness.run`: :func:`faithfulness_run`, a
  trained run's built-in maps against Captum.

Directions: deletion AUC, lower is better; insertion AUC and the drop of the explained
class's probability, higher is better; the sanity correlation, lower is better.
Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "BASELINE_ORDERINGS": "methods", "BUILTIN_MAPS": "methods", "CAPTUM_METHODS": "methods",
    "DEFAULT_METHODS": "methods",
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
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
