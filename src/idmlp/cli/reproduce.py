"""``idmlp reproduce``: the paper end to end on an embedded dataset, with a report."""

from __future__ import annotations

import argparse
import sys

from ._common import add_output, add_quiet, positive_int
from .train import add_config_arguments, check_changes, config_changes

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
    r.add_argument("--probe-epochs", type=positive_int, default=None,
                   help="epochs of the standard-init MLP that the probes read (default: the "
                   "run's epochs)")
    r.add_argument("--no-faithfulness", action="store_true",
                   help="skip the faithfulness comparison of the maps")
    r.add_argument("--faithfulness-samples", type=positive_int, default=100,
                   help="test images of the faithfulness comparison (default: 100)")
    r.add_argument("--seeds", default="",
                   help="more seeds, e.g. 1,2: the readout against probe (b) over the run's "
                   "seed and these, mean and standard deviation (trains both networks again "
                   "for each; default: none)")
    add_quiet(r)
    add_output(r, "runs/reproduce")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._io import check_output_dir

    given = config_changes(args)  # checked before torch is imported (fast errors)
    check_changes(given)
    check_output_dir(args.out, args.overwrite)
    try:
        seeds = [int(v) for v in args.seeds.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--seeds must be a comma list of integers such as 1,2, got "
                         f"{args.seeds!r}") from None

    from ..config import RunConfig
    from ..reproduce import reproduce

    config = RunConfig.from_changes(given)
    res = reproduce(args.out, config=config, overwrite=args.overwrite,
                    probes=not args.no_probes, probe_epochs=args.probe_epochs,
                    faithfulness=not args.no_faithfulness,
                    faithfulness_samples=args.faithfulness_samples, seeds=seeds,
                    progress=not args.quiet,
                    command=getattr(args, "command_line", None))
    interp = res.interpretation
    lo, hi = interp.accuracy_interval()
    probes = res.probes
    head = f"\n{'layer':>5}  {'test acc [95% interval]':>24}  {'p(true)':>7}  {'||W-sI||':>8}"
    print(head + ("  probe (a)  probe (b)" if probes is not None else ""))
    for l in range(interp.depth):
        line = (f"{l + 1:>5}  {interp.accuracy[l]:8.3f} [{lo[l]:.3f}, {hi[l]:.3f}]  "
                f"{interp.true_class_prob[l]:7.3f}  {interp.identity_distance[l]:8.4f}")
        if probes is not None:
            line += f"  {probes.own.test_accuracy[l]:9.3f}  {probes.standard.test_accuracy[l]:9.3f}"
        print(line)
    for name, b in res.baselines.items():
        print(f"{name}: {b['test accuracy']:.3f}")
    stopped = (res.run.stopping or {}).get("stopped")
    if stopped:
        from ..train.loop import stop_message

        print(stop_message(stopped))
    for warning in res.run.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    from ..faithfulness.methods import DEFAULT_ATTRIBUTION, DEFAULT_REFERENCE

    if res.faithfulness is not None and {DEFAULT_ATTRIBUTION, DEFAULT_REFERENCE} <= set(
            res.faithfulness.methods):
        iv = res.faithfulness.compare(DEFAULT_ATTRIBUTION, DEFAULT_REFERENCE, "mean_drop")
        print(f"{DEFAULT_ATTRIBUTION} deletion drop / {DEFAULT_REFERENCE}: {iv.mean:.2f} "
              f"[{iv.low:.2f}, {iv.high:.2f}]")
    if res.seeds is not None:
        r, p = res.seeds.readout, res.seeds.probe
        print(f"over seeds {', '.join(map(str, res.seeds.seeds))}: last layer "
              f"{r[:, -1].mean():.3f} ± {r[:, -1].std(ddof=1):.3f}, probe (b) "
              f"{p[:, -1].mean():.3f} ± {p[:, -1].std(ddof=1):.3f}")
        for goal, met in res.seeds.goals().items():
            print(f"  {goal}: {'met' if met else 'NOT met'}")
    report = res.path / "report.html"
    print(f"total {sum(res.seconds.values()):.0f} s; report: {report} "
          f"({report.stat().st_size:,} bytes)")
    return 0
