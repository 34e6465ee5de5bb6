"""``idmlp theory``: the law of the eigenvalues of J J^T at identity initialization,
optionally on a real data set (``--dataset``), checked against the Jacobians of a real
network (``--empirical``), and side by side with orthogonal and Gaussian initialization
(``--compare-inits``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from typing import Any

from ..config import ACTIVATIONS, check_dataset_name
from ._common import add_output, nonnegative_float, positive_float, positive_int

__all__ = ["JACOBIAN_PATHS", "SLQ_WIDTH", "add_parser", "jacobian_path", "run"]

#: Above this width the random networks of ``--compare-inits`` are measured by stochastic
#: Lanczos quadrature (:func:`idmlp.jacobian.lanczos.slq`) instead of dense Jacobians.
SLQ_WIDTH = 1024
#: Choices of ``--jacobian``.
JACOBIAN_PATHS: tuple[str, ...] = ("auto", "dense", "slq")


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


def jacobian_path(choice: str, width: int) -> tuple[str, str]:
    """``dense`` or ``slq`` for the networks of ``--empirical`` and ``--compare-inits``, and
    why.

    Examples:
        >>> jacobian_path("auto", 4096)[0], jacobian_path("auto", 500)[0]
        ('slq', 'dense')
    """
    if choice not in JACOBIAN_PATHS:
        raise ValueError(f"--jacobian must be one of {', '.join(JACOBIAN_PATHS)}, got {choice!r}")
    if choice != "auto":
        return choice, "as asked (--jacobian)"
    if width > SLQ_WIDTH:
        return "slq", (f"width {width} > {SLQ_WIDTH}: a dense Jacobian costs 2 L N^3 flops per "
                       "input, stochastic Lanczos quadrature 4 k L N^2 (k = 60 steps)")
    return "dense", f"width {width} <= {SLQ_WIDTH}: exact singular values"


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
    if args.jacobian != "auto" and not (args.compare_inits or args.empirical):
        raise ValueError("--jacobian chooses how --empirical and --compare-inits measure; add "
                         "one of them or drop --jacobian")


def _data_law(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The law on ``--dataset``'s training split as training feeds it (idmlp train's
    defaults: split, validation hold-out, scaling), times sqrt(q0), padded with C zeros."""
    import numpy as np

    from ..config import DataConfig
    from ..theory import spectrum_on_data

    config = DataConfig(dataset=args.dataset)
    ds = config.load()
    x = config.scaler(ds).transform(ds.X_train).astype(np.float64) * math.sqrt(args.q0)
    law = spectrum_on_data(x, args.sigma, args.depth, args.activation,
                           num_classes=ds.num_classes)
    info = {"dataset": ds.name, "n_train": int(x.shape[0]), "in_features": int(x.shape[1]),
            "num_classes": int(ds.num_classes),
            "scaling": config.resolved_scaling(ds.image_shape, ds.layout)}
    return law, {**info, **law.summary()}


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


def _slq_sample(est: Any, n: int) -> Any:
    """``n`` evenly spaced quantiles of an SLQ measure (for its histogram and CDF plots)."""
    import numpy as np

    cum = np.cumsum(est.weights)
    idx = np.searchsorted(cum, (np.arange(n) + 0.5) / n * cum[-1])
    return est.values[np.minimum(idx, cum.size - 1)].reshape(-1, est.width)


def _check_slq_memory(width: int, depth: int, samples: int, itemsize: int) -> None:
    """The weights, and the Lanczos basis and saved states of ``B x 60`` vectors."""
    from ..runtime import check_memory

    check_memory(itemsize * (depth * width**2 + (60 + 4 * depth) * samples * width),
                 f"SLQ on a width-{width}, depth-{depth} network",
                 "use a smaller --width or --depth")


