"""The names of the datasets and of the input scalings.

This module imports nothing (no numpy, no torch, nothing else of :mod:`idmlp.data`), so
:mod:`idmlp.config` and every module of the package can take the names from here and the
command line's ``--help`` stays fast. :func:`idmlp.data.load_dataset` loads a dataset by name.
"""

from __future__ import annotations

__all__ = ["BUILTIN", "DATASETS", "SCALINGS", "check_dataset_name"]

#: Dataset names for :func:`idmlp.data.load_dataset`; ``npz:PATH`` stands for any file.
DATASETS: tuple[str, ...] = ("digits", "mnist5k", "mnist", "fashion-mnist", "kmnist", "npz:PATH")
#: Input standardization: one mean and deviation over all features, one per feature, or
#: ``auto`` (global for image data, per feature otherwise).
SCALINGS: tuple[str, ...] = ("auto", "global", "feature")

#: The names of :data:`DATASETS` that need no path.
BUILTIN: tuple[str, ...] = tuple(name for name in DATASETS if ":" not in name)


def check_dataset_name(name: object) -> str:
    """Return ``name`` if it names a dataset of :data:`DATASETS` (or ``npz:PATH``).

    Examples:
        >>> check_dataset_name("digits"), check_dataset_name("npz:my.npz")
        ('digits', 'npz:my.npz')
    """
    if not isinstance(name, str) or not (
        (name.startswith("npz:") and len(name) > 4) or name.strip().lower() in BUILTIN
    ):
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {name!r}")
    return name
