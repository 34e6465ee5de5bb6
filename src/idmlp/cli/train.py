"""``idmlp train``: train the interpretable MLP and write a run folder (or resume one)."""

from __future__ import annotations

import argparse
import dataclasses

from ..data import DATASETS
from ..train import (
    DEVICES,
    ENVIRONMENT_FIELDS,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    TrainedRun,
    fit,
    load_config,
)
from ._common import positive_float, positive_int

DEFAULT_OUT = "runs/train"

# Flags that may accompany --resume (everything else is the stored run's config).
_RESUME_FLAGS = (*ENVIRONMENT_FIELDS, "quiet")


def _fields() -> dict[str, object]:
    return {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    d = _fields()
    p = subparsers.add_parser(
        "train",
        help="train the interpretable MLP and write a run folder",
        description="Train the layer-wise interpretable MLP (identity-initialized, width "
        "N + C) and write RUN/config.json, RUN/metrics.jsonl and RUN/checkpoint.pt (after "
        "every epoch). Defaults reproduce the paper's main job on mnist5k.",
    )
    # Every option defaults to None so that an explicit one can be told from a default.
    data = p.add_argument_group("data")
    data.add_argument("--dataset", help=f"one of {', '.join(DATASETS)} (default: {d['dataset']})")
    data.add_argument("--data-dir", help="folder with the IDX files of mnist/fashion-mnist/kmnist")
    data.add_argument("--download", action="store_true", default=None,
                      help="download missing IDX files")
    data.add_argument("--test-size", type=positive_float,
                      help=f"test fraction of datasets without a split (default: {d['test_size']})")
    data.add_argument("--split-seed", type=int,
                      help=f"seed of the stratified split (default: {d['split_seed']})")

    model = p.add_argument_group("model")
    model.add_argument("--depth", type=positive_int, help=f"layers L (default: {d['depth']})")
    model.add_argument("--sigma", type=positive_float,
                       help=f"identity scale, W = sigma I (default: {d['sigma']})")
    model.add_argument("--q0", type=positive_float,
                       help=f"input variance after scaling (default: {d['q0']})")
    model.add_argument("--activation", help=f"activation (default: {d['activation']})")
    model.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None,
                       help="layers with a bias (default: no)")
    model.add_argument("--logit-scale", type=positive_float,
                       help=f"s in logits = s * class block (default: {d['logit_scale']})")
    model.add_argument("--learn-logit-scale", action=argparse.BooleanOptionalAction,
                       default=None, help="train log s with the weights (default: no)")

    opt = p.add_argument_group("optimization")
    opt.add_argument("--optimizer", choices=OPTIMIZERS,
                     help=f"(default: {d['optimizer']})")
    opt.add_argument("--lr", type=positive_float, help=f"learning rate (default: {d['lr']})")
    opt.add_argument("--momentum", type=float, help=f"SGD momentum (default: {d['momentum']})")
    opt.add_argument("--weight-decay", type=float,
                     help=f"L2 coefficient (default: {d['weight_decay']})")
    opt.add_argument("--schedule", choices=SCHEDULES,
                     help=f"learning-rate schedule (default: {d['schedule']})")
    opt.add_argument("--warmup-epochs", type=float,
                     help=f"linear warmup length (default: {d['warmup_epochs']})")
    opt.add_argument("--step-epochs", type=positive_int,
                     help=f"'step' schedule period in epochs (default: {d['step_epochs']})")
    opt.add_argument("--gamma", type=positive_float,
                     help=f"'step' schedule factor (default: {d['gamma']})")
    opt.add_argument("--label-smoothing", type=float,
                     help=f"cross-entropy label smoothing (default: {d['label_smoothing']})")
    opt.add_argument("--batch-size", type=positive_int,
                     help=f"minibatch size (default: {d['batch_size']})")
    opt.add_argument("--epochs", type=positive_int, help=f"(default: {d['epochs']})")
    opt.add_argument("--seed", type=int, help=f"shuffling/RNG seed (default: {d['seed']})")
    opt.add_argument("--device", choices=DEVICES, help=f"(default: {d['device']})")

    out = p.add_argument_group("output")
    out.add_argument("--out", help=f"run folder to write (default: {DEFAULT_OUT})")
    out.add_argument("--overwrite", action="store_true", default=None,
                     help="replace the run folder if it exists")
    out.add_argument("--resume", metavar="RUN",
                     help="continue the interrupted run RUN with its stored config")
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _explicit(args: argparse.Namespace) -> dict[str, object]:
    names = set(_fields()) | {"out", "overwrite"}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def run(args: argparse.Namespace) -> int:
    given = _explicit(args)
    if args.resume is not None:
        extra = sorted(k for k in given if k not in _RESUME_FLAGS)
        if extra:
            flags = ", ".join("--" + k.replace("_", "-") for k in extra)
            raise ValueError(f"--resume continues RUN with its stored config; drop {flags}")
        env = {k: v for k, v in given.items() if k in ENVIRONMENT_FIELDS}
        config = load_config(args.resume).replace(**env)
        result = fit(config, args.resume, resume=True, progress=not args.quiet)
    else:
        out = given.pop("out", DEFAULT_OUT)
        overwrite = bool(given.pop("overwrite", False))
        config = TrainConfig(**given)
        result = fit(config, out, overwrite=overwrite, progress=not args.quiet)
    _summary(result)
    return 0


def _summary(result: TrainedRun) -> None:
    last = result.metrics[-1]
    elapsed = last["elapsed"]
    print(f"run {result.path}: {result.epochs_done}/{result.config.epochs} epochs, "
          f"{elapsed:.1f} s of training")
    print("layer  test_acc  dist_feature  dist_class")
    dist = last["identity_distance"]
    for i, acc in enumerate(last["layer_test_acc"]):
        print(f"{i + 1:5d}  {acc:8.4f}  {dist['feature'][i]:12.4f}  {dist['class'][i]:10.4f}")
    print(f"last-layer test accuracy {last['test_acc']:.4f} (train {last['train_acc']:.4f})")
