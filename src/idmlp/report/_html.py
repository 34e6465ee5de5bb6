r"""HTML from templates, and data into ``<script>`` blocks: the report's only two ways to
write markup.

* Every piece of HTML is rendered by jinja2 from the package's templates
  (``idmlp/report/templates``, shipped as package data) with **autoescape** on: any string a
  template prints (a class name, a path, a caption) is escaped, so no user text becomes
  markup. Nothing in the report builds HTML from f-strings.
* Data meets HTML in one place, :func:`script_json`: JSON for the inside of a
  ``<script>`` element. A ``<script>`` element's content is raw text that ends at the first
  ``</script`` (any case), and inside it ``<!--`` followed by ``<script`` changes how the
  parser looks for that end (the "script data escaped" states of the HTML5 tokenizer), so
  a class name such as ``</script>`` or ``<!--<script>`` written as is would end the data
  early or swallow the page's own script. JSON strings may spell any character as
  ``\uXXXX``, so :func:`script_json` writes ``<``, ``>``, ``&``, U+2028 and U+2029 that
  way: the text inside the element then contains none of ``<``, ``>`` or ``&`` at all,
  whatever the data, and ``JSON.parse`` gives back the same strings. (U+2028 and U+2029 are
  legal in JSON but were line ends in JavaScript before ES2019; escaping them keeps the
  text valid in either reading.)

Examples:
    >>> str(script_json({"name": "</script><!--<script>"}))
    '{"name":"\\u003c/script\\u003e\\u003c!--\\u003cscript\\u003e"}'
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

__all__ = ["asset", "render", "script_json"]

#: Characters that never appear raw inside an embedded JSON text (see the module docstring).
_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                  "\u2029": "\\u2029"}
_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")


def script_json(obj: Any) -> Markup:
    """``obj`` as strict JSON (no NaN) safe to place between ``<script ...>`` and
    ``</script>``: ``<``, ``>``, ``&``, U+2028 and U+2029 are written as ``\\u003c`` etc.
    (all of them can only occur inside JSON strings, where that spelling means the same
    character). Returned as :class:`~markupsafe.Markup` so that autoescape leaves it as
    it is (HTML entities are not decoded inside a script element).

    Examples:
        >>> json.loads(script_json(["a < b & c", "\\u2028"])) == ["a < b & c", "\\u2028"]
        True
    """
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return Markup(_UNSAFE_RE.sub(lambda m: _SCRIPT_UNSAFE[m.group(0)], text))


@cache
def asset(name: str) -> Markup:
    """A file of ``idmlp/report/assets`` (the stylesheet, the script), trusted, to inline
    in a ``<style>`` or ``<script>`` element. Refused if it could end that element early."""
    text = files("idmlp.report").joinpath("assets", name).read_text(encoding="utf-8")
    low = text.lower()
    if "</script" in low or "</style" in low or "<!--" in low:
        raise ValueError(f"asset {name} must not contain '</script', '</style' or '<!--'")
    return Markup(text)


@cache
def _env() -> Environment:
    env = Environment(loader=PackageLoader("idmlp.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=False)
    env.filters["script_json"] = script_json
    return env


def render(template: str, **context: Any) -> Markup:
    """Render the package template ``template`` (autoescaped) with ``context``."""
    return Markup(_env().get_template(template).render(**context))
