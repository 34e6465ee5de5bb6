"""``idmlp reproduce``: the paper end to end on an embedded dataset, with a report."""

from __future__ import annotations

import argparse

from ._common import add_output, add_quiet, positive_int
from .train import add_config_arguments, config_changes, with_presets

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="train the interpretable MLP, interpret every layer, write report.html",
        description="The paper's main job: train the interpretable identity-initialized MLP "
        "(width N + C, every layer read as a classifier), draw contribution maps and per-layer "
        "accuracy, compare with scikit-learn baselines and with linear probes on a "
        "standard-init MLP, and write a run folder with a self-contained report.html. Every "
        "setting of 'idmlp train' can be changed; the defaults run on mnist5k (embedded).",
    )
    add_config_arguments(p)
    r = p.add_argument_group("reproduce")
    r.add_argument("--no-probes", action="store_true",
                   help="skip the linear-probe comparison (saves about a third of the time)")
    r.add_argument("--probe-epochs", type=positive_int, default=4,
                   help="epochs of the standard-init MLP that the probes read (default: 4)")
    add_quiet(r)
    add_output(r, "runs/reproduce")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..reproduce import reproduce
    from ..runs import RunConfig

    config = RunConfig().replace(**with_presets(config_changes(args)))
    res = reproduce(args.out, config=config, overwrite=args.overwrite,
                    probes=not args.no_probes, probe_epochs=args.probe_epochs,
                    progress=not args.quiet)
    interp = res.interpretation
    print(f"\n{'layer':>5}  {'test acc':>8}  {'p(true)':>7}  {'||W-sI||/||sI||':>15}")
    for l, (a, p, d) in enumerate(zip(interp.accuracy, interp.true_class_prob,
                                      interp.identity_distance, strict=True), start=1):
        print(f"{l:>5}  {a:8.4f}  {p:7.4f}  {d:15.4f}")
    for name, b in res.baselines.items():
        print(f"{name}: {b['test accuracy']:.4f}")
    print(f"total {sum(res.seconds.values()):.0f} s; report: {res.path / 'report.html'}")
    return 0
