"""How the project's modules may import each other: no cycles, an HTTP entry point never
imports the Kafka one, services do not import each other, `shared` imports no service.

The files are parsed, not imported. An import inside a function counts (a lazy import still
makes a cycle); one under `if TYPE_CHECKING:` does not (it never runs).
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "services", "switchboard", "bench")

# module -> {imported project module -> line of the first such import}
Graph = dict[str, dict[str, int]]


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every Python file of the project's packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in `node`, at any depth, but not under `if TYPE_CHECKING:`."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [node]
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        children: list[ast.AST] = list(node.orelse)
    else:
        children = list(ast.iter_child_nodes(node))
    return [found for child in children for found in _import_nodes(child)]


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """The project modules that importing `module` runs, with the line that imports each.

    `import a.b.c` and `from a.b import c` run `a.b.c` and the packages above it; the
    packages above `module` itself are already running when it is imported, so they do not
    count."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: dict[str, int] = {}

    def add(name: str, line: int) -> None:
        while name and name not in modules:  # `import a.b.X` where X is a name in a.b
            name = name.rpartition(".")[0]
        if not name or name == module:
            return
        for package in _ancestors(name):
            if package in modules and package != module and package not in _ancestors(module):
                targets.setdefault(package, line)
        targets.setdefault(name, line)

    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
            continue
        base = node.module or ""
        if node.level:  # relative: from the package, one level up per extra dot
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - node.level + 1]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            add(submodule if submodule in modules else base, node.lineno)
    return targets


def import_graph(root: Path = ROOT) -> Graph:
    modules = project_modules(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that all reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(group for group in groups if len(group) > 1)


def shortest_cycle(graph: Graph, group: list[str]) -> list[str]:
    """A shortest way from the group's first module back to itself, inside the group."""
    start, members = group[0], set(group)
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in sorted(graph[node]):
            if target == start:
                path = [node]
                while (previous := came_from[path[-1]]) is not None:
                    path.append(previous)
                return [*reversed(path), start]
            if target in members and target not in came_from:
                came_from[target] = node
                queue.append(target)
    raise AssertionError(f"{group} is not a cycle")


def cycles_report(graph: Graph, root: Path = ROOT) -> list[str]:
    """One shortest cycle of each knot of modules, with the line of each import in it."""
    modules = project_modules(root)
    report = []
    for group in strongly_connected(graph):
        cycle = shortest_cycle(graph, group)
        lines = [" -> ".join(cycle)]
        lines += [f"  {a} -> {b}  ({modules[a].relative_to(root)}:{graph[a][b]})"
                  for a, b in zip(cycle, cycle[1:], strict=False)]
        if len(group) > len(cycle) - 1:
            lines.append(f"  (all the modules of this knot: {', '.join(group)})")
        report.append("\n".join(lines))
    return report


def test_the_project_has_no_import_cycle():
    cycles = cycles_report(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_an_http_entry_point_does_not_import_the_kafka_one():
    graph = import_graph()
    offending = [f"{module} imports {module.rpartition('.')[0]}.handlers (line {line})"
                 for module, targets in graph.items()
                 if module.startswith("services.") and module.endswith(".http")
                 for target, line in targets.items()
                 if target == f"{module.rpartition('.')[0]}.handlers"]
    assert not offending, "\n".join(offending)


def _service(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 1 else None


def test_a_service_does_not_import_another_service():
    graph = import_graph()
    offending = [f"{module} imports {target} (line {line})"
                 for module, targets in graph.items() if _service(module)
                 for target, line in targets.items()
                 if _service(target) not in (None, _service(module))]
    assert not offending, "\n".join(offending)


def test_shared_imports_no_service_and_no_command():
    graph = import_graph()
    offending = [f"{module} imports {target} (line {line})"
                 for module, targets in graph.items()
                 if module == "shared" or module.startswith("shared.")
                 for target, line in targets.items()
                 if target.split(".")[0] in ("services", "switchboard")]
    assert not offending, "\n".join(offending)


def test_the_walk_sees_lazy_imports_and_not_type_checking_ones(tmp_path):
    # The checks above are only as good as the walk: a cycle made by a function's import is
    # found, one under `if TYPE_CHECKING:` is not.
    package = tmp_path / "shared"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from shared import b\n")
    (package / "b.py").write_text("def later():\n    from shared.a import x\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from shared import a\n"
        "else:\n    from . import d\n")
    (package / "d.py").write_text("import shared.c\n")
    # a package's module importing a name of its package, whose __init__ imports the module
    (package / "e").mkdir()
    (package / "e" / "__init__.py").write_text("from shared.e.f import y\nz = 1\n")
    (package / "e" / "f.py").write_text("from shared.e import z\nfrom shared.e import g\n")
    (package / "e" / "g.py").write_text("")
    graph = import_graph(tmp_path)
    assert graph["shared.a"] == {"shared.b": 1}
    assert graph["shared.b"] == {"shared.a": 2}
    assert graph["shared.c"] == {"shared.d": 5}
    assert graph["shared.e.f"] == {"shared.e": 1, "shared.e.g": 2}
    report = cycles_report(graph, tmp_path)
    assert [line.splitlines()[0] for line in report] == [
        "shared.a -> shared.b -> shared.a", "shared.c -> shared.d -> shared.c",
        "shared.e -> shared.e.f -> shared.e"]
    assert "  shared.b -> shared.a  (shared/b.py:2)" in report[0].splitlines()
