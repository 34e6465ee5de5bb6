"""The ``idmlp`` command line: one subcommand per job.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``. A ``ValueError`` (bad input, validated at the boundary) becomes one
line on stderr and exit status 2, with no traceback.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from .. import __version__
from . import interpret, reproduce, sweep, theory, train

__all__ = ["main"]

_COMMANDS = [reproduce, theory, train, interpret, sweep]


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
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``idmlp`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # the exact command line, for the report's configuration section
    args.command_line = shlex.join(["idmlp", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except ValueError as err:
        print(f"idmlp {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"idmlp {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
