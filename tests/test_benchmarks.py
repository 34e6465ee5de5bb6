"""Every benchmark still runs against the current API, at a toy size.

The benchmarks are run by hand (minutes each); nothing else imports them, so an API
change would otherwise break them silently. Here each runs once with tiny arguments and
must exit 0 and print its result line (``ratio``, ``speed-up``, or the theory table's
summary). No time is asserted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "bench_cnn.py": ["--depth", "2", "--extra", "2", "--dilations", "1", "--batch", "4",
                     "--repeats", "1", "--warmup", "0", "--threads", "1"],
    "bench_defaults.py": ["--datasets", "digits", "--settings", "default,layer_loss=ramp",
                          "--seeds", "0", "--steps", "4", "--depth", "2"],
    "bench_explain.py": ["--batch", "4", "--steps", "2", "--repeats", "1", "--warmup", "0",
                         "--threads", "1"],
    "bench_jacobian.py": ["--width", "40", "--depth", "3", "--batch", "2",
                          "--baseline-inputs", "1", "--repeats", "1"],
    "bench_snapshots.py": ["--dataset", "digits", "--epochs", "1", "--snapshots", "2",
                           "--repeats", "1"],
    "bench_spectrum.py": ["--width", "64", "--depth", "3", "--inputs", "2", "--steps", "5",
                          "--acc-width", "40", "--acc-depth", "3", "--acc-inputs", "2",
                          "--acc-probes", "1"],
    "bench_startup.py": ["--repeats", "1"],
    "bench_sweep.py": ["--subset", "1", "--steps", "2", "--depth", "2", "--threads", "1"],
    "bench_theory.py": ["--nets", "2", "--inputs", "1", "--widths", "40", "--depths", "2",
                        "--wide-depths", "2"],
    "bench_train.py": ["--depth", "2", "--batch", "8", "--repeats", "1", "--warmup", "0",
                       "--threads", "1"],
}


def test_every_benchmark_has_a_toy_size():
    assert {p.name for p in (ROOT / "benchmarks").glob("bench_*.py")} == set(TINY)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_benchmark_runs_at_toy_size(name: str) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *TINY[name]],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = [line for line in proc.stdout.splitlines() if re.search(
        r"ratio|speed-up|/ .*x \(goal|slowest|within 3 SE", line)]
    assert result and all(re.search(r"\d", line) for line in result), proc.stdout[-2000:]
