"""Imports point down the layers of docs/architecture.md, and never in a circle.

The layers are read from the table in ``docs/architecture.md`` (so the page
and this test cannot disagree); every module of ``src/caudal`` is parsed with
``ast`` and each of its imports of caudal (at module level, inside functions,
relative ones resolved) is an edge. The test fails, naming the file and line,
on an edge that runs up the table, on an edge the page's extra rules forbid,
and on any cycle between modules. The native extension modules (built from
``native/*.pyx``) sit in the row that names ``native/``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src"
PACKAGE = "caudal"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

FORBIDDEN = {
    ("observability", "algorithm"): "profiling/ sees the training through the phase hook and its own protocols",
}
"""Downward edges the page rules out all the same: (from layer, to layer) -> why."""

KNOWN_UPWARD: dict[tuple[str, str], str] = {}
"""Upward edges still allowed, each until the change that removes it is merged; then delete it here."""


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module
    where: str  # file:line of the import

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.where})"


# ------------------------------------------------------------------------------------------------ the modules

def module_files(source: Path, package: str) -> dict[str, Path]:
    """Every module of the package: dotted name -> file (a package is its ``__init__.py``)."""
    modules = {}
    for path in sorted((source / package).rglob("*.py")):
        parts = path.relative_to(source).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def extension_modules(root: Path, package: str) -> set[str]:
    """The compiled modules: ``caudal._native`` from ``native/_native.pyx`` (see setup.py)."""
    return {f"{package}.{pyx.stem}" for pyx in (root / "native").glob("*.pyx")}


def imports(modules: Mapping[str, Path], extensions: set[str], source: Path, package: str) -> list[Edge]:
    """Every import of a module of ``package`` by a module of ``package``, wherever it is in the file."""
    known = set(modules) | extensions
    edges = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = absolute(name, is_package, node)
                # ``from a import b``: the module a.b if there is one, else a (its __init__ defines b)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            else:
                continue
            for target in targets:
                if target != package and not target.startswith(package + "."):
                    continue
                while target not in known and "." in target:  # ``import caudal.a.b.C``-like paths
                    target = target.rsplit(".", 1)[0]
                if target != name:
                    edges.append(Edge(name, target, f"{path.relative_to(source).as_posix()}:{node.lineno}"))
    return edges


def absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` reads from, relative levels resolved."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


# ------------------------------------------------------------------------------------------------ the layers

def layer_table(text: str) -> list[tuple[str, list[str]]]:
    """The rows of the page's layer table, top first: (layer, the paths its ``where`` column names)."""
    rows = []
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("| layer | where |"):
            break
    else:
        raise AssertionError(f"{ARCHITECTURE}: no '| layer | where | owns |' table")
    next(lines)  # | --- | --- | --- |
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append((cells[0], re.findall(r"`([^`]+)`", cells[1])))
    return rows


def layer_of_modules(
    rows: list[tuple[str, list[str]]], modules: Mapping[str, Path], extensions: set[str], source: Path, root: Path,
    package: str,
) -> tuple[dict[str, str], list[str]]:
    """Each module's layer (the most specific path that names it wins), and the paths naming nothing."""
    places: dict[str, str] = {}  # path relative to the package ("cli.py", "sweep/") -> layer
    stale = []
    layers = {}
    for layer, paths in rows:
        for path in paths:
            if (source / package / path).exists():
                places[path] = layer
            elif path == "native/":
                layers.update(dict.fromkeys(extensions, layer))
            elif not (root / path).exists():  # schemas/checkpoint.fbs and the like exist at the top
                stale.append(path)
    for name, file in modules.items():
        relative = file.relative_to(source / package).as_posix()
        names_it = [place for place in places if place == relative or place.endswith("/") and
                    relative.startswith(place)]
        if names_it:
            layers[name] = places[max(names_it, key=len)]
    return layers, stale


def upward(edges: Iterable[Edge], layers: Mapping[str, str], order: list[str]) -> list[tuple[Edge, str]]:
    """Edges that run up the table or that :data:`FORBIDDEN` rules out, with why."""
    wrong = []
    for edge in edges:
        source, target = layers[edge.source], layers[edge.target]
        if order.index(target) < order.index(source):
            wrong.append((edge, f"{source} imports {target}, a layer above it"))
        elif (source, target) in FORBIDDEN:
            wrong.append((edge, f"{source} must not import {target}: {FORBIDDEN[source, target]}"))
    return wrong


def cycles(edges: Iterable[Edge]) -> list[list[Edge]]:
    """One cycle through every strongly connected group of modules (Tarjan's algorithm, iteratively)."""
    graph: dict[str, dict[str, Edge]] = {}
    for edge in edges:
        graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
        graph.setdefault(edge.target, {})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(group)
    return [cycle_in(graph, group) for group in groups]


