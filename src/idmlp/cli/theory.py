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


def _num(value: float | None, log10: float | None) -> str:
    """A number from a strict-JSON summary, as ``1e+400.12`` from its log10 where float64
    overflows or underflows."""
    if log10 is None:
        return "0" if value is None else f"{value:.6g}"
    if value is None or (value == 0.0 or not 1e-300 < abs(value) < 1e300):
        return f"1e{log10:+.2f}"
    return f"{value:.6g}"


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
    lsum = summary["law"]
    for atom in lsum["atoms"]:
        print(f"    atom at lambda = {_num(atom['lambda'], atom['log10_lambda'])}: "
              f"mass {atom['mass']:.6f}")
    if sum(a["mass"] for a in lsum["atoms"]) < 1 - 1e-9:  # a continuous part: its quantiles
        print("    quantiles: " + ", ".join(f"{k} {_num(v['lambda'], v['log10_lambda'])}"
                                          for k, v in lsum["quantiles"].items()))
    print(f"    mean {_num(lsum['mean'], lsum['log10_mean'])}, mass at zero "
          f"{lsum['mass_at_zero']:.6f}")
    region = summary["isometry_region"]
    q0_max = region["q0_max_at_sigma"]
    inside = "inside" if region["contains"] else "outside"
    label = "isometry region" if args.activation == "hardtanh" else "hard-tanh isometry region"
    print(f"  {label} (eps={args.eps:g}, kappa={args.kappa:g}): sigma in "
          f"[{region['sigma_min']:.4f}, {region['sigma_max']:.4f}], q0 <= "
          f"{'inf' if q0_max is None else format(q0_max, '.4g')} at this sigma -> {inside}")

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
