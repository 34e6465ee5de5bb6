"""Interpretable networks: the readout rules, the per-layer readout and the architectures.

Every architecture is an :class:`~idmlp.nets.base.InterpretableNet`; the registry of
architecture names (:data:`idmlp.config.ARCHS`) maps each name to its class here.
Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "ClassCoordinates": "rules", "ReadoutRule": "rules",
    "LayerReadout": "readout", "MAPS": "readout", "DEFAULT_MAP": "readout",
    "LAYERWISE_MAPS": "readout", "as_readout": "readout",
    "MLP": "mlp", "IdentityMLP": "mlp", "InterpretableMLP": "mlp", "build_model": "mlp",
    "ClassChannels": "cnn", "InterpretableCNN": "cnn",
    "ClassEvidence": "evidence",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
