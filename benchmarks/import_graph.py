"""The import graph of the ``kerasnets`` package, read from the source with ``ast`` (nothing is
imported), for ``tests/test_architecture.py`` and for reading.

    python benchmarks/import_graph.py [kerasnets.train] [--cycles] [--private]

Prints each module under the given package (default: all of ``kerasnets``) and the kerasnets
modules it imports, the ones imported inside a function marked ``(lazy)``. ``--cycles`` adds
the import cycles of the whole package, ``--private`` the private names used across modules.

What counts as an edge A -> B: ``import kerasnets.b`` / ``from kerasnets.b import x`` /
relative imports, at module level and inside functions (a lazy import closes a cycle just as
well at call time), and ``importlib.import_module("kerasnets.b")`` with a literal name.
``from kerasnets.pkg import name`` is an edge to the submodule ``kerasnets.pkg.name`` when
there is one, else to ``kerasnets.pkg`` (its ``__init__.py``). Importing a submodule runs its
parent package's ``__init__`` first; that implicit import is not an edge (``kerasnets.models``
importing ``kerasnets.models.base`` which imports nothing from ``kerasnets.models`` is no
cycle). Imports under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "kerasnets"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    lazy: bool  # inside a function body


@dataclass(frozen=True)
class PrivateUse:
    module: str
    line: int
    target: str  # the kerasnets module the name belongs to
    name: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} uses {self.target}.{self.name}"


def is_private(name: str) -> bool:
    """``_x`` and ``__x`` are private; dunders (``__all__``, ``__version__``) are not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def modules(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, a package being its ``__init__.py``."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_package(name: str, mods: dict[str, Path]) -> bool:
    return mods[name].name == "__init__.py"


def _resolve_from(module: str, node: ast.ImportFrom, mods: dict[str, Path]) -> str | None:
    """The absolute module name a ``from ... import`` reads from (None: not kerasnets)."""
    if node.level == 0:
        return node.module
    base = module.split(".")
    if not _is_package(module, mods):
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _owner(name: str, mods: dict[str, Path]) -> str | None:
    """The deepest existing kerasnets module of a dotted name (``kerasnets.a.b`` -> itself when
    it is a module, else ``kerasnets.a``)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in mods:
            return candidate
        parts.pop()
    return None


def _in_package(name: str | None) -> bool:
    return name is not None and (name == PACKAGE or name.startswith(PACKAGE + "."))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(tree: ast.AST):
    """(node, lazy) for every node, skipping ``if TYPE_CHECKING:`` bodies."""
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, lazy = stack.pop()
        yield node, lazy
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            children = list(node.orelse)
        else:
            children = list(ast.iter_child_nodes(node))
        inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        stack.extend((child, inner) for child in reversed(children))


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def module_edges(module: str, mods: dict[str, Path]) -> list[Edge]:
    """Every kerasnets import of one module, in source order (duplicates kept)."""
    edges = []

    def add(target: str | None, node: ast.AST, lazy: bool) -> None:
        if target is not None and target != module:
            edges.append(Edge(module, target, node.lineno, lazy))

    for node, lazy in _walk(_parse(mods[module])):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _in_package(alias.name):
                    add(_owner(alias.name, mods), node, lazy)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve_from(module, node, mods)
            if not _in_package(source):
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                add(sub if sub in mods else _owner(source, mods), node, lazy)
        elif isinstance(node, ast.Call) and _is_import_module(node):
            name = node.args[0].value
            if _in_package(name):
                add(_owner(name, mods), node, lazy)
    return edges


def _is_import_module(node: ast.Call) -> bool:
    func = node.func
    named = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id == "import_module"
    )
    return (
        named
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def import_graph(root: Path = ROOT) -> dict[str, list[Edge]]:
    """Module -> its kerasnets imports (one Edge per target: the first, module-level preferred)."""
    mods = modules(root)
    graph = {}
    for module in mods:
        first: dict[str, Edge] = {}
        for edge in module_edges(module, mods):
            if edge.target not in first or (first[edge.target].lazy and not edge.lazy):
                first[edge.target] = edge
        graph[module] = sorted(first.values(), key=lambda e: e.target)
    return graph


def _components(graph: dict[str, list[Edge]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(e.target for e in graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(e.target for e in graph.get(child, []))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    members = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.append(member)
                        if member == node:
                            break
                    if len(members) > 1:
                        found.append(sorted(members))
    return sorted(found)


def find_cycles(graph: dict[str, list[Edge]], limit: int = 200) -> list[list[Edge]]:
    """Elementary import cycles, each as its edges (the first module is the smallest name in
    it, so every cycle appears once); at most ``limit`` of them."""
    cycles: list[list[Edge]] = []
    for members in _components(graph):
        for start in members:  # the cycles whose smallest module is ``start``
            allowed = {m for m in members if m >= start}
            _cycles_from(graph, start, start, allowed, [], {start}, cycles, limit)
    return cycles


def _cycles_from(
    graph: dict[str, list[Edge]],
    start: str,
    node: str,
    allowed: set[str],
    path: list[Edge],
    visiting: set[str],
    cycles: list[list[Edge]],
    limit: int,
) -> None:
    for edge in graph[node]:
        if len(cycles) >= limit or edge.target not in allowed:
            continue
        if edge.target == start:
            cycles.append([*path, edge])
        elif edge.target not in visiting:
            visiting.add(edge.target)
            _cycles_from(graph, start, edge.target, allowed, [*path, edge], visiting, cycles, limit)
            visiting.discard(edge.target)


def cycle_report(cycles: list[list[Edge]], top: int = 5) -> str:
    """The cycles, one a line, after the edges that lie on the most of them (breaking those
    breaks the most cycles)."""
    counts: dict[Edge, int] = {}
    for cycle in cycles:
        for edge in cycle:
            counts[edge] = counts.get(edge, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0].source, item[0].target))[:top]
    lines = [f"{len(cycles)} import cycle(s); the edges on the most of them:"]
    lines += [
        f"  {e.source} -> {e.target} (line {e.line}{', lazy' if e.lazy else ''}): on {n}" for e, n in ranked
    ]
    lines += ["cycles:"] + [f"  {format_cycle(c)}" for c in cycles]
    return "\n".join(lines)


def format_cycle(cycle: list[Edge]) -> str:
    """``a -[line 3]-> b -[line 40, lazy]-> a``: each arrow names the importing line of the
    module on its left."""
    chain = "".join(f"{e.source} -[line {e.line}{', lazy' if e.lazy else ''}]-> " for e in cycle)
    return chain + cycle[0].source


def private_uses(root: Path = ROOT) -> list[PrivateUse]:
    """``from kerasnets.a import _x`` and ``module._x`` on an imported kerasnets module, in
    modules other than the one defining ``_x``."""
    mods = modules(root)
    uses = []
    for module, path in mods.items():
        tree = _parse(path)
        bound: dict[str, str] = {}  # local name -> the kerasnets module (or package prefix) it is
        for node, _ in _walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if not _in_package(alias.name):
                        continue
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        bound[top] = top
            elif isinstance(node, ast.ImportFrom):
                source = _resolve_from(module, node, mods)
                if not _in_package(source):
                    continue
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    if sub in mods:
                        bound[alias.asname or alias.name] = sub
                    elif is_private(alias.name) and _owner(source, mods) != module:
                        uses.append(PrivateUse(module, node.lineno, source, alias.name))
        for node, _ in _walk(tree):
            if not isinstance(node, ast.Attribute) or not is_private(node.attr):
                continue
            dotted = _dotted(node.value, bound)
            if dotted is not None and _in_package(dotted) and _owner(dotted, mods) != module:
                uses.append(PrivateUse(module, node.lineno, dotted, node.attr))
    return sorted(set(uses), key=lambda u: (u.module, u.line, u.name))


def _dotted(node: ast.expr, bound: dict[str, str]) -> str | None:
    """``a.b.c`` with ``a`` bound to a kerasnets module -> its dotted module name."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in bound:
        return None
    return ".".join([bound[node.id], *reversed(attrs)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?", default=PACKAGE, help="e.g. kerasnets.train")
    parser.add_argument("--cycles", action="store_true", help="also list the package's import cycles")
    parser.add_argument("--private", action="store_true", help="also list private names used across")
    args = parser.parse_args(argv)
    graph = import_graph()
    prefix = args.package
    shown = [m for m in graph if m == prefix or m.startswith(prefix + ".")]
    if not shown:
        print(f"no module {prefix!r} under {ROOT / PACKAGE}", file=sys.stderr)
        return 2
    for module in shown:
        print(module)
        for edge in graph[module]:
            print(f"    {edge.target}{'  (lazy)' if edge.lazy else ''}")
    if args.cycles:
        print("\n" + cycle_report(find_cycles(graph)))
    if args.private:
        uses = private_uses()
        print(f"\n{len(uses)} private name(s) used across modules")
        for use in uses:
            print(f"  {use}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
