"""The shape of the code, checked by reading it: layers import one way, no import circle (every import
counts: top level, in functions and methods, under TYPE_CHECKING), no function longer than 60 lines.
See docs/architecture.md."""

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
    "bench.scenarios": 5,
    "bench.run": 6,
    "bench.overhead": 5,
    "bench.fleet": 6,
    "bench.cli": 7,
    "bench.__main__": 8,
}
# The analysis reads result sets: it may use bench's core and results layers, nothing else.
ANALYSIS_MAY_IMPORT = ("bench.core", "bench.results")
# The one `isobench` command is the only place where the two halves meet.
MAY_IMPORT_ANALYSIS = ("bench.cli",)


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules(root: Path = REPO) -> Iterator[tuple[str, Path]]:
    for pkg in ("bench", "analysis"):
        for path in sorted((root / pkg).rglob("*.py")):
            yield module_name(path, root), path


def sources(root: Path = REPO) -> dict[str, str]:
    """Every module of the project under ``root`` by name, its source as text: what the cycle check reads."""
    return {m: p.read_text() for m, p in source_modules(root)}


def _from_base(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module ``from X import ...`` names, a relative X resolved against ``module``'s package."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    return ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))


def imports(tree: ast.Module, module: str, is_package: bool = False) -> set[str]:
    """Modules of this project (and names in them) a module imports, wherever the import stands: at the
    top, in a function or a method, under ``if TYPE_CHECKING`` (a type-only import couples layers too)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, module, is_package)
            found.update(f"{base}.{a.name}" for a in node.names)
            found.add(base)
    return {name for name in found if name.split(".")[0] in ("bench", "analysis")}


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def loaded_by(tree: ast.Module, module: str, known: set[str]) -> set[str]:
    """The project modules Python loads for ``module``'s imports, all of them (top level, functions,
    methods, TYPE_CHECKING blocks): ``from P import m`` loads P (and P.m when m is a module), ``import
    a.b`` loads a and a.b. A package that ``module`` lies inside is left out where only its modules are
    taken from it: Python loads it before ``module`` anyway, and a package's __init__ importing its own
    modules is no circle. Taking a *name* from it (``from P import f``) counts: P must have run by then."""
    inside = set(_ancestors(module))
    is_package = any(k.startswith(module + ".") for k in known)
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            loaded.update(n for a in node.names for n in _ancestors(a.name) + [a.name] if n not in inside)
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, module, is_package)
            taken = {f"{base}.{a.name}" for a in node.names} & known
            loaded |= taken | {n for n in _ancestors(base) if n not in inside}
            if base not in inside or len(taken) < len(node.names):
                loaded.add(base)
    return (loaded & known) - {module}


def import_graph(modules: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the project modules its imports load (see ``loaded_by``), from the modules' sources."""
    known = set(modules)
    return {m: loaded_by(ast.parse(src), m, known) for m, src in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles, each as the path that closes it (``[a, b, a]``); none in an acyclic graph."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            walk(m, [m])
    return found


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
        found += violations(module, imports(ast.parse(path.read_text()), module, path.name == "__init__.py"))
    assert found == []


@pytest.mark.parametrize(
    "module, source, complaint",
    [
        ("bench.core.config", "from bench.measure.docker import DockerExecutor\n", "imports must flow downward"),
        ("bench.engine.sweep", "def f():\n    from bench.schedule import scheduler\n", "imports must flow downward"),
        ("bench.core.errors", "class C:\n    def m(self):\n        import bench.engine.lease\n", "flow downward"),
        ("bench.measure.docker", "if TYPE_CHECKING:\n    from bench.schedule.scale import X\n", "flow downward"),
        ("analysis.stats", "from bench.engine.preflight import ModeRuntime\n", "the analysis may use only"),
        ("analysis.stats", "def f():\n    from bench.engine.preflight import ModeRuntime\n", "may use only"),
        ("bench.run", "import analysis.report\n", "only bench.cli may use the analysis"),
    ],
)
def test_a_planted_wrong_import_is_caught(module, source, complaint):
    found = violations(module, imports(ast.parse(source), module))
    assert len(found) == 1 and complaint in found[0]


def check_no_import_cycle(root: Path = REPO) -> None:
    found = cycles(import_graph(sources(root)))
    assert found == [], "import circles: " + "; ".join(" -> ".join(c) for c in found)


def test_no_import_cycle():
    check_no_import_cycle()


# Two modules of a package; a's import of b is at the top, b's import of a (the planted one) varies.
PLANTED_BACK = [
    "def f():\n    from bench.core.a import x\n",
    "class C:\n    def m(self):\n        import bench.core.a\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bench.core.a import X\n",
    "def f():\n    from . import a\n",
    "def f():\n    from bench.core import a\n",
]


@pytest.mark.parametrize("back", PLANTED_BACK)
def test_a_planted_circular_import_is_caught(back):
    graph = import_graph(
        {"bench": "", "bench.core": "", "bench.core.a": "from bench.core import b\n", "bench.core.b": back}
    )
    assert cycles(graph) == [["bench.core.a", "bench.core.b", "bench.core.a"]]


def test_the_check_fails_on_a_planted_function_level_circle(tmp_path):
    """The check the repository gets, on files: two modules whose circle closes inside a function."""
    core = tmp_path / "bench" / "core"
    core.mkdir(parents=True)
    for name, text in {
        "__init__": "",
        "a": "import bench.core.b\n",
        "b": "def f():\n    import bench.core.a\n",
    }.items():
        (core / f"{name}.py").write_text(text)
    (tmp_path / "bench" / "__init__.py").write_text("")
    (tmp_path / "analysis").mkdir()
    with pytest.raises(AssertionError, match="import circles: bench.core.a -> bench.core.b -> bench.core.a\n"):
        check_no_import_cycle(tmp_path)


@pytest.mark.parametrize(
    "modules",
    [
        # a package's __init__ re-exporting its modules, which take their siblings through the package
        {"p": "from p.a import f\nfrom p.b import g\n", "p.a": "from p import b\n", "p.b": "def g(): ...\n"},
        # one way only, whatever the depth of the import
        {"p": "", "p.a": "def f():\n    from p.b import g\n", "p.b": "import q\n", "q": "x = 1\n"},
    ],
)
def test_what_is_no_circle_is_not_reported(modules):
    assert cycles(import_graph(modules)) == []


def test_a_name_taken_from_the_package_that_imports_you_is_a_circle():
    """``from p import NAME`` in p.a needs p's own code to have run; p importing p.a closes a circle."""
    graph = import_graph({"p": "from p.a import f\nHELPER = 1\n", "p.a": "from p import HELPER\n"})
    assert cycles(graph) == [["p", "p.a", "p"]]


def test_no_function_is_longer_than_60_lines():
    long = []
    for module, path in source_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {length} lines")
    assert long == []
