"""Random-init theory against real networks: the full moment and KS table, and its cost.

For each case (width, depth, activation, init) at the critical point with
``sigma_b = 0.05`` and inputs of mean square ``q0 = 1`` (away from the fixed point, so the
length map is followed layer by layer), ``--nets`` independent float64 networks
(:func:`idmlp.theory.random_mlp`, biases set by hand) with ``--inputs`` inputs each:

- mean and variance of the eigenvalues of ``J J^T`` (each network one replicate, the
  standard error over networks) against :func:`idmlp.theory.jacobian_moments`, with
  ``z = (measured - theory) / SE``;
- KS distance of the pooled eigenvalues (``t >= 1e-20 max``) to
  :func:`idmlp.theory.free_spectrum`, next to the 99% DKW radius of as many i.i.d. draws;
- the time of the theory (``free_spectrum``) against the dense eigenvalues, same run.

Run: ``python benchmarks/bench_theory.py [--nets 12 --inputs 2 --widths 500,1000]``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time

import numpy as np
import torch

from idmlp.theory import (
    critical_point,
    free_spectrum,
    jacobian_eigenvalues,
    jacobian_moments,
    ks_distance,
    random_mlp,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", type=int, default=12)
    ap.add_argument("--inputs", type=int, default=2)
    ap.add_argument("--widths", default="500,1000")
    ap.add_argument("--depths", default="4,8,16,32")
    ap.add_argument("--wide-depths", default="8,32", help="depths run at widths > 500")
    args = ap.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    depths = [int(d) for d in args.depths.split(",")]
    wide_depths = [int(d) for d in args.wide_depths.split(",")]
    print(f"{args.nets} networks x {args.inputs} inputs per case, float64, "
          f"{torch.get_num_threads()} threads; sigma_b = 0.05 at the critical point, q0 = 1")
    print(f"{'N':>5s} {'L':>3s} {'act':>8s} {'init':>10s} | {'mean (SE)':>17s} {'theory':>7s} "
          f"{'z':>6s} | {'var (SE)':>17s} {'theory':>7s} {'z':>6s} | {'KS':>6s} {'DKW':>6s} "
          f"| {'t_dense':>7s} {'t_law':>6s}")
    rows = []
    for width, act, init in itertools.product(widths, ("hardtanh", "tanh"),
                                              ("orthogonal", "gaussian")):
        cp = critical_point(act, sigma_b=0.05)
        for depth in depths if width <= 500 else wide_depths:
            t0 = time.perf_counter()
            lam = np.stack([
                jacobian_eigenvalues(random_mlp(width, depth, cp.sigma_w, cp.sigma_b, act,
                                                init, seed=r), 1.0, args.inputs, seed=1000 + r)
                for r in range(args.nets)
            ])
            t_dense = time.perf_counter() - t0
            t0 = time.perf_counter()
            law = free_spectrum(cp.sigma_w, cp.sigma_b, 1.0, depth, act, init)
            t_law = time.perf_counter() - t0
            th = jacobian_moments(cp.sigma_w, cp.sigma_b, 1.0, depth, act, init)
            per_net = np.stack([lam.mean(axis=2).mean(axis=1), lam.var(axis=2).mean(axis=1)], 1)
            m, se = per_net.mean(0), per_net.std(0, ddof=1) / math.sqrt(args.nets)
            z = (m - [th.mean, th.var]) / se
            ks = ks_distance(lam, law)
            rows.append(z)
            print(f"{width:5d} {depth:3d} {act:>8s} {init:>10s} | {m[0]:8.4f} ({se[0]:6.4f}) "
                  f"{th.mean:7.4f} {z[0]:+6.2f} | {m[1]:8.4f} ({se[1]:6.4f}) {th.var:7.4f} "
                  f"{z[1]:+6.2f} | {ks.ks:6.4f} {ks.dkw:6.4f} | {t_dense:7.1f} {t_law:6.1f}",
                  flush=True)
    z = np.abs(np.array(rows))
    print(f"{len(rows)} cases: max |z| mean {z[:, 0].max():.2f}, variance {z[:, 1].max():.2f}; "
          f"{np.mean(z < 3):.0%} of the {z.size} moments within 3 SE")


if __name__ == "__main__":
    main()
