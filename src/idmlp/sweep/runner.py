"""Run a sweep: plan batches, hand them to a backend, write each row as its batch ends.

A sweep folder holds two files::

    OUT/
      sweep.json    the full SweepConfig, dataset facts and versions (written first)
      results.csv   one row per run (configuration x seed), tidy: config columns, status,
                    metrics; appended whole rows at a time (flush + fsync) by the driver
                    as each batch finishes

An interrupted sweep resumes with ``resume=True`` (``--resume``): a partial trailing line
left by a crash is dropped, failed rows are dropped (so they run again), and finished
runs are skipped. The training settings and the dataset must be the same; the grid may
grow.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from .._io import (
    OutputExistsError,
    append_text,
    atomic_write_text,
    check_output_dir,
    folder_lock,
    save_json,
)
from .._validation import check_choice, check_int
from ..config import ARCHS, ModelConfig, OptimConfig, field_types
from ..config.sweep import (
    BACKENDS,
    CONFIG_FILE,
    MODEL_COLUMNS,
    OPTIM_COLUMNS,
    OPTION_COLUMNS,
    OWN_COLUMNS,
    RESULTS_FILE,
    RunSpec,
    SweepConfig,
    TrainSettings,
)
from ..runtime import progress_bar
from .engine import ADDED_COLUMNS, METRIC_COLUMNS, RunMetrics, TrainData, check_runs, train_batch

__all__ = [
    "BACKENDS",
    "COLUMNS",
    "CONFIG_FILE",
    "RESULTS_FILE",
    "plan_batches",
    "read_results",
    "results_path",
    "run",
    "write_results",
]


#: The configuration columns of ``results.csv``: the data's sizes, the run's grid point,
#: then every shared setting (all derived from the config dataclasses).
CONFIG_COLUMNS: tuple[str, ...] = (
    "dataset", "width", "num_classes", *RunSpec.__dataclass_fields__, *MODEL_COLUMNS,
    *OPTION_COLUMNS, *OPTIM_COLUMNS, *OWN_COLUMNS,
)
#: Columns that results files of earlier versions lack (their cells read as empty; an
#: absent ``arch`` reads as ``mlp``, the only architecture those sweeps trained).
LATER_COLUMNS: tuple[str, ...] = (*ADDED_COLUMNS, "arch", *OPTION_COLUMNS)
#: The columns of ``results.csv``, in order.
COLUMNS: tuple[str, ...] = CONFIG_COLUMNS + ("status", "error") + METRIC_COLUMNS

#: Each column's type, from the dataclass fields it comes from.
_TYPES: dict[str, type] = {
    "dataset": str, "width": int, "num_classes": int, "status": str, "error": str,
    **{k: v for k, v in field_types(ModelConfig).items() if k in MODEL_COLUMNS},
    **{k: v for a in ARCHS.values() for k, v in field_types(a.options).items()},
    **{k: v for k, v in field_types(OptimConfig).items() if k in OPTIM_COLUMNS},
    **{k: v for k, v in field_types(TrainSettings).items() if k in OWN_COLUMNS},
    **field_types(RunSpec), **field_types(RunMetrics),
}

TrainFn = Callable[..., list[dict]]
Outcome = tuple[list[RunSpec], "list[dict] | BaseException"]


# -- the results file ----------------------------------------------------------------------


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _parse(column: str, text: str) -> Any:
    kind = _TYPES[column]
    if kind is float:
        return float(text) if text else math.nan
    if kind is int:
        return int(text) if text else None
    if kind is bool:
        if text not in ("true", "false", ""):
            raise ValueError(f"expected true or false, got {text!r}")
        return None if not text else text == "true"
    return text


def _csv_lines(rows: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow([_format(row.get(c)) for c in COLUMNS])
    return buf.getvalue()


def write_results(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` (dicts keyed by :data:`COLUMNS`) as a complete results file,
    atomically: the header, then one line per row."""
    return atomic_write_text(path, ",".join(COLUMNS) + "\n" + _csv_lines(rows))


