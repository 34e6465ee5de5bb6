"""Tests for idmlp._io: atomic writes, folder locks, stale leftovers, environment failures.

The disk-full case uses a file-size limit (``resource.setrlimit(RLIMIT_FSIZE)``) in a
subprocess that ignores SIGXFSZ, so writes past the limit fail with EFBIG, exactly like
ENOSPC on a full disk; no tmpfs or root is needed.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import idmlp
from idmlp import _io
from idmlp._io import (
    EnvironmentFailure,
    FolderLockedError,
    OutputExistsError,
    OutputPathError,
    append_jsonl,
    append_text,
    atomic_output_dir,
    atomic_write_bytes,
    check_not_locked,
    check_output_dir,
    clean_stale,
    describe_os_error,
    folder_lock,
    lock_path,
)

fcntl = pytest.importorskip("fcntl")

SRC = str(Path(idmlp.__file__).resolve().parents[1])


def _python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _held_by_someone(path: Path) -> bool:
    """Whether the lock of ``path`` is held (a new open file description cannot take it)."""
    try:
        fd = os.open(lock_path(path), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".lock")))


# -- folder locks ------------------------------------------------------------------------


HOLDER = """
    import sys, time
    from pathlib import Path
    from idmlp._io import atomic_output_dir
    with atomic_output_dir(sys.argv[1]) as tmp:
        (Path(tmp) / "partial.txt").write_text("half of a run")
        print("locked", flush=True)
        time.sleep(120)
"""


def test_second_writer_refused_and_kill9_frees_the_lock(tmp_path):
    out = tmp_path / "run"
    holder = _python(HOLDER, str(out))
    try:
        assert holder.stdout.readline().strip() == b"locked", holder.stderr.read().decode()
        for attempt in (lambda: folder_lock(out).__enter__(), lambda: check_not_locked(out),
                        lambda: check_output_dir(out, overwrite=True),
                        lambda: atomic_output_dir(out, overwrite=True).__enter__()):
            with pytest.raises(FolderLockedError) as info:
                attempt()
            msg = str(info.value)
            assert msg == (f"{out} is being written by process {holder.pid}; wait for it to "
                           f"finish or stop it (kill {holder.pid})")
            assert info.value.pid == holder.pid and isinstance(info.value, OSError)
        assert not out.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # kill -9 leaves the lock file and the temporary folder, but no lock.
    names = _leftovers(tmp_path)
    assert len(names) == 2 and ".run.lock" in names
    assert any(n.startswith(f".run.{holder.pid}.") and n.endswith(".tmp") for n in names)
    assert not _held_by_someone(out)
    with atomic_output_dir(out) as tmp:
        assert _held_by_someone(out)
        (tmp / "done.txt").write_text("complete")
    assert _leftovers(tmp_path) == []  # stale temp folder and lock file are gone
    assert sorted(p.name for p in out.iterdir()) == ["done.txt"]


def test_lock_held_here_refuses_a_writer_in_a_subprocess(tmp_path):
    run = tmp_path / "run"
    code = """
        import sys
        from idmlp._io import FolderLockedError, folder_lock
        try:
            with folder_lock(sys.argv[1]):
                print("acquired")
        except FolderLockedError as err:
            print(err)
    """
    with folder_lock(run):
        second = _python(code, str(run))
        stdout, stderr = second.communicate(timeout=60)
    assert second.returncode == 0, stderr.decode()
    assert stdout.decode() == f"{run} is being written by process {os.getpid()}; wait for it " \
        f"to finish or stop it (kill {os.getpid()})\n"
    assert not lock_path(run).exists()  # released and removed


EXCLUSIVE = """
    import os, sys, time
    from pathlib import Path
    from idmlp._io import FolderLockedError, folder_lock
    run, marker, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.005)
    wins = clashes = refused = 0
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        try:
            with folder_lock(run, clean=False):
                try:
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    clashes += 1
                    continue
                wins += 1
                os.unlink(marker)
        except FolderLockedError:
            refused += 1
    print(wins, clashes, refused)
