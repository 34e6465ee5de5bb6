"""Training: the loop, the layer-wise evaluator and run folders.

This layer imports the networks and the data, never the analysis or the figures. Names are
imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "Trainer": "loop", "TrainingDiverged": "loop", "fit_model": "loop",
    "layer_cross_entropy": "losses",
    "evaluate": "evaluate", "LayerMetrics": "evaluate", "wilson_interval": "evaluate",
    "TrainedRun": "runs", "fit": "runs", "load_run": "runs", "load_config": "runs",
    "RunConfig": ".config", "run_identity": ".config",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
