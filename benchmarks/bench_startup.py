"""Start-up of the command line: ``idmlp --help`` and bad-argument errors against
``python -c pass``.

Each command is a fresh interpreter (``python -m idmlp.cli ARGS``, what the ``idmlp``
console script runs), timed from ``Popen`` to exit; the commands run interleaved, repeat
after repeat, and are compared by their medians, so that load from other processes hits
all of them alike. The goal of issue 9: every one of them answers in <= 0.5 s; the ratio
to the bare interpreter shows what idmlp itself adds (torch alone takes ~1.5 s to import,
so any command that imports it is far above the goal).

Run: ``python benchmarks/bench_startup.py [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")

COMMANDS: dict[str, list[str]] = {
    "idmlp --help": ["--help"],
    "idmlp train --help": ["train", "--help"],
    "idmlp train --lr -1": ["train", "--lr", "-1"],
    "idmlp train --dataset nope": ["train", "--dataset", "nope"],
    "idmlp reproduce --epochs 0": ["reproduce", "--epochs", "0"],
    "idmlp theory --sigma 1 --q0 1 --depth 5 --eps 2": [
        "theory", "--sigma", "1", "--q0", "1", "--depth", "5", "--eps", "2"],
    "idmlp sweep --sigma x": ["sweep", "--sigma", "x"],
    "idmlp sweep --sigma 0.1:1:1000000000": ["sweep", "--sigma", "0.1:1:1000000000"],
    "idmlp sweep --seeds 0:100000000000": ["sweep", "--seeds", "0:100000000000"],
    "idmlp interpret no/such/run": ["interpret", "no/such/run"],
    "idmlp plot-sweep no/such.csv": ["plot-sweep", "no/such.csv"],
}
GOAL_S = 0.5


def _time(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    base = [sys.executable, "-c", "pass"]
    runs = {name: [sys.executable, "-m", "idmlp.cli", *a] for name, a in COMMANDS.items()}
    times: dict[str, list[float]] = {"python -c pass": [], **{n: [] for n in runs}}
    codes: dict[str, int] = {}
    for _ in range(args.repeats):
        times["python -c pass"].append(_time(base, env)[0])
        for name, argv in runs.items():
            seconds, codes[name] = _time(argv, env)
            times[name].append(seconds)
    baseline = statistics.median(times["python -c pass"])
    print(f"median of {args.repeats} interleaved runs each, {os.cpu_count()} CPUs; "
          f"goal: <= {GOAL_S} s")
    print(f"{'command':50s} {'exit':>4s} {'median s':>9s} {'x python':>9s}")
    print(f"{'python -c pass':50s} {0:4d} {baseline:9.3f} {1:9.2f}")
    worst = 0.0
    for name in runs:
        med = statistics.median(times[name])
        worst = max(worst, med)
        flag = "" if med <= GOAL_S else "  (above the goal)"
        print(f"{name:50s} {codes[name]:4d} {med:9.3f} {med / baseline:9.2f}{flag}")
    print(f"slowest: {worst:.3f} s = {worst / baseline:.2f} x python -c pass")


if __name__ == "__main__":
    main()