def cycle_in(graph: Mapping[str, Mapping[str, Edge]], group: set[str]) -> list[Edge]:
    """A shortest cycle through the group's first module (breadth-first back to it)."""
    start = min(group)
    previous: dict[str, Edge] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target, edge in sorted(graph[node].items()):
                if target == start:
                    path = [edge]
                    while path[0].source != start:
                        path.insert(0, previous[path[0].source])
                    return path
                if target in group and target not in previous:
                    previous[target] = edge
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")


def report(wrong: list[tuple[Edge, str]], loops: list[list[Edge]]) -> str:
    lines = [f"upward import: {edge}: {why}" for edge, why in wrong]
    for loop in loops:
        lines.append("import cycle: " + " -> ".join([loop[0].source, *(edge.target for edge in loop)]) + " ("
                     + ", ".join(edge.where for edge in loop) + ")")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ the tests

def analyse(source: Path, root: Path, package: str, text: str):
    modules = module_files(source, package)
    extensions = extension_modules(root, package)
    rows = layer_table(text)
    layers, stale = layer_of_modules(rows, modules, extensions, source, root, package)
    edges = imports(modules, extensions, source, package)
    return modules, extensions, rows, layers, stale, edges


@pytest.fixture(scope="module")
def caudal_package():
    return analyse(SOURCE, ROOT, PACKAGE, ARCHITECTURE.read_text(encoding="utf-8"))


def test_every_module_has_a_layer_and_every_path_of_the_table_exists(caudal_package):
    modules, extensions, _, layers, stale, _ = caudal_package
    unplaced = sorted(set(modules) - set(layers)) + sorted(extensions - set(layers))
    assert not unplaced, f"docs/architecture.md: name these modules in the layer table: {', '.join(unplaced)}"
    assert not stale, f"docs/architecture.md: the layer table names paths that do not exist: {', '.join(stale)}"


def test_imports_point_down_the_layers(caudal_package):
    _, _, rows, layers, _, edges = caudal_package
    order = [layer for layer, _ in rows]
    wrong = upward(edges, layers, order)
    found = {(edge.source, edge.target) for edge, _ in wrong}
    gone = sorted(set(KNOWN_UPWARD) - found)
    assert not gone, f"these known exceptions no longer occur: delete them from KNOWN_UPWARD: {gone}"
    wrong = [(edge, why) for edge, why in wrong if (edge.source, edge.target) not in KNOWN_UPWARD]
    assert not wrong, "\n" + report(wrong, [])


def test_no_import_cycle(caudal_package):
    edges = caudal_package[-1]
    loops = cycles(edges)
    assert not loops, "\n" + report([], loops)


def test_the_walk_sees_every_kind_of_import(caudal_package):
    """Module level, inside a function, relative and ``import a.b``: each gives an edge."""
    edges = {(edge.source, edge.target) for edge in caudal_package[-1]}
    assert ("caudal.cli", "caudal.api") in edges  # module level
    assert ("caudal.cases", "caudal.hydro.cobre") in edges  # inside a method
    assert ("caudal.solver.native_workspace", "caudal._native") in edges  # an extension module


# ------------------------------------------------------------------------------------------------ it can fail

TABLE = """\
| layer | where | owns |
| --- | --- | --- |
| top | `face.py`, `low/view.py` | |
| middle | `mid/` | |
| low | `low/` | |

"""


def write(folder: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_an_upward_import_a_forbidden_one_and_a_cycle_are_reported(tmp_path, monkeypatch):
    write(tmp_path / "src", {
        "pkg/__init__.py": "",
        "pkg/face.py": "from pkg.mid import engine\n",
        "pkg/mid/__init__.py": "",
        "pkg/mid/engine.py": "def run():\n    from pkg.face import go  # hidden in a function\n",
        "pkg/low/__init__.py": "",
        "pkg/low/view.py": "from pkg.mid.engine import run\n",  # a face inside low/: may look down
        "pkg/low/a.py": "from . import b\n",
        "pkg/low/b.py": "import pkg.low.a\n",
    })
    monkeypatch.setitem(FORBIDDEN, ("top", "middle"), "the test's own rule")
    modules, extensions, rows, layers, stale, edges = analyse(tmp_path / "src", tmp_path, "pkg", TABLE)
    assert layers["pkg.low.view"] == "top" and layers["pkg.low.a"] == "low" and not stale
    wrong = upward(edges, layers, [layer for layer, _ in rows])
    assert [(str(edge), why) for edge, why in wrong] == [
        ("pkg.face -> pkg.mid.engine (pkg/face.py:1)", "top must not import middle: the test's own rule"),
        ("pkg.low.view -> pkg.mid.engine (pkg/low/view.py:1)", "top must not import middle: the test's own rule"),
        ("pkg.mid.engine -> pkg.face (pkg/mid/engine.py:2)", "middle imports top, a layer above it"),
    ]
    text = report(wrong, cycles(edges))
    assert "import cycle: pkg.face -> pkg.mid.engine -> pkg.face (pkg/face.py:1, pkg/mid/engine.py:2)" in text
    assert "import cycle: pkg.low.a -> pkg.low.b -> pkg.low.a (pkg/low/a.py:1, pkg/low/b.py:1)" in text
