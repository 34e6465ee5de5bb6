"""Analysis of trained networks: layer-wise interpretation, probes, learning dynamics.

Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "Interpretation": "interpret", "interpret": "interpret", "interpret_run": "interpret",
    "ProbeComparison": "probes", "compare_probes": "probes", "fit_probes": "probes",
    "fit_standard_mlp": "probes",
    "Snapshots": "dynamics", "load_snapshots": "dynamics", "dynamics_summary": "dynamics",
    "plot_dynamics": "dynamics",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
