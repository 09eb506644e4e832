"""The shape of the code, checked by reading it: layers import one way, no module-level import
cycles, no function longer than 60 lines. See docs/architecture.md."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, Optional

import pytest

REPO = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 60

# Lower layers never import higher ones. A module belongs to the longest prefix listed.
LAYERS: dict[str, int] = {
    "bench.core": 0,
    "bench.results": 1,
    "bench.engine": 2,
    "bench.measure": 3,
    "bench.schedule": 4,
    "bench.run": 5,
    "bench.overhead": 5,
    "bench.cli": 6,
    "bench.__main__": 7,
}
# The analysis reads result sets: it may use bench's core and results layers, nothing else.
ANALYSIS_MAY_IMPORT = ("bench.core", "bench.results")
# The one `isobench` command is the only place where the two halves meet.
MAY_IMPORT_ANALYSIS = ("bench.cli",)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> Iterator[tuple[str, Path]]:
    for pkg in ("bench", "analysis"):
        for path in sorted((REPO / pkg).rglob("*.py")):
            yield module_name(path), path


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree: ast.Module, module: str, top_level_only: bool = False) -> set[str]:
    """Modules of this project imported by a module: every import (functions' too) for layering;
    only those run at import time for cycles (``top_level_only``; TYPE_CHECKING blocks excluded)."""
    found: set[str] = set()
    package = module if module.count(".") == 0 else module.rsplit(".", 1)[0]

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                    )
                found.update(f"{base}.{a.name}" for a in node.names)
                found.add(base)
            elif isinstance(node, ast.If) and _is_type_checking(node):
                continue
            elif top_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            else:
                visit([c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)])

    visit(tree.body)
    return {name for name in found if name.split(".")[0] in ("bench", "analysis")}


def layer_of(module: str) -> Optional[int]:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    return LAYERS[best] if best else None


def violations(module: str, imported: set[str]) -> list[str]:
    """What is wrong with ``module`` importing ``imported``: one line per offending import (a name
    imported from a module that offends already is not named again)."""
    imported = {n for n in imported if n.rsplit(".", 1)[0] not in imported}
    out = []
    if module.startswith("analysis"):
        for name in imported:
            if name.startswith("bench") and name != "bench" and not name.startswith(ANALYSIS_MAY_IMPORT):
                out.append(f"{module} imports {name}: the analysis may use only {', '.join(ANALYSIS_MAY_IMPORT)}")
        return out
    mine = layer_of(module)
    for name in imported:
        if name.startswith("analysis") and not module.startswith(MAY_IMPORT_ANALYSIS):
            out.append(f"{module} imports {name}: only {', '.join(MAY_IMPORT_ANALYSIS)} may use the analysis")
        theirs = layer_of(name)
        if mine is not None and theirs is not None and theirs > mine:
            out.append(f"{module} (layer {mine}) imports {name} (layer {theirs}): imports must flow downward")
    return out


def test_every_bench_module_has_a_layer():
    unplaced = [m for m, _ in source_modules() if m.startswith("bench.") and layer_of(m) is None]
    assert unplaced == []


def test_layers_import_one_way():
    found = []
    for module, path in source_modules():
        found += violations(module, imports(ast.parse(path.read_text()), module))
    assert found == []


@pytest.mark.parametrize(
    "module, source, complaint",
    [
        ("bench.core.config", "from bench.measure.docker import DockerExecutor\n", "imports must flow downward"),
        ("bench.engine.sweep", "def f():\n    from bench.schedule import scheduler\n", "imports must flow downward"),
        ("analysis.stats", "from bench.engine.preflight import ModeRuntime\n", "the analysis may use only"),
        ("bench.run", "import analysis.report\n", "only bench.cli may use the analysis"),
    ],
)
def test_a_planted_wrong_import_is_caught(module, source, complaint):
    found = violations(module, imports(ast.parse(source), module))
    assert len(found) == 1 and complaint in found[0]


def test_no_module_level_import_cycle():
    graph = {m: {i for i in imports(ast.parse(p.read_text()), m, top_level_only=True)} for m, p in source_modules()}
    known = set(graph)
    graph = {m: {i if i in known else i.rsplit(".", 1)[0] for i in deps} & known - {m} for m, deps in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                walk(nxt, stack + [nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            walk(m, [m])
    # A package's __init__ importing its own modules is not a cycle worth naming.
    cycles = [c for c in cycles if not all(x == c[0] or x.startswith(c[0] + ".") for x in c)]
    assert cycles == []


def test_no_function_is_longer_than_60_lines():
    long = []
    for module, path in source_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {length} lines")
    assert long == []
