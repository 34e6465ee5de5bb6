"""Batched sweep engine against one configuration at a time, in the same process.

A 64-configuration grid on scikit-learn's digits (width 64 + 10 = 74, depth 20, 200
steps): 4 sigma x 4 q0 x 4 inits, one seed. ``train_batch`` trains all 64 together
(stacked weights, one ``bmm`` per layer); the baseline is ``train_one``, a plain loop over
an ``idmlp.nets.mlp.MLP`` with ``torch.optim``, one configuration after the other. Both
include the Jacobian at initialization and the periodic evaluations.

The one-by-one side is slow, so by default it times an evenly spread subset of the grid
(``--subset``, every init represented) and extrapolates per configuration to all 64; the
printout says so. ``--subset 64`` times them all.

    python benchmarks/bench_sweep.py [--subset 16] [--threads N] [--steps 200]
"""

from __future__ import annotations

import argparse
import time

import torch

from idmlp.data import load_dataset
from idmlp.sweep import SweepConfig, TrainData, TrainSettings, train_batch, train_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=16,
                        help="one-by-one runs timed (1..64; default 16)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both sides (default: torch's, all cores)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternate the two sides this many times, keep each side's "
                        "fastest (shared machines drift; default 1)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    settings = TrainSettings().replace(steps=args.steps, batch_size=64, lr=1e-3, eval_every=10)
    grid = SweepConfig(sigma="0.9:1.1:4", q0="1e-2:1:4:log", depth=[args.depth],
                       init="identity,orthogonal,xavier,he", train=settings)
    specs = grid.runs()
    data = TrainData.from_dataset(load_dataset("digits"))
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # one-time lazy imports, untimed

    subset = max(1, min(args.subset, len(specs)))
    picked = [round(i * len(specs) / subset) for i in range(subset)]
    t_batched = t_single = float("inf")
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        batched = train_batch(specs, data, settings)
        t_batched = min(t_batched, time.perf_counter() - t0)
        t0 = time.perf_counter()
        single = [train_one(specs[i], data, settings) for i in picked]
        t_single = min(t_single, time.perf_counter() - t0)
    per_config = t_single / subset
    t_all_single = per_config * len(specs)

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


if __name__ == "__main__":
    main()
