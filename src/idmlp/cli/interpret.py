"""``idmlp interpret``: layer-wise interpretation of a trained run, with figures and a report.

Writes into ``RUN/interpret`` (or ``--out``), built under a temporary name and renamed
into place only when complete::

    interpretation.json    per-layer accuracy, p(true class), loss, identity distances,
                           confusion matrix, chosen examples and their predictions
    interpretation.npz     every array, contribution maps included (Interpretation.load)
    *.png                  the figures of idmlp.plots.interpret
    report.html            one self-contained page with all of the above, and every
                           section saved in the run by other commands (the faithfulness
                           of ``idmlp faithfulness``; the baselines, probes and seeds of
                           ``idmlp reproduce``): see idmlp.report.run_report
    report.json            what report.html was made from, to rebuild it with a new section
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_device, add_run_output, positive_int, run_output


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "interpret",
        help="layer-wise interpretation of a trained run (figures + report.html)",
        description="Read every layer of a trained interpretable MLP: per-layer accuracy, "
        "contribution maps, per-class mean maps, distance of the weights from the identity "
        "and the last layer's confusion matrix. Writes figures, interpretation.json/.npz and "
        "a self-contained report.html.",
    )
    add_run_output(p, "idmlp train", "interpret")
    p.add_argument("--samples", type=positive_int, default=None, metavar="K",
                   help="examples in the contribution-map figure, chosen round robin over "
                   "classes in label order (default: the first example of each class)")
    p.add_argument("--layers", type=positive_int, nargs="+", default=None, metavar="L",
                   help="layers (1..depth) of the map figures (default: 8 evenly spaced, "
                   "first and last included)")
    p.add_argument("--split", choices=("test", "val", "train"), default="test",
                   help="which split to interpret (default: test)")
    p.add_argument("--batch-size", type=positive_int, default=1024,
                   help="examples per forward chunk (default: 1024)")
    p.add_argument("--probes", action="store_true",
                   help="also fit a linear probe on each layer's features (trained on the "
                   "training split, scored on the test split) and add the probe section to "
                   "the run's report; it is saved in the run, so later reports show it too")
    add_device(p)
    p.add_argument("--quiet", action="store_true",
                   help="print only the last line, not the per-layer table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._io import atomic_output_dir, check_output_dir

    # validate everything before any work starts (what the arguments alone decide, before
    # torch is imported)
    run_dir = Path(args.run)
    if not run_dir.is_dir():
        raise ValueError(f"run folder {run_dir} does not exist; give the folder 'idmlp train' "
                         "wrote")
    out = run_output(args)
    check_output_dir(out, args.overwrite)

    from ..analysis.interpret import interpret_run
    from ..plots.interpret import save_interpretation
    from ..report.run_report import report_lock, save_run_section, write_interpret_report
    from ..runtime import resolve_device
    from ..train.runs import load_config, load_run

    config = load_config(run_dir)
    depth = config.model.depth
    if args.layers is not None:
        bad = [v for v in args.layers if v > depth]
        if bad:
            raise ValueError(f"--layers must be in 1..{depth} (the run's depth), got {bad[0]}")
    resolve_device(args.device)

    trained = load_run(run_dir, device=args.device)
    interp = interpret_run(trained, split=args.split, samples=args.samples, layers=args.layers,
                           batch_size=args.batch_size)
    probes = None
    if args.probes:
        from ..analysis.probes import compare_probes
        from ..report.probes import probe_section

        X_train, y_train = trained.train_tensors()
        X_test, y_test = trained.test_tensors()
        probes = probe_section(compare_probes(
            trained.model, X_train, y_train, X_test, y_test, own_features=True,
            batch_size=args.batch_size, progress=not args.quiet), note=(
            "The probes read this network's own features (probe (a)); idmlp reproduce "
            "also probes a standard MLP of the same depth and width (probe (b))."))
    # under the run's report lock: the sections that other commands saved in the run
    # (idmlp faithfulness, idmlp reproduce) are read, and none is saved meanwhile
    with report_lock(run_dir), atomic_output_dir(out, args.overwrite) as tmp:
        if probes is not None:
            save_run_section(run_dir, "probes", probes)
        figures = save_interpretation(interp, tmp)
        write_interpret_report(tmp, trained, interp, split=args.split, figures=figures,
                               command=getattr(args, "command_line", None),
                               title=f"idmlp interpret: {run_dir.name}")

    if not args.quiet:
        print(interp.summary())
    size = (out / "report.html").stat().st_size
    print(f"last layer: accuracy {interp.accuracy[-1]:.4f} on the {args.split} split "
          f"({interp.n} examples); wrote {out} (report.html: {size:,} bytes)")
    return 0
