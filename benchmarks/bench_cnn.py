"""Training steps of the interpretable CNN: idmlp against a hand-written ``nn.Sequential``.

One step is forward + cross-entropy over every layer's readout + backward + Adam update of
``InterpretableCNN`` on 28 x 28 images (1 input + K extra + 10 class channels, 3 x 3
kernels, batch 128, float32), through ``idmlp.train.loop.Trainer.train_step``, the code path of
``idmlp train --arch cnn --layer-loss all``. In the same run, the same math written by hand:
``nn.Sequential`` of L x (``Conv2d(Ch, Ch, 3, padding=d, dilation=d, bias=False)``,
``Hardtanh``), Dirac-initialized (``idmlp.init.identity_init_``), the input padded with
K + C zero channels, and the spatial mean of the last C channels of every layer, times 8,
as the logits, with the same loss (mean over layers, label smoothing 0.1) and the same
``torch.optim.Adam(fused=True)``. Both use channels-last kernels (as ``InterpretableCNN``
does; the hand-written model in the default layout is timed too, for reference).

Goal: ours takes <= 1.05x the hand-written time. The runs are interleaved (alternating
order), repeat after repeat, and compared by their medians and by the median of paired
ratios, so that load from other processes hits all of them alike.

Run: ``python benchmarks/bench_cnn.py [--depth 8 --extra 16 --dilations 1,2,4,8
--batch 128 --repeats 9 --threads 2]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from _timing import interleaved, paired_ratio, report
from idmlp.config import OptimConfig
from idmlp.init import identity_init_
from idmlp.nets.cnn import InterpretableCNN
from idmlp.train.loop import Trainer

SIDE, N_CLASSES, SCALE, SMOOTHING = 28, 10, 8.0, 0.1


def _hand_written(depth: int, channels: int, dilations: list[int], channels_last: bool
                  ) -> tuple[nn.Sequential, torch.optim.Optimizer]:
    seq = nn.Sequential(*(m for d in dilations[:depth] for m in (
        nn.Conv2d(channels, channels, 3, padding=d, dilation=d, bias=False), nn.Hardtanh())))
    identity_init_(seq)
    if channels_last:
        seq.to(memory_format=torch.channels_last)
    return seq, torch.optim.Adam(seq.parameters(), lr=1e-5, fused=True)  # as Trainer's


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--extra", type=int, default=16, help="K extra feature channels")
    ap.add_argument("--dilations", default="1,2,4,8")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    depth, b = args.depth, args.batch
    cycle = [int(d) for d in args.dilations.split(",")]
    dilations = [cycle[i % len(cycle)] for i in range(depth)]
    x = torch.randn(b, SIDE * SIDE)
    y = torch.randint(0, N_CLASSES, (b,))

    # Ours: the step `idmlp train --arch cnn --layer-loss all` runs (Trainer.train_step).
    ours = InterpretableCNN((SIDE, SIDE), N_CLASSES, depth, logit_scale=SCALE,
                            extra_channels=args.extra, dilations=tuple(cycle),
                            generator=torch.Generator().manual_seed(0))
    optim = OptimConfig(lr=1e-5, batch_size=b, epochs=1, layer_loss="all",
                        label_smoothing=SMOOTHING)
    trainer = Trainer(ours, x, y, {"val": (x[:8], y[:8])}, optim=optim)
    ch = ours.channels
    print(f"training step: {ch} channels of {SIDE} x {SIDE}, depth {depth}, dilations "
          f"{dilations}, batch {b}, float32, {torch.get_num_threads()} threads")

    def hand_step(seq: nn.Sequential, adam: torch.optim.Optimizer) -> Callable[[], float]:
        def step() -> float:
            h = F.pad(x.view(b, 1, SIDE, SIDE), (0, 0, 0, 0, 0, ch - 1))
            means = []
            for i, m in enumerate(seq):
                h = m(h)
                if i % 2:  # after each activation: the class channels' spatial mean
                    means.append(h[:, ch - N_CLASSES :].mean(dim=(-2, -1)))
            logits = torch.stack(means, dim=1) * SCALE  # (B, L, C)
            loss = F.cross_entropy(logits.reshape(-1, N_CLASSES), y.repeat_interleave(depth),
                                   label_smoothing=SMOOTHING)
            adam.zero_grad(set_to_none=True)
            loss.backward()
            adam.step()
            return loss.item()
        return step

    runs: dict[str, Callable[[], object]] = {
        "idmlp": lambda: trainer.train_step(x, y),
        "by hand": hand_step(*_hand_written(depth, ch, dilations, channels_last=True)),
        "by hand, NCHW": hand_step(*_hand_written(depth, ch, dilations, channels_last=False)),
    }
    times = interleaved(runs, args.warmup, args.repeats)
    med = report(times, width=14)
    paired = paired_ratio(times, "idmlp", "by hand")
    ratio = med["idmlp"] / med["by hand"]
    print(f"idmlp / hand-written nn.Sequential (channels-last) time: {ratio:.3f}x (median of "
          f"paired ratios {paired:.3f}x; goal <= 1.05x)")
    print(f"hand-written channels-last / NCHW time: {med['by hand'] / med['by hand, NCHW']:.3f}x")


if __name__ == "__main__":
    main()
