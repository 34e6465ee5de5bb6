"""A training run: :class:`RunConfig` (data, model, optimization, device, what to record
during training) and the identity of a run's results."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._validation import check_choice, check_int
from .archs import ARCHS
from .data import DataConfig
from .fields import field_names, from_dict, meta, put, route
from .model import ModelConfig
from .optim import OptimConfig

__all__ = ["DEVICES", "ENVIRONMENT_FIELDS", "DynamicsConfig", "RunConfig", "run_identity"]

DEVICES: tuple[str, ...] = ("cpu", "cuda", "auto")
#: Where and how a run reads its data and computes; a resumed run may change these.
ENVIRONMENT_FIELDS: tuple[str, ...] = ("data_dir", "download", "device")


@dataclass(frozen=True)
class DynamicsConfig:
    r"""Snapshots of the network during training (:mod:`idmlp.analysis.dynamics`).

    ``snapshots = K`` records ``K`` snapshots at optimizer steps log-spaced from step 0
    (the initialization) to the last step (:func:`idmlp.analysis.dynamics.snapshot_steps`), on the
    first ``snapshot_examples`` examples of the validation split (the test split when
    the run has none): per-layer accuracy, identity distances and the maps of one example
    per class. ``snapshot_spectra`` of them (evenly spread over the snapshots, so
    log-spaced in steps, the first and the last included) also hold the singular values
    of the input-output Jacobian at ``snapshot_jacobians`` examples: in float64 one
    costs about five training steps at width 794, so a spectrum at every snapshot would
    not fit the budget. ``K = 16`` with the other defaults adds under 10 % to the paper's
    mnist5k run (``benchmarks/bench_snapshots.py``).

    Examples:
        >>> DynamicsConfig(snapshots=16).snapshot_examples
        256
    """

    snapshots: int = field(default=0, metadata=meta(
        "snapshots of every layer during training, log-spaced in optimizer steps from "
        "step 0 to the last step (an integer >= 2, at most the number of steps; 0: none; "
        "16 adds under a tenth to the training time)"))
    snapshot_examples: int = field(default=256, metadata=meta(
        "held-out examples scored at every snapshot (the first of the validation split, "
        "else of the test split)"))
    snapshot_jacobians: int = field(default=1, metadata=meta(
        "inputs (one per class, in label order) at which a snapshot computes the singular "
        "values of the input-output Jacobian (0: none)"))
    snapshot_spectra: int = field(default=4, metadata=meta(
        "snapshots, evenly spread over them (the first and the last included), that hold "
        "the Jacobian spectrum (all of them if larger than --snapshots; 0: none)"))

    def __post_init__(self) -> None:
        put(self, "snapshots", check_int("snapshots", self.snapshots, minimum=0))
        if self.snapshots == 1:
            raise ValueError("snapshots must be 0 (none) or an integer >= 2 (step 0 and the "
                             "last step at least), got 1")
        put(self, "snapshot_examples", check_int("snapshot_examples", self.snapshot_examples))
        put(self, "snapshot_jacobians",
             check_int("snapshot_jacobians", self.snapshot_jacobians, minimum=0))
        put(self, "snapshot_spectra",
             check_int("snapshot_spectra", self.snapshot_spectra, minimum=0))


# -- fields as command-line flags and typed columns ---------------------------------------


_PARTS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig,
                           "dynamics": DynamicsConfig}


def _owners() -> dict[str, set[str]]:
    """Who owns each flat setting name of a run (:func:`~idmlp.config.fields.route`)."""
    owners = {part: field_names(cls) for part, cls in _PARTS.items()}
    owners["model"] = (owners["model"] - {"options"}) | ModelConfig.option_names()
    return {**owners, "run": {"device"}}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run: data, model, optimization, device.

    The defaults are the paper's main job on ``mnist5k`` (80/20 stratified split, 784
    pixels, 10 classes, width 794): 20 hard-tanh layers with :math:`W^\\ell = I`, Adam
    (lr 3e-4, cosine decay, batch 128, label smoothing 0.1) for 15 epochs.

    Examples:
        >>> cfg = RunConfig(data=DataConfig(dataset="digits"), optim=OptimConfig(epochs=2))
        >>> cfg.replace(lr=1e-3).optim.lr
        0.001
        >>> RunConfig.from_changes({"arch": "cnn", "lr": 0.02}).optim.lr  # cnn presets
        0.02
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    device: str = "cpu"
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)

    def __post_init__(self) -> None:
        for name, cls in _PARTS.items():
            if not isinstance(getattr(self, name), cls):
                raise ValueError(f"{name} must be an idmlp.config.{cls.__name__}, got "
                                 f"{type(getattr(self, name)).__name__}")
        check_choice("device", self.device, DEVICES)
        if self.optim.early_stopping and self.data.val_size == 0:
            raise ValueError("early stopping needs a validation split: set val_size > 0 "
                             "(--val-size), or turn early stopping off (early_stopping=False, "
                             "--no-early-stopping)")

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with fields of any part replaced by name (``lr=...``, ``depth=...``,
        ``dataset=...``, ``kernel_size=...``, ``device=...``), validated. Setting
        ``val_size=0`` (no validation split) turns early stopping off unless
        ``early_stopping`` is given too: there is nothing to stop on."""
        if changes.get("val_size", None) == 0 and "early_stopping" not in changes:
            changes = {**changes, "early_stopping": False}
        parts = route(changes, _owners(), what="run setting")
        top = parts.pop("run")
        new = {p: (getattr(self, p).replace(**kw) if p == "model"
                   else dataclasses.replace(getattr(self, p), **kw))
               for p, kw in parts.items() if kw}
        return dataclasses.replace(self, **top, **new)

    @classmethod
    def from_changes(cls, changes: Mapping[str, Any], base: RunConfig | None = None
                     ) -> RunConfig:
        """``base`` (default ``RunConfig()``) with ``changes`` by flat name, after the
        presets of the chosen architecture (:attr:`idmlp.config.Arch.presets`) for the
        settings ``changes`` does not give: what ``idmlp train --arch cnn`` and
        ``idmlp reproduce --arch cnn`` (and the estimator) do, in one place."""
        base = base if base is not None else cls()
        arch = changes.get("arch", base.model.arch)
        presets = ARCHS[arch].presets if arch in ARCHS else {}
        return base.replace(**{**presets, **changes})

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (missing ones default).
        Dicts of earlier versions (flat CNN options) load."""
        if not isinstance(d, dict):
            raise ValueError(f"a RunConfig needs a dict, got {type(d).__name__}")
        unknown = sorted(set(d) - {*_PARTS, "device"})
        if unknown:
            raise ValueError(f"unknown RunConfig field(s): {', '.join(unknown)}")
        parts = {p: from_dict(c, d.get(p, {}), where=f"{p}: ") for p, c in _PARTS.items()}
        return cls(**parts, device=d.get("device", "cpu"))

    @classmethod
    def from_legacy(cls, train: dict[str, Any]) -> RunConfig:
        """The RunConfig of an idmlp 0.1 run (its flat ``train`` config)."""
        if not isinstance(train, dict):
            raise ValueError(f"a train config must be a dict, got {type(train).__name__}")
        return cls().replace(**train)


def run_identity(config: RunConfig | dict[str, Any]) -> str:
    """A short hash of everything that defines ``config``'s results (the
    :data:`ENVIRONMENT_FIELDS` left out): files a run writes carry it, so that one copied
    from another run is recognized.

    ``config`` may be the dict stored in a run's ``config.json`` (``RunConfig.to_dict()``
    as written): hashing what the folder recorded keeps the identity of a run when a later
    version adds settings.

    Examples:
        >>> run_identity(RunConfig()) == run_identity(RunConfig(device="auto"))
        True
        >>> run_identity(RunConfig()) == run_identity(RunConfig().replace(lr=1e-3))
        False
    """
    d = dict(config.to_dict() if isinstance(config, RunConfig) else config)
    d.pop("device", None)
    d["data"] = {k: v for k, v in d.get("data", {}).items() if k not in ENVIRONMENT_FIELDS}
    text = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
