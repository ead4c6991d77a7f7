"""No import cycles inside the ``reconciler`` package.

Every import of a ``reconciler`` module counts, wherever it is written: at
module level, inside a function (a lazy import is still a dependency) and
inside an ``if TYPE_CHECKING:`` block (mypy and readers follow it). The test
walks the sources with ``ast``, so nothing is imported to build the graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "reconciler"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The reconciler modules ``name`` imports (a package stands for its ``__init__``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if _is_package(path) else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name
                # ``import a.b.c`` imports a, a.b and a.b.c; the deepest one known is the edge.
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target:
                    targets.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts)
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if source != PACKAGE and not source.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:
                    targets.add(submodule)
                elif source in modules:
                    targets.add(source)
    # Importing ``reconciler.x.y`` first runs ``reconciler/x/__init__.py``: an edge to a
    # module is an edge to each package above it too. The importer's own enclosing
    # packages are left out: they were initialised before the importer started.
    own = {package.rsplit(".", depth)[0] for depth in range(package.count(".") + 1)} | {package}
    for target in list(targets):
        parent = target.rpartition(".")[0]
        while parent and parent != PACKAGE:
            if parent not in own:
                targets.add(parent)
            parent = parent.rpartition(".")[0]
    targets.discard(name)
    return targets


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = _imports(name, path, modules)
        if _is_package(path):
            # A package re-exporting its submodules (``reconciler.engine`` mirrors its
            # lazy ``__getattr__`` in a TYPE_CHECKING block) would otherwise close a
            # trivial cycle with every outside module that imports one of them, since
            # that import runs the package first (see ``_imports``). Re-exporting is
            # not a cycle unless a submodule imports the package back, and that edge
            # (submodule -> package) is kept, so only package -> own-submodule edges go.
            edges = {target for target in edges if not target.startswith(name + ".")}
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def _one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A concrete path through ``component`` back to its first module, for the message."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in sorted(graph[node] & members):
                if target == start:
                    path = [start]
                    while node != start:
                        path.append(node)
                        node = previous[node]
                    return [start, *reversed(path[1:]), start]
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    return component


def test_graph_sees_the_package() -> None:
    graph = _graph()
    assert "reconciler.engine.run" in graph
    assert "reconciler.engine.inventory" in graph["reconciler.engine.run"]
    # a lazy import inside a function counts (writer imports output.diff when it describes a
    # difference), and so does the package that import runs first
    assert {"reconciler.output.diff", "reconciler.output"} <= graph["reconciler.engine.writer"]
    # so does an import under ``if TYPE_CHECKING:``
    assert "reconciler.engine.lifecycle" in graph["reconciler.engine.unit"]


def test_detects_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _one_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    message = "\n".join(
        f"cycle among {', '.join(component)}: {' -> '.join(_one_cycle(graph, component))}"
        for component in cycles
    )
    assert not cycles, f"import cycles inside {PACKAGE}/:\n{message}"
