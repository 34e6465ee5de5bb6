"""Config fields as command-line flags, typed columns and dicts, and the one router of flat
setting names to the config that owns them.

Every config of :mod:`idmlp.config` is a frozen dataclass whose fields carry their help text
(:func:`meta`); :func:`add_arguments` derives one flag per field, :func:`field_types` the
types of a sweep's CSV columns, :func:`from_dict` rebuilds a config from JSON, and
:func:`route` sends flat names (``lr=...``, ``depth=...``) to the part that owns them. This
module imports neither torch nor numpy.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

__all__ = [
    "add_arguments",
    "arguments_given",
    "check_bool",
    "field_names",
    "field_types",
    "from_dict",
    "meta",
    "put",
    "route",
]

C = TypeVar("C")


def meta(text: str, *, cli: bool = True, flag: str | None = None) -> dict[str, Any]:
    """Field metadata: the flag's help text; ``cli=False`` keeps a field off the CLI."""
    return {"help": text, "cli": cli, "flag": flag}


def put(obj: object, name: str, value: object) -> None:
    """Set a field of a frozen dataclass (in ``__post_init__``, after validating it)."""
    object.__setattr__(obj, name, value)


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def field_names(cls: type) -> set[str]:
    """The field names of a dataclass."""
    return {f.name for f in dataclasses.fields(cls)}


def route(changes: Mapping[str, Any], owners: Mapping[str, Iterable[str]], *,
          what: str = "setting") -> dict[str, dict[str, Any]]:
    """Split flat ``changes`` by the part that owns each name: ``{part: {name: value}}``.

    ``owners`` maps each part to the names it owns, in priority order (the first owner of a
    name takes it). The one router of flat settings to configs: ``RunConfig.replace``,
    ``TrainSettings.replace``, old run folders' flat configs and the command line use it.

    Examples:
        >>> route({"lr": 0.1, "depth": 3}, {"model": ["depth"], "optim": ["lr"]})
        {'model': {'depth': 3}, 'optim': {'lr': 0.1}}
    """
    owned = {part: set(names) for part, names in owners.items()}
    out: dict[str, dict[str, Any]] = {part: {} for part in owned}
    for key, value in changes.items():
        part = next((p for p, names in owned.items() if key in names), None)
        if part is None:
            raise ValueError(f"unknown {what} {key!r}")
        out[part][key] = value
    return out


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """``(T, optional)`` of an annotation ``T`` or ``T | None``."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return tp, False


def field_types(cls: type) -> dict[str, type]:
    """``{field: int | float | str | bool | tuple}`` for every field of a config class
    (``T | None`` gives ``T``): the types of a sweep's CSV columns."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        tp, _ = _unwrap(hints[f.name])
        out[f.name] = typing.get_origin(tp) or tp
    return out


def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser | Any, cls: type, *,
                  defaults: Any = None, exclude: tuple[str, ...] = (),
                  title: str | None = None, seen: set[str] | None = None) -> list[str]:
    """Add one flag per CLI field of the config class ``cls`` (``--name-with-dashes``).

    Every flag defaults to ``None``, so :func:`arguments_given` tells an explicit value from
    a default; the help text shows the default of ``defaults`` (an instance of ``cls``,
    default ``cls()``). Values are parsed by type only; validation is the dataclass's.
    Names in ``seen`` are skipped and the added ones put there (one flag for a field that
    several classes share). Returns the field names added.
    """
    group = parser.add_argument_group(title) if title else parser
    defaults = defaults if defaults is not None else cls()
    hints = typing.get_type_hints(cls)
    names = []
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", False) or f.name in exclude or (
                seen is not None and f.name in seen):
            continue
        if seen is not None:
            seen.add(f.name)
        tp, _ = _unwrap(hints[f.name])
        default = getattr(defaults, f.name)
        shown = "none" if default is None else default
        help_ = f"{f.metadata['help']} (default: {shown})"
        if tp is bool:
            group.add_argument(_flag(f), dest=f.name, action=argparse.BooleanOptionalAction,
                               default=None, help=help_)
        else:
            group.add_argument(_flag(f), dest=f.name, type=_parser_for(tp, _flag(f)),
                               default=None, metavar=f.name.upper(), help=help_)
        names.append(f.name)
    return names


def _parser_for(tp: type, flag: str) -> typing.Callable[[str], Any]:
    if tp is int:
        def parse(text: str) -> int:
            try:
                return int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        return parse
    if tp is float:
        def parse_float(text: str) -> float:
            try:
                value = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
            if not math.isfinite(value):
                raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
            return value
        return parse_float
    return str


def arguments_given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` given explicitly on the command line (not ``None``)."""
    names = field_names(cls)
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def from_dict(cls: type[C], d: Any, *, where: str = "") -> C:
    """Build the config class ``cls`` from a dict; unknown keys are a one-line error
    (missing keys take their defaults). A class with an ``upgrade_dict`` static method
    first rewrites dicts of older versions (e.g. flat keys that moved into a sub-config)."""
    if not isinstance(d, dict):
        raise ValueError(f"{where}a {cls.__name__} needs a dict, got {type(d).__name__}")
    upgrade = getattr(cls, "upgrade_dict", None)
    if upgrade is not None:
        d = upgrade(dict(d))
    unknown = sorted(set(d) - field_names(cls))
    if unknown:
        raise ValueError(f"{where}unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return cls(**d)