def _empirical_slq(args: argparse.Namespace, law: Any, why: str) -> tuple[Any, dict[str, Any]]:
    """``--empirical`` above :data:`SLQ_WIDTH`: the spectral density of an identity-initialized
    network's ``J^T J`` by stochastic Lanczos quadrature (float32: a dense float64 stack of
    100 layers of width 4096 alone is 13 GB), against the law."""
    import numpy as np
    import torch

    from ..jacobian.lanczos import slq
    from ..nets.mlp import IdentityMLP
    width, depth, samples = args.width, args.depth, args.samples
    _check_slq_memory(width, depth, samples, 4)
    net = IdentityMLP(width, depth, args.sigma, args.activation)
    gen = torch.Generator().manual_seed(args.seed)
    u = torch.randn(samples, width, generator=gen) * math.sqrt(args.q0)
    est = slq(net, u)
    # The SLQ CDF (Chebyshev-Markov-Stieltjes interpolation between quadrature nodes)
    # against the law's on a log grid above 1e3 eps of the top eigenvalue: below it a zero
    # eigenvalue lands after float32 rounding, so that part enters only as mass.
    top = float(np.max(est.nodes))
    grid = np.geomspace(max(top, 1e-300) * 1e3 * est.eps, 1.01 * max(top, 1e-300), 4000)
    ks = float(np.max(np.abs(est.cdf(grid) - law.cdf(grid))))
    nonzero = float(est.node_weights[est.nodes > 1e-6 * top].sum() / est.node_weights.sum())
    out = {"jacobian": "slq", "why": why, "dtype": "float32", "steps": est.steps,
           "probes": est.probes, "inputs": samples, "ks": ks,
           "nonzero_empirical": nonzero, "nonzero_theory": law.nonzero_fraction,
           "mean_empirical": est.mean(), "mean_theory": law.mean()}
    print(f"  empirical (width {width}, {samples} inputs; SLQ, {why}; float32):")
    print(f"    nonzero fraction {nonzero:.4f} vs theory {law.nonzero_fraction:.4f} "
          "(quadrature weights: a stochastic estimate with one probe per input)")
    print(f"    KS distance {ks:.4f} (SLQ's interpolated CDF against the law); mean "
          f"{est.mean():.6g} vs {law.mean():.6g}")
    return _slq_sample(est, samples * width), out


def _compare_inits(args: argparse.Namespace, progress: bool) -> tuple[Any, dict[str, Any]]:
    """Theory and measurement for identity, orthogonal and Gaussian init (the printed
    table and summary.json's ``inits``)."""
    from ..jacobian.dense import spectrum_memory
    from ..jacobian.lanczos import slq
    from ..runtime import check_memory, progress_bar
    from ..theory import compare_inits
    from ..theory.compare import INITS, jacobian_eigenvalues, ks_distance, random_mlp, sphere_inputs

    sigma_b = args.sigma_b or 0.0
    path, why = jacobian_path(args.jacobian, args.width)
    print(f"  identity, orthogonal and Gaussian init (sigma_w={args.sigma:g}, "
          f"sigma_b={sigma_b:g}), measured at width {args.width}, {args.samples} inputs:")
    print(f"    random networks: {'dense Jacobians' if path == 'dense' else 'SLQ'} ({why}); "
          "identity: exact diagonal Jacobian")
    width, depth, samples = args.width, args.depth, args.samples
    if path == "dense":
        check_memory(spectrum_memory(width, depth, samples),
                     f"the dense Jacobians of a width-{width}, depth-{depth} network",
                     "use --jacobian slq or a smaller --width / --depth")
    else:
        _check_slq_memory(width, depth, samples, 8)
    cmp = compare_inits(depth, width, args.activation, args.sigma, sigma_b, args.q0,
                        seed=args.seed)
    eigs, ks, moments = {}, {}, {}
    for k, init in enumerate(progress_bar(INITS, enabled=progress, desc="inits", leave=False)):
        net = random_mlp(width, depth, args.sigma, 0.0 if init == "identity" else sigma_b,
                         args.activation, init, seed=args.seed + k)
        if init == "identity" or path == "dense":  # compare_inits' networks and inputs
            lam = jacobian_eigenvalues(net, args.q0, samples, seed=args.seed + k)
            eigs[init], ks[init] = lam, ks_distance(lam, cmp.laws[init])
            moments[init] = (float(lam.mean()), float(lam.var(axis=-1).mean()))
        else:
            est = slq(net, sphere_inputs(width, args.q0, samples, seed=args.seed + k))
            eigs[init] = _slq_sample(est, samples * width)
            ks[init] = ks_distance(est.nodes, cmp.laws[init], weights=est.node_weights)
            moments[init] = (est.mean(), est.var())
    cmp = dataclasses.replace(cmp, eigenvalues=eigs)
    table: dict[str, Any] = {"jacobian": path, "why": why, "inits": {}}
    print(f"    {'init':11s}{'mean theory':>13s}{'measured':>11s}{'var theory':>13s}"
          f"{'measured':>11s}{'KS':>8s}{'DKW 99%':>9s}")
    for init, law in cmp.laws.items():
        mean, var = moments[init]
        row = {"theory_mean": law.mean(), "measured_mean": mean, "theory_var": law.var(),
               "measured_var": var, "theory_mass_at_zero": law.mass_at_zero,
               "ks": ks[init].ks, "dkw": ks[init].dkw}
        table["inits"][init] = {k: v if math.isfinite(v) else None for k, v in row.items()}
        print(f"    {init:11s}{law.mean():>13.4g}{mean:>11.4g}{law.var():>13.4g}{var:>11.4g}"
              f"{ks[init].ks:>8.4f}{ks[init].dkw:>9.4f}")
    if path == "slq":
        print("    (SLQ: 60 quadrature nodes per input resolve the CDF on a linear scale; mass "
              "spread over decades near 0, as for Gaussian weights, is lumped into the lowest "
              "node, which the KS distance shows)")
    return cmp, table


