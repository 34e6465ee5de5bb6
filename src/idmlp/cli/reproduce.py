"""``idmlp reproduce``: the paper end to end on an embedded dataset, with a report."""

from __future__ import annotations

import argparse

from ..data import DATASETS
from ..train import TrainConfig
from ._common import add_device, add_output, positive_int

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="train the interpretable MLP, interpret every layer, write report.html",
        description="The paper's main job: train the interpretable identity-initialized MLP "
        "(width N + C, every layer read as a classifier), draw contribution maps and per-layer "
        "accuracy, compare with scikit-learn baselines and with linear probes on a "
        "standard-init MLP, and write a run folder with a self-contained report.html.",
    )
    p.add_argument("--dataset", default="mnist5k",
                   help=f"dataset name: {', '.join(DATASETS)} (default: mnist5k, embedded)")
    p.add_argument("--data-dir", default=None, help="folder of IDX files (mnist, ...)")
    p.add_argument("--download", action="store_true", help="download IDX files if missing")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"training epochs (default: {TrainConfig.epochs})")
    p.add_argument("--depth", type=positive_int, default=None,
                   help=f"number of layers (default: {TrainConfig.depth})")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--no-probes", action="store_true",
                   help="skip the linear-probe comparison (saves about a third of the time)")
    p.add_argument("--probe-epochs", type=positive_int, default=4,
                   help="epochs of the standard-init MLP that the probes read (default: 4)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device(p)
    add_output(p, "runs/reproduce")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..reproduce import reproduce

    changes = {k: v for k, v in (("epochs", args.epochs), ("depth", args.depth)) if v is not None}
    config = TrainConfig(dataset=args.dataset, data_dir=args.data_dir, download=args.download,
                         seed=args.seed, device=args.device, **changes)
    res = reproduce(args.out, config=config, overwrite=args.overwrite,
                    probes=not args.no_probes, probe_epochs=args.probe_epochs,
                    progress=not args.quiet, command=getattr(args, "command_line", None))
    interp = res.interpretation
    print(f"\n{'layer':>5}  {'test acc':>8}  {'p(true)':>7}  {'||W-sI||/||sI||':>15}")
    for l, (a, p, d) in enumerate(zip(interp.accuracy, interp.true_class_prob,
                                      interp.identity_distance, strict=True), start=1):
        print(f"{l:>5}  {a:8.4f}  {p:7.4f}  {d:15.4f}")
    for name, b in res.baselines.items():
        print(f"{name}: {b['test accuracy']:.4f}")
    report = res.path / "report.html"
    print(f"total {sum(res.seconds.values()):.0f} s; report: {report} "
          f"({report.stat().st_size:,} bytes)")
    return 0
