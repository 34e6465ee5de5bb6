"""File output that survives crashes, full disks and a second writer.

* **Atomic writes.** Files are written to a temporary name in the same folder, fsynced
  and renamed into place (:func:`atomic_write_bytes`); appends either land whole or are
  truncated away (:func:`append_text`); output folders are built under a temporary name
  and renamed when complete (:func:`atomic_output_dir`). A failure at any point leaves
  the previous state and no temporary file.
* **One writer per folder.** :func:`folder_lock` takes an advisory lock
  (:class:`filelock.FileLock`, an exclusive ``flock``) on the lock file ``.NAME.lock``
  *beside* the folder ``NAME`` (in its parent), for as long as a process writes the
  folder; the holder writes its PID into the file, and removes the file on release. The
  lock belongs to the folder's *name*, so it already holds while the folder is built
  under a temporary name and stays held across the rename into place. The OS drops it
  when the process dies (kill -9 included), so a lock is never stale; a second writer is
  refused with :class:`FolderLockedError`, which names the holder's PID.
* **Leftovers.** Every temporary name carries its writer's PID:
  ``.NAME.<pid>.<random>.tmp`` (files of :func:`atomic_write_bytes`, folders of
  :func:`atomic_output_dir`) and ``.NAME.old-<pid>`` (a replaced folder being deleted).
  :func:`clean_stale` removes those whose process is gone; :func:`folder_lock` calls it
  when it takes a lock.
* **Environment failures.** Disk full, permissions, read-only file systems, a file
  where a folder should be: :class:`EnvironmentFailure`, an ``OSError`` with a one-line
  message naming the path and what to do (:func:`describe_os_error`); the CLI exits 1.
  Bad output paths (``--out .``, a parent that is a file) are :class:`OutputPathError`,
  a ``ValueError`` (exit 2).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

try:  # POSIX only; elsewhere folder locks are no-ops (Windows is not a target)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "EnvironmentFailure",
    "FolderLockedError",
    "OutputExistsError",
    "OutputPathError",
    "append_jsonl",
    "append_text",
    "atomic_output_dir",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_not_locked",
    "check_output_dir",
    "clean_stale",
    "describe_os_error",
    "folder_lock",
    "lock_path",
    "save_json",
    "strict_json",
    "torch_save_atomic",
]


# -- errors -----------------------------------------------------------------------------


class OutputPathError(ValueError):
    """The output path cannot name a new folder (bad input: the CLI exits 2)."""


class OutputExistsError(OutputPathError):
    """The output folder exists and ``overwrite`` was not asked for."""


class EnvironmentFailure(OSError):
    """The environment refused a write (disk full, permissions, read-only, ...).

    An ``OSError`` whose ``str()`` is one line naming the path and what to do; ``errno``
    and ``filename`` are those of the underlying error. The CLI exits 1.
    """

    def __init__(self, message: str, errno: int | None = None,
                 filename: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errno = errno  # type: ignore[assignment]
        self.filename = None if filename is None else os.fspath(filename)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:  # keeps the message through pickle (Ray)
        return (type(self), (self.message, self.errno, self.filename))


class FolderLockedError(EnvironmentFailure):
    """Another live process holds the folder's lock; ``pid`` is its PID (or ``None``)."""

    def __init__(self, message: str, pid: int | None = None,
                 filename: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message, errno.EWOULDBLOCK, filename)
        self.pid = pid

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.pid, self.filename))


