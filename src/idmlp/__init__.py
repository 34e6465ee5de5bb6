"""idmlp: deep MLPs with identity initialization.

Theory of the input-output Jacobian at identity initialization, trainability sweeps,
and the layer-wise interpretable MLP of Kubota, Hayashi, Hayase and Uchida, "Layer-wise
Interpretation of Deep Neural Networks Using Identity Initialization", ICASSP 2021.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .init import identity_, identity_init_, init_weight_  # noqa: E402
from .models import MLP, IdentityMLP, InterpretableMLP  # noqa: E402
from .readout import LayerReadout  # noqa: E402

__all__ = [
    "MLP",
    "IdentityMLP",
    "InterpretableMLP",
    "LayerReadout",
    "__version__",
    "identity_",
    "identity_init_",
    "init_weight_",
]
