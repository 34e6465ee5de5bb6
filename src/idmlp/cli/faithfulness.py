"""``idmlp faithfulness``: how faithful are a trained run's maps? Deletion, insertion,
ROAD, FaithfulnessCorrelation, randomization tests, RandomLogit and cost, against LRP and
Captum's attribution methods; the grid pointing game for a CNN.

Writes into ``RUN/faithfulness`` (or ``--out``), built under a temporary name::

    faithfulness.csv     one row per method (and per measured layer): AUCs, drops,
                         sanity correlations, the field's measures with 95% bootstrap
                         intervals, costs
    faithfulness.json    the same, the mean curves, randomization curves and settings
    pointing.json        with --pointing-game: the grid pointing game
    *.png                deletion/insertion curves, AUCs, cost against AUC (per layer too)

and saves the report's faithfulness section in the run (``RUN/report_sections``), then
rebuilds the run's interpret report (``RUN/interpret/report.html``) with it when there is
one; ``idmlp interpret`` run later shows it too (idmlp.report.run_report).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..faithfulness.measures import RUN_MEASURES
from ..faithfulness.methods import method_names
from ._common import add_device, add_run_output, positive_int, run_output

__all__ = ["add_parser", "run"]

# the registry's (idmlp.faithfulness.methods.METHODS, .measures.MEASURES)
_METHODS = method_names("lrp", "captum")
_DEFAULT = method_names("lrp", "captum", default=True)
_MAPS = method_names("builtin")
_DEFAULT_MAPS = method_names("builtin", default=True)
_MEASURES = RUN_MEASURES
_DEFAULT_MEASURES = tuple(m for m in RUN_MEASURES if m != "labels")


def _names(text: str, choices: tuple[str, ...], flag: str) -> tuple[str, ...]:
    if text == "all":
        return choices
    items = tuple(p.strip() for p in text.split(",") if p.strip()) if text != "none" else ()
    bad = [p for p in items if p not in choices]
    if bad:
        raise argparse.ArgumentTypeError(f"{flag}: {bad[0]!r} is not one of "
                                         f"{', '.join(choices)} (or none)")
    return items


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "faithfulness",
        help="faithfulness of a run's maps (deletion, ROAD, FaithfulnessCorrelation, "
        "randomization tests, RandomLogit, pointing game) against LRP and Captum's methods",
        description="Measure how faithful the interpretable network's own maps (the logit "
        "split: the contrastive logit split exactly over the input, whose positive part "
        "is the default map; class "
        "evidence, x^l - x^0, x^l - x^l_id; a CNN's class channels) are, against LRP-epsilon "
        "and Captum's Saliency, InputXGradient, IntegratedGradients (and GradientShap, "
        "DeepLift), with abs(input) "
        "and random orderings as baselines: deletion and insertion curves (pixel flipping), "
        "ROAD (Rong et al. 2022), FaithfulnessCorrelation (Bhatt et al. 2020), cascading and "
        "per-layer model-parameter randomization and label randomization (Adebayo et al. "
        "2018), RandomLogit (Sixt et al. 2020), with bootstrap 95% intervals, and the cost "
        "per explanation; with --pointing-game, the grid pointing game of a CNN run. "
        "Captum's methods need Captum: pip install 'idmlp[xai]'.",
    )
    add_run_output(p, "idmlp train", "faithfulness")
    p.add_argument("--methods", default=",".join(_DEFAULT),
                   type=lambda t: _names(t, _METHODS, "--methods"),
                   help=f"comma list of {', '.join(_METHODS)}, or none "
                   f"(default: {','.join(_DEFAULT)})")
    p.add_argument("--metrics", default=",".join(_DEFAULT_MEASURES),
                   type=lambda t: _names(t, _MEASURES, "--metrics"),
                   help=f"measures besides deletion/insertion: comma list of "
                   f"{', '.join(_MEASURES)}, 'all' or none ('labels' trains the network "
                   f"again on permuted labels; default: {','.join(_DEFAULT_MEASURES)})")
    p.add_argument("--stages", type=positive_int, default=5,
                   help="model-parameter randomization: stages per order (cascading from "
                   "the top, one layer at a time), evenly spaced over the layers, always "
                   "with all layers; each recomputes every map (default: 5)")
    p.add_argument("--label-epochs", type=positive_int, default=None,
                   help="epochs of the label-randomized network (default: the run's)")
    p.add_argument("--pointing-game", action="store_true",
                   help="also play the grid pointing game (CNN runs: 2x2 grids of "
                   "confidently classified test digits of distinct classes)")
    p.add_argument("--grids", type=positive_int, default=500,
                   help="grids of the pointing game (default: 500)")
    p.add_argument("--maps", default=",".join(_DEFAULT_MAPS),
                   type=lambda t: _names(t, _MAPS, "--maps"),
                   help=f"comma list of the run's maps: {', '.join(_MAPS)}, or all (default: "
                   f"{','.join(_DEFAULT_MAPS)})")
    p.add_argument("--samples", type=positive_int, default=200,
                   help="test images explained (default: 200)")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="which split the images come from (default: test)")
    p.add_argument("--layers", default=None,
                   help="also measure every listed layer against its own readout: a comma "
                   "list of layers, or 'all' (slow: one Captum run per layer)")
    p.add_argument("--reference", choices=("shuffled", "identity"), default="shuffled",
                   help="the randomized network of the sanity check: the learned change "
                   "W - sigma I shuffled within each layer, or the untrained identity "
                   "network (default: shuffled)")
    p.add_argument("--steps", type=positive_int, default=32,
                   help="IntegratedGradients steps / GradientShap samples (default: 32)")
    p.add_argument("--schedule", type=positive_int, default=20,
                   help="steps of k from 0 to N on each curve (default: 20)")
    p.add_argument("--bootstrap", type=positive_int, default=2000,
                   help="bootstrap resamples of the intervals (default: 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    add_device(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._io import atomic_output_dir, check_output_dir, save_json
    from ..attribution import require_captum
    from ..faithfulness import faithfulness_run
    from ..faithfulness.pointing import run_pointing_game
    from ..plots.faithfulness import save_faithfulness_figures
    from ..report.faithfulness import faithfulness_section
    from ..report.run_report import refresh_interpret_report, report_lock, save_run_section
    from ..runtime import resolve_device
    from ..train.runs import load_config, load_run

    if args.seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {args.seed}")
    run_dir = Path(args.run)
    depth = load_config(run_dir).model.depth  # refuses a folder that is not a run
    layers = None
    if args.layers is not None:
        if args.layers == "all":
            layers = list(range(1, depth + 1))
        else:
            try:
                layers = [int(v) for v in args.layers.split(",")]
            except ValueError:
                raise ValueError(f"--layers must be 'all' or a comma list of layers in "
                                 f"1..{depth}, got {args.layers!r}") from None
            bad = [v for v in layers if not 1 <= v <= depth]
            if bad:
                raise ValueError(f"--layers must be in 1..{depth} (the run's depth), got {bad[0]}")
    if any(m in method_names("captum") for m in args.methods):
        require_captum()  # one line with the install command, before any work
    if args.pointing_game and load_config(run_dir).model.arch != "cnn":
        raise ValueError("--pointing-game needs a CNN run (idmlp train --arch cnn): an MLP's "
                         "weights depend on the image size")
    out = run_output(args)
    check_output_dir(out, args.overwrite)
    resolve_device(args.device)

    trained = load_run(run_dir, device=args.device)
    result = faithfulness_run(
        trained, split=args.split, samples=args.samples, maps=args.maps, methods=args.methods,
        layers=layers, reference=args.reference, steps=args.steps, schedule=args.schedule,
        n_resamples=args.bootstrap, seed=args.seed, progress=not args.quiet,
        metrics=args.metrics, label_epochs=args.label_epochs, stages=args.stages)
    pointing = None
    if args.pointing_game:
        pointing = run_pointing_game(trained, maps=args.maps, methods=args.methods,
                                     n_grids=args.grids, steps=args.steps,
                                     n_resamples=args.bootstrap, seed=args.seed)
    section = faithfulness_section(result)
    with atomic_output_dir(out, args.overwrite) as tmp:
        result.to_csv(tmp / "faithfulness.csv")
        save_json(tmp / "faithfulness.json", result.to_dict())
        if pointing is not None:
            save_json(tmp / "pointing.json", pointing.to_dict())
        save_faithfulness_figures(result, tmp)
    # the run's report: this section saved in the run, the interpret report rebuilt with it
    with report_lock(run_dir):
        save_run_section(run_dir, "faithfulness", section)
        report = refresh_interpret_report(run_dir, device=args.device)
    if not args.quiet:
        print(result.summary())
        if pointing is not None:
            print(pointing.summary())
    print(f"wrote {out}; {report}")
    return 0
