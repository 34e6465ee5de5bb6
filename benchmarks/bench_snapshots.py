"""Cost of the learning-dynamics snapshots: the same training run with and without them.

Two trainers of the same :class:`~idmlp.train.runs.RunConfig` (the paper's mnist5k job: 15
epochs, 480 steps, depth 20, width 794) are built through the code path of ``idmlp train``;
one of them carries the :class:`~idmlp.analysis.dynamics.SnapshotRecorder` step hook
(``--snapshots 16``, the other snapshot settings at their defaults). They train one epoch
each in alternation, so that load from other processes hits both alike; each one's time is
the sum of its epochs (the snapshot at step 0 included), as wall time and as the process's
CPU time (with one torch thread, the default here, CPU time is the work done, whatever the
machine's load). Printed: the ratios with / without snapshots (goal <= 1.10), the mean cost
of one snapshot in training steps, and medians of interleaved repeats of one training step,
one snapshot with and one without the Jacobian spectrum.

Run: ``python benchmarks/bench_snapshots.py [--epochs 15 --snapshots 16 --threads 1]``
(fewer ``--epochs`` run faster but give fewer steps per snapshot, a higher ratio).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from idmlp.config import RunConfig
from idmlp.train.loop import Trainer
from idmlp.train.runs import _build, _recorder, _trainer
from idmlp.train.snapshots import SnapshotRecorder

DEFAULT_K, DEFAULT_EPOCHS = 16, 15


def _setup(config: RunConfig) -> tuple[Trainer, SnapshotRecorder | None]:
    dataset = config.data.load()
    scaler = config.data.scaler(dataset)
    trainer = _trainer(config, _build(config, dataset), dataset, scaler, torch.device("cpu"))
    return trainer, _recorder(config, trainer, dataset, scaler)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist5k")
    ap.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    ap.add_argument("--snapshots", type=int, default=DEFAULT_K)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats (medians)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    k = args.snapshots
    base = RunConfig().replace(dataset=args.dataset, epochs=args.epochs)
    plain, _ = _setup(base)
    snap, recorder = _setup(base.replace(snapshots=k))
    assert recorder is not None
    print(f"{args.dataset}: depth {base.model.depth}, width {plain.model.width}, "
          f"{plain.total_steps} steps ({plain.steps_per_epoch} per epoch), {k} snapshots "
          f"at steps {recorder.snapshots.planned}, torch threads {torch.get_num_threads()}")
    times = {"plain": 0.0, "snapshots": 0.0}
    cpu = {"plain": 0.0, "snapshots": 0.0}
    for epoch in range(plain.epochs):
        order = [("plain", plain), ("snapshots", snap)]
        for name, trainer in order if epoch % 2 == 0 else order[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            trainer.run(stop_after=1, progress=False)
            times[name] += time.perf_counter() - t0
            cpu[name] += time.process_time() - c0
        print(f"epoch {epoch + 1}: plain {times['plain']:.1f} s ({cpu['plain']:.1f} s CPU), "
              f"with snapshots {times['snapshots']:.1f} s ({cpu['snapshots']:.1f} s CPU), "
              "cumulative", flush=True)
    assert all(torch.equal(a, b) for a, b in zip(plain.model.state_dict().values(),
                                                 snap.model.state_dict().values(), strict=True))
    step = cpu["plain"] / plain.total_steps
    extra = cpu["snapshots"] - cpu["plain"]
    print(f"one snapshot: {extra / k:.2f} s CPU on average = {extra / k / step:.2f} training "
          f"steps of {step:.3f} s CPU (end-of-epoch evaluations spread over the steps)")
    print(f"ratio with/without snapshots ({k} snapshots, {plain.total_steps} steps), "
          f"CPU time: {cpu['snapshots'] / cpu['plain']:.3f}, wall time: "
          f"{times['snapshots'] / times['plain']:.3f} (goal <= 1.10)")

    # interleaved medians (CPU time): a step, a snapshot without and with the spectrum
    x, y = plain.X_train[: base.optim.batch_size], plain.y_train[: base.optim.batch_size]
    with_spectrum = min(recorder.spectrum_steps)
    without = next((s for s in recorder.snapshots.planned
                    if s not in recorder.spectrum_steps), with_spectrum)
    jobs = {"step": lambda: plain.train_step(x, y),
            "snapshot": lambda: recorder.take(snap.model, without),
            "snapshot with spectrum": lambda: recorder.take(snap.model, with_spectrum)}
    samples: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(args.repeats):
        for name, job in jobs.items():
            c0 = time.process_time()
            job()
            samples[name].append(time.process_time() - c0)
    med = {name: float(np.median(v)) for name, v in samples.items()}
    print(f"medians of {args.repeats} interleaved repeats (CPU): training step "
          f"{med['step']:.3f} s, snapshot {med['snapshot']:.3f} s "
          f"({med['snapshot'] / med['step']:.1f} steps), with the spectrum "
          f"{med['snapshot with spectrum']:.3f} s "
          f"({med['snapshot with spectrum'] / med['step']:.1f} steps)")


if __name__ == "__main__":
    main()
