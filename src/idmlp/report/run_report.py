"""A run's report: the sections that commands compute on a run, kept in the run folder,
and the report of ``idmlp interpret`` that shows every one of them.

Commands that measure something about a trained run save its report section (data, not
markup: :meth:`~idmlp.report.Section.to_dict`) as ``RUN/report_sections/KEY.json``:
``idmlp faithfulness`` the ``faithfulness`` section, ``idmlp reproduce`` its
``baselines``, ``probes``, ``seeds`` and ``faithfulness`` sections. The interpret report
(``RUN/interpret/report.html``, :func:`write_interpret_report`) shows the sections found
there, in the order of :data:`SECTION_ORDER`. Either order of the commands gives the same
page:

* ``idmlp interpret`` after ``idmlp faithfulness``: the report is built with the saved
  section;
* ``idmlp faithfulness`` after ``idmlp interpret``: it saves its section and rebuilds
  ``RUN/interpret/report.html`` from the saved interpretation (``interpretation.npz``,
  the figures and ``report.json``; :func:`refresh_interpret_report`), without
  interpreting again.

Both hold one lock, ``RUN/report_sections/.lock`` (:func:`report_lock`), while they
read the saved sections and write the report, so two commands finishing at the same time
still leave a report with both results. Every file is written atomically (a temporary
name, then a rename), so a crash leaves the previous file whole. A saved section that
cannot be read is refused in one line naming the file.

The interpret report's folder is found at its default place, ``RUN/interpret``; a report
written elsewhere (``idmlp interpret --out DIR``) takes the saved sections when it is
written, and is not rebuilt later.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._io import save_json
from .section import Section

if TYPE_CHECKING:
    from ..analysis.interpret import Interpretation
    from ..train.runs import TrainedRun

__all__ = ["REPORT_META", "SECTIONS_DIR", "SECTION_ORDER", "load_run_sections",
           "refresh_interpret_report", "report_lock", "save_run_section",
           "write_interpret_report"]

#: The folder of a run that holds the saved sections, one ``KEY.json`` each.
SECTIONS_DIR = "report_sections"
#: The order of the saved sections in a report (other keys follow, sorted).
SECTION_ORDER = ("baselines", "probes", "seeds", "faithfulness")
#: What the interpret report was made from, beside it: split, title, command, epochs.
REPORT_META = "report.json"
_META_FORMAT = "idmlp-interpret-report-v1"
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: Seconds to wait for another command that is writing the run's report.
LOCK_TIMEOUT = 600.0


@contextlib.contextmanager
def report_lock(run_dir: str | Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the run's report lock (``RUN/report_sections/.lock``, :mod:`filelock`), waiting
    up to ``timeout`` seconds for another command that holds it. In a run folder this
    process cannot write (a read-only copy), no command of this user can save a section
    either, and the block runs without the lock."""
    from filelock import FileLock, Timeout

    from .._io import EnvironmentFailure, describe_os_error

    folder = Path(run_dir) / SECTIONS_DIR
    path = folder / ".lock"
    try:
        folder.mkdir(exist_ok=True)
        lock = FileLock(str(path), timeout=timeout)
        lock.acquire()
    except Timeout:
        raise EnvironmentFailure(f"another idmlp command has been writing the report of "
                                 f"{run_dir} for {timeout:g} s ({path} is held); try again "
                                 "when it has finished") from None
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            yield  # nothing can be saved here by this user: nothing to wait for
            return
        raise EnvironmentFailure(describe_os_error(err, path), err.errno, str(path)) from err
    try:
        yield
    finally:
        lock.release()


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"a section key must be lower-case letters, digits and _ (at most "
                         f"40), got {key!r}")
    return key


def save_run_section(run_dir: str | Path, key: str, section: Section) -> Path:
    """Save ``section`` as ``RUN/report_sections/KEY.json`` (atomically, replacing an
    earlier one); call it under :func:`report_lock`.

    Examples:
        >>> p = save_run_section(tmp, "notes", Section("Notes").text("kept"))
        >>> [s.title for s in load_run_sections(tmp)]
        ['Notes']
    """
    key = _check_key(key)
    if not isinstance(section, Section):
        raise ValueError(f"section must be an idmlp.report.Section, got "
                         f"{type(section).__name__}")
    folder = Path(run_dir) / SECTIONS_DIR
    folder.mkdir(exist_ok=True)
    return save_json(folder / f"{key}.json", section.to_dict())


