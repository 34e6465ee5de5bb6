"""``idmlp benchmark``: logistic regression, scikit-learn's MLP, a standard-init MLP and
idmlp's interpretable MLP and CNN on several datasets, same splits, same validation
protocol; a tidy CSV, a markdown table, a figure and report.html (:mod:`idmlp.benchmark`)."""

from __future__ import annotations

import argparse

from ..config import DataConfig, add_arguments, arguments_given
from ._common import add_device, add_quiet, nonnegative_int

__all__ = ["add_parser", "run"]

DEFAULT_OUT = "runs/benchmark"
_DEFAULT_DATASETS = "digits,mnist5k,mnist1d"
_MODELS = "logreg,sklearn_mlp,standard_mlp,mlp,cnn"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "benchmark",
        help="every model (logistic regression ... interpretable CNN) on several datasets",
        description="Fit logistic regression, scikit-learn's MLPClassifier(100), a "
        "standard-init deep MLP and idmlp's interpretable MLP and CNN (default settings) on "
        "each dataset with the same splits: fitted on the training split, their one choice "
        "(training length, or C) made on the validation split, scored on the test split with "
        "95% intervals. Writes results.csv (tidy), results.md, benchmark.png and "
        "report.html; --resume continues an interrupted benchmark.",
    )
    p.add_argument("--datasets", default=_DEFAULT_DATASETS,
                   help=f"comma list of datasets, npz:PATH accepted (default: "
                   f"{_DEFAULT_DATASETS})")
    p.add_argument("--models", default=_MODELS,
                   help=f"comma list of models (default: all: {_MODELS})")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of every model (default: 0)")
    add_arguments(p, DataConfig, title="data (split and scaling of every dataset)",
                  exclude=("dataset",))
    add_device(p)
    out = p.add_argument_group("output")
    out.add_argument("--out", default=DEFAULT_OUT, help=f"folder (default: {DEFAULT_OUT})")
    out.add_argument("--overwrite", action="store_true", help="replace the folder")
    out.add_argument("--resume", action="store_true",
                     help="continue the benchmark in --out: keep its finished rows, fit the "
                     "missing and failed ones")
    add_quiet(out)
    p.set_defaults(func=run)


def _names(text: str, what: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise ValueError(f"--{what} must be a comma list with at least one name")
    return names


def run(args: argparse.Namespace) -> int:
    from .._io import check_output_dir
    from ..config import check_dataset_name

    datasets = _names(args.datasets, "datasets")
    for name in datasets:
        check_dataset_name(name)
    models = _names(args.models, "models")
    known = _MODELS.split(",")
    bad = [m for m in models if m not in known]
    if bad:
        raise ValueError(f"unknown model {bad[0]!r}; choose from {_MODELS}")
    data = DataConfig(**{"dataset": datasets[0], **arguments_given(args, DataConfig)})
    if data.val_size <= 0:
        raise ValueError("the benchmark chooses on a validation split: --val-size must be > 0")
    if args.resume and args.overwrite:
        raise ValueError("--resume continues the folder; drop --overwrite")
    check_output_dir(args.out, args.overwrite, exist_ok=args.resume)

    from ..benchmark.runner import TABLE_FILE, run_benchmark

    result = run_benchmark(args.out, datasets=datasets, models=models, seed=args.seed,
                           data=data, device=args.device, resume=args.resume,
                           overwrite=args.overwrite, progress=not args.quiet)
    print((result.path / TABLE_FILE).read_text(encoding="utf-8"), end="")
    failed = result.failed
    print(f"benchmark in {result.path}: {len(result.rows)} rows"
          + (f", {len(failed)} failed (idmlp benchmark --resume fits them again)"
             if failed else ""))
    return 0
