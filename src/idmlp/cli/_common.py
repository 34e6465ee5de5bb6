"""Argument types and options shared by the subcommands (standard library only)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..config import DEVICES

__all__ = ["add_device", "add_output", "add_quiet", "add_run_output", "nonnegative_float",
           "nonnegative_int", "positive_float", "positive_int", "run_output"]


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


def add_run_output(parser: argparse.ArgumentParser, written_by: str, folder: str) -> None:
    """The arguments of a command that reads a run folder and writes beside it: ``RUN``
    (written by ``written_by``), ``--out`` (default ``RUN/folder``; :func:`run_output`)
    and ``--overwrite``."""
    parser.add_argument("run", metavar="RUN", help=f"run folder written by '{written_by}'")
    parser.add_argument("--out", default=None, help=f"output folder (default: RUN/{folder})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the output folder if it exists")
    parser.set_defaults(out_folder=folder)


def run_output(args: argparse.Namespace) -> Path:
    """``--out``, or ``RUN/folder`` of :func:`add_run_output`."""
    return Path(args.out) if args.out is not None else Path(args.run) / args.out_folder


def add_device(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
               default: str | None = "cpu") -> None:
    parser.add_argument(
        "--device", default=default, choices=DEVICES,
        help="where to compute: cpu, cuda, or auto (cuda when available; default: cpu)",
    )


def add_quiet(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
