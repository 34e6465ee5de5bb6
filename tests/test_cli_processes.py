"""Issue 9 with real processes: a full disk, two writers at once, kill -9, Ray's stderr.

The process under test is ``idmlp`` in a subprocess (``python -c 'from idmlp.cli import
main'``, one torch thread); what follows it (the resume, the next run, the second writer)
runs in the test's own process, which is just as much another process.

The full disk is a file-size limit, ``resource.setrlimit(RLIMIT_FSIZE)`` with ``SIGXFSZ``
ignored, so a write past the limit fails with ``EFBIG`` exactly where ``ENOSPC`` would on a
full disk (no tmpfs, no root). Two writers overlap for sure: the first is stopped
(``SIGSTOP``) once it holds the folder's lock, the second runs, then the first goes on.
kill -9 strikes at a chosen moment: the process ``SIGKILL``s itself inside ``os.replace``
of a given temporary file (written and fsynced, not yet renamed).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import idmlp
from _helpers import assert_one_line
from idmlp._io import lock_path
from idmlp.cli import main
from idmlp.config import DataConfig, ModelConfig, OptimConfig
from idmlp.sweep import read_results
from idmlp.sweep import run as run_sweep
from idmlp.train.runs import RunConfig, fit

fcntl = pytest.importorskip("fcntl")
resource = pytest.importorskip("resource")

pytestmark = pytest.mark.slow

SRC = str(Path(idmlp.__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
       "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TIMEOUT = 300

# idmlp in this process; argv: FSIZE_LIMIT (0: none), KILL_PATTERN ('' : none), KILL_NTH,
# then the idmlp arguments.
RUNNER = textwrap.dedent("""
    import os, re, resource, signal, sys
    import torch
    torch.set_num_threads(1)
    limit, pattern, nth = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    if limit:  # a full disk: writes past `limit` bytes fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE,
                           (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    if pattern:  # kill -9 while the nth temporary file matching `pattern` is renamed
        real, seen = os.replace, [0]
        def replace(src, dst, *args, **kwargs):
            if re.search(pattern, os.path.basename(os.fspath(src))):
                seen[0] += 1
                if seen[0] == nth:
                    os.kill(os.getpid(), signal.SIGKILL)
            return real(src, dst, *args, **kwargs)
        os.replace = replace
    from idmlp.cli import main
    sys.exit(main(sys.argv[4:]))
""")


def idmlp_process(*args: object, limit: int = 0, kill: str = "", nth: int = 1,
                  cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(limit), kill, str(nth), *map(str, args)],
        env=ENV, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def idmlp_run(*args: object, **kwargs) -> tuple[int, str, str]:
    proc = idmlp_process(*args, **kwargs)
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err


def cli(capsys, *args: object) -> tuple[int, str, str]:
    """``idmlp ARGS`` in this process (a second process beside the subprocess under test:
    the follow-up runs need no fresh interpreter)."""
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err



def assert_only_progress(err: str) -> None:
    """A normal run's stderr: one-line epoch results, the line saying how training ended
    (and tqdm bars, drawn only on a terminal), one-line warnings, nothing else."""
    for piece in re.split(r"[\r\n]+", err):
        piece = piece.strip()
        assert (not piece or re.match(r"^[\w ]+:\s+\d+%\|", piece)
                or re.match(r"^epoch \d+/\d+: ", piece)
                or re.match(r"^(trained the whole budget|stopped early) ", piece)
                or piece.startswith("warning: ")), piece


def assert_only_warnings(err: str) -> None:
    """A quiet run's stderr: nothing but one-line warnings (a short test run underfits)."""
    assert all(line.startswith("warning: ") for line in err.splitlines()), err


def leftovers(*folders: Path) -> list[str]:
    """Temporary files and folders (``.X.<pid>.<random>.tmp``, ``.X.old-<pid>``) in
    ``folders``."""
    return sorted(p.name for f in folders if f.is_dir() for p in f.iterdir()
                  if p.name.endswith(".tmp") or ".old-" in p.name)


def epochs(run: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


def wait_for_lock(proc: subprocess.Popen, folder: Path) -> None:
    """Wait until ``proc`` holds the write lock of ``folder``, then stop it (SIGSTOP)."""
    lock = lock_path(folder)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the first writer ended early: {proc.communicate()}"
        try:
            fd = os.open(lock, os.O_RDONLY)
        except FileNotFoundError:
            time.sleep(0.01)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            held = False
        except BlockingIOError:
            held = os.pread(fd, 32, 0).decode().strip() == str(proc.pid)
        finally:
            os.close(fd)
        if held:
            proc.send_signal(signal.SIGSTOP)
            return
        time.sleep(0.01)
    raise AssertionError("the first writer never took the lock")


TRAIN = ["--dataset", "digits", "--depth", "2", "--quiet"]


def config(epochs: int) -> RunConfig:
    return RunConfig(DataConfig("digits"), ModelConfig(depth=2), OptimConfig(epochs=epochs))


# -- a full disk ------------------------------------------------------------------------------


def test_train_on_a_full_disk_keeps_the_last_checkpoint_and_resumes_exactly(
        tmp_path, capsys, one_thread):
    # The checkpoint grows with the history: a limit between its sizes after epochs 1 and
    # 2 lets epoch 1 be written and makes epoch 2's write fail.
    probe = tmp_path / "probe"
    fit(config(3), probe, progress=False, stop_after=1)
    size1 = (probe / "checkpoint.pt").stat().st_size
    fit(None, probe, resume=True, progress=False, stop_after=1)
    size2 = (probe / "checkpoint.pt").stat().st_size
    assert size2 > size1
    reference = tmp_path / "reference"
    fit(config(3), reference, progress=False)  # uninterrupted

    run = tmp_path / "run"
    rc, out, err = idmlp_run("train", *TRAIN, "--epochs", 3, "--out", run,
                             limit=(size1 + size2) // 2)
    assert rc == 1
    assert_one_line(err, "idmlp train: error: cannot write", str(run / "checkpoint.pt"),
                    "file size limit exceeded")
    assert epochs(run) == [1]  # the last good state: epoch 1
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert leftovers(run, tmp_path) == []

    rc, out, err = cli(capsys, "train", "--resume", run)  # without --quiet
    assert rc == 0, err
    assert_only_progress(err)
    assert epochs(run) == [1, 2, 3]
    ref, got = weights(reference), weights(run)
    assert all(torch.equal(ref[k], got[k]) for k in ref)  # exact, as if never interrupted


def test_theory_on_a_full_disk_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "theory"
    rc, stdout, err = idmlp_run("theory", "--sigma", 1, "--q0", 0.5, "--depth", 5,
                                "--out", out, limit=16 * 1024)
    assert rc == 1
    assert_one_line(err, "idmlp theory: error: cannot write", str(out),
                    "file size limit exceeded")
    assert ".tmp" not in err  # names the folder the user asked for, not a temporary one
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_sweep_on_a_full_disk_keeps_whole_rows_and_resumes(tmp_path, capsys, one_thread):
    grid = {"dataset": "digits", "sigma": "0.8,0.9,1,1.1,1.2,1.3,1.4,1.5", "q0": "1",
            "depth": [2], "steps": 4, "batch_size": 16, "eval_every": 2, "eval_size": 64,
            "jacobian_samples": 2, "batch_configs": 1}
    reference = tmp_path / "reference"
    run_sweep(out=reference, progress=False, **grid)
    json_size = (reference / "sweep.json").stat().st_size
    lines = (reference / "results.csv").read_text().splitlines(keepends=True)
    sizes = [sum(len(s) for s in lines[: k + 1]) for k in range(len(lines))]  # header + k rows
    # the first k with room for sweep.json below the midpoint of k and k + 1 rows
    k = next(k for k in range(1, len(sizes) - 1) if (sizes[k] + sizes[k + 1]) // 2
             > json_size + 32)
    limit = (sizes[k] + sizes[k + 1]) // 2

    out = tmp_path / "sweep"
    flags = ["--dataset", "digits", "--sigma", grid["sigma"], "--q0", "1", "--depth", 2,
             "--steps", 4, "--batch-size", 16, "--eval-every", 2, "--eval-size", 64,
             "--jacobian-samples", 2, "--batch-configs", 1, "--quiet", "--out", out]
    rc, _, err = idmlp_run("sweep", *flags, limit=limit)
    assert rc == 1
    assert_one_line(err, "idmlp sweep: error: cannot write", str(out / "results.csv"),
                    "file size limit exceeded")
    text = (out / "results.csv").read_text()
    assert text.endswith("\n")  # the failed append left no partial line
    assert len(read_results(out)) == k

    rc, stdout, err = cli(capsys, "sweep", *flags, "--resume")
    assert (rc, err) == (0, ""), err
    assert "8 runs, 8 ok" in stdout
    rows = read_results(out)
    assert sorted(r["sigma"] for r in rows) == [0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5]


# -- two writers at once ----------------------------------------------------------------------


def test_two_train_resumes_at_once(tmp_path, capsys, one_thread):
    run = tmp_path / "run"
    fit(config(15), run, progress=False, stop_after=1)
    first = idmlp_process("train", "--resume", run, "--quiet")
    try:
        wait_for_lock(first, run)
        rc, _, err = cli(capsys, "train", "--resume", run, "--quiet")
    finally:
        first.send_signal(signal.SIGCONT)
    assert rc == 1
    assert_one_line(err, "idmlp train: error: ", str(run), f"process {first.pid}",
                    "wait for it to finish")
    out, err = first.communicate(timeout=TIMEOUT)
    assert (first.returncode, err) == (0, ""), err
    assert epochs(run) == list(range(1, 16))  # no epoch written twice
    assert not lock_path(run).exists() and leftovers(run, tmp_path) == []


def test_two_sweep_resumes_at_once(tmp_path, capsys, one_thread):
    out = tmp_path / "sweep"
    small = {"dataset": "digits", "q0": "1", "depth": [2], "steps": 4, "batch_size": 16,
             "eval_every": 2, "eval_size": 64, "jacobian_samples": 2, "batch_configs": 1}
    run_sweep(out=out, sigma="0.8,0.9", progress=False, **small)
    flags = ["--dataset", "digits", "--sigma", "0.8,0.9,1,1.1,1.2,1.3", "--q0", "1",
             "--depth", 2, "--steps", 4, "--batch-size", 16, "--eval-every", 2,
             "--eval-size", 64, "--jacobian-samples", 2, "--batch-configs", 1, "--quiet",
             "--out", out, "--resume"]
    first = idmlp_process("sweep", *flags)
    try:
        wait_for_lock(first, out)
        rc, _, err = cli(capsys, "sweep", *flags)
    finally:
        first.send_signal(signal.SIGCONT)
    assert rc == 1
    assert_one_line(err, "idmlp sweep: error: ", str(out), f"process {first.pid}")
    stdout, err = first.communicate(timeout=TIMEOUT)
    assert (first.returncode, err) == (0, ""), err
    rows = read_results(out)
    keys = [(r["sigma"], r["seed"]) for r in rows]
    assert len(keys) == len(set(keys)) == 6  # no row twice


# -- kill -9 leaves temporary files; the next run on the folder removes them ------------------


def test_kill9_leftovers_are_cleaned_by_the_next_run(tmp_path, capsys, one_thread):
    run = tmp_path / "run"
    # Killed while the first checkpoint is written: the run still lives in its temporary
    # folder .run.<pid>.<random>.tmp beside the output.
    rc, _, _ = idmlp_run("train", *TRAIN, "--epochs", 3, "--out", run,
                         kill=r"^\.checkpoint\.pt\.", nth=1)
    assert rc == -signal.SIGKILL and not run.exists()
    assert [n.split(".")[1] for n in leftovers(tmp_path)] == ["run"]

    # The next run of that name cleans it; killed in turn while its second checkpoint is
    # renamed into place, it leaves RUN/.checkpoint.pt.<pid>.<random>.tmp.
    rc, _, _ = idmlp_run("train", *TRAIN, "--epochs", 3, "--out", run,
                         kill=r"^\.checkpoint\.pt\.", nth=2)
    assert rc == -signal.SIGKILL
    assert leftovers(tmp_path) == []
    assert [n.split(".")[1:3] for n in leftovers(run)] == [["checkpoint", "pt"]]
    assert epochs(run) == [1]

    rc, _, err = cli(capsys, "train", "--resume", run, "--quiet")  # cleans it
    assert rc == 0, err
    assert_only_warnings(err)
    assert leftovers(run, tmp_path) == [] and epochs(run) == [1, 2, 3]

    # interpret killed as its folder is renamed into place: RUN/.interpret.<pid>.…tmp/
    rc, _, _ = idmlp_run("interpret", run, "--quiet", kill=r"^\.interpret\.")
    assert rc == -signal.SIGKILL
    assert [n.split(".")[1] for n in leftovers(run)] == ["interpret"]
    rc, _, err = cli(capsys, "interpret", run, "--quiet")
    assert (rc, err) == (0, ""), err
    assert leftovers(run, tmp_path) == [] and (run / "interpret" / "report.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no stale lock file


def test_progress_bars_stay_out_of_logs(tmp_path):
    """stderr that is not a terminal (a pipe, a log file) gets no progress bar: no
    carriage returns, no escape codes, only the epoch lines (idmlp.runtime.progress_bar)."""
    rc, out, err = idmlp_run("train", "--dataset", "digits", "--depth", "3", "--epochs", "2",
                             "--out", tmp_path / "run")
    assert rc == 0, err
    assert "\r" not in err and "\x1b" not in err and "%|" not in err, repr(err)
    assert re.findall(r"^epoch \d+/2: ", err, re.M) == ["epoch 1/2: ", "epoch 2/2: "], err


# -- Ray keeps stderr clean ------------------------------------------------------------------


def test_ray_sweep_stderr_holds_no_warning(tmp_path):
    pytest.importorskip("ray")
    env = {k: v for k, v in ENV.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    out = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, "0", "", "1", "sweep", "--dataset", "digits",
         "--sigma", "0.9,1.1", "--q0", "1", "--depth", "2", "--steps", "4", "--batch-size",
         "16", "--eval-every", "2", "--eval-size", "64", "--jacobian-samples", "2",
         "--batch-configs", "1", "--backend", "ray", "--quiet", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert "2 runs, 2 ok" in proc.stdout
    assert proc.stderr == ""  # no token-auth warning, no read-only NumPy array warning