def _append(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Append whole rows in one write, then fsync; a failed write (disk full) is truncated
    away, and a crash leaves at most one partial trailing line, which
    :func:`read_results` drops."""
    append_text(path, _csv_lines(rows))


def results_path(path: str | Path) -> Path:
    """``path`` if it is a file, else ``path/results.csv``."""
    path = Path(path)
    return path / RESULTS_FILE if path.is_dir() else path


def _header(path: Path, header: list[str]) -> tuple[str, ...]:
    """The columns of a results file: :data:`COLUMNS`, or an older file's columns, which
    lack some of :data:`LATER_COLUMNS` (their cells read as empty)."""
    header_t = tuple(header)
    if header_t == COLUMNS:
        return header_t
    missing = set(COLUMNS) - set(header_t)
    if missing <= set(LATER_COLUMNS) and header_t == tuple(c for c in COLUMNS
                                                          if c not in missing):
        return header_t
    raise ValueError(f"{path} is not an idmlp sweep results file (its columns differ from "
                     "this version's); start a new sweep with another --out")


def _load(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """Rows of a results file, and whether it must be rewritten before appending (a
    partial trailing line was dropped, or it is an older file without the columns of
    :data:`~idmlp.sweep.engine.ADDED_COLUMNS`)."""
    fix = "give the results.csv that 'idmlp sweep' wrote, or the sweep folder"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not an idmlp sweep results file (a binary file: byte "
                         f"{err.start} is not UTF-8 text); {fix}") from None
    partial = bool(text) and not text.endswith("\n")
    if partial:
        text = text[: text.rfind("\n") + 1]
    try:
        lines = list(csv.reader(io.StringIO(text)))
    except csv.Error as err:
        raise ValueError(f"{path} is not an idmlp sweep results file ({err}); {fix}") from None
    if not lines:
        return [], partial
    header = _header(path, lines[0])
    absent = {c: "mlp" if c == "arch" else _parse(c, "") for c in COLUMNS if c not in header}
    rows = []
    for lineno, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(header):
            raise ValueError(f"{path}, line {lineno}: expected {len(header)} fields, got "
                             f"{len(fields)}; the file is corrupt")
        try:
            row = {c: _parse(c, f) for c, f in zip(header, fields, strict=True)} | absent
        except ValueError as err:
            raise ValueError(f"{path}, line {lineno}: {err}; the file is corrupt") from None
        rows.append({c: row[c] for c in COLUMNS})
    return rows, partial or bool(absent)


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """Read a sweep's ``results.csv`` (or its folder) as a list of typed row dicts.

    Empty float cells become NaN, empty integer cells ``None``; a partial trailing line
    (from a crash) is ignored. A file written before the columns of
    :data:`~idmlp.sweep.engine.ADDED_COLUMNS` existed loads with those cells empty
    (resuming such a sweep rewrites it with every column; its old rows keep them empty).
    """
    path = results_path(path)
    if not path.is_file():
        raise ValueError(f"results file {path} not found; give a sweep folder or its "
                         f"{RESULTS_FILE}")
    return _load(path)[0]


def _key(row: dict[str, Any]) -> RunSpec:
    return RunSpec(row["depth"], row["activation"], row["init"], row["sigma"], row["q0"],
                   row["seed"])


# -- planning and backends -----------------------------------------------------------------


def plan_batches(runs: Sequence[RunSpec], batch_configs: int) -> list[list[RunSpec]]:
    """Group runs by (depth, activation), in order, and split each group into nearly
    equal batches of at most ``batch_configs`` runs."""
    batch_configs = check_int("batch_configs", batch_configs, minimum=1)
    groups: dict[tuple[int, str], list[RunSpec]] = {}
    for r in runs:
        groups.setdefault((r.depth, r.activation), []).append(r)
    batches = []
    for group in groups.values():
        parts = math.ceil(len(group) / batch_configs)
        size = math.ceil(len(group) / parts)
        batches += [group[i:i + size] for i in range(0, len(group), size)]
    return batches


def _error_text(err: BaseException) -> str:
    cause = getattr(err, "cause", None)  # a RayTaskError wraps the task's own exception
    inner = cause if isinstance(cause, BaseException) else err
    return " ".join(f"{type(inner).__name__}: {inner}".split())[:300]


class InProcessBackend:
    """Trains the batches one after the other in this process (no Ray import)."""

    def __init__(self, device: torch.device, progress: bool) -> None:
        self.device, self.progress = device, progress

    def map(self, batches: Sequence[list[RunSpec]], data: TrainData,
            settings: TrainSettings, train_fn: TrainFn) -> Iterator[Outcome]:
        for batch in batches:
            try:
                result = train_fn(batch, data, settings, device=self.device,
                                  progress=self.progress)
            except Exception as err:  # recorded as failed rows; the sweep goes on
                result = err
            yield batch, result

    def close(self) -> None:
        pass


def _backend(name: str, address: str | None, max_retries: int, device: torch.device,
             progress: bool) -> Any:
    if name == "ray":
        from .ray_backend import RayBackend

        return RayBackend(address=address, max_retries=max_retries, device=device)
    if address is not None:
        raise ValueError("--address needs --backend ray")
    return InProcessBackend(device, progress)


# -- the sweep -----------------------------------------------------------------------------


def _build_config(config: SweepConfig | None, overrides: dict[str, Any]) -> SweepConfig:
    config = config if config is not None else SweepConfig()
    if not isinstance(config, SweepConfig):
        raise ValueError(f"config must be a SweepConfig, got {type(config).__name__}")
    sweep_fields = {f.name for f in dataclasses.fields(SweepConfig)}
    data_fields = {f.name for f in dataclasses.fields(type(config.data))}
    rest = {k: v for k, v in overrides.items() if k in sweep_fields}
    data = {k: v for k, v in overrides.items() if k in data_fields and k not in sweep_fields}
    train = {k: v for k, v in overrides.items() if k not in sweep_fields | data_fields}
    if data:
        rest["data"] = dataclasses.replace(rest.get("data", config.data), **data)
    if train:
        rest["train"] = rest.get("train", config.train).replace(**train)
    return dataclasses.replace(config, **rest) if rest else config


def _first_difference(old: Any, new: Any, prefix: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(old.keys() | new.keys()):
            if old.get(k) != new.get(k):
                return _first_difference(old.get(k), new.get(k), f"{prefix}{k}" if not prefix
                                         else f"{prefix}.{k}")
    return f"{prefix.removeprefix('train.')}={old!r} there but {new!r} now"


#: What ``overwrite`` removes from a sweep folder before the sweep starts over: the sweep's
#: own files and the figures ``idmlp plot-sweep`` drew from them (nothing else).
SWEEP_FILES: tuple[str, ...] = (RESULTS_FILE, CONFIG_FILE, "figures")


def _prepare_output(out: Path, config: SweepConfig, resume: bool,
                    overwrite: bool) -> tuple[list[dict], bool]:
    """Check ``out`` (writing nothing); return the finished rows to keep and whether the
    results file must be rewritten (a partial line or failed rows were dropped)."""
    if resume and overwrite:
        raise ValueError("choose one of --resume and --overwrite")
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output path {out} exists and is not a folder")
    csv_path, json_path = out / RESULTS_FILE, out / CONFIG_FILE
    existing = csv_path.exists() or json_path.exists()
    if resume and not existing:
        raise ValueError(f"--resume: {out} holds no sweep to continue; drop --resume to start "
                         "one there")
    if not existing:
        if out.is_dir() and any(p.name not in SWEEP_FILES and not p.name.startswith(".")
                                for p in out.iterdir()):
            raise OutputExistsError(f"output folder {out} holds other files and no sweep; give "
                                    "a new or empty folder with --out")
        return [], False
    if overwrite:
        return [], False
    if not resume:
        raise OutputExistsError(f"output folder {out} already holds a sweep; pass --resume to "
                                "continue it or --overwrite to start over")
    if json_path.exists():
        try:
            stored = SweepConfig.from_dict(json.loads(json_path.read_text())["config"])
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"--resume: cannot read {json_path} ({err}); use --overwrite"
                             ) from None
        if stored.data_key() != config.data_key():
            diff = _first_difference(stored.data_key(), config.data_key())
            raise ValueError(f"--resume: {out} was run with {diff}; use the same dataset and "
                             "training settings, or --overwrite / another --out")
        dropped = set(stored.runs()) - set(config.runs())
        if dropped:
            raise ValueError(f"--resume: this grid leaves out {len(dropped)} of the "
                             f"{stored.n_runs} runs of {out}'s grid; give a grid that contains "
                             "it (it may grow), or --overwrite / another --out")
    if not csv_path.exists():
        return [], False
    rows, rewrite = _load(csv_path)  # an older file is rewritten with this version's columns
    kept = [r for r in rows if r["status"] == "ok"]
    return kept, rewrite or len(kept) != len(rows)


def _clear(out: Path) -> None:
    """Remove the sweep files of ``out`` (what ``overwrite`` replaces)."""
    for name in SWEEP_FILES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _config_columns(spec: RunSpec, config: SweepConfig, data: TrainData) -> dict[str, Any]:
    return {"dataset": config.data.dataset, "width": data.width,
            "num_classes": data.num_classes, **spec.to_dict(), **config.train.columns()}


def _rows(batch: list[RunSpec], result: list[dict] | BaseException, config: SweepConfig,
          data: TrainData) -> list[dict[str, Any]]:
    """The result rows of a batch, typed exactly as :func:`read_results` reads them back."""
    if isinstance(result, BaseException):
        status = {"status": "failed", "error": _error_text(result)}
        rows = [{**_config_columns(s, config, data), **status} for s in batch]
    else:
        rows = [{**_config_columns(s, config, data), "status": "ok", "error": "", **m}
                for s, m in zip(batch, result, strict=True)]
    return [{c: _parse(c, _format(r.get(c))) for c in COLUMNS} for r in rows]


def run(
    config: SweepConfig | None = None,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    backend: str = "inprocess",
    address: str | None = None,
    max_retries: int = 2,
    device: str | torch.device = "cpu",
    progress: bool = True,
    train_fn: TrainFn = train_batch,
    **options: Any,
) -> list[dict[str, Any]]:
    """Run a trainability sweep; return one row dict per run of the grid, in grid order.

    Everything is validated (grid, sizes, dataset, output folder, backend) before any
    file is written or any run starts.

    Args:
        config: the sweep (default :class:`SweepConfig()`); ``options`` override its
            fields, those of its :class:`~idmlp.config.DataConfig` (``dataset=...``) or of
            its :class:`TrainSettings` (``steps=...``, ``lr=...``), e.g.
            ``run(sigma="0.8:1.2:9", q0="1e-3:10:9:log", depth=[10, 30], steps=300)``.
        out: the sweep folder (``sweep.json`` and ``results.csv``); ``None`` keeps the
            results in memory only.
        resume: continue the sweep in ``out``, skipping finished runs and rerunning
            failed ones; the grid may grow but must contain the stored one, and the data
            and training settings must be the same.
        overwrite: start over in ``out``: its ``results.csv``, ``sweep.json`` and
            ``figures/`` are removed (:data:`SWEEP_FILES`; nothing else is touched).
        backend: ``inprocess`` (default; never imports Ray) or ``ray``: every batch is a
            Ray task on the cluster at ``address`` (or a local Ray instance; an already
            initialized Ray is used as it is).
        address: the Ray cluster address (``--backend ray`` only).
        max_retries: Ray retries of a batch whose task raised or whose worker died;
            a batch that still fails is written as ``status=failed`` rows.
        device: ``cpu`` or ``cuda``.
        progress: tqdm bars over the runs (and the steps of the current batch).
        train_fn: trains one batch (default :func:`~idmlp.sweep.engine.train_batch`);
            any function with its signature (custom engines, fault injection in tests).

    Returns:
        The rows (see :data:`COLUMNS`); failed runs have ``status == "failed"``.

    Examples:
        >>> rows = run(sigma="0.9,1.1", q0="0.01,1", depth=[5], steps=50,
        ...            progress=False)
        >>> [(r["sigma"], r["q0"], r["status"]) for r in rows]
        [(0.9, 0.01, 'ok'), (0.9, 1.0, 'ok'), (1.1, 0.01, 'ok'), (1.1, 1.0, 'ok')]
    """
    config = _build_config(config, options)
    check_choice("backend", backend, BACKENDS)
    max_retries = check_int("max_retries", max_retries, minimum=0)
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be cpu or cuda, got {device!r}") from None
    if backend == "ray":
        from .ray_backend import import_ray

        import_ray(address)  # one clear line if Ray is missing, before any work
    out = Path(out) if out is not None else None
    if out is not None:  # refuse a bad folder, a second writer or a bad resume before work
        check_output_dir(out, overwrite, exist_ok=True)
        _prepare_output(out, config, resume, overwrite)
    dataset = config.data.load()
    scaling = config.data.resolved_scaling(dataset.image_shape, dataset.layout)
    data = TrainData.from_dataset(dataset, scaling, config.data.std_floor)
    if config.train.optim.batch_size > data.n_train:
        raise ValueError(f"batch_size {config.train.optim.batch_size} exceeds the "
                         f"{data.n_train} training samples of {config.data.dataset}")
    check_runs(config.runs(), data, config.train.model)  # inits that fit the layers
    with folder_lock(out) if out is not None else contextlib.nullcontext():
        kept, rewrite = _prepare_output(out, config, resume, overwrite) if out else ([], False)
        done = {_key(r): r for r in kept}
        pending = [r for r in config.runs() if r not in done]
        batches = plan_batches(pending, config.batch_configs)
        engine = _backend(backend, address, max_retries, dev, progress)
        try:
            csv_path = out / RESULTS_FILE if out else None
            if out is not None:
                if overwrite:
                    _clear(out)
                out.mkdir(parents=True, exist_ok=True)
                save_json(out / CONFIG_FILE, {
                    "idmlp_version": __version__, "torch_version": torch.__version__,
                    "config": config.to_dict(),
                    "data": {"name": data.name, "n_train": data.n_train,
                             "n_test": int(len(data.y_test)), "in_features": data.in_features,
                             "num_classes": data.num_classes, "width": data.width},
                    "backend": backend, "device": str(dev),
                })
                if overwrite or rewrite or not csv_path.exists():
                    write_results(csv_path, kept)
            new: dict[RunSpec, dict] = {}
            with progress_bar(total=len(pending), unit="run", desc="sweep",
                              enabled=progress) as bar:
                for batch, result in engine.map(batches, data, config.train, train_fn):
                    rows = _rows(batch, result, config, data)
                    if csv_path is not None:
                        _append(csv_path, rows)
                    new.update(zip(batch, rows, strict=True))
                    bar.update(len(batch))
        finally:
            with contextlib.suppress(Exception):
                engine.close()
    rows_by_key = {**done, **new}
    return [rows_by_key[r] for r in config.runs()]
