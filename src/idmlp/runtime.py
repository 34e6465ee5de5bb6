"""Where computation runs, and how an error is said in one line.

Shared by the library and the command line: :func:`resolve_device` turns ``cpu``, ``cuda``
or ``auto`` into a :class:`torch.device` (refusing CUDA where there is none), and
:func:`one_line` reduces any exception to the single line that the CLI prints.
"""

from __future__ import annotations

from typing import Any

from ._validation import check_choice
from .config import DEVICES

__all__ = ["DEVICES", "one_line", "resolve_device"]


def resolve_device(name: str | Any) -> Any:
    """``cpu``, ``cuda``, or ``auto`` (CUDA when available) as a :class:`torch.device`;
    a :class:`torch.device` passes through. CUDA without a CUDA device is a one-line
    ``ValueError``.

    Examples:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    import torch

    if isinstance(name, torch.device):
        return name
    check_choice("device", name, DEVICES)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda': no CUDA device is available; use device 'cpu' or 'auto'")
    return torch.device(name)


def one_line(err: BaseException, limit: int = 300) -> str:
    """The first line of ``err``'s message (or its type name), white space folded.

    A wrapped error (Ray's ``RayTaskError`` keeps the task's exception in ``cause``) is
    unwrapped first.

    Examples:
        >>> one_line(ValueError("bad value\\n  details..."))
        'bad value'
    """
    cause = getattr(err, "cause", None)
    err = cause if isinstance(cause, BaseException) else err
    text = str(err).strip()
    first = " ".join(text.splitlines()[0].split()) if text else type(err).__name__
    return first[:limit]
