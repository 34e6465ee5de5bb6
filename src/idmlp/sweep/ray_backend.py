"""Ray backend for sweeps: every batch of runs is one Ray task.

Install with ``pip install 'idmlp[ray]'``. Ray is imported only when this backend is
used, never by ``import idmlp.sweep``.

The driver keeps the results file: it submits all batches, then writes each batch's rows
as soon as its task finishes (:func:`ray.wait`), so a worker that dies loses no finished
rows. A task whose worker dies, or that raises, is retried up to ``max_retries`` times
by Ray; a batch that still fails comes back as the exception, which the runner writes as
``status=failed`` rows (a later ``--resume`` runs them again).

On a remote cluster the workers need idmlp installed (or a Ray ``runtime_env``); the
dataset is sent once to the object store (:func:`ray.put`).

A normal run keeps stderr clean: a local Ray instance is started with token
authentication chosen explicitly (``RAY_AUTH_MODE=token``, Ray's default, which Ray
otherwise announces with a warning; a ``RAY_AUTH_MODE`` already set is respected; see
:func:`import_ray`), and
each task trains on writeable copies of the arrays, which the object store hands out
read-only (torch warns on read-only arrays).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ..config.sweep import RunSpec, TrainSettings
from .engine import TrainData

__all__ = ["INSTALL_HINT", "RayBackend", "import_ray"]

INSTALL_HINT = "pip install 'idmlp[ray]'"


def import_ray(address: str | None = None) -> Any:
    """Import Ray, or raise a one-line ``ValueError`` saying how to install it.

    When Ray is first imported for a new local instance (no ``address``, no
    ``RAY_ADDRESS``), ``RAY_AUTH_MODE`` defaults to ``token``: Ray's own default for a new
    local cluster, said explicitly, so that Ray does not warn about choosing it. Ray reads
    the mode when it is imported, hence here (a mode set by the user is respected).
    """
    if "ray" not in sys.modules and not address and not os.environ.get("RAY_ADDRESS"):
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray
    except ImportError:
        raise ValueError(f"--backend ray needs Ray, which is not installed: {INSTALL_HINT}"
                         ) from None
    return ray


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a ``host:port`` (or ``ray://host:port``) nobody listens on: Ray itself
    keeps retrying for minutes. Other forms (``auto``, ``local``) are left to Ray."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as err:
        raise ValueError(f"--address {address}: no Ray cluster answers there ({err}); start "
                         "one with `ray start --head` or omit --address for a local one"
                         ) from None


def _writeable(data: TrainData) -> TrainData:
    """``data`` with writeable copies of the arrays that Ray's object store made read-only."""
    changes = {f.name: np.array(v) for f in dataclasses.fields(data)
               if isinstance(v := getattr(data, f.name), np.ndarray) and not v.flags.writeable}
    return dataclasses.replace(data, **changes) if changes else data


def _train_writeable(train_fn: Callable[..., list[dict]], batch: list[RunSpec], data: TrainData,
                     settings: TrainSettings, device: torch.device) -> list[dict]:
    """The Ray task: ``train_fn`` on writeable arrays."""
    return train_fn(batch, _writeable(data), settings, device=device)


class RayBackend:
    """Runs batches as Ray tasks; connects on construction (before any file is written).

    Args:
        address: a Ray cluster address (``ray.init(address=...)``); ``None`` starts a
            local Ray instance (or joins ``RAY_ADDRESS``). An already initialized Ray is
            used as it is and left running.
        max_retries: Ray's ``max_retries`` for each task (worker deaths and exceptions).
        device: ``cpu``, or ``cuda`` (each task then asks Ray for one GPU).
    """

    def __init__(self, address: str | None = None, max_retries: int = 2,
                 device: torch.device | str = "cpu") -> None:
        ray = import_ray(address)
        self._ray, self._owns = ray, False
        self.max_retries, self.device = max_retries, torch.device(device)
        if not ray.is_initialized():
            if address:
                _check_reachable(address)
            try:
                ray.init(address=address, include_dashboard=False,
                         logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as err:
                where = f"the Ray cluster at {address}" if address else "a local Ray instance"
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise ValueError(f"cannot start or reach {where}: {first}") from None
            self._owns = True

    def map(self, batches: Sequence[list[RunSpec]], data: TrainData,
            settings: TrainSettings, train_fn: Callable[..., list[dict]],
            ) -> Iterator[tuple[list[RunSpec], list[dict] | BaseException]]:
        """Submit every batch, then yield ``(batch, rows or exception)`` as tasks finish."""
        ray = self._ray
        if not batches:
            return
        task = ray.remote(_train_writeable).options(
            max_retries=self.max_retries, retry_exceptions=True, num_cpus=1,
            num_gpus=1 if self.device.type == "cuda" else 0,
        )
        data_ref = ray.put(data)
        batch_of = {task.remote(train_fn, b, data_ref, settings, self.device): b
                    for b in batches}
        pending = list(batch_of)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    result: list[dict] | BaseException = ray.get(ref)
                except ray.exceptions.RayError as err:
                    result = err
                yield batch_of[ref], result

    def close(self) -> None:
        """Shut Ray down if this backend started it."""
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
