"""Cost of the learning-dynamics snapshots: the same training run with and without them.

Two trainers of the same :class:`~idmlp.runs.RunConfig` (the paper's mnist5k job by
default, fewer epochs) are built through the code path of ``idmlp train``; one of them
carries the :class:`~idmlp.dynamics.SnapshotRecorder` step hook (``--snapshots K``). They
train one epoch each in alternation, so that load from other processes hits both alike;
each one's time is the sum of its epochs (the snapshot at step 0 included). Printed:

* the measured ratio (with / without);
* the mean time of one snapshot, in training steps;
* the ratio projected for the full default run (15 epochs, K = 16 snapshots) from
  medians of interleaved repeats (robust to load from other processes) of one training
  step, one snapshot and one end-of-epoch evaluation:
  ``1 + 16 * snapshot / (T * step + 15 * evaluation)``, ``T`` the default run's steps.

By default the run is ``--epochs 3`` with ``K = round(16 * 3 / 15) = 3`` snapshots, the
default's snapshot density, so that the measured ratio estimates the default's as well.
Goal: <= 1.10.

Run: ``python benchmarks/bench_snapshots.py [--dataset mnist5k --epochs 3 --snapshots K]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from idmlp.dynamics import SnapshotRecorder
from idmlp.runs import RunConfig, _build, _recorder, _trainer
from idmlp.train import Trainer

DEFAULT_K, DEFAULT_EPOCHS = 16, 15


def _setup(config: RunConfig) -> tuple[Trainer, SnapshotRecorder | None]:
    dataset = config.data.load()
    scaler = config.data.scaler(dataset)
    trainer = _trainer(config, _build(config, dataset), dataset, scaler, torch.device("cpu"))
    return trainer, _recorder(config, trainer, dataset, scaler)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist5k")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--snapshots", type=int, default=None,
                    help="K (default: round(16 * epochs / 15), the default run's density)")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved repeats (projection)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    k = args.snapshots or max(2, round(DEFAULT_K * args.epochs / DEFAULT_EPOCHS))
    base = RunConfig().replace(dataset=args.dataset, epochs=args.epochs)
    plain, _ = _setup(base)
    snap, recorder = _setup(base.replace(snapshots=k))
    assert recorder is not None
    print(f"{args.dataset}: depth {base.model.depth}, width {plain.model.width}, "
          f"{plain.total_steps} steps ({plain.steps_per_epoch} per epoch), {k} snapshots "
          f"at steps {recorder.snapshots.planned}, torch threads {torch.get_num_threads()}")
    times = {"plain": 0.0, "snapshots": 0.0}
    for epoch in range(plain.epochs):
        order = [("plain", plain), ("snapshots", snap)]
        for name, trainer in order if epoch % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            trainer.run(stop_after=1, progress=False)
            times[name] += time.perf_counter() - t0
        print(f"epoch {epoch + 1}: plain {times['plain']:.1f} s, with snapshots "
              f"{times['snapshots']:.1f} s (cumulative)", flush=True)
    assert all(torch.equal(a, b) for a, b in zip(plain.model.state_dict().values(),
                                                 snap.model.state_dict().values(), strict=True))
    seconds = recorder.snapshots["seconds"]
    step = times["plain"] / plain.total_steps
    print(f"one snapshot: {np.mean(seconds):.2f} s (median {np.median(seconds):.2f} s) "
          f"= {np.mean(seconds) / step:.2f} training steps of {step:.3f} s")
    print(f"ratio with/without snapshots, measured ({k} snapshots, {plain.epochs} epochs): "
          f"{times['snapshots'] / times['plain']:.3f}")

    # interleaved medians: a step, a snapshot, an end-of-epoch evaluation
    x, y = plain.X_train[: base.optim.batch_size], plain.y_train[: base.optim.batch_size]
    jobs = {"step": lambda: plain.train_step(x, y),
            "snapshot": lambda: recorder.take(snap.model, 0),
            "evaluation": lambda: plain._epoch_record(0.0, 0.0, 0.0)}
    samples: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(args.repeats):
        for name, job in jobs.items():
            t0 = time.perf_counter()
            job()
            samples[name].append(time.perf_counter() - t0)
    med = {name: float(np.median(v)) for name, v in samples.items()}
    total = RunConfig().optim.total_steps(len(plain.y_train))
    train = total * med["step"] + DEFAULT_EPOCHS * med["evaluation"]
    projected = 1 + DEFAULT_K * med["snapshot"] / train
    print(f"medians of {args.repeats} interleaved repeats: step {med['step']:.3f} s, snapshot "
          f"{med['snapshot']:.3f} s ({med['snapshot'] / med['step']:.2f} steps), "
          f"end-of-epoch evaluation {med['evaluation']:.3f} s")
    print(f"ratio projected for the default run ({DEFAULT_K} snapshots, {total} steps, "
          f"{DEFAULT_EPOCHS} epochs): {projected:.3f} (goal <= 1.10)")


if __name__ == "__main__":
    main()
