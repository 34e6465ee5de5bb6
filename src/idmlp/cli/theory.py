"""``idmlp theory``: the law of the eigenvalues of J J^T at identity initialization,
optionally on a real data set (``--dataset``), checked against the Jacobians of a real
network (``--empirical``), and side by side with orthogonal and Gaussian initialization
and the identity family (``--compare-inits [--inits ...]``). The analysis is
:mod:`idmlp.theory.report`; this module parses, calls it and prints."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import ACTIVATIONS, check_dataset_name
from ..theory._inits import ALL_INITS, INITS
from ..theory.report import JACOBIAN_PATHS, SLQ_WIDTH
from ._common import add_output, nonnegative_float, positive_float, positive_int

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
    p.add_argument("--dataset", default=None,
                   help="also give the law on a real data set's training split (the names of "
                   "'idmlp train'; scaled as training scales it, times sqrt(q0), padded with "
                   "C zeros), next to the Gaussian law")
    p.add_argument("--compare-inits", action="store_true",
                   help="identity, orthogonal and Gaussian init side by side at this depth: "
                   "theory (free probability for the random inits) and measured at --width "
                   "and --samples inputs; writes inits.png")
    p.add_argument("--inits", default=None,
                   help=f"comma list of the initializations of --compare-inits, of "
                   f"{', '.join(ALL_INITS)} (default: {','.join(INITS)}); looks_linear needs "
                   "an even --width and relu or an odd activation")
    p.add_argument("--sigma-b", type=nonnegative_float, default=None,
                   help="bias standard deviation of the random inits of --compare-inits "
                   "(default 0)")
    p.add_argument("--jacobian", choices=JACOBIAN_PATHS, default="auto",
                   help="how --empirical and --compare-inits measure: dense Jacobians, "
                   f"or stochastic Lanczos quadrature (slq); auto: slq above width "
                   f"{SLQ_WIDTH} (default auto)")
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


def _check(args: argparse.Namespace) -> None:
    """What the arguments alone decide, before torch and matplotlib are imported."""
    if not 0 < args.eps < 1:
        raise ValueError(f"--eps must lie in (0, 1), got {args.eps}")
    if args.kappa <= 1:
        raise ValueError(f"--kappa must be > 1, got {args.kappa}")
    if args.dataset is not None:
        try:
            check_dataset_name(args.dataset)
        except ValueError as err:
            raise ValueError(f"--dataset: {err}") from None
    if args.sigma_b is not None and not args.compare_inits:
        raise ValueError("--sigma-b sets the biases of --compare-inits' random networks; add "
                         "--compare-inits or drop --sigma-b")
    if args.inits is not None:
        if not args.compare_inits:
            raise ValueError("--inits chooses the initializations of --compare-inits; add "
                             "--compare-inits or drop --inits")
        names = tuple(n.strip() for n in args.inits.split(","))
        bad = [n for n in names if n not in ALL_INITS]
        if bad or not names or len(set(names)) != len(names):
            raise ValueError(f"--inits must be a comma list of distinct names from "
                             f"{', '.join(ALL_INITS)}; got {args.inits!r}")
        if "looks_linear" in names and args.width % 2:
            raise ValueError(f"--inits looks_linear needs an even --width (mirrored blocks of "
                             f"width/2), got {args.width}")
        if "looks_linear" in names and args.activation not in ("relu", "tanh", "hardtanh",
                                                               "linear"):
            raise ValueError("--inits looks_linear has a closed form for relu, tanh, hardtanh "
                             f"and linear only; got --activation {args.activation}")
        args.inits = names
    if args.jacobian != "auto" and not (args.compare_inits or args.empirical):
        raise ValueError("--jacobian chooses how --empirical and --compare-inits measure; add "
                         "one of them or drop --jacobian")


def _print_laws(gauss: dict[str, Any], data: dict[str, Any]) -> None:
    print(f"  law on {data['dataset']} ({data['n_train']} training inputs x "
          f"({data['in_features']} + {data['num_classes']}) coordinates, {data['scaling']} "
          "scaling as in training, times sqrt(q0)) next to the Gaussian law:")
    print(f"    {'':18s}{'data':>14s}{'Gaussian':>14s}")
    print(f"    {'nonzero fraction':18s}{data['nonzero_fraction']:>14.6f}"
          f"{gauss['nonzero_fraction']:>14.6f}")
    print(f"    {'mean':18s}{_num(data['mean'], data['log10_mean']):>14s}"
          f"{_num(gauss['mean'], gauss['log10_mean']):>14s}")
    for k, v in data["quantiles"].items():
        g = gauss["quantiles"][k]
        print(f"    {k + ' quantile':18s}{_num(v['lambda'], v['log10_lambda']):>14s}"
              f"{_num(g['lambda'], g['log10_lambda']):>14s}")


def _g(value: float | None, spec: str) -> str:
    """A number of a strict-JSON summary (``None``: beyond float64)."""
    return "overflow" if value is None else format(value, spec)


def _print_empirical(emp: dict[str, Any], width: int, samples: int) -> None:
    if emp["jacobian"] == "slq":
        print(f"  empirical (width {width}, {samples} inputs; SLQ, {emp['why']}; float32):")
        print(f"    nonzero fraction {emp['nonzero_empirical']:.4f} vs theory "
              f"{emp['nonzero_theory']:.4f} (quadrature weights: a stochastic estimate with "
              "one probe per input)")
        print(f"    KS distance {emp['ks']:.4f} (SLQ's interpolated CDF against the law); mean "
              f"{_g(emp['mean_empirical'], '.6g')} vs {_g(emp['mean_theory'], '.6g')}")
        return
    print(f"  empirical (width {width}, {samples} inputs, float64, n={emp['n']}; dense "
          f"Jacobians, {emp['why']}):")
    print(f"    nonzero fraction {emp['nonzero_empirical']:.4f} vs theory "
          f"{emp['nonzero_theory']:.4f} (z = {emp['z']:+.2f} standard errors)")
    print(f"    KS distance {emp['ks']:.4f} (99% DKW bound {emp['ks_bound']:.4f}); mean "
          f"{_g(emp['mean_empirical'], '.6g')} vs {_g(emp['mean_theory'], '.6g')}")


def _print_inits(table: dict[str, Any], args: argparse.Namespace) -> None:
    names = ", ".join(table["inits"])
    print(f"  {names} init (sigma_w={args.sigma:g}, sigma_b={args.sigma_b or 0.0:g}), "
          f"measured at width {args.width}, {args.samples} inputs:")
    print(f"    random networks: "
          f"{'dense Jacobians' if table['jacobian'] == 'dense' else 'SLQ'} ({table['why']}); "
          "identity (and ZerO at equal widths): exact diagonal Jacobian")
    print(f"    {'init':17s}{'mean theory':>13s}{'measured':>11s}{'var theory':>13s}"
          f"{'measured':>11s}{'KS':>8s}{'DKW 99%':>9s}")
    for init, row in table["inits"].items():
        print(f"    {init:17s}{_g(row['theory_mean'], '.4g'):>13s}"
              f"{_g(row['measured_mean'], '.4g'):>11s}{_g(row['theory_var'], '.4g'):>13s}"
              f"{_g(row['measured_var'], '.4g'):>11s}{_g(row['ks'], '.4f'):>8s}"
              f"{_g(row['dkw'], '.4f'):>9s}")
    if table["jacobian"] == "slq":
        print("    (SLQ: 60 quadrature nodes per input resolve the CDF on a linear scale; mass "
              "spread over decades near 0, as for Gaussian weights, is lumped into the lowest "
              "node, which the KS distance shows)")


def run(args: argparse.Namespace) -> int:
    from .._io import atomic_output_dir, check_output_dir, save_json

    _check(args)
    check_output_dir(args.out, args.overwrite)

    from ..plots.theory import plot_alpha_map, plot_spectrum
    from ..theory.identity import spectrum
    from ..theory.report import data_law, empirical_check, measure_inits, theory_summary

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

    dlaw = None
    if args.dataset is not None:
        dlaw, summary["data_law"] = data_law(args.dataset, args.sigma, args.q0, args.depth,
                                             args.activation)
        _print_laws(lsum, summary["data_law"])

    lam = None
    if args.empirical:
        lam, summary["empirical"] = empirical_check(
            args.sigma, args.q0, args.depth, args.activation, width=args.width,
            samples=args.samples, seed=args.seed, jacobian=args.jacobian,
            progress=not args.quiet)
        _print_empirical(summary["empirical"], args.width, args.samples)

    cmp = None
    if args.compare_inits:
        cmp, summary["inits"] = measure_inits(
            args.depth, args.width, args.activation, args.sigma, args.sigma_b or 0.0, args.q0,
            samples=args.samples, seed=args.seed, jacobian=args.jacobian, inits=args.inits,
            progress=not args.quiet)
        _print_inits(summary["inits"], args)

    with atomic_output_dir(args.out, args.overwrite) as tmp:
        plot_spectrum(law, lam, tmp / "spectrum.png", data_law=dlaw)
        plot_alpha_map(args.depth, tmp / "alpha_map.png", eps=args.eps, kappa=args.kappa,
                       point=(args.sigma, args.q0))
        written = ["spectrum.png", "alpha_map.png"]
        if cmp is not None:
            from ..plots import save_figure
            from ..plots.spectra import plot_init_spectra

            save_figure(plot_init_spectra(cmp), tmp / "inits.png")
            written.append("inits.png")
        save_json(tmp / "summary.json", summary)
    print(f"  wrote {args.out}/{', '.join(written)}, summary.json")
    return 0
