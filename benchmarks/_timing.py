"""Interleaved timing shared by the benchmarks (imported as ``_timing`` when a benchmark
runs as a script: its folder is first on ``sys.path``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping


def interleaved(runs: Mapping[str, Callable[[], object]], warmup: int, repeats: int
                ) -> dict[str, list[float]]:
    """Seconds of every run, ``repeats`` times each after ``warmup`` untimed rounds; the
    order alternates each round so that no run always goes first on a drifting machine."""
    times: dict[str, list[float]] = {k: [] for k in runs}
    order = list(runs)
    for i in range(warmup + repeats):
        for name in order if i % 2 else order[::-1]:
            t0 = time.perf_counter()
            runs[name]()
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    return times


def paired_ratio(times: Mapping[str, list[float]], a: str, b: str) -> float:
    """Median of ``a / b`` over rounds: runs adjacent in time cancel slow load drifts."""
    return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))


def report(times: Mapping[str, list[float]], width: int = 8) -> dict[str, float]:
    """Print each run's median, min and max (ms); return the medians (s)."""
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in times.items():
        print(f"  {k:{width}s} median {med[k] * 1e3:8.1f} ms  (min {min(v) * 1e3:.1f}, "
              f"max {max(v) * 1e3:.1f}, {len(v)} repeats)")
    return med
