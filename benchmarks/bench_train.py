"""Training steps of the interpretable MLP: idmlp against a hand-written model and matmul.

One step is forward + cross-entropy + backward + Adam update of
``InterpretableMLP(784, 10, depth 50)`` (width W = 794, batch B = 256, float32), through
``idmlp.train.loop.Trainer.train_step``, the code path of ``idmlp train``. In the same run:

(a) the same math written by hand: ``nn.Sequential`` of 50 x (``Linear(W, W,
    bias=False)``, ``Hardtanh``), identity-initialized, input padded with 10 zeros and
    the last 10 outputs read as logits, with the same ``torch.optim.Adam(fused=True)``
    (goal: ours takes <= 1.05x its time);
(b) this machine's matmul rate: a step does 6 * B * L * W^2 flops of matrix products
    (forward, input gradient, weight gradient); ``torch.matmul`` of those shapes
    ((B, W) @ (W, W) twice and (W, B) @ (B, W), L times) is timed, and the step's rate
    is reported as a fraction of it (goal >= 0.6).

The three are measured interleaved (in alternating order), repeat after repeat, and
compared by their medians, so that load from other processes hits all of them alike.

Run: ``python benchmarks/bench_train.py [--depth 50 --batch 256 --repeats 15]``.
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
from idmlp.nets.mlp import InterpretableMLP
from idmlp.train.loop import Trainer

N_IN, N_CLASSES = 784, 10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    depth, b, w = args.depth, args.batch, N_IN + N_CLASSES
    torch.manual_seed(0)
    x = torch.randn(b, N_IN) * 0.1**0.5
    y = torch.randint(0, N_CLASSES, (b,))
    print(f"training step: width {w}, depth {depth}, batch {b}, float32, "
          f"{torch.get_num_threads()} threads")

    # Ours: the step `idmlp train` runs (Trainer.train_step).
    ours = InterpretableMLP(N_IN, N_CLASSES, depth)
    # The hand-written step below: last layer's plain cross-entropy, constant rate.
    optim = OptimConfig(lr=1e-5, batch_size=b, epochs=1, schedule="constant",
                        label_smoothing=0.0, layer_loss="last", early_stopping=False)
    trainer = Trainer(ours, x, y, {"train": (x, y)}, optim=optim)

    # (a) The same math by hand.
    seq = nn.Sequential(*(m for _ in range(depth)
                          for m in (nn.Linear(w, w, bias=False), nn.Hardtanh())))
    identity_init_(seq)
    adam = torch.optim.Adam(seq.parameters(), lr=1e-5, fused=True)  # as Trainer's

    def hand_step() -> float:
        logits = seq(F.pad(x, (0, N_CLASSES)))[:, N_IN:]
        loss = F.cross_entropy(logits, y)
        adam.zero_grad(set_to_none=True)
        loss.backward()
        adam.step()
        return loss.item()

    # (b) The step's matrix products alone.
    a, wt, c = torch.randn(b, w), torch.randn(w, w), torch.randn(w, b)
    out_bw, out_ww = torch.empty(b, w), torch.empty(w, w)

    def matmuls() -> None:
        for _ in range(depth):
            torch.matmul(a, wt, out=out_bw)  # forward
            torch.matmul(a, wt, out=out_bw)  # input gradient
            torch.matmul(c, a, out=out_ww)  # weight gradient

    runs: dict[str, Callable[[], object]] = {
        "idmlp": lambda: trainer.train_step(x, y),
        "by hand": hand_step,
        "matmul": matmuls,
    }
    times = interleaved(runs, args.warmup, args.repeats)
    med = report(times)
    paired = paired_ratio(times, "idmlp", "by hand")

    flops = 6.0 * b * depth * w**2
    ratio = med["idmlp"] / med["by hand"]
    print(f"(a) idmlp / hand-written nn.Sequential time: {ratio:.3f}x (median of paired "
          f"ratios {paired:.3f}x; goal <= 1.05x)")
    frac = med["matmul"] / med["idmlp"]
    print(f"(b) idmlp {flops / med['idmlp'] / 1e9:.1f} GFLOP/s, torch.matmul "
          f"{flops / med['matmul'] / 1e9:.1f} GFLOP/s -> fraction of matmul rate {frac:.2f} "
          "(goal >= 0.6)")


if __name__ == "__main__":
    main()
