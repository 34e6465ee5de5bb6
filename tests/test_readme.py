"""The README tells the truth: every command and example in README.md runs as written.

The test reads README.md itself (never a copy of its examples), so editing the README
is what makes these tests pass or fail:

* the shell commands of its ``bash`` blocks: ``pip install`` lines name extras that
  ``pyproject.toml`` defines (installing is ``.ci/run``'s job), ``ruff check .`` runs as
  written, ``pytest`` is the suite itself (run by ``.ci/run``), ``idmlp ...`` commands run
  as written (``idmlp reproduce``, many minutes on 2 cores, is left out here: it was run
  by hand for issue 9); the ``python benchmarks/...`` scripts exist and parse their
  arguments, and run as written with ``IDMLP_README_BENCHMARKS=1`` (minutes each);
* the ``idmlp ...`` commands in inline code (the command table): examples without
  placeholders run as written in an empty folder; synopses (``RUN``, ``[--out DIR]``) use
  only flags that the command accepts;
* the ``python`` blocks run as written, in README order and one namespace, and every value
  they state in a comment (``alpha(1.05, 0.2, 20)  # 0.6006``, shapes) is what the code
  returns;
* every ``idmlp.module.name`` in inline code exists.
"""

from __future__ import annotations

import ast
import importlib
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from idmlp.cli import build_parser, main

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def code_blocks(lang: str) -> list[str]:
    return [body for tag, body in re.findall(r"```(\w*)\n(.*?)```", README, re.S)
            if tag == lang]


def shell_commands() -> list[str]:
    """The commands of the bash blocks: one per line and per ``&&``, comments dropped."""
    commands = []
    for block in code_blocks("bash"):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands += [c.strip() for c in line.split("&&") if c.strip()]
    return commands


def inline_idmlp_commands() -> list[str]:
    return re.findall(r"`(idmlp [^`]+)`", README)


def is_example(command: str) -> bool:
    """A command to run as written: no ``[optional]`` part, no ``...``, no placeholder
    such as ``RUN`` or ``S`` (an upper-case word)."""
    words = shlex.split(command)
    return ("[" not in command and "..." not in command
            and not any(re.fullmatch(r"[A-Z][A-Z0-9_]*", w) for w in words))


def kind(command: str) -> str:
    first = shlex.split(command)[:2]
    if first[:2] == ["pip", "install"]:
        return "pip"
    if first[0] in ("pytest", "idmlp") or command == "ruff check .":
        return first[0]
    if first[0] == "python" and first[1].startswith("benchmarks/"):
        return "benchmark"
    return "unknown"


IDMLP_EXAMPLES = [c for c in shell_commands() + inline_idmlp_commands()
                  if kind(c) == "idmlp" and is_example(c)]
BENCHMARKS = [c for c in shell_commands() if kind(c) == "benchmark"]


def test_every_readme_command_is_one_this_test_knows():
    commands = shell_commands()
    assert commands, "README.md has no bash block"
    assert [c for c in commands if kind(c) == "unknown"] == []


def test_readme_install_lines_name_existing_extras():
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    for command in (c for c in shell_commands() if kind(c) == "pip"):
        for spec in re.findall(r"\.\[([\w,]+)\]", command):
            assert set(spec.split(",")) <= extras, command
        pins = re.findall(r"torch==([\d.]+)", command)
        assert all(p for p in pins), command


def test_readme_ruff_command_runs():
    assert "ruff check ." in shell_commands()
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install '.[dev]')")
    proc = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_synopses_use_existing_flags():
    parser = build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command").choices
    for command in inline_idmlp_commands() + [c for c in shell_commands()
                                              if kind(c) == "idmlp"]:
        name = shlex.split(command)[1]
        assert name in subcommands, command
        known = {o for a in subcommands[name]._actions for o in a.option_strings}
        flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", command))
        assert flags <= known, (command, sorted(flags - known))


