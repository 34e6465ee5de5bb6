"""The ``idmlp`` command line: one subcommand per job.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``; the modules import only the standard library and
:mod:`idmlp.config` at parse time, so ``--help`` and usage errors answer without loading
torch. A ``ValueError`` (bad input, validated at the boundary) becomes one line on stderr
and exit status 2; an ``OSError`` (disk full, permissions) one line and exit status 1; no
traceback either way.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from .. import __version__
from . import benchmark, dynamics, faithfulness, interpret, reproduce, sweep, theory, train

__all__ = ["build_parser", "main"]

_COMMANDS = [reproduce, theory, train, interpret, dynamics, faithfulness, sweep,
             benchmark]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="idmlp",
        description="Deep MLPs with identity initialization: theory, training and "
        "layer-wise interpretation (Kubota et al., ICASSP 2021).",
    )
    parser.add_argument("--version", action="version", version=f"idmlp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    for module in _COMMANDS:
        module.add_parser(sub)
    return parser


class _Interrupts:
    """Remembers a SIGINT while a command runs: a ``KeyboardInterrupt`` raised where Python
    only reports it ("Exception ignored in ...", e.g. in a finalizer or a C callback of a
    plotting library) would otherwise let the command finish with status 0."""

    def __init__(self) -> None:
        self.seen = False
        self.previous: Any = None

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``idmlp`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # the exact command line, for the report's configuration section
    args.command_line = shlex.join(["idmlp", *(sys.argv[1:] if argv is None else argv)])
    with _Interrupts() as interrupts:
        status = _run(args)
    if interrupts.seen and status != 130:
        print(f"idmlp {args.command}: interrupted", file=sys.stderr)
        return 130
    return status


def _run(args: argparse.Namespace) -> int:
    from .._io import describe_os_error
    from ..runtime import one_line

    try:
        return int(args.func(args) or 0)
    except ValueError as err:
        print(f"idmlp {args.command}: error: {one_line(err, 1000)}", file=sys.stderr)
        return 2
    except OSError as err:  # disk full, permissions, a folder locked by another writer
        print(f"idmlp {args.command}: error: {describe_os_error(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"idmlp {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
