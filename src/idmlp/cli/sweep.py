"""``idmlp sweep`` (trainability sweeps) and ``idmlp plot-sweep`` (their figures)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from pathlib import Path

from ..config import (
    ACTIVATIONS,
    ARCHS,
    INIT_SCHEMES,
    DataConfig,
    ModelConfig,
    OptimConfig,
    add_arguments,
    arguments_given,
)
from ..config.sweep import (
    AXES,
    BACKENDS,
    RESULTS_FILE,
    SWEEP_FIXED_OPTIM,
    SweepConfig,
    TrainSettings,
    parse_choices,
    parse_floats,
    parse_ints,
)
from ._common import add_device, add_quiet, positive_float, positive_int

__all__ = ["add_parser", "run"]

DEFAULT_OUT = "runs/sweep"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    c, t = SweepConfig(), TrainSettings()
    p = subparsers.add_parser(
        "sweep", help="train a grid of (sigma, q0, depth, init, activation) x seeds",
        description="Train one interpretable MLP per grid point for a fixed budget and "
        "write one CSV row per run (accuracy, loss, divergence, steps to a target accuracy, "
        "Jacobian spectrum at initialization next to the theory). Grid specs: "
        "START:STOP:NUM (linspace), START:STOP:NUM:log (log-spaced), or a comma list.",
    )
    g = p.add_argument_group("grid")
    g.add_argument("--sigma", default="0.8:1.2:9",
                   help="identity scale / gain of the random inits (default: 0.8:1.2:9)")
    g.add_argument("--q0", default="1e-3:10:9:log",
                   help="input variance (default: 1e-3:10:9:log)")
    g.add_argument("--depth", default="10", help="comma list of depths (default: 10)")
    g.add_argument("--init", default="identity",
                   help=f"comma list of {', '.join(INIT_SCHEMES)} (default: identity)")
    g.add_argument("--activation", default="hardtanh",
                   help=f"comma list of {', '.join(ACTIVATIONS)} (default: hardtanh)")
    g.add_argument("--seeds", default="0", help="comma list of seeds, or START:STOP (default: 0)")
    g.add_argument("--max-configs", type=positive_int, default=c.max_configs,
                   help=f"refuse grids with more runs than this (default: {c.max_configs})")
    add_arguments(p, DataConfig, defaults=c.data, title="data")
    add_arguments(p, ModelConfig, defaults=t.model, exclude=AXES,
                  title="model (the same for every run)")
    seen: set[str] = set()
    for arch in ARCHS.values():
        add_arguments(p, arch.options, title=f"model: arch {arch.name} only", seen=seen)
    add_arguments(p, OptimConfig, defaults=t.optim, exclude=SWEEP_FIXED_OPTIM,
                  title="training budget (the same for every run; each run has its seed)")
    add_arguments(p, TrainSettings, defaults=t, title="measurements")
    r = p.add_argument_group("execution")
    r.add_argument("--batch-configs", type=positive_int, default=c.batch_configs,
                   help="runs trained together in one batched computation "
                   f"(default: {c.batch_configs})")
    r.add_argument("--backend", choices=BACKENDS, default="inprocess",
                   help="inprocess, or ray: every batch is a Ray task (needs "
                   "pip install 'idmlp[ray]'; default: inprocess)")
    r.add_argument("--address", help="Ray cluster address (default: a local Ray instance)")
    r.add_argument("--max-retries", type=int, default=2,
                   help="Ray retries of a failed batch (default: 2)")
    r.add_argument("--threads", type=positive_int,
                   help="torch CPU threads (default: torch's choice)")
    add_device(r)
    r.add_argument("--out", default=DEFAULT_OUT,
                   help=f"sweep folder: results.csv and sweep.json (default: {DEFAULT_OUT})")
    r.add_argument("--overwrite", action="store_true",
                   help="start the sweep in --out over: removes its results.csv, sweep.json "
                   "and figures/ (nothing else)")
    r.add_argument("--resume", action="store_true",
                   help="continue the sweep in --out, skipping finished runs and rerunning "
                   "failed ones (the grid may grow, not shrink)")
    add_quiet(r)
    p.set_defaults(func=run)

    q = subparsers.add_parser(
        "plot-sweep", help="figures of a sweep's results",
        description="Heat maps of accuracy over (sigma, q0) with the theory overlaid, "
        "accuracy against depth at the recommended (sigma, q0), the Jacobian spectra "
        "at initialization of identity, orthogonal and Gaussian (xavier) networks, and "
        "accuracy against depth per initialization next to the theory's isometry measure "
        "(inits_vs_depth, with the Markdown table inits_table.md).",
    )
    q.add_argument("results", help=f"a sweep folder or its {RESULTS_FILE}")
    q.add_argument("--also", action="append", default=[], metavar="RESULTS",
                   help="another sweep (folder or results file) drawn next to RESULTS in the "
                   "study figure inits_vs_depth and table inits_table.md, e.g. the residual "
                   "arm (repeatable)")
    q.add_argument("--out", help="figure folder (default: RESULTS_FOLDER/figures)")
    q.add_argument("--overwrite", action="store_true", help="replace the figure folder")
    q.add_argument("--metric", choices=("test_acc", "train_acc"), default="test_acc",
                   help="(default: test_acc)")
    q.add_argument("--eps", type=float, default=0.05,
                   help="tolerated dead fraction of the isometry region (default: 0.05)")
    q.add_argument("--kappa", type=float, default=2.0,
                   help="tolerated factor on sigma^(2L) (default: 2)")
    s = q.add_argument_group("Jacobian spectra panel")
    s.add_argument("--spectra-width", type=positive_int, help="(default: the sweep's width)")
    s.add_argument("--spectra-depth", type=positive_int,
                   help="(default: the sweep's largest depth)")
    s.add_argument("--spectra-sigma", type=positive_float, default=1.0, help="(default: 1)")
    s.add_argument("--spectra-q0", type=positive_float,
                   help="(default: the recommended q0 at that depth)")
    s.add_argument("--spectra-samples", type=positive_int, default=32,
                   help="Gaussian inputs (default: 32)")
    add_quiet(q)
    q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.command == "plot-sweep":
        return _plot(args)
    return _sweep(args)


def sweep_config(args: argparse.Namespace) -> SweepConfig:
    """The :class:`SweepConfig` the command line describes."""
    c, top = SweepConfig(), args.max_configs
    train = {**arguments_given(args, ModelConfig), **arguments_given(args, OptimConfig),
             **arguments_given(args, TrainSettings),
             **{k: v for a in ARCHS.values() for k, v in arguments_given(args, a.options).items()}}
    train = {k: v for k, v in train.items() if k not in AXES}
    # The axes parsed here first, so that errors name the flags; the integer and name
    # axes before the numeric ones, whose expansion imports numpy.
    axes = {
        "depth": parse_ints(args.depth, "--depth", max_values=top),
        "seeds": parse_ints(args.seeds, "--seeds", minimum=0, max_values=top),
        "init": parse_choices(args.init, "--init", INIT_SCHEMES),
        "activation": parse_choices(args.activation, "--activation", ACTIVATIONS),
        "sigma": parse_floats(args.sigma, "--sigma", max_values=top),
        "q0": parse_floats(args.q0, "--q0", max_values=top),
    }
    return SweepConfig(
        data=dataclasses.replace(c.data, **arguments_given(args, DataConfig)), **axes,
        train=c.train.replace(**train), max_configs=top, batch_configs=args.batch_configs,
    )


def _sweep(args: argparse.Namespace) -> int:
    from .._io import check_output_dir

    # Everything the arguments decide is checked before torch is imported (fast errors).
    config = sweep_config(args)
    if args.max_retries < 0:
        raise ValueError(f"--max-retries must be an integer >= 0, got {args.max_retries}")
    if args.address is not None and args.backend != "ray":
        raise ValueError("--address needs --backend ray")
    check_output_dir(args.out, args.overwrite, exist_ok=True)

    import torch

    from ..runtime import resolve_device
    from ..sweep.runner import run as run_sweep

    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run_sweep(config, args.out, resume=args.resume, overwrite=args.overwrite,
                     backend=args.backend, address=args.address, max_retries=args.max_retries,
                     device=device, progress=not args.quiet)
    status = Counter(r["status"] for r in rows)
    diverged = sum(bool(r["diverged"]) for r in rows if r["status"] == "ok")
    print(f"wrote {Path(args.out) / RESULTS_FILE}: {len(rows)} runs, {status['ok']} ok "
          f"({diverged} diverged), {status['failed']} failed")
    if status["failed"]:
        print(f"idmlp sweep: {status['failed']} runs failed (see the status and error columns); "
              "rerun with --resume to retry them", file=sys.stderr)
        return 1
    return 0


def _plot(args: argparse.Namespace) -> int:
    from .._io import atomic_output_dir, check_output_dir

    # What the arguments alone decide, before torch and matplotlib are imported.
    if not 0 < args.eps < 1:
        raise ValueError(f"--eps must lie in (0, 1), got {args.eps}")
    if not args.kappa > 1:
        raise ValueError(f"--kappa must be a number > 1, got {args.kappa}")
    paths = []
    for given in (args.results, *args.also):
        path = Path(given) / RESULTS_FILE if Path(given).is_dir() else Path(given)
        if not path.is_file():
            raise ValueError(f"results file {path} not found; give a sweep folder or its "
                             f"{RESULTS_FILE}")
        paths.append(path)
    path = paths[0]
    out = Path(args.out) if args.out else path.parent / "figures"
    check_output_dir(out, args.overwrite)

    from ..sweep.figures import check_spectra_memory, plot_sweep, spectra_settings
    from ..sweep.runner import read_results

    rows = read_results(path)  # validates before any figure work
    for p in paths:
        if not any(r["status"] == "ok" for r in (rows if p == path else read_results(p))):
            raise ValueError(f"{p} holds no finished runs to plot")
    spectra = {"sigma": args.spectra_sigma, "samples": args.spectra_samples}
    for key in ("width", "depth", "q0"):
        value = getattr(args, f"spectra_{key}")
        if value is not None:
            spectra[key] = value
    check_spectra_memory(spectra_settings(rows, spectra, eps=args.eps, kappa=args.kappa))
    with atomic_output_dir(out, args.overwrite) as tmp:
        written = plot_sweep(path, tmp, metric=args.metric, eps=args.eps, kappa=args.kappa,
                             spectra=spectra, progress=not args.quiet, also=paths[1:])
    for p in written:
        print(out / p.name)
    return 0