def test_readme_api_names_exist():
    for dotted in set(re.findall(r"`[^`]*?\b(idmlp(?:\.\w+)+)", README)):
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for attr in parts[i:]:
                assert hasattr(obj, attr), f"README names {dotted}, which does not exist"
                obj = getattr(obj, attr)
            break


def _stated_value(comment: str) -> object:
    """The literal a comment states (``# 0.6006: surviving fraction`` -> 0.6006), or
    ``None`` when it states none."""
    text = comment.lstrip("#").strip()
    for candidate in (text, text.split(":")[0]):
        try:
            return ast.literal_eval(candidate.strip())
        except (ValueError, SyntaxError):
            continue
    return None


def _matches(value: object, stated: object) -> bool:
    if isinstance(value, torch.Size):
        value = tuple(value)
    if isinstance(stated, tuple) and isinstance(value, tuple) and len(stated) == len(value):
        return all(_matches(v, s) for v, s in zip(value, stated, strict=True))
    if isinstance(stated, float):
        digits = len(repr(stated).split(".")[1]) if "." in repr(stated) else 0
        return math.isclose(float(value), stated, abs_tol=0.5 * 10.0**-digits)
    return value == stated


def _run_block(block: str, namespace: dict[str, object]) -> int:
    """Run one python block statement by statement; compare every value a comment states.
    Returns the number of values compared."""
    comments = {}
    for lineno, line in enumerate(block.splitlines(), start=1):
        if "#" in line:
            comments[lineno] = line[line.index("#"):]
    checked = 0
    for node in ast.parse(block).body:
        code = ast.get_source_segment(block, node)
        stated = _stated_value(comments.get(node.end_lineno, ""))
        if isinstance(node, ast.Expr) and stated is not None:
            value = eval(compile(ast.Expression(node.value), "README.md", "eval"), namespace)
            assert _matches(value, stated), f"README: {code}  # {stated!r}, but got {value!r}"
            checked += 1
        else:
            exec(compile(ast.Module([node], []), "README.md", "exec"), namespace)
    return checked


@pytest.mark.slow
def test_readme_python_blocks_run_and_state_true_values(tmp_path, monkeypatch):
    """Every python block, in README order, in one namespace (a later block may use what
    an earlier one made), in an empty folder."""
    blocks = code_blocks("python")
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    for block in blocks:
        assert _run_block(block, namespace) >= 1  # every block states values; compared


@pytest.mark.slow
def test_readme_idmlp_examples_run_as_written(tmp_path, monkeypatch, capsys):
    """In README order, in one empty folder, as a reader would (``idmlp plot-sweep
    runs/sweep`` reads what the sweep example wrote)."""
    assert IDMLP_EXAMPLES, "README.md shows no idmlp example"
    monkeypatch.chdir(tmp_path)
    ran = 0
    for command in IDMLP_EXAMPLES:
        if shlex.split(command)[1] == "reproduce":
            continue  # many minutes on 2 cores: run by hand (see the module docstring)
        rc = main(shlex.split(command)[1:])
        err = capsys.readouterr().err
        assert rc == 0, f"README: `{command}` failed: {err.strip().splitlines()[-1:]}"
        ran += 1
    assert ran or all(shlex.split(c)[1] == "reproduce" for c in IDMLP_EXAMPLES)


@pytest.mark.parametrize("command", BENCHMARKS)
def test_readme_benchmarks_exist_and_parse(command):
    argv = shlex.split(command)
    proc = subprocess.run([sys.executable, *argv[1:], "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("IDMLP_README_BENCHMARKS"),
                    reason="minutes each on 2 cores; set IDMLP_README_BENCHMARKS=1")
@pytest.mark.parametrize("command", BENCHMARKS)
def test_readme_benchmarks_run_as_written(command):
    argv = shlex.split(command)
    proc = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"\d+(\.\d+)?\s*x", proc.stdout), proc.stdout  # prints its ratio
