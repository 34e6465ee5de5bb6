"""Reading a run's ``checkpoint.pt``: the one place where its contents are checked.

A checkpoint is a dict written by :meth:`idmlp.train.loop.Trainer.state_dict` (plus a
format tag), loaded with ``torch.load(weights_only=True)`` so that no pickled code runs.
Everything read from it is validated here before any of it is used, so a truncated, foreign
or edited file is refused in one line naming the file and the fix, never a ``KeyError``
deep in a loop: the weights (tensors of the architecture ``config.json`` describes, all
finite), the epoch and step counters, the per-epoch records and, to resume, the optimizer,
scheduler and random-generator states. An unreadable file (permissions) is an environment
failure and propagates as ``OSError``.

Writing is :class:`CheckpointWriter`'s: a run writes its checkpoint after every epoch
(about 150 MB for the default 20-layer MLP: weights and Adam's two moments) through a
temporary file, ``fsync`` and a rename. It does so in one background thread from a copy of
the state, so the next epoch trains while the bytes reach the disk (``fsync`` releases the
GIL; the training's matrix products do too). Writes stay in order, one at a time.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..runtime import one_line

__all__ = ["CHECKPOINT_FORMAT", "CheckpointWriter", "check_weights", "read_checkpoint"]

CHECKPOINT_FORMAT = "idmlp-checkpoint-v1"
#: What every per-epoch record holds (:meth:`idmlp.train.loop.Trainer.run`).
RECORD_KEYS: tuple[str, ...] = ("epoch", "train_loss", "train_acc")
_FIX = "retrain, or restore the file from a copy"


def _bad(path: Path, what: str) -> ValueError:
    return ValueError(f"{path} is corrupt ({what}); {_FIX}")


def _count(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def _check_records(path: Path, records: object) -> None:
    if not isinstance(records, list):
        raise _bad(path, f"its metrics are a {type(records).__name__}, not a list of records")
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise _bad(path, f"metrics entry {i} is a {type(record).__name__}, not a record")
        missing = [k for k in RECORD_KEYS if k not in record]
        if missing:
            raise _bad(path, f"metrics entry {i} lacks {', '.join(missing)}")
        if record["epoch"] != i + 1 or not _count(record["epoch"]):
            raise _bad(path, f"metrics entry {i} is epoch {record['epoch']!r}, not {i + 1}")


def _check_resume_state(path: Path, ckpt: Mapping[str, Any]) -> None:
    """What :meth:`~idmlp.train.loop.Trainer.load_state_dict` reads besides the weights."""
    for key in ("optimizer", "scheduler", "rng"):
        if not isinstance(ckpt.get(key), Mapping):
            raise ValueError(f"{path} has no valid {key} state, so the run cannot continue "
                             f"exactly; {_FIX}, or start a new run")
    opt = ckpt["optimizer"]
    if not isinstance(opt.get("state"), Mapping) or not isinstance(opt.get("param_groups"),
                                                                  list):
        raise _bad(path, "its optimizer state lacks 'state' or 'param_groups'")
    rng = ckpt["rng"]
    for key in ("torch", "shuffle"):
        if not (isinstance(rng.get(key), Tensor) and rng[key].dtype == torch.uint8):
            raise _bad(path, f"its random-generator state '{key}' is not a generator state")
    if not _count(ckpt.get("step")):
        raise _bad(path, f"its step counter is {ckpt.get('step')!r}")
    elapsed = ckpt.get("elapsed", 0.0)
    if not isinstance(elapsed, numbers.Real) or not math.isfinite(elapsed) or elapsed < 0:
        raise _bad(path, f"its elapsed time is {elapsed!r}")


def read_checkpoint(path: str | Path, device: torch.device | str = "cpu", *,
                    resume: bool = False) -> dict[str, Any]:
    """Load and validate the checkpoint at ``path``.

    Args:
        path: the ``checkpoint.pt`` of a run folder.
        device: where its tensors are loaded.
        resume: also check what continuing the run needs (optimizer, scheduler, random
            generators, step counter).

    Raises:
        ValueError: a file that is not an idmlp checkpoint, or is truncated, corrupt or
            edited (one line naming what is wrong and the fix).
        OSError: the file cannot be read (permissions): an environment failure.
    """
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except OSError as err:
        if isinstance(err, (PermissionError, IsADirectoryError)):
            raise
        raise ValueError(f"cannot read {path} (truncated or corrupt: {one_line(err)}); "
                         f"{_FIX}") from None
    except Exception as err:  # torch.load on a foreign file: KeyError, IndexError, ...
        raise ValueError(f"cannot read {path} (truncated or corrupt, or not a file "
                         f"torch.save wrote: {type(err).__name__}: {one_line(err, 120)}); "
                         f"{_FIX}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an idmlp checkpoint (no '{CHECKPOINT_FORMAT}' tag)")
    model = ckpt.get("model")
    if not isinstance(model, Mapping) or not model:
        raise ValueError(f"{path} has no model weights; {_FIX}")
    for key, value in model.items():
        if not isinstance(value, Tensor):
            raise _bad(path, f"weight {key!r} is a {type(value).__name__}, not a tensor")
    _check_records(path, ckpt.get("metrics", []))
    if not _count(ckpt.get("epoch", 0)) or ckpt.get("epoch", 0) != len(ckpt.get("metrics", [])):
        raise _bad(path, f"its epoch counter {ckpt.get('epoch')!r} does not match its "
                   f"{len(ckpt.get('metrics', []))} epoch records")
    if resume:
        _check_resume_state(path, ckpt)
    return ckpt


def check_weights(model: nn.Module, state: Mapping[str, Tensor], path: str | Path, *,
                  config_file: str = "config.json") -> None:
    """Refuse weights of another architecture (one line naming the first mismatch) and
    weights that are not all finite (a run that diverged while saving, or an edited file)."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        what = (f"missing {', '.join(missing[:3])}" if missing
                else f"unexpected {', '.join(unexpected[:3])}")
        raise ValueError(f"{path} holds another architecture than {config_file} describes "
                         f"({what}); was it copied from another run?")
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise ValueError(
                f"{path} holds another architecture than {config_file} describes ({key} has "
                f"shape {tuple(state[key].shape)}, expected {tuple(value.shape)}); was it "
                "copied from another run?")
        if state[key].is_floating_point() and not bool(torch.isfinite(state[key]).all()):
            raise ValueError(f"{path} holds NaN or infinite weights ({key}); the run "
                             f"diverged or the file was edited: {_FIX}")