"""


def test_lock_is_exclusive_under_contention(tmp_path):
    # Two processes take and release the lock as fast as they can; the lock file is
    # unlinked at every release, so this exercises the open/flock/unlink race.
    run, marker, go = tmp_path / "run", tmp_path / "marker", tmp_path / "go"
    procs = [_python(EXCLUSIVE, str(run), str(marker), str(go)) for _ in range(2)]
    time.sleep(0.2)
    go.touch()
    counts = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr.decode()
        counts.append([int(v) for v in stdout.split()])
    assert all(clashes == 0 for _, clashes, _ in counts), counts
    assert sum(wins for wins, _, _ in counts) > 100, counts
    assert not lock_path(run).exists()


def test_lock_is_reentrant_and_outlives_atomic_output_dir(tmp_path):
    # The pattern of train.fit: hold the run's lock for the whole run; the folder is built
    # under a temporary name and renamed into place after the first epoch.
    out = tmp_path / "run"
    with folder_lock(out) as locked:
        assert locked == out and _held_by_someone(out)
        with atomic_output_dir(out) as tmp:
            (tmp / "checkpoint.pt").write_bytes(b"epoch 1")
        assert out.is_dir() and _held_by_someone(out)
        atomic_write_bytes(out / "checkpoint.pt", b"epoch 2")
        with folder_lock(out):
            pass
        assert _held_by_someone(out)
    assert not _held_by_someone(out) and not lock_path(out).exists()
    assert (out / "checkpoint.pt").read_bytes() == b"epoch 2"


def test_lock_path_and_dot_paths(tmp_path, monkeypatch):
    assert lock_path(tmp_path / "a") == tmp_path / ".a.lock"
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    assert lock_path(".") == tmp_path / ".a.lock"  # "." is the current folder by name
    with pytest.raises(OutputPathError):
        lock_path("/")


# -- stale leftovers -----------------------------------------------------------------------


def test_clean_stale_removes_only_dead_writers_leftovers(tmp_path):
    dead = _dead_pid()
    live = subprocess.Popen(["sleep", "60"])
    try:
        run = tmp_path / "run"
        run.mkdir()
        (run / "checkpoint.pt").write_bytes(b"good")
        (run / "notes.txt").write_text("user file")
        made = {
            # beside the run: unfinished atomic_output_dir / replaced folder of "run"
            tmp_path / f".run.{dead}.k2j4h5g6.tmp": "dir",
            tmp_path / f".run.old-{dead}": "dir",
            tmp_path / f".run.{live.pid}.abcdefgh.tmp": "dir",
            tmp_path / f".other.{dead}.abcdefgh.tmp": "dir",  # another folder's: not ours
            # inside the run: atomic_write_bytes and an unfinished interpret folder
            run / f".checkpoint.pt.{dead}.x_1y2z3w.tmp": "file",
            run / f".metrics.jsonl.{dead}.aaaaaaaa.tmp": "file",
            run / f".interpret.{dead}.qwertyui.tmp": "dir",
            run / f".checkpoint.pt.{live.pid}.abcdefgh.tmp": "file",
            run / f".checkpoint.pt.{os.getpid()}.abcdefgh.tmp": "file",
            run / ".interpret.lock": "file",  # lock file of a killed interpret, unheld
        }
        for path, kind in made.items():
            if kind == "dir":
                path.mkdir()
                (path / "inner.bin").write_bytes(b"x")
            else:
                path.write_bytes(b"x")
        removed = clean_stale(run)
        expected = {tmp_path / f".run.{dead}.k2j4h5g6.tmp", tmp_path / f".run.old-{dead}",
                    run / f".checkpoint.pt.{dead}.x_1y2z3w.tmp",
                    run / f".metrics.jsonl.{dead}.aaaaaaaa.tmp",
                    run / f".interpret.{dead}.qwertyui.tmp", run / ".interpret.lock"}
        assert set(removed) == expected
        for path in made:
            assert path.exists() == (path not in expected), path
        assert (run / "checkpoint.pt").read_bytes() == b"good"
        assert (run / "notes.txt").exists()
    finally:
        live.kill()
        live.wait()


def test_clean_stale_keeps_a_held_lock_file(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with folder_lock(run / "interpret"):
        assert clean_stale(run) == []
        assert lock_path(run / "interpret").exists()


def test_folder_lock_and_atomic_output_dir_clean_up(tmp_path):
    dead = _dead_pid()
    run = tmp_path / "run"
    run.mkdir()
    stale = [tmp_path / f".run.{dead}.abcdefgh.tmp", run / f".checkpoint.pt.{dead}.abcdefgh.tmp"]
    stale[0].mkdir()
    stale[1].write_bytes(b"half a checkpoint")
    with folder_lock(run):  # what a resume takes
        assert not any(p.exists() for p in stale)
    stale2 = tmp_path / f".sweep.{dead}.abcdefgh.tmp"
    stale2.mkdir()
    with atomic_output_dir(tmp_path / "sweep"):
        assert not stale2.exists()
    (tmp_path / f".run.{dead}.abcdefgh.tmp").mkdir()
    with folder_lock(run, clean=False):
        assert (tmp_path / f".run.{dead}.abcdefgh.tmp").exists()


# -- output paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "overwrite", "error", "match"),
    [
        ("f/x", False, OutputPathError, "cannot create f/x: f is a file, not a folder"),
        ("f/x/y", True, OutputPathError, "f is a file, not a folder"),
        ("f", True, OutputExistsError, "exists and is not a folder"),
        ("f", False, OutputExistsError, "exists and is not a folder"),
        ("d", False, OutputExistsError, "exists; pass --overwrite"),
        (".", True, OutputPathError, "names no folder of its own"),
        (".", False, OutputPathError, "names no folder of its own"),
        ("..", True, OutputPathError, "names no folder of its own"),
        ("", False, OutputPathError, "names no folder of its own"),
        ("/", True, OutputPathError, "names no folder of its own"),
        ("d/sub/..", True, OutputPathError, "names no folder of its own"),
        ("x" * 300, False, EnvironmentFailure, "the path is too long"),
    ],
)
def test_check_output_dir_refusals(tmp_path, monkeypatch, out, overwrite, error, match):
    monkeypatch.chdir(tmp_path)
    Path("f").write_text("a file")
    Path("d").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(error, match=match) as info:
        check_output_dir(out, overwrite)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing left behind


def test_check_output_dir_refuses_to_overwrite_the_current_folder(tmp_path, monkeypatch):
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    for out in (inner, tmp_path / "a", Path("../b"), Path("..")):
        with pytest.raises(OutputPathError):
            check_output_dir(out, overwrite=True)
    assert check_output_dir(tmp_path / "a" / "c", overwrite=True) == tmp_path / "a" / "c"


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
def test_check_output_dir_unwritable_root():
    with pytest.raises(EnvironmentFailure, match=r"^cannot create /proc/x/y: ") as info:
        check_output_dir("/proc/x/y", overwrite=False)
    assert "\n" not in str(info.value) and info.value.errno is not None


def test_check_output_dir_accepts_new_and_existing(tmp_path):
    assert check_output_dir(tmp_path / "new" / "deeper", False) == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    (tmp_path / "old").mkdir()
    assert check_output_dir(tmp_path / "old", True) == tmp_path / "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


# -- atomic writes and environment failures -------------------------------------------------


DISK_FULL = """
    import json, resource, signal, sys
    from pathlib import Path
    from idmlp._io import EnvironmentFailure, append_jsonl, atomic_output_dir, \\
        atomic_write_bytes, save_json
    d = Path(sys.argv[1])
    (d / "checkpoint.pt").write_bytes(b"epoch 3")
    (d / "metrics.jsonl").write_text('{"epoch": 1}\\n')
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills us at the limit
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))

    def in_new_folder():
        with atomic_output_dir(d / "out") as tmp:
            save_json(tmp / "config.json", {"ok": True})
            atomic_write_bytes(tmp / "checkpoint.pt", b"w" * 1_000_000)

    results = {}
    for key, write in [
        ("checkpoint", lambda: atomic_write_bytes(d / "checkpoint.pt", b"w" * 1_000_000)),
        ("metrics", lambda: append_jsonl(d / "metrics.jsonl", {"pad": "p" * 1_000_000})),
        ("folder", in_new_folder),
    ]:
        try:
            write()
            results[key] = None
        except EnvironmentFailure as err:
            results[key] = [str(err), err.errno, err.filename]
    print(json.dumps(results))
