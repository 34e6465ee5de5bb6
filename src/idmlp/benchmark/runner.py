r"""``idmlp benchmark``: every model of :mod:`idmlp.benchmark.models` on every dataset, into one
resumable folder with a tidy CSV, a markdown table, a figure and a report section.

A benchmark folder::

    OUT/
      benchmark.json   the settings (datasets, models, seed, data settings)
      results.csv      one row per (dataset, model): test accuracy with its 95 % Wilson
                       interval, validation accuracy, training seconds, parameters, the
                       training length chosen on validation; rewritten after every model
      results.md       the markdown table (datasets x models)
      benchmark.png    the figure (test accuracy with 95 % intervals)
      report.html      the benchmark section as a page

Resumable: ``resume=True`` keeps the finished rows of an interrupted (or partly failed)
run of the same settings and fits only what is missing or failed. A model that fails is
one row with ``status=failed`` and its one-line error (and one line on stderr); the others
go on. A model that does not apply (the CNN on unordered features) is ``skipped``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write_text, check_output_dir, folder_lock, save_json
from .._validation import check_int
from ..config import DataConfig, RunConfig, check_dataset_name
from ..runtime import one_line
from .models import MODELS, Fitted, Prepared, SkipModel, fit_model_by_name

__all__ = [
    "COLUMNS",
    "DEFAULT_DATASETS",
    "PUBLISHED",
    "BenchmarkResult",
    "benchmark_section",
    "markdown_table",
    "read_results",
    "run_benchmark",
]

#: The datasets ``idmlp benchmark`` runs by default.
DEFAULT_DATASETS: tuple[str, ...] = ("digits", "mnist5k", "mnist1d")
#: Published test accuracies to show beside ours: MNIST-1D (Greydanus and Kobak, "Scaling
#: down deep learning", 2020, Table 1).
PUBLISHED: dict[str, dict[str, float]] = {
    "mnist1d": {"logistic regression": 0.32, "MLP": 0.68, "CNN": 0.94, "GRU": 0.91,
                "human expert": 0.96},
}
#: The columns of ``results.csv``, in order.
COLUMNS: tuple[str, ...] = (
    "dataset", "model", "label", "seed", "status", "test_accuracy", "ci_low", "ci_high",
    "n_test", "val_accuracy", "train_seconds", "parameters", "epochs", "stop", "setting",
    "error",
)
SETTINGS_FILE, RESULTS_FILE, TABLE_FILE = "benchmark.json", "results.csv", "results.md"
FIGURE_FILE, REPORT_FILE = "benchmark.png", "report.html"


@dataclass
class BenchmarkResult:
    """The rows of a benchmark (dicts keyed by :data:`COLUMNS`) and where they are."""

    path: Path | None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def row(self, dataset: str, model: str) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["dataset"] == dataset and r["model"] == model),
                    None)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "failed"]


def _check_names(names: Sequence[str], valid: Sequence[str], what: str) -> tuple[str, ...]:
    names = tuple(names)
    if not names:
        raise ValueError(f"{what} must name at least one")
    bad = [n for n in names if n not in valid]
    if bad:
        raise ValueError(f"unknown {what[:-1]} {bad[0]!r}; choose from {', '.join(valid)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} must be distinct, got {', '.join(names)}")
    return names


def _settings(datasets: Sequence[str], models: Sequence[str], seed: int,
              data: DataConfig) -> dict[str, Any]:
    d = asdict(data)
    for key in ("dataset", "data_dir", "download"):  # where the data is, not what
        d.pop(key)
    return {"datasets": list(datasets), "models": list(models), "seed": seed, "data": d}


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # round-trips exactly: a resumed benchmark keeps its rows as they were
    return str(value)


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_format(row.get(c)) for c in COLUMNS])
    atomic_write_text(path, buf.getvalue())


_NUMERIC = {"seed": int, "test_accuracy": float, "ci_low": float, "ci_high": float,
            "n_test": int, "val_accuracy": float, "train_seconds": float, "parameters": int,
            "epochs": int}


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``results.csv`` (or of the benchmark folder holding one), typed."""
    path = Path(path)
    path = path / RESULTS_FILE if path.is_dir() else path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"cannot read {path}: {one_line(err)}") from None
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ValueError(f"{path} is not an idmlp benchmark results file (its columns "
                         "differ); run the benchmark again")
    rows = []
    for raw in reader:
        row: dict[str, Any] = {}
        for key, value in raw.items():
            cast = _NUMERIC.get(key)
            row[key] = (None if value == "" else cast(value)) if cast else value
        rows.append(row)
    return rows


