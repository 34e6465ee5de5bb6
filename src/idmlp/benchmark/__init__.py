"""``idmlp benchmark``: logistic regression, scikit-learn's MLP, a standard-init MLP and
idmlp's interpretable MLP and CNN on several datasets, with the same splits and the same
validation protocol (:mod:`.models`), into a resumable folder with a tidy CSV, a markdown
table, a figure and a report section (:mod:`.runner`). Names are imported on first use."""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "MODELS": "models", "Fitted": "models", "Prepared": "models",
    "fit_model_by_name": "models",
    "COLUMNS": "runner", "DEFAULT_DATASETS": "runner", "PUBLISHED": "runner",
    "BenchmarkResult": "runner", "benchmark_section": "runner", "markdown_table": "runner",
    "read_results": "runner", "run_benchmark": "runner",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
