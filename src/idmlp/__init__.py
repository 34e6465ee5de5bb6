"""idmlp: deep MLPs with identity initialization.

Theory of the input-output Jacobian at identity initialization, trainability sweeps,
and the layer-wise interpretable MLP of Kubota, Hayashi, Hayase and Uchida, "Layer-wise
Interpretation of Deep Neural Networks Using Identity Initialization", ICASSP 2021.

The names below are imported on first use, so ``import idmlp`` (and the command line's
``--help``) does not load torch.
"""

from __future__ import annotations

from ._lazy import lazy_names

__version__ = "0.1.0"

_LAZY = {
    "MLP": "nets.mlp",
    "IdentityMLP": "nets.mlp",
    "InterpretableMLP": "nets.mlp",
    "InterpretableCNN": "nets.cnn",
    "LayerReadout": "nets.readout",
    "InterpretableClassifier": "estimator",
    "identity_": "init",
    "identity_init_": "init",
    "init_weight_": "init",
    "DataConfig": "config",
    "ModelConfig": "config",
    "OptimConfig": "config",
    "DynamicsConfig": "config",
    "RunConfig": "config",
}

__all__ = ["__version__", *_LAZY]


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
