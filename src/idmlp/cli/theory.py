"""``idmlp theory``: the law of the eigenvalues of J J^T at identity initialization,
optionally checked against the Jacobians of a real network."""

from __future__ import annotations

import argparse
import dataclasses
import json

from ..config import ACTIVATIONS
from ._common import add_output, positive_float, positive_int

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "theory",
        help="eigenvalue law of J J^T at identity initialization (and its empirical check)",
        description="Print the law of the eigenvalues of J J^T for an identity-initialized "
        "MLP (hard-tanh: the poster's Bernoulli law; other activations: exact by quadrature), "
        "the isometry condition, and with --empirical the Jacobians of a real network; "
        "write figures.",
    )
    p.add_argument("--sigma", type=positive_float, required=True, help="identity scale")
    p.add_argument("--q0", type=positive_float, required=True, help="input variance")
    p.add_argument("--depth", type=positive_int, required=True, help="number of layers L")
    p.add_argument("--activation", default="hardtanh", choices=ACTIVATIONS)
    p.add_argument("--empirical", action="store_true", help="also measure a real network")
    p.add_argument("--width", type=positive_int, default=500, help="width N (default 500)")
    p.add_argument("--samples", type=positive_int, default=16, help="inputs B (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the inputs (default 0)")
    p.add_argument("--eps", type=positive_float, default=0.05,
                   help="tolerated dead fraction for the isometry region (default 0.05)")
    p.add_argument("--kappa", type=positive_float, default=2.0,
                   help="tolerated factor on sigma^(2L) (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_output(p, "idmlp-theory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._io import atomic_output_dir, check_output_dir, save_json

    # What the arguments alone decide, before torch and matplotlib are imported.
    if not 0 < args.eps < 1:
        raise ValueError(f"--eps must lie in (0, 1), got {args.eps}")
    if args.kappa <= 1:
        raise ValueError(f"--kappa must be > 1, got {args.kappa}")
    check_output_dir(args.out, args.overwrite)

    from ..jacobian import compare, empirical_spectrum
    from ..plots.theory import plot_alpha_map, plot_spectrum
    from ..theory import spectrum, theory_summary
    summary = {"config": {k: v for k, v in vars(args).items() if k != "func"},
               **theory_summary(args.sigma, args.q0, args.depth, args.activation,
                                eps=args.eps, kappa=args.kappa)}
    law = spectrum(args.sigma, args.q0, args.depth, args.activation)
    print(f"identity-initialized MLP: activation={args.activation}, sigma={args.sigma:g}, "
          f"q0={args.q0:g}, L={args.depth}")
    if "alpha" in summary:
        a = summary["alpha"]
        which = "alpha^L" if args.sigma > 1 else "alpha^1"
        print(f"  surviving fraction a = {which} = {a['a']:.6f}   (alpha^1 = "
              f"{a['alpha_1']:.6f}, alpha^L = {a['alpha_L']:.6f})")
    print("  law of the eigenvalues of J J^T:")
    for loc, mass in law.atoms:
        print(f"    atom at lambda = {loc:.6g}: mass {mass:.6f}")
    if sum(m for _, m in law.atoms) < 1 - 1e-9:  # a continuous part: show its quantiles
        q = summary["law"]["quantiles"]
        print("    quantiles: " + ", ".join(f"{k} {v:.4g}" for k, v in q.items()))
    print(f"    mean {law.mean():.6g}, mass at zero {law.mass_at_zero:.6f}")
    region = summary["isometry_region"]
    inside = "inside" if region["contains"] else "outside"
    label = "isometry region" if args.activation == "hardtanh" else "hard-tanh isometry region"
    print(f"  {label} (eps={args.eps:g}, kappa={args.kappa:g}): sigma in "
          f"[{region['sigma_min']:.4f}, {region['sigma_max']:.4f}], q0 <= "
          f"{region['q0_max_at_sigma']:.4g} at this sigma -> {inside}")

    lam = None
    if args.empirical:
        lam = empirical_spectrum(args.width, args.depth, args.sigma, args.q0,
                                 activation=args.activation, samples=args.samples,
                                 seed=args.seed, progress=not args.quiet)
        cmp = compare(lam, law)
        summary["empirical"] = dataclasses.asdict(cmp)
        print(f"  empirical (width {args.width}, {args.samples} inputs, float64, n={cmp.n}):")
        print(f"    nonzero fraction {cmp.nonzero_empirical:.4f} vs theory "
              f"{cmp.nonzero_theory:.4f} (z = {cmp.z:+.2f} standard errors)")
        print(f"    KS distance {cmp.ks:.4f} (99% DKW bound {cmp.ks_bound:.4f}); mean "
              f"{cmp.mean_empirical:.6g} vs {cmp.mean_theory:.6g}")

    with atomic_output_dir(args.out, args.overwrite) as tmp:
        plot_spectrum(law, lam, tmp / "spectrum.png")
        plot_alpha_map(args.depth, tmp / "alpha_map.png", eps=args.eps, kappa=args.kappa,
                       point=(args.sigma, args.q0))
        save_json(tmp / "summary.json", json.loads(json.dumps(summary, default=float)))
    print(f"  wrote {args.out}/spectrum.png, alpha_map.png, summary.json")
    return 0
