"""Analysis of trained networks: layer-wise interpretation, probes, learning dynamics, and
ZerO's training degeneracy (the rank of each layer's change, :mod:`.degeneracy`).

Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "Interpretation": "interpret", "interpret": "interpret", "interpret_run": "interpret",
    "ProbeComparison": "probes", "compare_probes": "probes", "fit_probes": "probes",
    "fit_standard_mlp": "probes",
    "standard_mlp_for_run": "probes",
    "Snapshots": "dynamics", "load_snapshots": "dynamics", "dynamics_summary": "dynamics",
    "plot_dynamics": "dynamics",
    "RankTrajectory": "degeneracy", "bottleneck_mlp": "degeneracy",
    "numerical_rank": "degeneracy", "rank_trajectory": "degeneracy",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
