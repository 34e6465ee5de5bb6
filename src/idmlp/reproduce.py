"""The paper end to end: train the interpretable MLP, read every layer, compare, report.

:func:`reproduce` trains :class:`~idmlp.models.InterpretableMLP` with the defaults of
:class:`~idmlp.train.TrainConfig`, interprets it on the test split
(:func:`~idmlp.interpret.interpret`), fits scikit-learn's ``LogisticRegression`` and
``MLPClassifier`` on the same split, and compares the built-in per-layer readout with
linear probes on a standard-init MLP of the same depth and width
(:func:`~idmlp.probes.compare_probes`). Everything lands in one run folder with a
self-contained ``report.html``; the folder is built under a temporary name and appears
only when complete.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._io import atomic_output_dir, check_output_dir, save_json
from ._validation import check_int
from .interpret import Interpretation, interpret
from .probes import ProbeComparison, compare_probes, fit_standard_mlp
from .report import (
    baseline_section,
    build_report_data,
    identity_distance_section,
    probe_section,
    write_interactive_report,
)
from .train import TrainConfig, TrainedRun, fit, resolve_device

__all__ = ["ReproduceResult", "reproduce", "sklearn_baselines"]


@dataclass
class ReproduceResult:
    """What :func:`reproduce` made: the run, its interpretation, baselines and probes."""

    path: Path
    run: TrainedRun
    interpretation: Interpretation
    baselines: dict[str, dict[str, float]]
    probes: ProbeComparison | None
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
    config: TrainConfig | None = None,
    overwrite: bool = False,
    probes: bool = True,
    probe_epochs: int = 4,
    progress: bool = True,
    command: str | None = None,
) -> ReproduceResult:
    """Run the paper's main job into the folder ``out`` and return what it made.

    Args:
        out: the run folder (refused if it exists, unless ``overwrite``).
        config: the training config (default: :class:`~idmlp.train.TrainConfig`'s
            defaults, tuned for ``mnist5k``).
        overwrite: replace ``out`` if it exists.
        probes: also train a standard-init MLP of the same depth and width for
            ``probe_epochs`` epochs and fit one linear probe per layer.
        probe_epochs: epochs of the standard MLP (an integer >= 1).
        progress: tqdm progress bars.
        command: the command line that started the run, shown in the report.

    Examples:
        >>> res = reproduce("runs/paper")  # doctest: +SKIP
        >>> res.interpretation.accuracy[-1]  # doctest: +SKIP
    """
    config = config if config is not None else TrainConfig()
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    probe_epochs = check_int("probe_epochs", probe_epochs)
    out = check_output_dir(out, overwrite)
    resolve_device(config.device)
    seconds: dict[str, float] = {}

    with atomic_output_dir(out, overwrite) as tmp:
        t0 = time.perf_counter()
        run = fit(config, tmp, overwrite=True, progress=progress)
        seconds["train"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        model, ds = run.model, run.dataset
        X_test, y_test = run.test_tensors()
        interp = interpret(model, X_test, y_test, class_names=ds.class_names)
        interp.save(tmp / "interpretation.json")
        interp.save(tmp / "interpretation.npz")
        from .plots.interpret import save_interpretation_figures

        figures = save_interpretation_figures(interp, tmp)
        seconds["interpret"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        Xs_train, Xs_test, _ = ds.scaled(1.0)
        baselines = sklearn_baselines(Xs_train, ds.y_train, Xs_test, ds.y_test,
                                      seed=config.seed)
        # the fit time of the network is its epochs' time, the one training clock
        epochs_seconds = float(run.metrics[-1]["elapsed"]) if run.metrics else None
        baselines = {f"idmlp InterpretableMLP, last layer (depth {config.depth})": {
            "test accuracy": float(interp.accuracy[-1]), "fit (s)": epochs_seconds},
            f"idmlp InterpretableMLP, best layer ({int(interp.accuracy.argmax()) + 1})": {
            "test accuracy": float(interp.accuracy.max())}, **baselines}
        seconds["baselines"] = time.perf_counter() - t0

        comparison = None
        if probes:
            t0 = time.perf_counter()
            X_train, y_train = run.train_tensors()
            kwargs = {**config.optim_kwargs(), "epochs": probe_epochs}
            standard, _ = fit_standard_mlp(
                X_train, y_train, X_test, y_test, depth=config.depth,
                activation=config.activation, device=run.device, progress=progress, **kwargs)
            comparison = compare_probes(model, X_train, y_train, X_test, y_test,
                                        standard_model=standard, own_features=False,
                                        progress=progress)
            seconds["probes"] = time.perf_counter() - t0

        summary = {
            "dataset": ds.name, "n_train": int(len(ds.y_train)), "n_test": int(len(ds.y_test)),
            "last_layer_test_accuracy": float(interp.accuracy[-1]),
            "per_layer_test_accuracy": [float(a) for a in interp.accuracy],
            "max_identity_distance": float(np.max(interp.identity_distance)),
            "baselines": baselines,
            "probes": comparison.to_dict() if comparison is not None else None,
            "seconds": seconds,
        }
        save_json(tmp / "reproduce.json", summary)
        sections = [
            identity_distance_section(interp, figures.get("identity_distance")),
            baseline_section(baselines, title="Accuracy cost of interpretability",
                             note="Same split and same standardized features; scikit-learn "
                             "models fitted with the settings shown.", n_test=len(y_test)),
        ]
        if comparison is not None:
            sections.append(probe_section(comparison).text(
                f"The standard MLP (same depth {config.depth} and width {model.width}, "
                f"{standard.config['init']} init, "
                f"linear head) was trained for {probe_epochs} epochs with the same optimizer."))
        timings = {k: v for k, v in seconds.items() if k != "train"}
        if epochs_seconds is not None:  # the epochs' time is taken from the metrics
            timings = {"data, model and checkpoints": max(0.0, seconds["train"]
                                                          - epochs_seconds), **timings}
        data = build_report_data(
            model, X_test, y_test, interpretation=interp, images=ds.X_test,
            title="Layer-wise interpretation with identity initialization",
            subtitle=f"{ds.name}: {len(ds.y_train)} train / {len(ds.y_test)} test, depth "
            f"{model.depth}, width {model.width} = {model.in_features} + {model.num_classes}; "
            "Kubota, Hayashi, Hayase and Uchida, ICASSP 2021",
            metrics=run.metrics, config={"train": config.to_dict(),
                                         "model": model.config.to_dict()},
            command=command, timings=timings, sections=sections)
        write_interactive_report(tmp / "report.html", data)
    final = TrainedRun(out, run.config, run.model, run.dataset, run.scaler, run.metrics)
    return ReproduceResult(out, final, interp, baselines, comparison, seconds)