class CheckpointWriter:
    """Runs write jobs (a checkpoint, then the epoch's metrics line) one at a time in a
    background thread, in the order submitted, on deep copies of their arguments
    (``copy.deepcopy``: training goes on changing the original tensors in place).

    :meth:`submit` first waits for the previous job, so at most one write is in flight and
    an error of a write (an ``OSError`` naming the file) surfaces at the next
    :meth:`submit` or at :meth:`close`. Used as a context manager, leaving the block waits
    for the last write; when the block is left by an exception, that exception wins over
    a write error.

    Examples:
        >>> done = []
        >>> with CheckpointWriter() as writer:
        ...     writer.submit(done.append, 1)
        ...     writer.submit(done.append, 2)
        >>> done
        [1, 2]
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="idmlp-checkpoint")
        self._pending: Future | None = None

    def submit(self, job: Callable[..., object], *args: Any) -> None:
        """Wait for the previous job (raising its error), then start ``job(*args)`` on a
        copy of ``args``."""
        self.wait()
        self._pending = self._pool.submit(job, *copy.deepcopy(args))

    def wait(self) -> None:
        """Block until the job in flight (if any) has finished; raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the last job, then stop the thread."""
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
            return
        # the block's exception propagates; a write error after it would hide it
        with contextlib.suppress(Exception):
            self.close()
