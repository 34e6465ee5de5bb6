"""``idmlp interpret``: layer-wise interpretation of a trained run, with figures and a report.

Writes into ``RUN/interpret`` (or ``--out``), built under a temporary name and renamed
into place only when complete::

    interpretation.json    per-layer accuracy, p(true class), loss, identity distances,
                           confusion matrix, chosen examples and their predictions
    interpretation.npz     every array, contribution maps included (Interpretation.load)
    *.png                  the figures of idmlp.plots.interpret
    report.html            one self-contained interactive page (idmlp.report)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .._io import atomic_output_dir, check_output_dir
from ..interpret import interpret, pick_samples
from ..plots.interpret import save_interpretation_figures
from ..report import build_report_data, identity_distance_section, write_interactive_report
from ..train import load_config, load_run
from ._common import add_device, positive_int, resolve_device


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "interpret",
        help="layer-wise interpretation of a trained run (figures + report.html)",
        description="Read every layer of a trained interpretable MLP: per-layer accuracy, "
        "contribution maps, per-class mean maps, distance of the weights from the identity "
        "and the last layer's confusion matrix. Writes figures, interpretation.json/.npz and "
        "a self-contained report.html.",
    )
    p.add_argument("run", metavar="RUN", help="run folder written by 'idmlp train'")
    p.add_argument("--out", default=None, help="output folder (default: RUN/interpret)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the output folder if it exists")
    p.add_argument("--samples", type=positive_int, default=None, metavar="K",
                   help="examples in the contribution-map figure, chosen round robin over "
                   "classes in label order (default: the first example of each class)")
    p.add_argument("--layers", type=positive_int, nargs="+", default=None, metavar="L",
                   help="layers (1..depth) of the map figures (default: 8 evenly spaced, "
                   "first and last included)")
    p.add_argument("--split", choices=("test", "train"), default="test",
                   help="which split to interpret (default: test)")
    p.add_argument("--batch-size", type=positive_int, default=1024,
                   help="examples per forward chunk (default: 1024)")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # validate everything before any work starts
    run_dir = Path(args.run)
    if not run_dir.is_dir():
        raise ValueError(f"run folder {run_dir} does not exist; give the folder 'idmlp train' "
                         "wrote")
    config = load_config(run_dir)
    if args.layers is not None:
        bad = [v for v in args.layers if v > config.depth]
        if bad:
            raise ValueError(f"--layers must be in 1..{config.depth} (the run's depth), "
                             f"got {bad[0]}")
    out = Path(args.out) if args.out is not None else run_dir / "interpret"
    check_output_dir(out, args.overwrite)
    resolve_device(args.device)

    trained = load_run(run_dir, device=args.device)
    X, y = trained.test_tensors() if args.split == "test" else trained.train_tensors()
    model = trained.model
    samples = pick_samples(y, args.samples, model.num_classes)
    interp = interpret(model, X, y, batch_size=args.batch_size, sample_indices=samples,
                       layers=args.layers, class_names=trained.dataset.class_names)

    with atomic_output_dir(out, args.overwrite) as tmp:
        interp.save(tmp / "interpretation.json")
        interp.save(tmp / "interpretation.npz")
        figures = save_interpretation_figures(interp, tmp)
        ds = trained.dataset
        data = build_report_data(
            model, X, y, interpretation=interp, split=args.split,
            images=ds.X_test if args.split == "test" else ds.X_train,
            title=f"idmlp interpret: {run_dir.name}",
            subtitle=f"{ds.name}, {args.split} split ({interp.n} examples), depth "
            f"{model.depth}, width {model.width} = {model.in_features} + {model.num_classes}",
            metrics=trained.metrics, config={"run": str(run_dir), "train": config.to_dict(),
                                             "model": model.config.to_dict()},
            command=getattr(args, "command_line", None), batch_size=args.batch_size,
            sections=[identity_distance_section(interp, figures.get("identity_distance"))])
        write_interactive_report(tmp / "report.html", data)

    print(interp.summary())
    size = (out / "report.html").stat().st_size
    print(f"last layer: accuracy {interp.accuracy[-1]:.4f} on the {args.split} split "
          f"({interp.n} examples); wrote {out} (report.html: {size:,} bytes)")
    return 0
