"""The package's architecture as the README states it: no import cycles (an import anywhere
in a module counts, also inside functions and ``TYPE_CHECKING`` blocks), small modules, few
loose top-level modules, and lower layers that never import upper ones."""

from __future__ import annotations

import ast
from pathlib import Path

import idmlp

ROOT = Path(idmlp.__file__).parent
#: Layers that must not import the analysis, figures or report layers.
LOWER = ("idmlp.config", "idmlp.nets", "idmlp.data", "idmlp.train", "idmlp.init",
         "idmlp.activations", "idmlp.jacobian")
UPPER = ("idmlp.analysis", "idmlp.plots", "idmlp.report", "idmlp.reproduce", "idmlp.cli",
         "idmlp.faithfulness", "idmlp.sweep")


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _graph() -> dict[str, set[str]]:
    """Module -> the idmlp modules it imports (relative and absolute, anywhere)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_lower_layers_never_import_upper_ones():
    bad = [(m, t) for m, targets in _graph().items() if m.startswith(LOWER)
           for t in targets if t.startswith(UPPER)]
    assert bad == []


def test_modules_are_small_and_few_are_loose():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in _modules().items()}
    assert {m: n for m, n in sizes.items() if n > 750} == {}
    loose = [m for m, p in _modules().items() if m.count(".") == 1 and p.name != "__init__.py"]
    assert len(loose) <= 12, loose


def test_every_registered_architecture_is_an_interpretable_net():
    from idmlp.config import ARCHS, ModelConfig
    from idmlp.nets.base import InterpretableNet, LayerwiseNet

    for name, arch in ARCHS.items():
        cls = arch.load()
        assert issubclass(cls, LayerwiseNet) and cls.arch == name
        net = cls.from_config(ModelConfig(arch=name, depth=2).for_data(16, 3, (4, 4)))
        assert isinstance(net, InterpretableNet) and net.config.arch == name