# errno -> (what went wrong, what to do)
_OS_ERRORS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device",
                   "free some space or choose an --out on another disk"),
    errno.EDQUOT: ("disk quota exceeded",
                   "free some space or choose an --out on another disk"),
    errno.EFBIG: ("file size limit exceeded",
                  "raise the limit (ulimit -f) or choose an --out on another disk"),
    errno.EACCES: ("permission denied",
                   "choose an --out in a folder you can write, or fix its permissions"),
    errno.EPERM: ("operation not permitted",
                  "choose an --out in a folder you can write, or fix its permissions"),
    errno.EROFS: ("read-only file system", "choose an --out on a writable disk"),
    errno.ENOENT: ("a folder on the way does not exist and cannot be created there",
                   "create the parent folder first or choose another --out"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder",
                    "choose another --out"),
    errno.EEXIST: ("a file of that name is in the way",
                   "remove it or choose another --out"),
    errno.EISDIR: ("a folder is in the way of a file", "remove it or choose another --out"),
    errno.ENAMETOOLONG: ("the path is too long", "choose a shorter --out"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) and try again"),
    errno.ENFILE: ("too many open files on the system", "try again later"),
    errno.EIO: ("input/output error", "check the disk (dmesg), then try again"),
    errno.ENOMEM: ("out of memory", "free memory or use smaller sizes"),
}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def describe_os_error(err: OSError, path: str | os.PathLike[str] | None = None,
                      action: str = "write") -> str:
    """One line for an ``OSError``: ``cannot ACTION PATH: WHAT; WHAT TO DO``.

    ``path`` is the file or folder the user knows (default: ``err.filename``); name the
    final path rather than a temporary one.

    >>> import errno
    >>> describe_os_error(OSError(errno.ENOSPC, "No space left on device"), "runs/a")[:48]
    'cannot write runs/a: no space left on the device'
    """
    if isinstance(err, EnvironmentFailure):
        return err.message
    target = path if path is not None else err.filename
    where = f" {_one_line(os.fspath(target))}" if target is not None else ""
    known = _OS_ERRORS.get(err.errno) if err.errno is not None else None
    if known is None:
        reason = _one_line(err.strerror or err) or type(err).__name__
        return f"cannot {action}{where}: {reason}; check the path and the disk, then try again"
    what, fix = known
    return f"cannot {action}{where}: {what}; {fix}"


def _failure(err: OSError, path: str | os.PathLike[str], action: str = "write"
             ) -> EnvironmentFailure:
    return EnvironmentFailure(describe_os_error(err, path, action), err.errno, path)


# -- temporary names and stale leftovers --------------------------------------------------

# tempfile's random part: 8 characters of [a-z0-9_].
_TMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]+)\.[a-z0-9_]{8}\.tmp$")
_OLD_RE = re.compile(r"^\.(?P<name>.+)\.old-(?P<pid>[0-9]+)$")
_LOCK_RE = re.compile(r"^\.(?P<name>.+)\.lock$")


def _tmp_prefix(name: str) -> str:
    """``.NAME.<pid>.``: temporary files and folders of NAME made by this process."""
    return f".{name}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except (OverflowError, ValueError, OSError):
        return False
    return True


def _leftover_pid(entry: str, name: str | None) -> int | None:
    """The writer PID encoded in a leftover's name (of ``name``, or of any name)."""
    for pattern in (_TMP_RE, _OLD_RE):
        m = pattern.match(entry)
        if m and (name is None or m.group("name") == name):
            return int(m.group("pid"))
    return None


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError:
        return False
    return True


def clean_stale(path: str | os.PathLike[str]) -> list[Path]:
    """Remove what dead writers left of the folder ``path``; return what was removed.

    Beside ``path`` (in its parent): ``.NAME.<pid>.<random>.tmp`` (an unfinished
    :func:`atomic_output_dir` or :func:`atomic_write_bytes` of ``path``) and
    ``.NAME.old-<pid>`` (a replaced folder not yet deleted). Inside ``path`` (when it is
    a folder): every ``.X.<pid>.<random>.tmp`` (e.g. ``.checkpoint.pt.…tmp`` or an
    unfinished ``.interpret.…tmp/``), ``.X.old-<pid>``, and lock files ``.X.lock`` that no
    process holds. An entry is removed only when no process with its PID is alive on
    this machine, so a live writer's temporary files are never touched (a reused PID
    keeps a leftover, never the reverse). Best effort: what cannot be removed stays.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     run = Path(d) / "run"
    ...     run.mkdir()
    ...     _ = (run / ".checkpoint.pt.999999999.abcd_123.tmp").write_bytes(b"")
    ...     [p.name for p in clean_stale(run)]
    ['.checkpoint.pt.999999999.abcd_123.tmp']
    """
    path = _absolute(path)
    removed: list[Path] = []
    candidates: list[tuple[Path, str | None]] = []
    with contextlib.suppress(OSError):
        candidates += [(e, path.name) for e in path.parent.iterdir()]
    if path.is_dir():
        with contextlib.suppress(OSError):
            candidates += [(e, None) for e in path.iterdir()]
    for entry, name in candidates:
        pid = _leftover_pid(entry.name, name)
        if pid is not None:
            if not _pid_alive(pid) and _remove(entry):
                removed.append(entry)
        elif name is None and _LOCK_RE.match(entry.name) and _remove_unheld_lock(entry):
            removed.append(entry)
    return removed


# -- folder locks -------------------------------------------------------------------------

