"""Singular values of the input-output Jacobian: idmlp against the obvious baselines.

A hard-tanh MLP perturbed away from identity (width 794, depth 50, 16 inputs, float32):

(a) per-input speed-up of ``idmlp.jacobian.dense.singular_values`` over a per-sample loop of
    ``torch.autograd.functional.jacobian`` + ``torch.linalg.svdvals`` (timed on 2 inputs);
(b) the fraction of this machine's matmul rate that the Jacobian product reaches:
    2 * L * N^3 flops per input, against ``torch.matmul`` of the same shapes
    (N x N) @ (N x B*N), L times, timed in the same run (medians of interleaved repeats).

Run: ``python benchmarks/bench_jacobian.py [--width 794 --depth 50 --batch 16]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from idmlp.jacobian.dense import jacobian, singular_values
from idmlp.nets.mlp import IdentityMLP


def _time(fn, repeat: int = 1) -> float:  # noqa: ANN001
    best = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best.append(time.perf_counter() - t0)
    return statistics.median(best)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=794)
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--baseline-inputs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n, depth, b = args.width, args.depth, args.batch
    torch.manual_seed(0)
    net = IdentityMLP(n, depth, sigma=1.0)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(torch.randn_like(layer.weight) * (0.05 / n**0.5))
    x = torch.randn(b, n) * 0.3
    print(f"hard-tanh MLP near identity: width {n}, depth {depth}, {b} inputs, float32, "
          f"{torch.get_num_threads()} threads")

    # (a) end to end: singular values per input.
    t_ours = _time(lambda: singular_values(net, x))
    xb = x[: args.baseline_inputs]

    def baseline() -> torch.Tensor:
        return torch.stack([
            torch.linalg.svdvals(torch.autograd.functional.jacobian(net, xi)) for xi in xb
        ])

    t_base = _time(baseline)
    err = (singular_values(net, xb) - baseline()).abs().max().item()
    per_ours, per_base = t_ours / b, t_base / len(xb)
    print(f"(a) singular values: idmlp {per_ours * 1e3:.1f} ms/input, autograd loop "
          f"{per_base * 1e3:.1f} ms/input -> speed-up {per_base / per_ours:.1f}x "
          f"(goal >= 10x); max |difference| {err:.2e}")

    # (b) the Jacobian product against the matmul rate, interleaved repeats.
    w = torch.randn(n, n)
    rhs = torch.randn(n, b * n)

    def matmuls() -> None:
        for _ in range(depth):
            torch.matmul(w, rhs)

    flops = 2.0 * depth * n**3 * b
    t_prod, t_mm = [], []
    for _ in range(args.repeats):
        t_prod.append(_time(lambda: jacobian(net, x, method="mlp")))
        t_mm.append(_time(matmuls))
    rate_prod, rate_mm = flops / statistics.median(t_prod), flops / statistics.median(t_mm)
    print(f"(b) Jacobian product {rate_prod / 1e9:.1f} GFLOP/s, torch.matmul "
          f"{rate_mm / 1e9:.1f} GFLOP/s -> fraction of matmul rate {rate_prod / rate_mm:.2f} "
          f"(goal >= 0.7)")


if __name__ == "__main__":
    main()