"""


def test_disk_full_keeps_the_last_good_state_and_says_one_line(tmp_path):
    proc = _python(DISK_FULL, str(tmp_path))
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()
    results = json.loads(stdout)
    for key, name in [("checkpoint", "checkpoint.pt"), ("metrics", "metrics.jsonl"),
                      ("folder", "out/checkpoint.pt")]:
        msg, err_no, filename = results[key]
        assert err_no == errno.EFBIG
        assert msg == (f"cannot write {tmp_path / name}: file size limit exceeded; raise the "
                       "limit (ulimit -f) or choose an --out on another disk")
        assert filename == str(tmp_path / name)
    assert (tmp_path / "checkpoint.pt").read_bytes() == b"epoch 3"
    assert (tmp_path / "metrics.jsonl").read_text() == '{"epoch": 1}\n'  # no torn line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "metrics.jsonl"]


def test_interrupted_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(_io.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new")
    with pytest.raises(KeyboardInterrupt):
        append_text(target, "more")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_atomic_output_dir_failure_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"), atomic_output_dir(out) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    out.mkdir()
    (out / "keep.txt").write_text("previous run")
    with pytest.raises(RuntimeError), atomic_output_dir(out, overwrite=True):
        raise RuntimeError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (out / "keep.txt").read_text() == "previous run"
    with atomic_output_dir(out, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("replaced")
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failed_replace_restores_the_previous_folder(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous run")
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(src).name.startswith(f".out.{os.getpid()}."):  # the new folder into place
            raise OSError(errno.EIO, "Input/output error", str(src))
        real_replace(src, dst)

    monkeypatch.setattr(_io.os, "replace", failing_replace)
    with pytest.raises(EnvironmentFailure, match=f"^cannot write {out}: input/output error"):
        with atomic_output_dir(out, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new run")
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (out / "keep.txt").read_text() == "previous run"


def test_atomic_writes_round_trip_and_permissions(tmp_path):
    path = atomic_write_bytes(tmp_path / "a.bin", b"123")
    assert path.read_bytes() == b"123"
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    append_jsonl(tmp_path / "m.jsonl", {"epoch": 1})
    append_jsonl(tmp_path / "m.jsonl", {"epoch": 2})
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


@pytest.mark.parametrize(
    ("err_no", "words"),
    [
        (errno.ENOSPC, "no space left on the device; free some space"),
        (errno.EDQUOT, "disk quota exceeded"),
        (errno.EFBIG, "file size limit exceeded; raise the limit"),
        (errno.EACCES, "permission denied; choose an --out in a folder you can write"),
        (errno.EROFS, "read-only file system; choose an --out on a writable disk"),
        (errno.ENOENT, "does not exist"),
        (errno.EEXIST, "a file of that name is in the way"),
        (errno.ENOTDIR, "is a file, not a folder"),
        (errno.EXDEV, "Invalid cross-device link; check the path and the disk"),
    ],
)
def test_describe_os_error_is_one_line_naming_the_path(err_no, words):
    err = OSError(err_no, os.strerror(err_no), "/tmp/.run.1.abcdefgh.tmp")
    msg = describe_os_error(err, "runs/my\nrun")
    assert msg.startswith("cannot write runs/my run: ") and words in msg
    assert "\n" not in msg
    assert describe_os_error(err).startswith("cannot write /tmp/.run.1.abcdefgh.tmp: ")


def test_environment_failures_pickle_and_are_oserrors():
    err = EnvironmentFailure("cannot write x: disk full; free space", errno.ENOSPC, "x")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, OSError) and not isinstance(back, ValueError)
    assert (str(back), back.errno, back.filename) == (str(err), errno.ENOSPC, "x")
    locked = pickle.loads(pickle.dumps(FolderLockedError("run is being written", 12, "run")))
    assert (str(locked), locked.pid, locked.filename) == ("run is being written", 12, "run")
    assert issubclass(OutputExistsError, OutputPathError)
    assert issubclass(OutputPathError, ValueError)
