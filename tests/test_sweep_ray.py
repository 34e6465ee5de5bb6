"""The Ray backend: same rows as the in-process backend; worker deaths and failing tasks.

Starts one local Ray instance (``ray.init(num_cpus=2)``) for the module; Ray's start-up
and its workers' ``import torch`` dominate the run time.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from idmlp.sweep import SweepConfig, TrainSettings, read_results, run, train_batch

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'idmlp[ray]'")

GRID = {"sigma": "0.9,1.1", "q0": "0.1,1", "depth": "2,3", "init": "identity,he",
        "batch_configs": 4,
        "train": TrainSettings.make(steps=12, batch_size=16, eval_every=4, target_acc=0.3,
                                    eval_size=256, jacobian_samples=4, dtype="float64")}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, one_thread) -> list[dict]:
    return run(SweepConfig(**GRID), tmp_path_factory.mktemp("inprocess"), progress=False)


def grid_order(row: dict) -> tuple:
    return tuple(row[k] for k in ("depth", "activation", "init", "sigma", "q0", "seed"))


def assert_same(rows: list[dict], ref: list[dict]) -> None:
    assert len(rows) == len(ref)
    for a, b in zip(rows, ref, strict=True):
        for k in a:
            x, y = a[k], b[k]
            if isinstance(x, float):
                assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=1e-9), k
            else:
                assert x == y, k


def test_ray_backend_equals_inprocess(local_ray, reference, tmp_path: Path) -> None:
    rows = run(SweepConfig(**GRID), tmp_path, backend="ray", progress=False)
    assert all(r["status"] == "ok" for r in rows)
    assert_same(rows, reference)
    # The file is in the order batches finished; the rows are the same.
    assert_same(sorted(read_results(tmp_path), key=grid_order),
                sorted(reference, key=grid_order))


def test_worker_death_is_retried(local_ray, reference, tmp_path: Path) -> None:
    marker = tmp_path / "crashed-once"

    def crash_first_attempt(specs, data, settings, **kw):
        if specs[0].depth == 3 and not marker.exists():
            marker.touch()
            os._exit(1)  # the worker process dies mid-task
        return train_batch(specs, data, settings, **kw)

    rows = run(SweepConfig(**GRID), tmp_path / "s", backend="ray", max_retries=1,
               progress=False, train_fn=crash_first_attempt)
    assert marker.exists()
    assert all(r["status"] == "ok" for r in rows)
    assert_same(rows, reference)


def test_failing_task_gives_failed_rows_and_keeps_finished_ones(local_ray, reference,
                                                                tmp_path: Path) -> None:
    def always_fail_depth_3(specs, data, settings, **kw):
        if specs[0].depth == 3:
            raise RuntimeError("simulated failure")
        return train_batch(specs, data, settings, **kw)

    rows = run(SweepConfig(**GRID), tmp_path, backend="ray", max_retries=0, progress=False,
               train_fn=always_fail_depth_3)
    on_disk = read_results(tmp_path)
    assert len(on_disk) == len(rows) == 16
    failed = [r for r in on_disk if r["status"] == "failed"]
    assert {r["depth"] for r in failed} == {3} and len(failed) == 8
    assert all(r["error"] == "RuntimeError: simulated failure" for r in failed)
    finished = sorted((r for r in on_disk if r["depth"] == 2), key=grid_order)
    assert_same(finished, sorted(reference[:8], key=grid_order))  # depth 2 comes first
    resumed = run(SweepConfig(**GRID), tmp_path, resume=True, progress=False)
    assert_same(resumed, reference)
