"""The measures of the faithfulness study: name, paper, direction (torch-free: the command
line reads it).

Deletion and insertion (pixel flipping) are always taken; the others on request
(``idmlp faithfulness --metrics``, ``faithfulness_run(metrics=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FIELD_MEASURES", "MEASURES", "RUN_MEASURES", "Measure"]


@dataclass(frozen=True)
class Measure:
    """One measure: its name, paper, what it reports and which direction is better."""

    name: str
    paper: str
    reports: str
    better: str


MEASURES: dict[str, Measure] = {m.name: m for m in (
    Measure("deletion", "Samek et al., IEEE TNNLS 2017; Petsiuk et al., BMVC 2018",
            "deletion AUC (lower is better), insertion AUC and drops (higher is better), "
            "constant baseline", "see reports"),
    Measure("road", "Rong et al., ICML 2022 (ROAD)",
            "LeRF minus MoRF accuracy, noisy linear imputation, 10-90 % removed", "higher"),
    Measure("correlation", "Bhatt et al., IJCAI 2020 (FaithfulnessCorrelation)",
            "Pearson correlation of subset attribution and logit drop", "higher"),
    Measure("randomization", "Adebayo et al., NeurIPS 2018 (model-parameter randomization)",
            "Spearman correlation of absolute maps, cascading from the top and per layer",
            "lower"),
    Measure("random_logit", "Sixt et al., ICML 2020 (RandomLogit)",
            "SSIM of the maps of the explained and a random other class", "lower"),
    Measure("labels", "Adebayo et al., NeurIPS 2018 (data randomization)",
            "Spearman correlation of absolute maps with a network trained on permuted "
            "labels", "lower"),
)}

#: Taken by :func:`~idmlp.faithfulness.evaluation.evaluate_faithfulness` on request.
FIELD_MEASURES: tuple[str, ...] = ("road", "correlation", "randomization", "random_logit")
#: Taken by :func:`~idmlp.faithfulness.run.faithfulness_run` on request (``labels`` trains a
#: second network).
RUN_MEASURES: tuple[str, ...] = (*FIELD_MEASURES, "labels")
