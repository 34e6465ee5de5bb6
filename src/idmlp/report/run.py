"""Sections about a run as a whole: its configuration, its training epochs, and its
accuracy next to other models (baselines)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from ..train.evaluate import wilson_interval
from .section import Num, Section
from .stats import format_percent, format_percent_interval

__all__ = ["baseline_section", "config_section", "training_section"]


def config_section(config: Mapping[str, Any], *, title: str = "Configuration",
                   command: str | None = None,
                   versions: Mapping[str, str] | None = None) -> Section:
    """The run's configuration, collapsed: the command line, versions and every setting
    (nested keys dotted).

    Examples:
        >>> sec = config_section({"train": {"lr": 0.1}}, command="idmlp train")
        >>> sec.blocks[-1]["summary"]
        'Command line, versions and settings'
    """
    sec = Section(title).text("How this report was made; open the box for the details.")
    inner = Section("inner")
    if command:
        inner.code(command, label="Command line:")
    if versions:
        inner.table([[k, str(v)] for k, v in versions.items()], ["package", "version"],
                    caption="Versions")
    inner.mapping(config, caption="Settings used by this run")
    return sec.details("Command line, versions and settings", inner)


def training_section(metrics: Sequence[Mapping[str, Any]]) -> Section:
    """Per-epoch training metrics of a run as a table (training seconds cumulative)."""
    keys = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "elapsed")
    header = ["epoch", "train loss", "train accuracy", "test loss", "test accuracy",
              "learning rate", "training time (s)"]
    sec = Section("Training")
    if not metrics:
        return sec.text("No completed epoch is recorded in this run.")
    rows = [[r.get(k) for k in keys] for r in metrics]
    for row in rows:
        for j in (2, 4):
            row[j] = None if row[j] is None else Num(format_percent(row[j]))
        row[5] = None if row[5] is None else Num(f"{row[5]:.3g}")
        row[6] = None if row[6] is None else Num(f"{row[6]:.1f}")
    sec.text("One row per epoch; the training time is the cumulative time of the epochs "
             "(optimizer steps and the end-of-epoch evaluation).")
    return sec.table(rows, header, caption="Per-epoch metrics (from the checkpoint)")


def baseline_section(results: Mapping[str, float | Mapping[str, Any]], *,
                     title: str = "Baselines", note: str | None = None,
                     n_test: int | None = None) -> Section:
    """A comparison table: model name -> test accuracy (or a dict of columns).

    ``{"LogisticRegression": 0.91, "idmlp (last layer)": 0.93}`` gives two columns;
    ``{"MLPClassifier": {"test accuracy": 0.95, "fit (s)": 4.2}, ...}`` gives one column
    per key (union over rows, in first-seen order). With ``n_test`` (the number of test
    examples), ``test accuracy`` is shown as a percentage with its 95% Wilson interval.
    """
    cols: list[str] = []
    for value in results.values():
        for key in (value if isinstance(value, Mapping) else {"test accuracy": value}):
            if key not in cols:
                cols.append(key)
    rows = []
    for name, value in results.items():
        d = dict(value) if isinstance(value, Mapping) else {"test accuracy": value}
        acc = d.get("test accuracy")
        if n_test is not None and isinstance(acc, numbers.Real):
            d["test accuracy"] = Num(format_percent_interval(
                acc, *wilson_interval(acc, n_test)))
        rows.append([name, *(d.get(c) for c in cols)])
    header = ["model", *(f"{c} (95% interval)" if c == "test accuracy" and n_test else c
                         for c in cols)]
    sec = Section(title)
    if note:
        sec.text(note)
    return sec.table(rows, header, caption="Test accuracy of each model on the same split",
                     digits=1)
