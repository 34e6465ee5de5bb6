"""Datasets, their validation and splits, the file formats and the input standardization.

The theory of identity-initialized deep MLPs (Kubota et al., ICASSP 2021) assumes that
every input feature is distributed as :math:`u_i \\sim \\mathcal{N}(0, q_0)`: the inputs
are standardized (fitted on the training split) and the network multiplies them by
:math:`\\sqrt{q_0}`. The package, one module per concern:

* :mod:`~idmlp.data.registry`: the dataset and scaling names (:data:`DATASETS`,
  :data:`SCALINGS`); imports neither numpy nor torch (:mod:`idmlp.config` reads them);
* :mod:`~idmlp.data.loading`: :func:`load_dataset`, which returns a :class:`Dataset` by name;
* :mod:`~idmlp.data.dataset`: :class:`Dataset`, a frozen container of raw (unscaled)
  train/validation/test arrays, and the stratified splits;
* :mod:`~idmlp.data.validation`: :class:`DataError` and the checks of features, labels,
  shapes and classes shared by every source;
* :mod:`~idmlp.data.scaling`: :class:`InputScaler`, a global or per-feature
  standardization fitted on the training split only;
* :mod:`~idmlp.data.formats`: :func:`read_idx` / :func:`write_idx` for the IDX format of
  MNIST, Fashion-MNIST and KMNIST (optionally gzip-compressed), and the npz reader;
* :mod:`~idmlp.data.tabular`: CSV files (``csv:PATH``) and pandas ``DataFrame`` s;
* :mod:`~idmlp.data.memory`: data in memory (:func:`from_arrays`, :func:`from_torch`,
  :func:`as_dataset`: numpy arrays, torch tensors, a torch ``Dataset`` or ``DataLoader``);
* :mod:`~idmlp.data.builtin` and :mod:`~idmlp.data.download`: the built-in datasets
  (MNIST-1D generated offline) and the checksum-verified download of the IDX files.

Every problem with the data itself (missing or corrupt files, NaN, bad labels, ...) raises
:class:`DataError`, a ``ValueError`` with a one-line message that says what to fix. Names
are imported on first use, so ``import idmlp.data`` loads neither numpy nor torch.
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "DATASETS": "registry", "SCALINGS": "registry", "LAYOUTS": "registry",
    "check_dataset_name": "registry",
    "load_dataset": "loading",
    "Dataset": "dataset",
    "DataError": "validation", "MAX_CLASSES": "validation", "encode_labels": "validation",
    "InputScaler": "scaling",
    "read_idx": "formats", "write_idx": "formats",
    "load_csv": "tabular",
    "from_arrays": "memory", "from_torch": "memory", "as_dataset": "memory",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
