"""The run entry point: a trained run's built-in maps against LRP and Captum's methods,
with the field's measures (ROAD, FaithfulnessCorrelation, randomization tests,
RandomLogit) on request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._validation import check_choice, check_int
from .evaluation import Explainer, evaluate_faithfulness
from .measures import FIELD_MEASURES, RUN_MEASURES
from .methods import BUILTIN_MAPS, DEFAULT_MAPS, DEFAULT_METHODS, METHODS, method_names
from .randomization import label_randomized_model, randomization_stages, randomized_model
from .result import FaithfulnessResult
from .sanity import reference_model

__all__ = ["faithfulness_run"]


def faithfulness_run(
    run: Any,
    *,
    split: str = "test",
    samples: int = 200,
    maps: Sequence[str] = DEFAULT_MAPS,
    methods: Sequence[str] = DEFAULT_METHODS,
    variants: Sequence[str] = ("signed", "positive"),
    layers: Sequence[int] | None = None,
    reference: str = "shuffled",
    steps: int = 32,
    schedule: int = 20,
    batch_size: int = 64,
    n_resamples: int = 2000,
    seed: int = 0,
    progress: bool = False,
    metrics: Sequence[str] = (),
    label_epochs: int | None = None,
    stages: int | None = None,
) -> FaithfulnessResult:
    """:func:`~idmlp.faithfulness.evaluation.evaluate_faithfulness` of a trained run's
    built-in maps against Captum.

    The first ``samples`` examples of ``split`` (their true classes explained), the
    built-in maps of :data:`BUILTIN_MAPS` (one forward pass for every layer at once), the
    Captum ``methods`` and the baselines ``abs_input`` and ``random``, at the last layer
    (and at ``layers``: layer ``l``'s map against layer ``l``'s own readout), with the
    model-randomization check against :func:`reference_model` ``reference``.

    Args:
        run: a :class:`~idmlp.train.runs.TrainedRun`.
        split: ``test`` or ``val``.
        samples: images explained (the first ones of the split).
        maps: names of :data:`BUILTIN_MAPS`.
        methods: LRP and Captum methods of the registry (``lrp`` and ``captum`` families).
        variants, layers, steps, schedule, batch_size, n_resamples, seed,
            progress: as for :func:`evaluate_faithfulness`.
        metrics: from :data:`RUN_MEASURES`: ``randomization`` re-initializes the layers
            cascading from the top (``top k``) and one at a time (``layer l``); ``labels``
            trains the architecture on permuted labels (``label_epochs``, default the
            run's) and compares the maps (``labels``).
        stages: randomization stages per order, evenly spaced over the layers (always
            with all layers); default every layer (each stage recomputes every map).
        reference: ``shuffled`` or ``identity``
            (:func:`~idmlp.faithfulness.sanity.reference_model`).
    """
    samples = check_int("samples", samples)
    unknown = [m for m in maps if m not in BUILTIN_MAPS]
    if unknown:
        raise ValueError(f"maps must be among {', '.join(BUILTIN_MAPS)}; got {unknown}")
    methods = tuple(check_choice("methods", m, method_names("lrp", "captum")) for m in methods)
    metrics = tuple(dict.fromkeys(check_choice("metrics", m, RUN_MEASURES) for m in metrics))
    model = run.model.eval()
    arch = model.config.arch
    maps = [m for m in maps if arch in METHODS[m].archs]  # e.g. MLP-only maps on a CNN
    ref = reference_model(model, reference, seed)
    x, y = run.tensors(split)
    x, y = x[:samples], y[:samples]

    randomized, columns = _randomized_models(run, metrics, seed, label_epochs, progress,
                                             stages)
    network = [*maps, *(m for m in methods if METHODS[m].needs_network)]
    explainers = {}
    for label in network:
        spec = METHODS[label]
        explainers[label] = Explainer(
            spec.map_fn(model=model), *spec.cost(steps), spec.map_fn(model=ref),
            {k: spec.map_fn(model=net) for k, net in randomized.items()})
    field = [m for m in metrics if m in FIELD_MEASURES]
    if randomized and "randomization" not in field:
        field.append("randomization")
    result = evaluate_faithfulness(
        model.layer_logits, x, y, explainers,
        methods=[m for m in methods if not METHODS[m].needs_network], variants=variants,
        reference_logits_fn=ref.layer_logits, layers=layers, steps=steps, schedule=schedule,
        batch_size=batch_size, n_resamples=n_resamples, seed=seed, progress=progress,
        metrics=field, image_shape=model.image_shape,
        randomized={k: net.layer_logits for k, net in randomized.items()})
    result.meta.update(split=split, reference=reference, samples=len(y),
                       run=str(getattr(run, "path", "")), randomization_columns=columns)
    with torch.no_grad():  # how complete the input-aligned maps are (idmlp.nets.readout)
        shares = model.readout(x).mean_evidence_shares(y)
    result.meta["evidence_shares"] = {k: v.cpu().tolist() for k, v in shares.items()}
    return result


def _randomized_models(run: Any, metrics: Sequence[str], seed: int, label_epochs: int | None,
                       progress: bool, stages: int | None = None
                       ) -> tuple[dict[str, Any], dict[str, str]]:
    """The randomized networks of the requested tests, and the ones tabulated in the
    result's rows (column -> name): all layers re-initialized, and the label-randomized
    network."""
    nets: dict[str, Any] = {}
    columns: dict[str, str] = {}
    if "randomization" in metrics:
        depth = len(run.model.layers)
        built: dict[tuple[int, ...], Any] = {}  # cascading "top 1" is independent "layer L"
        for order in ("cascading", "independent"):
            for label, layers in randomization_stages(depth, order, stages):
                key = tuple(sorted(layers))
                if key not in built:
                    built[key] = randomized_model(run.model, layers, seed)
                nets[label] = built[key]
        columns["cascading_all"] = f"top {depth}"
    if "labels" in metrics:
        nets["labels"] = label_randomized_model(run, seed=seed, epochs=label_epochs,
                                                progress=progress)
        columns["labels"] = "labels"
    return nets, columns
