"""The page: one self-contained HTML file, static or interactive.

:func:`render_report` lays out static :class:`~idmlp.report.Section`\\ s;
:func:`render_interactive` lays out a :class:`~idmlp.report.ReportData` as interactive
views (:mod:`idmlp.report.interactive`: a layer slider, the per-layer plot, class-mean
maps, a sample browser, the confusion matrix, training curves) followed by its static
sections. Both render ``templates/page.html.j2``, which inlines the package's stylesheet
and script (``assets/report.css``, ``assets/report.js``) and the data (through
:func:`~idmlp.report._html.script_json`); the page requests nothing (no CDN, no fonts, no
network), so it works offline and can be mailed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ._html import asset, render
from .data import ReportData
from .section import Section

__all__ = ["render_interactive", "render_report", "write_interactive_report", "write_report"]


def _unique_anchors(sections: Sequence[Section], taken: set[str]) -> None:
    for sec in sections:
        base, n = sec.anchor, 1
        while sec.anchor in taken:
            n += 1
            sec.anchor = f"{base}-{n}"
        taken.add(sec.anchor)


def _check_sections(sections: Any, what: str) -> list[Section]:
    if isinstance(sections, Section) or not all(isinstance(s, Section) for s in sections):
        raise ValueError(f"{what} must be a list of idmlp.report.Section")
    return list(sections)


def _page(*, title: str, subtitle: str | None, lead: str | None,
          before: Sequence[Section], interactive: Sequence[Section] = (),
          after: Sequence[Section] = (), data: dict | None = None,
          toolbar: dict[str, Any] | None = None) -> str:
    from .. import __version__

    sections = [*before, *interactive, *after]
    return str(render(
        "page.html.j2", title=title, subtitle=subtitle, lead=lead,
        toc=[(s.anchor, s.title) for s in sections], before=before,
        interactive=interactive, after=after, data=data, version=__version__,
        css=asset("report.css"), js=asset("report.js"), **(toolbar or {})))


def render_report(*, title: str, sections: Sequence[Section], subtitle: str | None = None
                  ) -> str:
    """A static report (sections only) as one HTML string (see :func:`write_report`).

    Examples:
        >>> sec = Section("Notes").table([["lr", 3e-4]], ["name", "value"], caption="Settings")
        >>> "<caption>Settings</caption>" in render_report(title="t", sections=[sec])
        True
    """
    sections = _check_sections(sections, "sections")
    _unique_anchors(sections, set())
    return _page(title=str(title), subtitle=subtitle, lead=None, before=sections)


def _check_html_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"report path must end in .html, got {path.name!r}")
    return path


def write_report(path: str | Path, *, title: str, sections: Sequence[Section],
                 subtitle: str | None = None) -> Path:
    """Write a static report to ``path`` (one self-contained HTML file), atomically."""
    path = _check_html_path(path)
    return atomic_write_text(path, render_report(title=title, sections=sections,
                                                 subtitle=subtitle))


def render_interactive(data: ReportData) -> str:
    """The interactive report of ``data`` as one self-contained HTML string."""
    from . import interactive

    if not isinstance(data, ReportData):
        raise ValueError(f"data must be an idmlp.report.ReportData, got {type(data).__name__}")
    extra = _check_sections(data.sections, "data.sections")
    views = interactive.view_sections(data)
    config = interactive.config_and_timings(data)
    _unique_anchors([*extra, config], {s.anchor for s in views})
    toolbar = {"depth": data.depth, "default_map": data.default_map,
               "maps": [(k, ms.title) for k, ms in data.maps.items()]}
    return _page(title=data.title, subtitle=data.subtitle, lead=data.summary or None,
                 before=views[:1], interactive=views[1:], after=[*extra, config],
                 data=data.payload(), toolbar=toolbar)


def write_interactive_report(path: str | Path, data: ReportData) -> Path:
    """Write the interactive report of ``data`` to ``path`` atomically; return the path.

    The file's size is ``path.stat().st_size`` (about 1.5 MB for the default
    ``idmlp reproduce``).
    """
    path = _check_html_path(path)
    return atomic_write_text(path, render_interactive(data))
