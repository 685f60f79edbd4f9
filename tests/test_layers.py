"""The package's layers hold: no import points up the list in DESIGN.md, and no import cycle.

Every ``import`` and ``from ... import`` of a ``polymodal`` module counts, at module level
or inside a function (a deferred import is still an arrow), except those under
``if TYPE_CHECKING:``. The facade ``polymodal/__init__.py`` imports lazily and is not scanned.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "polymodal"

# Lowest first. A module may import modules of its own rank or below. Longest prefix wins.
LAYERS: list[tuple[str, ...]] = [
    ("polymodal._version", "polymodal.errors", "polymodal.tokens", "polymodal.registry", "polymodal._files", "polymodal._optional", "polymodal.allocator", "polymodal.configurable"),
    ("polymodal.encoder",),
    ("polymodal.modalities", "polymodal.fusion", "polymodal.heads", "polymodal.objectives"),
    ("polymodal.checkpoints", "polymodal.data"),
    ("polymodal.models",),
    ("polymodal.convert", "polymodal.pretrained", "polymodal.inference", "polymodal.factories"),
    ("polymodal.evaluation",),
    ("polymodal.training",),
    ("polymodal.recipes",),
    ("polymodal.cli", "polymodal.demo", "polymodal.__main__"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def rank(module: str) -> int:
    best, best_len = None, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer of tests/test_layers.py: place it")
    return best


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> list[tuple[str, int]]:
    """``(imported polymodal module, line)`` for every import in ``path``."""
    found: list[tuple[str, int]] = []
    known = {module_name(p) for p in PACKAGE.rglob("*.py")}

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] == "polymodal":
            for alias in node.names:  # `from polymodal.x import y` may import the submodule x.y
                sub = f"{node.module}.{alias.name}"
                found.append((sub if sub in known else node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "polymodal")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def graph() -> dict[str, list[tuple[str, int]]]:
    edges = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name == "polymodal":
            continue  # the lazy facade
        edges[name] = [(target, line) for target, line in imports_of(path) if target != "polymodal"]
    return edges


def test_every_module_has_a_layer() -> None:
    for name in graph():
        rank(name)


def test_no_import_points_up() -> None:
    upward = []
    for source, targets in graph().items():
        for target, line in targets:
            if rank(target) > rank(source):
                upward.append(f"{source}:{line} imports {target} (layer {rank(source)} → {rank(target)})")
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_the_facade_imports_nothing_eagerly_but_errors() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    eager = [
        n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("polymodal")
    ]
    assert set(eager) <= {"polymodal", "polymodal._version"}


def test_no_import_cycle() -> None:
    edges = {m: sorted({t for t, _ in ts if t in graph_modules}) for m, ts in graph().items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, []):
            # A package's __init__ importing its own submodules is how packages are built.
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)


graph_modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
