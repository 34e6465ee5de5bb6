"""Where computation runs, how much memory it may take, and how an error is said in one line.

Shared by the library and the command line: :func:`resolve_device` turns ``cpu``, ``cuda``
or ``auto`` into a :class:`torch.device` (refusing CUDA where there is none),
:func:`check_memory` refuses work whose size, known from the arguments, cannot fit in this
machine's memory (before anything is allocated), and :func:`one_line` reduces any
exception to the single line that the CLI prints. :func:`progress_bar` is the one place
that decides whether a progress bar is drawn.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from ._io import EnvironmentFailure
from ._validation import check_choice
from .config import DEVICES

__all__ = ["DEVICES", "MEMORY_FRACTION", "check_memory", "format_bytes", "memory_limit",
           "one_line", "progress_bar", "resolve_device"]

#: The share of :func:`memory_limit` that one job may plan to use.
MEMORY_FRACTION = 0.75


def progress_bar(iterable: Any = None, *, enabled: bool = True, **kwargs: Any) -> Any:
    """A :mod:`tqdm` bar (``tqdm.auto``: a widget in a notebook, text on stderr elsewhere),
    drawn only when ``enabled`` and, for the text bar, only when its stream is a
    terminal: a text bar redraws itself with carriage returns and escape codes, which a
    log file (stderr redirected, CI, a batch job) would keep as noise. Every progress bar
    of the package comes from here; ``kwargs`` go to tqdm (``total``, ``desc``, ...).

    Examples:
        >>> list(progress_bar(range(3), enabled=False))
        [0, 1, 2]
    """
    from tqdm.auto import tqdm
    from tqdm.autonotebook import tqdm as chosen
    from tqdm.std import tqdm as text_bar

    # tqdm's disable=None: off when the stream is not a terminal (a notebook's stream is
    # not one either, but its widget writes no escape codes)
    disable = (None if enabled else True) if chosen is text_bar else not enabled
    return tqdm(iterable, disable=disable, **kwargs)


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


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units, three significant digits.

    Examples:
        >>> format_bytes(80e9), format_bytes(512), format_bytes(1536)
        ('74.5 GiB', '512 B', '1.5 KiB')
    """
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n, i = n / 1024, i + 1
    return f"{n:.0f} {units[i]}" if i == 0 else f"{n:.3g} {units[i]}"


def memory_limit() -> int | None:
    """Bytes of memory this process can have: the machine's physical memory
    (``os.sysconf``), or the cgroup v2 limit of its container when that is lower; ``None``
    where neither can be read.

    Examples:
        >>> memory_limit() is None or memory_limit() > 2**20
        True
    """
    limits = []
    try:
        limits.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        pass
    try:
        text = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if text.isdigit():
            limits.append(int(text))
    except OSError:
        pass
    limits = [n for n in limits if n > 0]
    return min(limits) if limits else None


def check_memory(nbytes: float, what: str, fix: str, *,
                 fraction: float = MEMORY_FRACTION) -> None:
    """Refuse, before anything is allocated, work that needs ``nbytes`` of memory when that
    is more than ``fraction`` of :func:`memory_limit`.

    Raises:
        EnvironmentFailure: one line, ``WHAT would take about SIZE of memory, more than
            the LIMIT (FRACTION of MEMORY) this machine can give; FIX`` (``errno`` is
            ``ENOMEM``; the CLI exits 1).

    Examples:
        >>> check_memory(1024, "a small job", "nothing to do")
        >>> try:
        ...     check_memory(2.0**70, "the Jacobians", "use a smaller width")
        ... except OSError as err:
        ...     print(str(err)[:40])
        the Jacobians would take about 1.02e+03
    """
    total = memory_limit()
    if total is None or nbytes <= fraction * total:
        return
    raise EnvironmentFailure(
        f"{what} would take about {format_bytes(nbytes)} of memory, more than the "
        f"{format_bytes(fraction * total)} ({fraction:.0%} of {format_bytes(total)}) this "
        f"machine can give; {fix}", errno.ENOMEM)