def run(args: argparse.Namespace) -> int:
    from .._io import atomic_output_dir, check_output_dir, save_json

    _check(args)
    check_output_dir(args.out, args.overwrite)

    from ..jacobian.dense import compare, empirical_spectrum
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

    data_law = None
    if args.dataset is not None:
        data_law, summary["data_law"] = _data_law(args)
        _print_laws(lsum, summary["data_law"])

    lam = None
    if args.empirical:
        path, why = jacobian_path(args.jacobian, args.width)
        if path == "slq":
            lam, summary["empirical"] = _empirical_slq(args, law, why)
        else:
            lam = empirical_spectrum(args.width, args.depth, args.sigma, args.q0,
                                     activation=args.activation, samples=args.samples,
                                     seed=args.seed, progress=not args.quiet)
            emp = compare(lam, law)
            summary["empirical"] = {"jacobian": "dense", "why": why, **dataclasses.asdict(emp)}
            print(f"  empirical (width {args.width}, {args.samples} inputs, float64, "
                  f"n={emp.n}; dense Jacobians, {why}):")
            print(f"    nonzero fraction {emp.nonzero_empirical:.4f} vs theory "
                  f"{emp.nonzero_theory:.4f} (z = {emp.z:+.2f} standard errors)")
            print(f"    KS distance {emp.ks:.4f} (99% DKW bound {emp.ks_bound:.4f}); mean "
                  f"{emp.mean_empirical:.6g} vs {emp.mean_theory:.6g}")

    cmp = None
    if args.compare_inits:
        cmp, summary["inits"] = _compare_inits(args, progress=not args.quiet)

    with atomic_output_dir(args.out, args.overwrite) as tmp:
        plot_spectrum(law, lam, tmp / "spectrum.png", data_law=data_law)
        plot_alpha_map(args.depth, tmp / "alpha_map.png", eps=args.eps, kappa=args.kappa,
                       point=(args.sigma, args.q0))
        written = ["spectrum.png", "alpha_map.png"]
        if cmp is not None:
            from ..plots import save_figure
            from ..plots.spectra import plot_init_spectra

            save_figure(plot_init_spectra(cmp), tmp / "inits.png")
            written.append("inits.png")
        save_json(tmp / "summary.json", json.loads(json.dumps(summary, default=float)))
    print(f"  wrote {args.out}/{', '.join(written)}, summary.json")
    return 0
