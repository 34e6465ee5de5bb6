"""Every ``>>>`` example in the package's docstrings runs and prints what it says.

The examples are collected from the installed package (whether installed in place or
not), each module's examples in one test; every example sees ``torch``, ``np`` and ``tmp``
(a fresh temporary folder) and runs with a fixed seed. None is skipped.
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import numpy as np
import pytest
import torch

import idmlp

MODULES = sorted(m.name for m in pkgutil.walk_packages(idmlp.__path__, "idmlp."))
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    return [t for t in tests if t.examples and t.name.startswith(name)]


def test_every_module_is_collected_and_examples_exist():
    counts = {name: sum(len(t.examples) for t in _examples(name)) for name in MODULES}
    assert sum(counts.values()) >= 50, counts
    for name in ("idmlp.init.identity", "idmlp.init.family", "idmlp.theory.identity",
                 "idmlp.theory.meanfield", "idmlp.nets.mlp", "idmlp.config.model",
                 "idmlp.nets.rules"):
        assert counts[name] > 0, name


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, one_thread):
    skipped = [t.name for t in _examples(name)
               for e in t.examples if e.options.get(doctest.SKIP)]
    assert not skipped, f"examples marked +SKIP in {skipped}"
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in _examples(name):
        torch.manual_seed(0)
        test.globs.update(torch=torch, np=np, tmp=tmp_path)
        runner.run(test, out=out.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, out.getvalue()
