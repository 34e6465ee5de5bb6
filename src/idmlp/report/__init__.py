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
Every piece of HTML comes from the package's jinja2 templates with autoescape, and the
data reaches its ``<script>`` block through one escape (:mod:`idmlp.report._html`).

Where each part lives: :mod:`~idmlp.report.section` (the :class:`Section`, as data),
:mod:`~idmlp.report.page` (the page), :mod:`~idmlp.report.interactive` (the interactive
views' sections), :mod:`~idmlp.report.data` and :mod:`~idmlp.report.build` (what the
interactive page shows), and one module per family of ready-made sections:
:mod:`~idmlp.report.run` (configuration, training, baselines),
:mod:`~idmlp.report.interpretation`, :mod:`~idmlp.report.probes`,
:mod:`~idmlp.report.faithfulness`, :mod:`~idmlp.report.dynamics`;
:mod:`~idmlp.report.run_report` keeps the sections computed on a run in its folder for
the run's report. Training (``idmlp.train``, ``idmlp.nets``, ``idmlp.data``) never
imports this package. Names are imported on first use.

Examples:
    >>> from idmlp.report import Section, render_report
    >>> sec = Section("Notes").text("Two settings.").table([["lr", 3e-4]], ["name", "value"],
    ...                                                    caption="Settings")
    >>> "<caption>Settings</caption>" in render_report(title="t", sections=[sec])
    True
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "DEFAULT_MAPS": "build", "MapSpec": "build", "build_report_data": "build",
    "choose_examples": "build", "run_report_data": "build", "used_settings": "build",
    "LayerCurve": "data", "MapSet": "data", "ModelInfo": "data", "ReportData": "data",
    "TrainingCurves": "data", "encode_array": "data",
    "render_interactive": "page", "render_report": "page",
    "write_interactive_report": "page", "write_report": "page",
    "Num": "section", "Section": "section", "describe_figure": "section",
    "baseline_section": "run", "config_section": "run", "training_section": "run",
    "identity_distance_section": "interpretation",
    "interpretation_sections": "interpretation", "layer_table": "interpretation",
    "maps_section": "interpretation",
    "probe_section": "probes", "seeds_section": "probes",
    "faithfulness_section": "faithfulness",
    "dynamics_section": "dynamics",
    "load_run_sections": "run_report", "refresh_interpret_report": "run_report",
    "report_lock": "run_report", "save_run_section": "run_report",
    "write_interpret_report": "run_report",
    "format_percent": "stats", "format_percent_interval": "stats",
    "percent_decimals": "stats",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)

