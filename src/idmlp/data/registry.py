"""The names of the datasets and of the input scalings.

This module imports nothing (no numpy, no torch, nothing else of :mod:`idmlp.data`), so
:mod:`idmlp.config` and every module of the package can take the names from here and the
command line's ``--help`` stays fast. :func:`idmlp.data.load_dataset` loads a dataset by name.
"""

from __future__ import annotations

__all__ = ["BUILTIN", "DATASETS", "LAYOUTS", "PATH_SCHEMES", "SCALINGS", "check_dataset_name"]

#: Dataset names for :func:`idmlp.data.load_dataset`; ``npz:PATH`` and ``csv:PATH`` stand
#: for any file of that format.
DATASETS: tuple[str, ...] = ("digits", "mnist5k", "mnist1d", "mnist", "fashion-mnist", "kmnist",
                             "npz:PATH", "csv:PATH")
#: The prefixes of the dataset names that are files (``npz:PATH``, ``csv:PATH``).
PATH_SCHEMES: tuple[str, ...] = tuple(name[: -len("PATH")] for name in DATASETS
                                      if name.endswith(":PATH"))
#: The names of :data:`DATASETS` that need no path.
BUILTIN: tuple[str, ...] = tuple(name for name in DATASETS if ":" not in name)
#: Input standardization: one mean and deviation over all features, one per feature, or
#: ``auto`` (global for image data, per feature otherwise).
SCALINGS: tuple[str, ...] = ("auto", "global", "feature")
#: What one sample is (:attr:`idmlp.data.Dataset.layout`): ``features`` (a vector without
#: order, e.g. a table's row), ``signal`` (``(L,)`` or ``(C, L)``: C channels of length L)
#: or ``image`` (``(H, W)`` or ``(C, H, W)``).
LAYOUTS: tuple[str, ...] = ("features", "signal", "image")


def check_dataset_name(name: object) -> str:
    """Return ``name`` if it names a dataset of :data:`DATASETS` (or ``npz:PATH``,
    ``csv:PATH``).

    Examples:
        >>> check_dataset_name("digits"), check_dataset_name("npz:my.npz")
        ('digits', 'npz:my.npz')
    """
    if not isinstance(name, str) or not (
        any(name.startswith(p) and len(name) > len(p) for p in PATH_SCHEMES)
        or name.strip().lower() in BUILTIN
    ):
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {name!r}")
    return name
