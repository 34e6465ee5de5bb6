"""Argument checks shared by the public API.

Every public function validates its arguments once, at the boundary, and raises a
``ValueError`` that names the argument and its valid range. Inside, types are trusted.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

__all__ = [
    "check_path",
    "MAX_SEED",
    "MAX_SPLIT_SEED",
    "check_choice",
    "check_indices",
    "check_int",
    "check_nonnegative",
    "check_positive",
    "check_probability",
    "check_real",
]


def check_real(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite real number, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return value


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise ``ValueError``."""
    v = check_real(name, value)
    if v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def check_nonnegative(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number >= 0, else raise ``ValueError``."""
    v = check_real(name, value)
    if v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_probability(name: str, value: object, *, open_interval: bool = True) -> float:
    """Return ``value`` if it lies in (0, 1) (or [0, 1] with ``open_interval=False``)."""
    v = check_real(name, value)
    ok = 0.0 < v < 1.0 if open_interval else 0.0 <= v <= 1.0
    if not ok:
        rng = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name} must lie in {rng}, got {value!r}")
    return v


#: The largest seed torch's generators take (a signed 64-bit integer).
MAX_SEED = 2**63 - 1
#: The largest seed scikit-learn's and numpy's legacy generators take (32 bits).
MAX_SPLIT_SEED = 2**32 - 1


def check_int(name: str, value: object, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` if it is an integer >= ``minimum`` (and <= ``maximum``; bools and
    floats are refused)."""
    valid = (f"an integer in [{minimum}, {maximum}]" if maximum is not None
             else f"an integer >= {minimum}")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {valid}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {valid}, got {value!r}")
    return int(value)


def check_choice(name: str, value: object, choices: tuple[str, ...] | list[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return str(value)


def check_indices(name: str, values: object, low: int, high: int, *,
                  sort: bool = True) -> tuple[int, ...]:
    """Return ``values`` if it is a non-empty sequence of integers in ``low..high``.

    With ``sort`` (layer numbers) the result is sorted and without repeats; otherwise
    (example indices) the order and repeats are kept.
    """
    from collections.abc import Sequence

    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{name} must be a non-empty list of integers in {low}..{high}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not low <= v <= high:
            raise ValueError(f"{name} must hold integers in {low}..{high}, got {v!r}")
        out.append(int(v))
    return tuple(sorted(set(out))) if sort else tuple(out)


def check_path(name: str, value: object) -> Path:
    """Return ``value`` as a :class:`~pathlib.Path` if it is a non-empty path (a ``str`` or
    an ``os.PathLike``), else raise ``ValueError`` naming ``name``."""
    if isinstance(value, (str, os.PathLike)) and str(os.fspath(value)).strip():
        return Path(value)
    raise ValueError(f"{name} must be a folder path (a str or pathlib.Path), got {value!r}")