def _row(dataset: str, model: str, seed: int, fitted: Fitted | None, n_test: int,
         status: str, error: str = "") -> dict[str, Any]:
    from ..train.evaluate import wilson_interval

    row: dict[str, Any] = {"dataset": dataset, "model": model, "label": MODELS[model][0],
                           "seed": seed, "status": status, "n_test": n_test, "error": error}
    if fitted is not None:
        lo, hi = wilson_interval(fitted.test_accuracy, n_test)
        row.update(asdict(fitted), ci_low=float(lo), ci_high=float(hi))
    return row


def _prepare_folder(out: Path, settings: dict[str, Any], resume: bool,
                    overwrite: bool) -> list[dict[str, Any]]:
    """Create ``out`` (or check the one being resumed); return the rows to keep."""
    if not resume:
        check_output_dir(out, overwrite)
        if out.exists():
            import shutil

            shutil.rmtree(out)
        out.mkdir(parents=True)
        save_json(out / SETTINGS_FILE, settings)
        return []
    try:
        stored = json.loads((out / SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ValueError(f"{out} is not a benchmark folder to resume (no readable "
                         f"{SETTINGS_FILE}); start it without --resume") from None
    same = {k: v for k, v in stored.items() if k != "datasets" and k != "models"}
    mine = {k: v for k, v in settings.items() if k != "datasets" and k != "models"}
    if same != mine:
        raise ValueError(f"cannot resume {out} with other settings (seed or data differ); "
                         "resume with the same ones, or start a new folder")
    grown = {"datasets": list(dict.fromkeys([*stored["datasets"], *settings["datasets"]])),
             "models": list(dict.fromkeys([*stored["models"], *settings["models"]]))}
    save_json(out / SETTINGS_FILE, {**stored, **grown})
    rows = read_results(out) if (out / RESULTS_FILE).is_file() else []
    return [r for r in rows if r["status"] in ("ok", "skipped")]


def run_benchmark(
    out: str | Path | None,
    *,
    datasets: Sequence[str] = DEFAULT_DATASETS,
    models: Sequence[str] = tuple(MODELS),
    seed: int = 0,
    data: DataConfig | None = None,
    device: str = "cpu",
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    changes: Mapping[str, Any] | None = None,
) -> BenchmarkResult:
    """Fit every model on every dataset; write the folder ``out`` (``None``: in memory).

    Args:
        out: the benchmark folder (refused if it exists, unless ``overwrite`` or
            ``resume``).
        datasets: dataset names (:data:`idmlp.config.DATASETS`, ``npz:PATH`` included).
        models: names of :data:`~idmlp.benchmark.models.MODELS`.
        seed: the seed of every model (initialization, shuffling).
        data: split and scaling settings (its ``dataset`` is replaced by each name;
            default :class:`~idmlp.config.DataConfig`'s, validation split 0.1).
        device: where idmlp's networks train.
        resume: continue ``out``: finished rows are kept, missing and failed ones fitted.
        overwrite: replace ``out``.
        progress: a progress bar over the models (and the training bars).
        changes: run settings by flat name given to idmlp's networks and to the
            standard-init MLP (e.g. ``{"depth": 4}``; default none: their defaults). They
            are part of the settings a resumed benchmark must match.

    Returns:
        The :class:`BenchmarkResult`.
    """
    datasets = _check_names(datasets, datasets, "datasets")
    for name in datasets:
        check_dataset_name(name)
    models = _check_names(models, tuple(MODELS), "models")
    seed = check_int("seed", seed, minimum=0)
    data = data if data is not None else DataConfig()
    if not isinstance(data, DataConfig):
        raise ValueError(f"data must be a DataConfig, got {type(data).__name__}")
    if data.val_size <= 0:
        raise ValueError("the benchmark chooses on a validation split: val_size must be > 0")
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other")
    changes = dict(changes or {})
    runs = {name: {**changes, "dataset": name, "seed": seed, "device": device}
            for name in datasets}
    for flat in runs.values():  # every setting checked before any work
        RunConfig.from_changes(flat, base=RunConfig(data=data))
    settings = {**_settings(datasets, models, seed, data), "changes": changes}
    path = None if out is None else Path(out)
    lock = folder_lock(path) if path is not None else contextlib.nullcontext()
    with lock:
        kept = _prepare_folder(path, settings, resume, overwrite) if path is not None else []
        result = BenchmarkResult(path, kept)
        _fit_all(result, data, runs, models, seed, progress)
        if path is not None:
            write_outputs(result)
    return result


def _fit_all(result: BenchmarkResult, data_config: DataConfig, runs: dict[str, dict],
             models: Sequence[str], seed: int, progress: bool) -> None:
    from ..runtime import progress_bar

    todo = [(d, m) for d in runs for m in models if result.row(d, m) is None]
    bar = progress_bar(total=len(todo), enabled=progress, unit="model", desc="benchmark",
                       dynamic_ncols=True)
    prepared: dict[str, Prepared | BaseException] = {}
    with bar:
        for dataset, model in todo:
            bar.set_postfix_str(f"{dataset} / {model}")
            if dataset not in prepared:
                try:
                    prepared[dataset] = Prepared.load(data_config, runs[dataset])
                except ValueError as err:  # a dataset that does not load: its rows fail
                    prepared[dataset] = err
            data = prepared[dataset]
            t0 = time.perf_counter()
            if isinstance(data, BaseException):
                row = _row(dataset, model, seed, None, 0, "failed", one_line(data, 300))
            else:
                n_test = len(data.y["test"])
                try:
                    fitted = fit_model_by_name(model, data, seed, progress=False)
                    row = _row(dataset, model, seed, fitted, n_test, "ok")
                except SkipModel as err:
                    row = _row(dataset, model, seed, None, n_test, "skipped", str(err))
                except (ValueError, RuntimeError, ArithmeticError) as err:
                    row = _row(dataset, model, seed, None, n_test, "failed",
                               f"{type(err).__name__}: {one_line(err, 300)}")
            if row["status"] == "failed":
                bar.write(f"idmlp benchmark: {dataset} / {model} failed: {row['error']}",
                          file=sys.stderr)
            elif progress and row["status"] == "ok":
                bar.write(f"{dataset:>10} / {model:<12} test {row['test_accuracy']:.3f} "
                          f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]  "
                          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
            result.rows.append(row)
            if result.path is not None:
                _write_csv(result.path / RESULTS_FILE, _ordered(result.rows, runs, models))
            bar.update(1)
    result.rows = _ordered(result.rows, runs, models)


def _ordered(rows: Sequence[dict[str, Any]], configs: dict[str, Any],
             models: Sequence[str]) -> list[dict[str, Any]]:
    """Rows in (dataset, model) order of this call, then any kept from an earlier one."""
    order = {(d, m): i for i, (d, m) in enumerate((d, m) for d in configs for m in models)}
    return sorted(rows, key=lambda r: order.get((r["dataset"], r["model"]), len(order)))


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return ""
    if row["status"] != "ok":
        return row["status"]
    return (f"{100 * row['test_accuracy']:.1f} [{100 * row['ci_low']:.1f}, "
            f"{100 * row['ci_high']:.1f}]")


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """Datasets x models: test accuracy in % with its 95 % interval; then the training
    time and parameters of each; and the published numbers of the datasets that have
    them (:data:`PUBLISHED`)."""
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    labels = {r["model"]: r["label"] for r in rows}
    find = {(r["dataset"], r["model"]): r for r in rows}
    head = "| dataset | " + " | ".join(labels[m] for m in models) + " |"
    lines = [head, "|" + "---|" * (len(models) + 1)]
    for d in datasets:
        lines.append(f"| {d} | " + " | ".join(_cell(find.get((d, m))) for m in models) + " |")
    lines += ["", "Training time in seconds (parameters):", "", head,
              "|" + "---|" * (len(models) + 1)]
    for d in datasets:
        cells = []
        for m in models:
            r = find.get((d, m))
            cells.append("" if r is None or r["status"] != "ok"
                         else f"{r['train_seconds']:.0f} ({r['parameters']:,})")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    for d in datasets:
        pub = PUBLISHED.get(d)
        if pub:
            lines += ["", f"Published on {d} (Greydanus and Kobak, 2020): " + ", ".join(
                f"{k} {100 * v:.0f} %" for k, v in pub.items()) + "."]
    return "\n".join(lines) + "\n"


def benchmark_section(rows: Sequence[dict[str, Any]], figure: Any = None) -> Any:
    """The benchmark as a report :class:`~idmlp.report.Section`: the table of test
    accuracies with 95 % intervals, times and parameters, the published numbers, and the
    figure (a matplotlib Figure or PNG path) when given."""
    from ..report import Num, Section

    sec = Section("Benchmark").text(
        "Every model on the same splits: fitted on the training split, its one choice "
        "(training length, or the logistic regression's C) made on the validation split, "
        "scored once on the test split (95 % Wilson intervals). idmlp's networks use their "
        "default settings.")
    table = []
    for r in rows:
        if r["status"] == "ok":
            table.append([r["dataset"], r["label"],
                          Num(f"{r['test_accuracy']:.3f} [{r['ci_low']:.3f}, "
                              f"{r['ci_high']:.3f}]"),
                          Num(f"{r['val_accuracy']:.3f}"), Num(f"{r['train_seconds']:.1f}"),
                          Num(f"{r['parameters']:,}"), r["stop"]])
        else:
            table.append([r["dataset"], r["label"], r["status"], "", "", "", r["error"]])
    sec.table(table, ["dataset", "model", "test accuracy [95 %]", "validation", "seconds",
                      "parameters", "training"], caption="Test accuracy of every model")
    for d in dict.fromkeys(r["dataset"] for r in rows):
        pub = PUBLISHED.get(d)
        if pub:
            sec.table([[k, Num(f"{v:.2f}")] for k, v in pub.items()], ["model", "accuracy"],
                      caption=f"Published on {d} (Greydanus and Kobak, 2020)")
    if figure is not None:
        sec.figure(figure, alt="Test accuracy of each model on each dataset, bars with 95 % "
                   "intervals, grouped by dataset.")
    return sec


def write_outputs(result: BenchmarkResult) -> None:
    """``results.csv``, ``results.md``, ``benchmark.png`` and ``report.html`` of
    ``result`` into its folder."""
    from ..plots.benchmark import plot_benchmark
    from ..report import write_report

    out = result.path
    if out is None:
        raise ValueError("the result has no folder")
    _write_csv(out / RESULTS_FILE, result.rows)
    atomic_write_text(out / TABLE_FILE, markdown_table(result.rows))
    fig = plot_benchmark(result.rows, out / FIGURE_FILE, published=PUBLISHED)
    write_report(out / REPORT_FILE, title="idmlp benchmark",
                 sections=[benchmark_section(result.rows, fig)])
