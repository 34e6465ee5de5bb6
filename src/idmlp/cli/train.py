"""``idmlp train``: train the interpretable MLP and write a run folder (or resume one)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config import (
    ARCHS,
    DataConfig,
    DynamicsConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    add_arguments,
    arguments_given,
)
from ._common import add_device, add_quiet

__all__ = ["add_config_arguments", "add_parser", "check_changes", "config_changes", "run"]

DEFAULT_OUT = "runs/train"
# What --resume accepts besides RUN: where the data is and where to compute.
_RESUME_FLAGS = ("data_dir", "download", "device")


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """One flag per field of the run's data, model and optimization configs, and --device
    (all defaulting to None, so that an explicit value can be told from a default)."""
    add_arguments(p, DataConfig, title="data")
    add_arguments(p, ModelConfig, title="model")
    seen: set[str] = set()
    for arch in ARCHS.values():
        add_arguments(p, arch.options, title=f"model: arch {arch.name} only", seen=seen)
    add_arguments(p, OptimConfig, title="optimization")
    add_arguments(p, DynamicsConfig, title="during training (idmlp dynamics RUN draws them)")
    add_device(p, default=None)


def config_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line, as ``RunConfig.replace`` keywords."""
    classes = (DataConfig, ModelConfig, OptimConfig, DynamicsConfig,
               *(arch.options for arch in ARCHS.values()))
    given = {k: v for cls in classes for k, v in arguments_given(args, cls).items()}
    if getattr(args, "device", None) is not None:
        given["device"] = args.device
    return given


def check_changes(given: dict[str, Any]) -> None:
    """Validate the settings of :func:`config_changes` as a run would take them
    (:meth:`RunConfig.from_changes`), without importing torch: a bad value is refused in
    one line before any heavy import."""
    RunConfig.from_changes(given)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the interpretable MLP (or CNN) and write a run folder",
        description="Train the layer-wise interpretable MLP (identity-initialized, width "
        "N + C), or with --arch cnn the convolutional one (Dirac-initialized same-size "
        "convolutions with C class channels), and write RUN/config.json, RUN/metrics.jsonl "
        "and RUN/checkpoint.pt (after every epoch). Defaults reproduce the paper's main job "
        "on mnist5k.",
    )
    add_config_arguments(p)
    out = p.add_argument_group("output")
    out.add_argument("--out", help=f"run folder to write (default: {DEFAULT_OUT})")
    out.add_argument("--overwrite", action="store_true",
                     help="replace the run folder if it exists")
    out.add_argument("--resume", metavar="RUN",
                     help="continue the interrupted run RUN with its stored config")
    add_quiet(out)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._io import check_output_dir

    # Everything the arguments decide is checked before torch is imported (fast errors).
    given = config_changes(args)
    check_changes(given)
    if args.resume is not None:
        extra = sorted(k for k in given if k not in _RESUME_FLAGS)
        if args.out is not None:
            extra.append("out")
        if args.overwrite:
            extra.append("overwrite")
        if extra:
            flags = ", ".join("--" + k.replace("_", "-") for k in extra)
            raise ValueError(f"--resume continues RUN with its stored config; drop {flags}")
    else:
        check_output_dir(DEFAULT_OUT if args.out is None else args.out, args.overwrite)

    from ..train.runs import fit, load_config

    if args.resume is not None:
        config = load_config(args.resume).replace(**given)
        result = fit(config, args.resume, resume=True, progress=not args.quiet)
    else:
        config = RunConfig.from_changes(given)
        out = DEFAULT_OUT if args.out is None else args.out
        result = fit(config, out, overwrite=args.overwrite, progress=not args.quiet)
    last = result.final_metrics  # the kept epoch's record (the best one with early stopping)
    elapsed = result.metrics[-1]["elapsed"]
    print(f"run {result.path}: {result.epochs_done} epochs, {elapsed:.1f} s of training")
    stopped = (result.stopping or {}).get("stopped")
    if stopped:
        from ..train.loop import stop_message

        print(stop_message(stopped))
    # a CNN's layer l sees a square of the input (early layers see little of the image)
    field = getattr(result.model, "receptive_field", lambda: None)()
    print("layer  test_acc  dist_feature  dist_class" + ("  receptive_field" if field else ""))
    dist = last["identity_distance"]
    for i, acc in enumerate(last["layer_test_acc"]):
        print(f"{i + 1:5d}  {acc:8.4f}  {dist['feature'][i]:12.4f}  {dist['class'][i]:10.4f}"
              + (f"  {field[i]:>9d} px" if field else ""))
    check = (result.stopping or {}).get("fit_check") or {}
    train_acc = check.get("train_accuracy", last["train_acc"])
    print(f"last-layer test accuracy {last['test_acc']:.4f} (train {train_acc:.4f}, epoch "
          f"{result.kept_epoch})")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.config.dynamics.snapshots:
        print(f"snapshots ({result.config.dynamics.snapshots} planned) in "
              f"{result.path / 'snapshots.npz'}; "
              f"draw them with: idmlp dynamics {result.path}")
    return 0
