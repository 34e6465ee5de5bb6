"""The run entry point: a trained run's built-in maps against Captum's methods."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._validation import check_int
from .evaluation import Explainer, evaluate_faithfulness
from .methods import BUILTIN_MAPS, DEFAULT_METHODS, METHODS
from .result import FaithfulnessResult
from .sanity import reference_model

__all__ = ["faithfulness_run"]


def faithfulness_run(
    run: Any,
    *,
    split: str = "test",
    samples: int = 200,
    maps: Sequence[str] = tuple(BUILTIN_MAPS),
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
        methods, variants, layers, steps, schedule, batch_size, n_resamples, seed,
            progress: as for :func:`evaluate_faithfulness`.
        reference: ``shuffled`` or ``identity``
            (:func:`~idmlp.faithfulness.sanity.reference_model`).
    """
    samples = check_int("samples", samples)
    unknown = [m for m in maps if m not in BUILTIN_MAPS]
    if unknown:
        raise ValueError(f"maps must be among {', '.join(BUILTIN_MAPS)}; got {unknown}")
    model = run.model.eval()
    ref = reference_model(model, reference, seed)
    x, y = run.tensors(split)
    x, y = x[:samples], y[:samples]

    explainers = {}
    for label in maps:
        spec = METHODS[label]
        explainers[label] = Explainer(spec.map_fn(model=model), *spec.cost(),
                                      spec.map_fn(model=ref))
    result = evaluate_faithfulness(
        model.layer_logits, x, y, explainers, methods=methods, variants=variants,
        reference_logits_fn=ref.layer_logits, layers=layers, steps=steps, schedule=schedule,
        batch_size=batch_size, n_resamples=n_resamples, seed=seed, progress=progress)
    result.meta.update(split=split, reference=reference, samples=len(y),
                       run=str(getattr(run, "path", "")))
    return result
