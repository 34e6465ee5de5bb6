"""The paper end to end: train the interpretable MLP, read every layer, compare, report.

:func:`reproduce` trains :class:`~idmlp.nets.mlp.InterpretableMLP` with the defaults of
:class:`~idmlp.train.runs.RunConfig`, interprets it on the test split
(:func:`~idmlp.analysis.interpret.interpret_run`), fits scikit-learn's ``LogisticRegression`` and
``MLPClassifier`` on the same split, and compares the built-in per-layer readout with
linear probes on a standard-init MLP of the same depth and width
(:func:`~idmlp.analysis.probes.compare_probes`). Everything lands in one run folder with a
self-contained ``report.html``; the folder is built under a temporary name and appears
only when complete.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._io import atomic_output_dir, check_output_dir, save_json
from ._validation import check_int
from .analysis.interpret import Interpretation, interpret_run
from .analysis.probes import ProbeComparison, compare_probes, standard_mlp_for_run
from .attribution import MissingCaptumError, require_captum
from .config import ARCHS, OptimConfig, RunConfig
from .config.optim import BUDGET_STEPS
from .faithfulness import FaithfulnessResult, faithfulness_run
from .faithfulness.measures import FIELD_MEASURES
from .faithfulness.methods import DEFAULT_VARIANT, METHODS
from .plots.interpret import save_interpretation
from .report.build import run_report_data
from .report.data import LayerCurve
from .report.dynamics import dynamics_section
from .report.faithfulness import faithfulness_section
from .report.interpretation import identity_distance_section, maps_section
from .report.page import write_interactive_report
from .report.probes import probe_section, seeds_section
from .report.run import baseline_section
from .report.run_report import save_run_section
from .report.section import Section
from .runtime import resolve_device
from .train.runs import TrainedRun, fit

__all__ = ["ReproduceResult", "SeedStudy", "reproduce", "sklearn_baselines"]


@dataclass(frozen=True, eq=False)
class SeedStudy:
    r"""The built-in readout against probes on a standard MLP, over several seeds.

    For every seed: the interpretable MLP trained with that seed (initialization order,
    shuffling) and a standard-init MLP of the same depth and width trained with the same
    optimizer, schedule and epochs, whose hidden layers are read by linear probes (b).
    Test accuracy per layer; means and standard deviations over seeds.

    Attributes:
        seeds: the seeds, ``(S,)``.
        readout: the built-in readout's test accuracy, ``(S, L)``.
        probe: probe (b)'s test accuracy, ``(S, L)``.
    """

    seeds: np.ndarray
    readout: np.ndarray
    probe: np.ndarray

    def goals(self, margin: float = 0.01, monotone: float = 0.005,
              last: float = 0.955) -> dict[str, bool]:
        """The readout's goals on the means over seeds: at every layer at least probe (b)
        minus ``margin``; never more than ``monotone`` below an earlier layer; the last
        layer at least ``last``."""
        r, p = self.readout.mean(0), self.probe.mean(0)
        return {"at least probe (b) - 0.01 at every layer": bool(np.all(r >= p - margin)),
                "non-decreasing within 0.005": bool(np.all(r >= np.maximum.accumulate(r)
                                                           - monotone)),
                "last layer >= 0.955": bool(r[-1] >= last)}

    def to_dict(self) -> dict:
        return {"seeds": self.seeds.tolist(), "readout": self.readout.tolist(),
                "probe_b": self.probe.tolist(),
                "readout_mean": self.readout.mean(0).tolist(),
                "readout_std": self.readout.std(0, ddof=1).tolist() if len(self.seeds) > 1
                else None,
                "probe_b_mean": self.probe.mean(0).tolist(),
                "probe_b_std": self.probe.std(0, ddof=1).tolist() if len(self.seeds) > 1
                else None,
                "goals": self.goals()}


@dataclass
class ReproduceResult:
    """What :func:`reproduce` made: the run, its interpretation, baselines, probes and the
    faithfulness of its maps."""

    path: Path
    run: TrainedRun
    interpretation: Interpretation
    baselines: dict[str, dict[str, float]]
    probes: ProbeComparison | None
    faithfulness: FaithfulnessResult | None
    seeds: SeedStudy | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def sklearn_baselines(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
    *, seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Test accuracy and fit time of ``LogisticRegression`` and ``MLPClassifier`` (one
    hidden layer of 256, early stopping) on standardized features of the same split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    models = {
        "LogisticRegression (C=0.1)": LogisticRegression(C=0.1, max_iter=300),
        "MLPClassifier (1 hidden layer of 256)": MLPClassifier(
            hidden_layer_sizes=(256,), early_stopping=True, max_iter=100, random_state=seed),
    }
    out = {}
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(X_train, y_train)
        out[name] = {"test accuracy": float(model.score(X_test, y_test)),
                     "fit (s)": time.perf_counter() - t0}
    return out


def reproduce(
    out: str | Path,
    *,
    config: RunConfig | None = None,
    overwrite: bool = False,
    probes: bool = True,
    probe_epochs: int | None = None,
    faithfulness: bool = True,
    faithfulness_samples: int = 100,
    seeds: Sequence[int] = (),
    progress: bool = True,
    command: str | None = None,
) -> ReproduceResult:
    """Run the paper's main job into the folder ``out`` and return what it made.

    Choices made by measurement use the run's validation split; the test split is only
    reported (with 95% intervals).

    Args:
        out: the run folder (refused if it exists, unless ``overwrite``).
        config: the run's config (default: :class:`~idmlp.train.runs.RunConfig`'s defaults,
            chosen on mnist5k's validation split).
        overwrite: replace ``out`` if it exists.
        probes: also fit linear probes (a) on this network's own features and (b) on a
            standard-init MLP of the same depth and width trained with the same optimizer,
            schedule and epochs.
        probe_epochs: epochs of that standard MLP (default: the run's).
        faithfulness: measure the built-in maps against Captum (when installed) on
            ``faithfulness_samples`` test images.
        seeds: more seeds for :class:`SeedStudy` (the built-in readout against probe (b),
            mean and standard deviation over the run's seed and these); each trains both
            networks again (needs ``probes``).
        progress: tqdm progress bars.
        command: the command line that started the run, shown in the report.

    Examples:
        >>> cfg = RunConfig().replace(dataset="digits", depth=3, epochs=1)
        >>> res = reproduce(tmp / "paper", config=cfg, probes=False, faithfulness=False,
        ...                 progress=False)
        >>> res.interpretation.accuracy.shape, (res.path / "report.html").is_file()
        ((3,), True)
    """
    config = config if config is not None else RunConfig()
    if not isinstance(config, RunConfig):
        raise ValueError(f"config must be a RunConfig, got {type(config).__name__}")
    if probe_epochs is not None:
        probe_epochs = check_int("probe_epochs", probe_epochs)
    faithfulness_samples = check_int("faithfulness_samples", faithfulness_samples, minimum=2)
    extra_seeds = [check_int("seeds", v, minimum=0) for v in seeds]
    if config.optim.seed in extra_seeds or len(set(extra_seeds)) != len(extra_seeds):
        raise ValueError(f"seeds must be distinct and differ from the run's seed "
                         f"{config.optim.seed}, got {list(seeds)}")
    if extra_seeds and not probes:
        raise ValueError("seeds compare the readout with probes: they need probes")
    out = check_output_dir(out, overwrite)
    resolve_device(config.device)
    seconds: dict[str, float] = {}

    optim = dataclasses.replace(config.optim, layer_loss="last",
                                epochs=probe_epochs or config.optim.epochs)
    # an arch that brings its own settings (the CNN's rate is too high for an MLP)
    # compares with the MLP's default optimizer
    same = not ARCHS[config.model.arch].presets
    if not same:
        optim = OptimConfig(epochs=probe_epochs or OptimConfig().epochs,
                            seed=config.optim.seed, layer_loss="last")

    with atomic_output_dir(out, overwrite) as tmp:
        run = fit(config, tmp, overwrite=True, progress=progress)
        seconds["train"] = run.metrics[-1]["elapsed"]  # one source: the run's own clock

        t0 = time.perf_counter()
        model, ds = run.model, run.dataset
        X_test, y_test = run.test_tensors()
        interp = interpret_run(run)
        figures = save_interpretation(interp, tmp)
        seconds["interpret"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        X_train, y_train = run.train_tensors()
        baselines = sklearn_baselines(X_train.cpu().numpy(), ds.y_train, X_test.cpu().numpy(),
                                      ds.y_test, seed=config.optim.seed)
        name = f"idmlp {type(model).__name__}"
        baselines = {f"{name}, last layer (depth {config.model.depth})": {
            "test accuracy": float(interp.accuracy[-1]), "fit (s)": seconds["train"]},
            **baselines}
        seconds["baselines"] = time.perf_counter() - t0

        comparison = standard = None
        if probes:
            t0 = time.perf_counter()
            standard = standard_mlp_for_run(run, optim, progress=progress)
            comparison = compare_probes(model, X_train, y_train, X_test, y_test,
                                        standard_model=standard, own_features=True,
                                        progress=progress, n_jobs=_probe_jobs())
            seconds["probes"] = time.perf_counter() - t0

        study = None
        if extra_seeds:
            t0 = time.perf_counter()
            rows = [(interp.accuracy, comparison.standard.test_accuracy)]
            for seed in extra_seeds:
                rows.append(_readout_and_probe(config.replace(seed=seed), optim, tmp / "seeds",
                                               progress))
            study = SeedStudy(np.array([config.optim.seed, *extra_seeds]),
                              np.stack([r for r, _ in rows]), np.stack([p for _, p in rows]))
            save_json(tmp / "seeds.json", study.to_dict())
            seconds["seeds"] = time.perf_counter() - t0

        faith = None
        if faithfulness:
            t0 = time.perf_counter()
            faith = _faithfulness(run, faithfulness_samples, progress)
            seconds["faithfulness"] = time.perf_counter() - t0

        val_acc = run.final_metrics.get("layer_val_acc")
        summary = {
            "evidence_shares": {k: v.tolist() for k, v in interp.evidence_shares.items()},
            "stopping": run.stopping,
            "dataset": ds.name, "n_train": int(len(ds.y_train)),
            "n_val": 0 if ds.y_val is None else int(len(ds.y_val)),
            "n_test": int(len(ds.y_test)),
            "last_layer_test_accuracy": float(interp.accuracy[-1]),
            "last_layer_test_accuracy_95": [float(v[-1]) for v in interp.accuracy_interval()],
            "per_layer_test_accuracy": [float(a) for a in interp.accuracy],
            "per_layer_val_accuracy": val_acc,
            "max_identity_distance": float(np.max(interp.identity_distance)),
            "max_abs_input": interp.max_abs_input,
            "clipping_share": {k: v.tolist() for k, v in interp.clipping_share.items()},
            "baselines": baselines,
            "probes": comparison.to_dict() if comparison is not None else None,
            "faithfulness": None if faith is None else faith.to_dict(),
            "seeds": None if study is None else study.to_dict(),
            "seconds": seconds,
        }
        save_json(tmp / "reproduce.json", summary)
        if faith is not None:
            faith.to_csv(tmp / "faithfulness.csv")
        # the sections of results, also saved for the run's other reports
        # (idmlp.report.run_report: `idmlp interpret RUN` shows them too)
        saved = {"baselines": baseline_section(
            baselines, title="Accuracy cost of interpretability", n_test=interp.n,
            note="Same split and same standardized features; scikit-learn models fitted "
                 "with the settings shown.")}
        curves = []
        if comparison is not None:
            saved["probes"] = probe_section(comparison, note=(
                f"Probes (a) read this network's own features; probes (b) read a standard "
                f"MLP of the same depth {config.model.depth} and width "
                f"{standard.body.width} ({standard.config['init']} init, linear head) "
                f"trained for {_budget(optim)} with "
                + ("the same optimizer and schedule." if same else "the MLP's default "
                   f"optimizer (Adam, lr {optim.lr:g}, {optim.schedule} schedule).")))
            curves = [LayerCurve("probe (a): this network's features",
                                 comparison.own.test_accuracy),
                      LayerCurve("probe (b): standard MLP's features",
                                 comparison.standard.test_accuracy)]
        if study is not None:
            saved["seeds"] = seeds_section(study)
            for label, values in (("readout", study.readout), ("probe (b)", study.probe)):
                m, sd = values.mean(0), values.std(0, ddof=1)
                curves.append(LayerCurve(f"{label}, mean ± sd of {len(study.seeds)} seeds", m,
                                         np.clip(m - sd, 0, 1), np.clip(m + sd, 0, 1)))
        if faith is not None:
            saved["faithfulness"] = faithfulness_section(faith)
        for key, section in saved.items():
            save_run_section(tmp, key, section)
        sections = [maps_section(interp), *_evidence_sections(interp, figures),
                    identity_distance_section(interp, figures.get("identity_distance")),
                    *saved.values()]
        if config.dynamics.snapshots:
            from .analysis.dynamics import load_snapshots

            sections.append(dynamics_section(load_snapshots(tmp)))
        summary = _summary(interp, config, val_acc, run.dataset.image_shape, model.describe(),
                           run.dataset.layout)
        report = run_report_data(run, interp, summary=summary,
                                 sections=sections, curves=curves, command=command,
                                 timings={k: v for k, v in seconds.items() if k != "train"})
        write_interactive_report(tmp / "report.html", report)
    final = TrainedRun(out, run.config, run.model, run.dataset, run.scaler, run.metrics,
                       run.stopping)
    return ReproduceResult(out, final, interp, baselines, comparison, faith, study, seconds)


def _probe_jobs() -> int:
    """Processes for the probe fits: as many as torch's CPU threads (each fit runs on one
    BLAS thread, so the probes are the same for any number; one process would leave the
    other cores idle)."""
    return torch.get_num_threads()


def _budget(optim: OptimConfig) -> str:
    """How long a network was trained, in words."""
    if optim.steps is not None:
        text = f"{optim.steps} optimizer steps"
    elif optim.epochs is not None:
        text = f"{optim.epochs} epochs"
    else:
        text = f"at most {BUDGET_STEPS} optimizer steps"
    return text + (" (early stopping on the validation loss)" if optim.early_stopping else "")


def _readout_and_probe(config: RunConfig, optim: Any, folder: Path, progress: bool
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Test accuracy per layer of the readout and of probe (b), for one more seed."""
    run = fit(config, folder / f"seed{config.optim.seed}", overwrite=True, progress=progress)
    standard = standard_mlp_for_run(run, dataclasses.replace(optim, seed=config.optim.seed),
                                    progress=progress)
    X_train, y_train = run.train_tensors()
    X_test, y_test = run.test_tensors()
    probes = compare_probes(run.model, X_train, y_train, X_test, y_test,
                            standard_model=standard, own_features=False, progress=progress,
                            n_jobs=_probe_jobs())
    shutil.rmtree(folder / f"seed{config.optim.seed}")
    return probes.readout_accuracy, probes.standard.test_accuracy


#: The maps of reproduce's faithfulness section: the default map (the logit split's positive
#: part) and the paper's two.
REPRODUCE_MAPS: tuple[str, ...] = ("logit split", "class evidence", "x^l - x^0")
#: The methods they are measured against: LRP-epsilon and two of Captum's (when installed).
REPRODUCE_METHODS: tuple[str, ...] = ("lrp_epsilon", "integrated_gradients",
                                      "input_x_gradient")
#: Stages of each model-randomization order (top 1, top L/2, top L; layer 1, L/2, L).
REPRODUCE_STAGES = 3


def _faithfulness(run: TrainedRun, samples: int, progress: bool) -> FaithfulnessResult:
    """The default map and the paper's maps (:data:`REPRODUCE_MAPS`) against LRP-epsilon
    and Captum's IntegratedGradients and InputXGradient (when Captum is installed), their
    positive parts (the default map is one), with the field's measures (ROAD,
    FaithfulnessCorrelation, model-parameter randomization at :data:`REPRODUCE_STAGES`
    stages per order, RandomLogit).

    A summary sized to keep the whole command near three minutes on two cores: ``idmlp
    faithfulness RUN`` measures every map, method, positive part and stage."""
    try:
        require_captum()
        methods: tuple[str, ...] = REPRODUCE_METHODS
        captum = True
    except MissingCaptumError:
        methods = tuple(m for m in REPRODUCE_METHODS if not METHODS[m].needs_captum)
        captum = False
    result = faithfulness_run(run, samples=samples, maps=REPRODUCE_MAPS, methods=methods,
                              variants=(DEFAULT_VARIANT,), schedule=10, n_resamples=1000,
                              progress=progress, metrics=FIELD_MEASURES,
                              stages=REPRODUCE_STAGES)
    result.meta["captum"] = captum
    return result


def _summary(interp: Interpretation, config: RunConfig, val_acc: list | None,
             image_shape: tuple[int, ...] | None, network: str,
             layout: str | None = None) -> str:
    d = interp.identity_distance
    lo, hi = interp.accuracy_interval()
    best = (f"The layer with the best validation accuracy is layer "
            f"{int(np.argmax(val_acc)) + 1} ({max(val_acc):.3f} on validation). "
            if val_acc else "")
    return (
        f"A {config.model.activation} {network}, every layer "
        f"identity-initialized (sigma = {config.model.sigma:g}; inputs standardized "
        f"({config.data.resolved_scaling(image_shape or (), layout)} scaling) and scaled to "
        f"variance q0 = {config.model.q0:g}; the "
        f"largest |x^0| on the test split is {interp.max_abs_input:.1f}), reaches "
        f"{interp.accuracy[-1]:.3f} test accuracy at its last layer (95% interval "
        f"{lo[-1]:.3f}-{hi[-1]:.3f}, {interp.n} test images); every layer is read by the "
        f"same rule with no extra training. {best}The learned weights stay near the "
        f"identity: ||W^l - sigma I||_F / ||sigma I||_F is between {d.min():.3f} and "
        f"{d.max():.3f}. Every choice made by measurement (input scaling, q0, the loss "
        "over layers, the default map) was made on a validation split carved from the "
        "training split; the test split is only reported."
    )


def _evidence_sections(interp: Interpretation, figures: dict[str, Path]) -> list[Section]:
    """Where each layer's evidence comes from (a table and a figure), and the maps of a 1-D
    signal as curves over the signal (figures the interactive page does not draw)."""
    out = []
    if interp.evidence_shares:
        shares = interp.evidence_shares
        layers = sorted({1, interp.depth // 2 or 1, interp.depth})
        sec = Section("Where the evidence comes from").text(
            "Each layer's change of the explained class splits exactly over the coordinates "
            "of the layer before: the input-aligned features (what the maps show), the extra "
            "coordinates (the MLP's extra features, the CNN's extra channels) and the class "
            "coordinates. The share through the extra coordinates is evidence the "
            "input-aligned map cannot show.")
        sec.table([[part, *(float(shares[part][l - 1]) for l in layers)]
                   for part in ("feature", "extra", "class")],
                  ["evidence through", *(f"layer {l}" for l in layers)], digits=2,
                  caption="Share of |class evidence| per block of the state (mean over "
                  "examples)")
        if "evidence_shares" in figures:
            sec.figure(figures["evidence_shares"], alt="Stacked bars per layer: the share of "
                       "the absolute class evidence through the input-aligned features, the "
                       "extra coordinates and the class coordinates of the layer before.")
        out.append(sec)
    if interp.is_signal:
        sec = Section("Maps over the signal").text(
            "The inputs are 1-D signals, so each map is a curve over the signal's positions "
            "(the input in gray behind it).")
        for name, alt in (("contribution_maps", "For each chosen test example, its input "
                           "signal and the default map at the selected layers as curves "
                           "over the positions, with each layer's prediction."),
                          ("class_contributions", "For each class, the mean default map at "
                           "the selected layers as curves over the positions, colored by "
                           "depth.")):
            if name in figures:
                sec.figure(figures[name], alt=alt)
        out.append(sec)
    return out
