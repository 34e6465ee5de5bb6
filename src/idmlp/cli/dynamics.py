"""``idmlp dynamics``: draw the snapshots a run recorded during training.

Writes into ``RUN/dynamics`` (or ``--out``), built under a temporary name and renamed
into place only when complete::

    heatmaps.png            layer x time: accuracy, p(true class), identity distance of
                            the class rows and of the feature rows
    jacobian_spectrum.png   eigenvalues of J J^T over training next to the law at init
    maps_sample{i}.png      the maps of example i at a few layers across training
    maps.gif                the maps of every example across training (animation)
    dynamics.json           the numbers (idmlp.analysis.dynamics.dynamics_summary)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_run_output, positive_int, run_output


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dynamics",
        help="draw the snapshots of a run trained with --snapshots K",
        description="Draw how every layer changed during training, from the snapshots "
        "that 'idmlp train --snapshots K' recorded in RUN/snapshots.npz: layer x time heat "
        "maps of accuracy and identity distance, the Jacobian spectrum against the theory "
        "at initialization, the maps of each example across time, and a GIF.",
    )
    add_run_output(p, "idmlp train --snapshots K", "dynamics")
    p.add_argument("--layers", type=positive_int, nargs="+", default=None, metavar="L",
                   help="layers (1..depth) of the map figures and the GIF (default: 4 evenly "
                   "spaced, first and last included)")
    p.add_argument("--quiet", action="store_true", help="print only the last line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..analysis.dynamics import dynamics_summary, load_snapshots, plot_dynamics

    run_dir = Path(args.run)
    if not run_dir.is_dir():
        raise ValueError(f"run folder {run_dir} does not exist; give the folder that "
                         "'idmlp train --snapshots K' wrote")
    snaps = load_snapshots(run_dir)  # validates before anything is drawn
    depth = snaps.meta["depth"]
    if args.layers is not None:
        bad = [v for v in args.layers if v > depth]
        if bad:
            raise ValueError(f"--layers must be in 1..{depth} (the run's depth), got {bad[0]}")
    out = run_output(args)
    files = plot_dynamics(run_dir, out, overwrite=args.overwrite, layers=args.layers)
    if not args.quiet:
        s = dynamics_summary(snaps)
        print(f"{len(snaps)} snapshots at steps {', '.join(map(str, s['steps']))} "
              f"({s['split']} split, first {s['subset']} examples)")
        print("layer  acc_start  acc_end  step_90%  class_dist  feature_dist")
        for i in range(depth):
            print(f"{i + 1:5d}  {s['acc_start'][i]:9.4f}  {s['acc_end'][i]:7.4f}  "
                  f"{s['acc_step_90'][i]:8d}  {s['class_distance_end'][i]:10.4f}  "
                  f"{s['feature_distance_end'][i]:12.4f}")
        if "distance_log_slope" in s:
            print(f"mean identity distance ~ step^{s['distance_log_slope']:.2f}")
        print(f"snapshots took {s['seconds']:.1f} s in all "
              f"(mean {float(np.mean(snaps['seconds'])):.2f} s each)")
    print(f"wrote {len(files)} files to {out}")
    return 0
