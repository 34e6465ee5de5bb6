"""Matrix-free spectral density (stochastic Lanczos quadrature) against dense singular values.

(a) Accuracy, float64, width 794, depth 50 (the interpretable MLP's width on MNIST):
    KS distance between the pooled SLQ CDF (``idmlp.jacobian.lanczos.slq``) and the squared dense
    singular values (``idmlp.jacobian.dense.singular_values``) of the same inputs, for
    trained-like identity networks (``W = I + 0.05 G / sqrt(N)``, the identity distance of
    a trained interpretable MLP) with hard-tanh and tanh, and a random orthogonal tanh
    network at the critical point, whose eigenvalues spread over many decades (SLQ's limit).
(b) Speed, float32, width 4096, depth 100: the dense path on ONE input against SLQ over a
    batch of inputs, per input, timed in the same run (wall clock and process CPU time, the
    latter robust to other jobs on the machine); prints the ratios. Also the KS distance of
    the first input's SLQ estimate to its dense eigenvalues.

Run: ``python benchmarks/bench_spectrum.py [--skip-accuracy] [--skip-speed]
[--width 4096 --depth 100 --inputs 128 --steps 60]``. Part (b) needs ~8 GB of memory.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from idmlp.jacobian.dense import singular_values
from idmlp.jacobian.lanczos import slq
from idmlp.nets.mlp import IdentityMLP
from idmlp.theory import critical_point, ks_distance, random_mlp


def trained_like(width: int, depth: int, act: str, dtype: torch.dtype, eps: float = 0.05,
                 seed: int = 0) -> IdentityMLP:
    """``W = I + eps G / sqrt(N)``: ``||W - I||_F / ||I||_F = eps``."""
    net = IdentityMLP(width, depth, 1.0, act, dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in net.layers:
            noise = torch.randn(width, width, generator=gen, dtype=dtype)
            layer.weight.add_(noise.mul_(eps / math.sqrt(width)))
    return net


def accuracy(width: int, depth: int, inputs: int, steps: int, probes: int) -> None:
    print(f"(a) accuracy: width {width}, depth {depth}, {inputs} inputs x {probes} probes, "
          f"{steps} Lanczos steps, float64")
    cp = critical_point("tanh", sigma_b=0.05)
    nets = {
        "trained-like identity, hard-tanh, q0=0.1": (trained_like(width, depth, "hardtanh",
                                                                  torch.float64), 0.1),
        "trained-like identity, tanh, q0=0.1": (trained_like(width, depth, "tanh",
                                                             torch.float64), 0.1),
        "random orthogonal tanh at criticality": (random_mlp(width, depth, cp.sigma_w,
                                                             cp.sigma_b, "tanh", "orthogonal",
                                                             seed=0), 1.0),
    }
    print(f"  {'network':44s} {'KS':>7s} {'KS steps':>8s} {'mean slq/dense':>15s} "
          f"{'dense s':>8s} {'slq s':>7s} {'decades 1-99%':>13s}")
    for name, (net, q0) in nets.items():
        gen = torch.Generator().manual_seed(1)
        x = torch.randn(inputs, width, generator=gen, dtype=torch.float64) * math.sqrt(q0)
        t0 = time.perf_counter()
        lam = (singular_values(net, x, dtype=torch.float64) ** 2).numpy()
        t_dense = time.perf_counter() - t0
        t0 = time.perf_counter()
        est = slq(net, x, steps=steps, probes=probes)
        t_slq = time.perf_counter() - t0

        class Steps:
            atoms = ()

            def cdf(self, t: np.ndarray, est=est) -> np.ndarray:  # noqa: ANN001
                return est.cdf(t, interpolate=False)

        ks_steps = ks_distance(lam, Steps(), floor=est.resolution).ks
        pos = lam[lam > 1e3 * est.eps * lam.max()]
        lo, hi = np.quantile(pos, [0.01, 0.99])
        print(f"  {name:44s} {ks_distance(lam, est, floor=est.resolution).ks:7.4f} {ks_steps:8.4f} "
              f"{est.mean() / lam.mean():15.4f} {t_dense:8.1f} {t_slq:7.1f} "
              f"{math.log10(hi / lo):13.1f}")


def speed(width: int, depth: int, inputs: int, steps: int, device: str) -> None:
    dtype = torch.float32
    print(f"(b) speed: width {width}, depth {depth}, float32, {torch.get_num_threads()} "
          f"threads, device {device}")
    t0 = time.perf_counter()
    net = trained_like(width, depth, "hardtanh", dtype).to(device)
    print(f"  built the network in {time.perf_counter() - t0:.1f} s "
          f"({width * width * depth * 4 / 2**30:.1f} GiB of weights)")
    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(inputs, width, generator=gen, dtype=dtype) * math.sqrt(0.1)).to(device)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    if device.startswith("cuda"):  # warm-up (allocator, kernels); not needed on the CPU
        singular_values(net, x[:1])
        slq(net, x[:2], steps=2)
    sync()
    t0, c0 = time.perf_counter(), time.process_time()
    lam0 = (singular_values(net, x[:1]) ** 2).double().cpu().numpy()
    sync()
    t_dense, c_dense = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    est = slq(net, x, steps=steps)
    sync()
    t_slq, c_slq = time.perf_counter() - t0, time.process_time() - c0
    print(f"  dense singular_values, 1 input:       {t_dense:8.1f} s wall, {c_dense:8.1f} s CPU")
    print(f"  SLQ, {inputs} inputs x 1 probe, {steps} steps: {t_slq:8.1f} s wall, "
          f"{c_slq:8.1f} s CPU = {t_slq / inputs:.2f} s wall per input")
    print(f"  speed-up per input: {t_dense * inputs / t_slq:.1f}x wall clock, "
          f"{c_dense * inputs / c_slq:.1f}x CPU time (CPU time is robust to other load)")
    first = est.per_input(0)
    print(f"  KS of input 0's SLQ estimate (one probe) to its dense eigenvalues: "
          f"{ks_distance(lam0, first, floor=est.resolution).ks:.4f}; mean "
          f"{first.mean():.4f} vs {lam0.mean():.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--inputs", type=int, default=128)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--acc-width", type=int, default=794)
    ap.add_argument("--acc-depth", type=int, default=50)
    ap.add_argument("--acc-inputs", type=int, default=8)
    ap.add_argument("--acc-probes", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    if not args.skip_accuracy:
        accuracy(args.acc_width, args.acc_depth, args.acc_inputs, args.steps, args.acc_probes)
    if not args.skip_speed:
        speed(args.width, args.depth, args.inputs, args.steps, args.device)


if __name__ == "__main__":
    main()