def load_run_sections(run_dir: str | Path) -> list[Section]:
    """The sections saved in ``RUN/report_sections``, in :data:`SECTION_ORDER` (then the
    other keys, sorted). A file that is not a saved section is refused in one line."""
    folder = Path(run_dir) / SECTIONS_DIR
    if not folder.is_dir():
        return []
    found = {p.stem: p for p in folder.glob("*.json") if _KEY.fullmatch(p.stem)}
    # (a name that is not a key, such as a writer's temporary file, is not a section)
    keys = [k for k in SECTION_ORDER if k in found] + sorted(set(found) - set(SECTION_ORDER))
    out = []
    for key in keys:
        path = found[key]
        try:
            out.append(Section.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not a saved report section ({err}); delete it or "
                             "run the command that wrote it again") from None
    return out


def _interpret_sections(run_dir: Path, interp: Interpretation,
                        figures: Mapping[str, Any]) -> list[Section]:
    """The static sections of the interpret report: the identity distance, the snapshots
    (when the run has them) and every saved section."""
    from .dynamics import dynamics_section
    from .interpretation import identity_distance_section

    sections = [identity_distance_section(interp, figures.get("identity_distance"))]
    from ..analysis.dynamics import SNAPSHOT_FILE, load_snapshots

    if (run_dir / SNAPSHOT_FILE).exists():
        snaps = load_snapshots(run_dir)
        if len(snaps):
            sections.append(dynamics_section(snaps))
    return [*sections, *load_run_sections(run_dir)]


def write_interpret_report(folder: str | Path, run: TrainedRun, interp: Interpretation, *,
                           split: str = "test", figures: Mapping[str, Any] | None = None,
                           command: str | None = None, title: str | None = None) -> Path:
    """Write ``FOLDER/report.html`` (the interactive report of ``run`` interpreted on
    ``split``, with every saved section of the run) and ``FOLDER/report.json`` (what
    :func:`refresh_interpret_report` needs to write it again). Call it under
    :func:`report_lock` of the run."""
    from .build import run_report_data
    from .page import write_interactive_report

    folder = Path(folder)
    title = title or f"idmlp interpret: {Path(run.path).name}"
    sections = _interpret_sections(Path(run.path), interp, figures or {})
    data = run_report_data(run, interp, split=split, title=title, command=command,
                           sections=sections)
    save_json(folder / REPORT_META, {"format": _META_FORMAT, "split": split, "title": title,
                                     "command": command, "epochs": len(run.metrics)})
    return write_interactive_report(folder / "report.html", data)


def refresh_interpret_report(run_dir: str | Path, *, device: str = "cpu") -> str:
    """Rebuild ``RUN/interpret/report.html`` with the run's saved sections, from the saved
    interpretation (no new interpretation); call it under :func:`report_lock`.

    Returns one line for the user: the report written, or why there is none to rebuild
    (no ``RUN/interpret``, one written before the run's last epoch, or by an older
    version without ``report.json``).
    """
    from ..analysis.interpret import Interpretation
    from ..plots.interpret import FIGURES
    from ..train.runs import load_run

    run_dir = Path(run_dir)
    folder = run_dir / "interpret"
    meta_path = folder / REPORT_META
    if not (folder / "interpretation.npz").is_file():
        return f"run 'idmlp interpret {run_dir}' for the run's report with this section"
    again = f"run 'idmlp interpret {run_dir} --overwrite' to add this section"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return (f"{folder / 'report.html'} was not updated (it has no readable "
                f"{REPORT_META}); {again}")
    if (not isinstance(meta, dict) or meta.get("format") != _META_FORMAT
            or meta.get("split") not in ("test", "val", "train")
            or not all(isinstance(meta.get(k), (str, type(None))) for k in ("title", "command"))):
        return f"{meta_path} is not an interpret report's record; {again}"
    run = load_run(run_dir, device=device)
    if meta.get("epochs") != len(run.metrics):
        return (f"{folder / 'report.html'} was not updated: it shows the run after epoch "
                f"{meta.get('epochs')}, the run now has {len(run.metrics)}; {again}")
    interp = Interpretation.load(folder / "interpretation.npz")
    figures = {k: folder / name for k, name in FIGURES.items() if (folder / name).is_file()}
    path = write_interpret_report(folder, run, interp, split=meta["split"],
                                  figures=figures, command=meta.get("command"),
                                  title=meta.get("title"))
    return f"updated {path}"

