"""The report: one self-contained HTML page, interactive, readable offline.

Two ways to make one:

* **interactive** (what ``idmlp reproduce`` and ``idmlp interpret`` write): fill a
  :class:`ReportData` (usually with :func:`build_report_data` from a model, its test
  tensors and its run) and call :func:`write_interactive_report`. The page has a layer
  slider that moves every map and highlights the layer in the per-layer plot, a sample
  browser (all / errors / one class / one confusion-matrix cell) with each example's
  input, map and layers x classes probabilities, training curves, "How to read this
  report", then any static :class:`Section`\\ s and the configuration.
* **static**: :class:`Section`\\ s of text, tables and figures, written by
  :func:`write_report`.

Either way the page inlines its stylesheet, script and data, so it requests nothing.

Examples:
    >>> sec = Section("Notes").text("Two settings.").table([["lr", 3e-4]], ["name", "value"],
    ...                                                    caption="Settings")
    >>> "<caption>Settings</caption>" in render_report(title="t", sections=[sec])
    True
"""

from .build import (
    DEFAULT_MAPS,
    MapSpec,
    build_report_data,
    choose_examples,
    run_report_data,
    used_settings,
)
from .data import LayerCurve, MapSet, ModelInfo, ReportData, TrainingCurves, encode_array
from .page import render_interactive, render_report, write_interactive_report, write_report
from .sections import (
    Num,
    Section,
    baseline_section,
    config_section,
    describe_figure,
    identity_distance_section,
    interpretation_sections,
    layer_table,
    probe_section,
    training_section,
)
from .stats import format_percent, format_percent_interval, percent_decimals

__all__ = [
    "DEFAULT_MAPS",
    "LayerCurve",
    "MapSet",
    "MapSpec",
    "ModelInfo",
    "Num",
    "ReportData",
    "Section",
    "TrainingCurves",
    "baseline_section",
    "build_report_data",
    "choose_examples",
    "config_section",
    "describe_figure",
    "encode_array",
    "format_percent",
    "format_percent_interval",
    "identity_distance_section",
    "interpretation_sections",
    "layer_table",
    "percent_decimals",
    "probe_section",
    "render_interactive",
    "render_report",
    "run_report_data",
    "training_section",
    "used_settings",
    "write_interactive_report",
    "write_report",
]