_held: dict[tuple[int, str], _Hold] = {}  # (pid, lock file) -> this process's hold
_held_guard = threading.Lock()
_ORPHAN_RETRIES = 1000  # a lock file unlinked under us by a releasing holder: try again


@dataclasses.dataclass
class _Hold:  # one process's hold: its FileLock, the nesting depth, the file's (dev, inode)
    lock: Any
    depth: int = 1
    inode: tuple[int, int] = (0, 0)


def _absolute(path: str | os.PathLike[str]) -> Path:
    """``path`` with a real parent and its own name (``.`` and ``..`` resolved)."""
    p = Path(path)
    if p.name in ("", ".", ".."):
        p = p.resolve()
    else:
        p = p.parent.resolve() / p.name
    return p


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock file of the folder ``path``: ``.NAME.lock`` in its parent.

    >>> lock_path("runs/a").name
    '.a.lock'
    """
    p = _absolute(path)
    if not p.name:
        raise OutputPathError(f"cannot lock {path}: it names no folder of its own")
    return p.parent / f".{p.name}.lock"


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _locked_message(path: str | os.PathLike[str], pid: int | None) -> str:
    who = f"process {pid}" if pid is not None else "another process"
    stop = f" (kill {pid})" if pid is not None else ""
    return f"{path} is being written by {who}; wait for it to finish or stop it{stop}"


def _holder(lock: Path) -> tuple[bool, int | None]:
    """Whether a process holds ``lock``, and the PID it wrote: a *shared* ``flock`` probe
    (taking filelock's exclusive lock to probe would refuse a real writer meanwhile)."""
    if fcntl is None:  # pragma: no cover
        return False, None
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # no lock file: nobody holds it (or it cannot exist: checked later)
        return False, None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # released by the close below
        return False, None
    except BlockingIOError:
        return True, _read_pid(fd)
    except OSError:
        return False, None
    finally:
        os.close(fd)


def _acquire(lock: Path, folder: str | os.PathLike[str]) -> _Hold:
    """Take ``lock`` without waiting (:class:`filelock.FileLock`, an exclusive ``flock``)
    and write this process's PID into it, for the message of a second writer."""
    from filelock import FileLock, Timeout

    def note_pid(fd: int) -> None:
        hold.inode = os.fstat(fd).st_dev, os.fstat(fd).st_ino
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as err:  # e.g. disk full: the lock holds, only the PID note is missing
            if err.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise

    hold = _Hold(FileLock(lock, blocking=False, thread_local=False, on_acquired=note_pid))
    for _ in range(_ORPHAN_RETRIES):
        try:
            hold.lock.acquire()
            return hold
        except Timeout:
            held, pid = _holder(lock)
            if held:
                raise FolderLockedError(_locked_message(folder, pid), pid, folder) from None
            # The holder unlinked the file between our open and our flock (see _release):
            # we met an orphan inode, and the lock is free; start over on the current file.
        except OSError as err:
            raise _failure(err, folder, "lock") from err
    raise FolderLockedError(_locked_message(folder, None), None, folder)


def _release(hold: _Hold, lock: Path) -> None:
    # Unlink while still holding the lock (and only our own file), then release: a process
    # that opened the old inode meanwhile finds it unlinked and retries (see _acquire).
    with contextlib.suppress(OSError):
        st = os.stat(lock)
        if (st.st_dev, st.st_ino) == hold.inode:
            os.unlink(lock)
    hold.lock.release()


def _remove_unheld_lock(lock: Path) -> bool:
    """Remove a lock file nobody holds (left by kill -9), by the locking protocol."""
    with _held_guard:
        if fcntl is None or (os.getpid(), str(lock)) in _held:
            return False
        try:
            _release(_acquire(lock, lock), lock)
        except OSError:
            return False
    return True


def check_not_locked(path: str | os.PathLike[str]) -> None:
    """Raise :class:`FolderLockedError` if another process writes the folder ``path``.

    A check only (it takes and keeps nothing); use it to refuse early, before any work,
    and hold :func:`folder_lock` while writing.
    """
    lock = lock_path(path)
    with _held_guard:
        if (os.getpid(), str(lock)) in _held:
            return
    held, pid = _holder(lock)
    if held:
        raise FolderLockedError(_locked_message(path, pid), pid, path)


@contextlib.contextmanager
def folder_lock(path: str | os.PathLike[str], *, clean: bool = True) -> Iterator[Path]:
    """Hold the write lock of the folder ``path`` for the duration of the block.

    The lock is a non-blocking :class:`filelock.FileLock` (an exclusive ``flock``) on
    ``lock_path(path)`` = ``PARENT/.NAME.lock``, which holds this process's PID; the parent
    is created if needed, ``path`` itself need not exist (it may be created, or renamed into
    place, inside the block). The OS releases the lock when the process dies, so a crash
    never leaves a stale lock; on a normal exit the lock file is removed. Re-entrant within
    a process (nested blocks share the lock). With ``clean`` (default), :func:`clean_stale`
    runs once the lock is taken.

    Yields:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FolderLockedError: another live process holds the lock (its PID is named).
        EnvironmentFailure: the lock file cannot be created (permissions, disk, ...).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d, folder_lock(Path(d) / "run") as run:
    ...     lock_path(run).exists()
    True
    """
    path = Path(path)
    if fcntl is None:  # pragma: no cover
        yield path
        return
    lock = lock_path(path)
    key = (os.getpid(), str(lock))
    with _held_guard:
        entry = _held.get(key)
        if entry is not None:
            entry.depth += 1
        else:
            try:
                lock.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise _failure(err, path, "create") from err
            _held[key] = _acquire(lock, path)
    try:
        if entry is None and clean:
            clean_stale(path)
        yield path
    finally:
        with _held_guard:
            held = _held[key]
            held.depth -= 1
            if held.depth == 0:
                del _held[key]
                _release(held, lock)


# -- atomic writes --------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes | Callable[[BinaryIO], object]) -> Path:
    """Write ``data`` to ``path`` through a temporary file, fsync and an atomic rename;
    ``data`` may be a writer ``data(fh)`` that streams into the open file (``torch.save``:
    no copy of the bytes in memory).

    The temporary file is ``.NAME.<pid>.<random>.tmp`` beside ``path``. On any failure
    ``path`` keeps its previous content and the temporary file is removed; an ``OSError``
    becomes :class:`EnvironmentFailure` naming ``path``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     atomic_write_bytes(Path(d) / "a.bin", b"xyz").read_bytes()
    b'xyz'
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_tmp_prefix(path.name),
                                   suffix=".tmp")
    except OSError as err:
        raise _failure(err, path) from err
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600
            data(fh) if callable(data) else fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, EnvironmentFailure):
            raise _failure(err, path) from err
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, infinity; numpy's too) replaced by
    ``None``, numpy scalars and arrays turned into plain numbers and lists, and tuples into
    lists: what strict JSON can hold.

    Examples:
        >>> strict_json({"a": float("inf"), "b": [1.5, float("nan")], "c": (1, 2)})
        {'a': None, 'b': [1.5, None], 'c': [1, 2]}
    """
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy
        return strict_json(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def save_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented strict JSON (:func:`strict_json`: no NaN or Infinity),
    atomically."""
    text = json.dumps(strict_json(obj), indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def append_text(path: str | Path, text: str) -> None:
    """Append ``text`` in one write, flush and fsync; all of it or nothing.

    If the write fails (disk full, ...), the file is truncated back to its previous
    length, so no partial line stays, and :class:`EnvironmentFailure` names ``path``.
    (A kill -9 during the write can still leave a partial last line; readers drop it.)
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as err:
        raise _failure(err, path) from err
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(text.encode("utf-8"))
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException as err:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            if isinstance(err, OSError):
                raise _failure(err, path) from err
            raise
    finally:
        os.close(fd)


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line and fsync it (all of it or nothing, see :func:`append_text`)."""
    append_text(path, json.dumps(record) + "\n")


def torch_save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` streamed through :func:`atomic_write_bytes` (temporary file, fsync,
    rename): a crash never leaves a truncated checkpoint under ``path``."""
    import torch  # here, not at import: the CLI's startup must not pay for torch

    return atomic_write_bytes(path, lambda fh: torch.save(obj, fh))


# -- output folders ---------------------------------------------------------------------------


def _probe_writable(folder: Path, out: Path) -> None:
    """Create and remove a folder in ``folder``: the true test (root, /proc, read-only)."""
    try:
        os.rmdir(tempfile.mkdtemp(dir=folder, prefix=_tmp_prefix(out.name), suffix=".tmp"))
    except OSError as err:
        raise _failure(err, out, "create") from err


def check_output_dir(out: str | Path, overwrite: bool, *, exist_ok: bool = False) -> Path:
    """Check, before any work starts, that ``out`` can become a new output folder.

    Refused as :class:`OutputPathError` (bad input): a path naming no folder of its own
    (``""``, ``.``, ``..``, ``/``); with ``overwrite``, the current folder or one that
    contains it; an existing ``out`` without ``overwrite`` (:class:`OutputExistsError`;
    with ``exist_ok`` an existing folder is accepted: the caller writes into it, as a
    sweep does) or that is not a folder; a parent that is a file. Refused as
    :class:`EnvironmentFailure`: a parent folder in which nothing can be created
    (permissions, read-only, ``/proc``), tested by creating and removing a temporary
    folder there. :class:`FolderLockedError` if another process writes ``out``.
    Nothing is left behind.

    >>> try:
    ...     check_output_dir(".", overwrite=True)
    ... except OutputPathError as err:
    ...     print(str(err).split(";")[0])
    output path '.' names no folder of its own
    """
    raw = str(out)
    out = Path(out)
    if not raw.strip() or out.name in ("", ".", ".."):
        raise OutputPathError(f"output path {raw!r} names no folder of its own; give a new "
                              "folder name such as runs/NAME")
    try:
        real = out.resolve()
        with contextlib.suppress(OSError):
            cwd = Path.cwd().resolve()
            if overwrite and (real == cwd or real in cwd.parents):
                raise OutputPathError(f"--overwrite would replace {out}, which holds the "
                                      "current folder; choose another output folder")
        if out.exists() or out.is_symlink():
            if not out.is_dir():
                raise OutputExistsError(f"output path {out} exists and is not a folder; "
                                        "remove it or choose another")
            if not (overwrite or exist_ok):
                raise OutputExistsError(f"output folder {out} exists; pass --overwrite or "
                                        "choose another")
            check_not_locked(out)
            _probe_writable(real.parent, out)
            return out
        ancestor = out.parent
        while not (ancestor.exists() or ancestor.is_symlink()) and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise OutputPathError(f"cannot create {out}: {ancestor} is a file, not a folder; "
                                  "choose another output folder")
    except OSError as err:  # stat of an unreadable folder, resolve loops, ...
        if isinstance(err, EnvironmentFailure):
            raise
        raise _failure(err, out, "create") from err
    check_not_locked(out)
    _probe_writable(ancestor, out)
    return out


@contextlib.contextmanager
def atomic_output_dir(out: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``out`` only if the block completes.

    Holds :func:`folder_lock` on ``out`` for the whole block (so a second writer is
    refused, and stale leftovers of ``out`` are cleaned first), builds the folder as
    ``.NAME.<pid>.<random>.tmp`` beside ``out`` and renames it into place at the end,
    replacing an existing ``out`` only with ``overwrite`` (rechecked under the lock). On
    any exception (including Ctrl-C) the temporary folder is removed and ``out`` is left
    as it was. ``OSError`` becomes :class:`EnvironmentFailure`.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with atomic_output_dir(Path(d) / "out") as tmp:
    ...         _ = (tmp / "a.txt").write_text("done")
    ...     sorted(p.name for p in Path(d).iterdir())
    ['out']
    """
    out = check_output_dir(out, overwrite)
    with folder_lock(out):
        if out.exists() and not overwrite:  # created since check_output_dir
            raise OutputExistsError(f"output folder {out} exists; pass --overwrite or "
                                    "choose another")
        try:
            tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=_tmp_prefix(out.name),
                                        suffix=".tmp"))
        except OSError as err:
            raise _failure(err, out, "create") from err
        try:
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
            yield tmp
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if type(err) is EnvironmentFailure and str(tmp) in err.message:
                # a write inside the block failed: name the path the user asked for
                fname = (err.filename or str(tmp)).replace(str(tmp), str(out))
                raise EnvironmentFailure(err.message.replace(str(tmp), str(out)), err.errno,
                                         fname) from err
            if isinstance(err, OSError) and not isinstance(err, EnvironmentFailure):
                # a raw OSError from a library writing inside the block (matplotlib's
                # savefig on a full disk, ...): one line naming the final path
                name = os.fspath(err.filename) if err.filename is not None else None
                final = (out / Path(name).relative_to(tmp)
                         if name is not None and Path(name).is_relative_to(tmp) else out)
                raise _failure(err, final) from err
            raise
        try:
            if out.exists() or out.is_symlink():
                old = out.with_name(f".{out.name}.old-{os.getpid()}")
                os.replace(out, old)
                try:
                    os.replace(tmp, out)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.replace(old, out)  # keep the last good state
                    raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, out)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(err, OSError):
                raise _failure(err, out) from err
            raise
