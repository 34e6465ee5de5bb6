"""Batched sweep engine against one configuration at a time, in the same process.

A 64-configuration grid on scikit-learn's digits (width 64 + 10 = 74, depth 20, 200
steps): 4 sigma x 4 q0 x 4 inits, one seed. ``train_batch`` trains all 64 together
(stacked weights, one ``bmm`` per layer); the baseline is ``train_one``, a plain loop over
an ``idmlp.nets.mlp.MLP`` with ``torch.optim``, one configuration after the other. Both
include the Jacobian at initialization and the periodic evaluations. Wall time and CPU time
(``time.process_time``: on a shared machine the ratio of CPU times is the steadier one) are
reported, with the load average before and after.

The one-by-one side is slow, so by default it times an evenly spread subset of the grid
(``--subset``, every init represented) and extrapolates per configuration to all 64; the
printout says so. ``--subset 64`` times them all.

``--grid study`` times the identity family's trainability study on digits instead (issue
21; the grid of :data:`STUDY`: six inits x four scales x depths 10, 50, 100, 200, 300 steps),
and its residual arm (:data:`STUDY_RESIDUAL`, ReZero blocks), all of it batched as
``idmlp sweep`` runs it (:func:`plan_batches`), against ``--subset``
runs one by one *per depth* (spread over the inits), extrapolated depth by depth. Both
sides report CPU time (``time.process_time``, every thread of this process: what the
machine's other load cannot steal) and wall time, and the load average before and after.

    python benchmarks/bench_sweep.py [--subset 16] [--threads N] [--steps 200]
    python benchmarks/bench_sweep.py --grid study [--subset 1] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from idmlp.data import load_dataset
from idmlp.sweep import (
    SweepConfig,
    TrainData,
    TrainSettings,
    plan_batches,
    train_batch,
    train_one,
)

#: The digits grid of the identity family's trainability study (README, issue 21).
STUDY = {"init": "identity,zero,idinit,looks_linear,delta_orthogonal,orthogonal",
         "sigma": "0.5,0.9,1.0,1.1", "q0": "0.1", "depth": "10,50,100,200"}
STUDY_TRAIN = {"steps": 300, "lr": 1e-4, "eval_every": 25, "jacobian_samples": 16}
#: The residual arm of the study (ReZero: ``--arch residual --alpha-init 0``).
STUDY_RESIDUAL = {"init": "identity,orthogonal"}


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _time_grid(name: str, grid: SweepConfig, data: TrainData, subset: int
               ) -> tuple[float, float, float, float]:
    """``(batched wall, batched CPU, one-by-one wall, one-by-one CPU)`` of one grid, the
    one-by-one side extrapolated depth by depth from ``subset`` runs per depth."""
    specs, settings = grid.runs(), grid.train
    w0, c0 = _clock()
    for batch in plan_batches(specs, grid.batch_configs):
        train_batch(batch, data, settings)
    w1, c1 = _clock()
    t_batched, cpu_batched = w1 - w0, c1 - c0
    t_single = cpu_single = 0.0
    for d in grid.depth:
        runs = [s for s in specs if s.depth == d]
        picked = [runs[round(i * len(runs) / subset)] for i in range(min(subset, len(runs)))]
        w0, c0 = _clock()
        for spec in picked:
            train_one(spec, data, settings)
        w1, c1 = _clock()
        scale = len(runs) / len(picked)
        t_single += (w1 - w0) * scale
        cpu_single += (c1 - c0) * scale
        print(f"  {name} depth {d}: batched {len(runs)} runs; one by one "
              f"{(c1 - c0) / len(picked):.1f} s CPU per run ({len(picked)} timed)")
    print(f"  {name}: batched {cpu_batched:.1f} s CPU ({t_batched:.1f} s wall), one by one "
          f"{cpu_single:.1f} s CPU ({t_single:.1f} s wall): {cpu_single / cpu_batched:.2f}x")
    return t_batched, cpu_batched, t_single, cpu_single


def study(args: argparse.Namespace) -> None:
    """The study grids batched against one by one (see the module docstring)."""
    depth = args.depths or STUDY["depth"]
    train = {**STUDY_TRAIN, **({"steps": args.steps} if args.steps_given else {})}
    settings = TrainSettings().replace(**train)
    grids = {"MLP family": SweepConfig(**{**STUDY, "depth": depth}, train=settings),
             "residual arm": SweepConfig(**{**STUDY, **STUDY_RESIDUAL, "depth": depth},
                                         train=settings.replace(arch="residual",
                                                                alpha_init=0.0))}
    data = TrainData.from_dataset(load_dataset("digits"))
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # one-time lazy imports, untimed
    load0 = os.getloadavg()
    n = sum(g.n_runs for g in grids.values())
    print(f"study grids: {n} runs on digits (width {data.width}), depths {depth}, "
          f"{settings.optim.steps} steps, {torch.get_num_threads()} thread(s); load average "
          f"before {load0[0]:.1f}")
    totals = [sum(t) for t in zip(*(_time_grid(k, g, data, args.subset)
                                    for k, g in grids.items()), strict=True)]
    t_batched, cpu_batched, t_single, cpu_single = totals
    load1 = os.getloadavg()
    print(f"batched (train_batch in plan_batches' groups): {cpu_batched:8.1f} s CPU, "
          f"{t_batched:8.1f} s wall")
    print(f"one by one (train_one, extrapolated per depth): {cpu_single:8.1f} s CPU, "
          f"{t_single:8.1f} s wall")
    print(f"speed-up: {cpu_single / cpu_batched:.2f}x CPU, {t_single / t_batched:.2f}x wall   "
          f"(load average after: 1/5/15 min {load1[0]:.1f}/{load1[1]:.1f}/{load1[2]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=None,
                        help="one-by-one runs timed (1..64; default 16; --grid study: per "
                        "depth, default 1)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both sides (default: torch's, all cores)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternate the two sides this many times, keep each side's "
                        "fastest (shared machines drift; default 1)")
    parser.add_argument("--grid", choices=("default", "study"), default="default",
                        help="study: the identity family's digits study (module docstring)")
    parser.add_argument("--depths", default=None,
                        help="--grid study: comma list of depths (default 10,50,100,200)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.grid == "study":
        args.steps_given = parser.get_default("steps") != args.steps
        args.subset = max(1, args.subset or 1)
        study(args)
        return
    args.subset = args.subset or 16

    settings = TrainSettings().replace(steps=args.steps, batch_size=64, lr=1e-3, eval_every=10)
    grid = SweepConfig(sigma="0.9:1.1:4", q0="1e-2:1:4:log", depth=[args.depth],
                       init="identity,orthogonal,xavier,he", train=settings)
    specs = grid.runs()
    data = TrainData.from_dataset(load_dataset("digits"))
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # one-time lazy imports, untimed

    subset = max(1, min(args.subset, len(specs)))
    picked = [round(i * len(specs) / subset) for i in range(subset)]
    t_batched = t_single = cpu_batched = cpu_single = float("inf")
    load0 = os.getloadavg()
    for _ in range(max(1, args.repeats)):
        w0, c0 = _clock()
        batched = train_batch(specs, data, settings)
        w1, c1 = _clock()
        t_batched, cpu_batched = min(t_batched, w1 - w0), min(cpu_batched, c1 - c0)
        single = [train_one(specs[i], data, settings) for i in picked]
        w2, c2 = _clock()
        t_single, cpu_single = min(t_single, w2 - w1), min(cpu_single, c2 - c1)
    per_config = t_single / subset
    t_all_single = per_config * len(specs)
    cpu_all_single = cpu_single / subset * len(specs)
    load1 = os.getloadavg()

    diff = max(abs(batched[i]["test_acc"] - s["test_acc"]) for i, s in zip(picked, single,
                                                                            strict=True))
    print(f"grid: {len(specs)} configurations on digits, width {data.width}, depth "
          f"{args.depth}, {args.steps} steps, batch 64, {torch.get_num_threads()} thread(s)")
    print(f"batched (train_batch, all {len(specs)} together): {t_batched:8.2f} s")
    timed = ("all of them" if subset == len(specs)
             else f"{subset} of them timed, extrapolated per configuration")
    print(f"one by one (train_one, {timed}): {t_all_single:8.2f} s "
          f"({per_config:.3f} s per configuration)")
    print(f"speed-up: {t_all_single / t_batched:.2f}x   "
          f"(max |test_acc difference| on the timed runs: {diff:.4f}, float32)")
    print(f"CPU time (time.process_time, what other load cannot steal): batched "
          f"{cpu_batched:.2f} s, one by one {cpu_all_single:.2f} s (extrapolated): "
          f"{cpu_all_single / cpu_batched:.2f}x   (load average before {load0[0]:.1f}, "
          f"after {load1[0]:.1f})")


if __name__ == "__main__":
    main()
