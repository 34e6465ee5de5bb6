"""Argument types and options shared by the subcommands (standard library only)."""

from __future__ import annotations

import argparse
import math

from ..config import DEVICES

__all__ = ["add_device", "add_output", "add_quiet", "nonnegative_float", "nonnegative_int",
           "positive_float", "positive_int"]


def _float_at_least(text: str, low: float, strict: bool) -> float:
    bound = f"{'>' if strict else '>='} {low:g}"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number {bound}, got {text!r}") from None
    if not ((value > low if strict else value >= low) and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number {bound}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    return _float_at_least(text, 0.0, strict=True)


def nonnegative_float(text: str) -> float:
    return _float_at_least(text, 0.0, strict=False)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    return _int_at_least(text, 0)


def add_output(parser: argparse.ArgumentParser | argparse._ArgumentGroup, default: str) -> None:
    parser.add_argument("--out", default=default, help=f"output folder (default: {default})")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the output folder if it exists"
    )


def add_device(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
               default: str | None = "cpu") -> None:
    parser.add_argument(
        "--device", default=default, choices=DEVICES,
        help="where to compute: cpu, cuda, or auto (cuda when available; default: cpu)",
    )


def add_quiet(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
