r"""Configuration: what a run is made of, as small composable frozen dataclasses, in one place.

Following nanoGPT's ``GPTConfig -> GPT(config)``, every object that a run builds comes from
one frozen dataclass:

* :class:`DataConfig` (:mod:`.data`): which dataset, which split, how inputs are
  standardized (:meth:`DataConfig.load`);
* :class:`ModelConfig` (:mod:`.model`): the network, including :math:`q_0`, the input
  variance the network's first state :math:`x^0 = (\sqrt{q_0}\,z, 0_C)` is scaled to, and
  the options of its architecture; the architectures are the registry :data:`ARCHS`
  (:mod:`.archs`: each name, its class and its own options dataclass);
* :class:`OptimConfig` (:mod:`.optim`): the optimizer, its schedule and the loss over
  layers (:meth:`OptimConfig.build`), shared by ``idmlp train`` and ``idmlp sweep``;
* :class:`DynamicsConfig` and :class:`RunConfig` (:mod:`.run`): what a run records during
  training, and a whole training run;
* :class:`SweepConfig`, :class:`TrainSettings`, :class:`RunSpec` (:mod:`.sweep`): a
  trainability sweep and its grid-spec mini language.

Every field is validated on construction (a one-line ``ValueError`` naming the field and
its valid range). The command-line flags (:func:`add_arguments`) and the columns of a
sweep's ``results.csv`` (:func:`field_types`) are derived from the fields, and flat setting
names reach the config that owns them through one router (:func:`route`), so a new setting
is one field, its validation and its help text.

This package imports neither torch nor numpy, so the command line parses (and ``--help``
answers) without loading them.
"""

from __future__ import annotations

from .archs import (
    ARCHITECTURES,
    ARCHS,
    AUTO_MIN_WIDTH,
    Arch,
    CNNOptions,
    MLPOptions,
    ResidualOptions,
    conv_layout,
    option_owners,
    parse_dilations,
)
from .data import DATASETS, SCALINGS, DataConfig, check_dataset_name
from .fields import add_arguments, arguments_given, field_types, from_dict, route
from .model import ACTIVATIONS, INIT_SCHEMES, ModelConfig
from .optim import LAYER_LOSSES, OPTIMIZERS, SCHEDULES, OptimConfig
from .run import DEVICES, ENVIRONMENT_FIELDS, DynamicsConfig, RunConfig, run_identity
from .sweep import (
    AXES,
    BACKENDS,
    DTYPES,
    RunSpec,
    SweepConfig,
    TrainSettings,
    parse_choices,
    parse_floats,
    parse_ints,
)

__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "ARCHS",
    "AUTO_MIN_WIDTH",
    "AXES",
    "BACKENDS",
    "DATASETS",
    "DEVICES",
    "DTYPES",
    "ENVIRONMENT_FIELDS",
    "INIT_SCHEMES",
    "LAYER_LOSSES",
    "OPTIMIZERS",
    "SCALINGS",
    "SCHEDULES",
    "Arch",
    "CNNOptions",
    "DataConfig",
    "DynamicsConfig",
    "MLPOptions",
    "ModelConfig",
    "OptimConfig",
    "ResidualOptions",
    "RunConfig",
    "RunSpec",
    "SweepConfig",
    "TrainSettings",
    "add_arguments",
    "arguments_given",
    "check_dataset_name",
    "conv_layout",
    "field_types",
    "from_dict",
    "option_owners",
    "parse_choices",
    "parse_dilations",
    "parse_floats",
    "parse_ints",
    "route",
    "run_identity",
]
