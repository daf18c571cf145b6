"""The package's shape, read from the source with ``ast`` (nothing is imported): no import
cycles, lazy imports inside functions included, and no private name used across modules.

The graph is built by ``benchmarks/import_graph.py`` (``python benchmarks/import_graph.py
kerasnets.train`` prints a subpackage's imports); see its docstring for what counts as an edge.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load_import_graph():
    name = "kerasnets_import_graph"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "import_graph.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name]


ig = _load_import_graph()


def test_the_import_graph_has_no_cycles():
    cycles = ig.find_cycles(ig.import_graph(ROOT))
    assert not cycles, "among kerasnets modules, " + ig.cycle_report(cycles)


def test_no_private_name_is_used_across_modules():
    uses = ig.private_uses(ROOT)
    listing = "\n".join(f"  {u}" for u in uses)
    assert not uses, (
        f"{len(uses)} private name(s) used outside their module (make them public or keep them in):\n"
        f"{listing}"
    )


# ----------------------------------------------------------------------------- the checker itself


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "kerasnets" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def _chains(root: Path) -> list[list[str]]:
    return [[e.source for e in c] for c in ig.find_cycles(ig.import_graph(root))]


def test_lazy_and_relative_imports_close_cycles(tmp_path):
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "pkg/__init__.py": "",
            "pkg/a.py": "from kerasnets.pkg.b import f\n",
            "pkg/b.py": "def f():\n    from . import c\n",
            "pkg/c.py": "from .a import x\n",
            "d.py": "import kerasnets.e as e\n",
            "e.py": "def g():\n    import kerasnets.d\n",
        },
    )
    assert sorted(_chains(root)) == [
        ["kerasnets.d", "kerasnets.e"],
        ["kerasnets.pkg.a", "kerasnets.pkg.b", "kerasnets.pkg.c"],
    ]
    lazy = {(e.source, e.target): e.lazy for edges in ig.import_graph(root).values() for e in edges}
    assert lazy[("kerasnets.pkg.b", "kerasnets.pkg.c")] and not lazy[("kerasnets.pkg.a", "kerasnets.pkg.b")]


def test_a_parent_package_is_no_edge_but_importing_from_it_is(tmp_path):
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            # the package imports its submodules; they import each other, not the package
            "models/__init__.py": "from kerasnets.models import base, lenet\nNAME = 1\n",
            "models/base.py": "",
            "models/lenet.py": "from kerasnets.models.base import X\n",
            # ``from kerasnets.data import name``: the submodule when there is one, else __init__
            "data/__init__.py": "from kerasnets.data.loaders import load\n",
            "data/loaders.py": "from kerasnets.data import helpers, CONSTANT\n",
            "data/helpers.py": "",
        },
    )
    graph = {m: [e.target for e in edges] for m, edges in ig.import_graph(root).items()}
    assert graph["kerasnets.models"] == ["kerasnets.models.base", "kerasnets.models.lenet"]
    assert graph["kerasnets.models.lenet"] == ["kerasnets.models.base"]
    assert graph["kerasnets.data.loaders"] == ["kerasnets.data", "kerasnets.data.helpers"]
    assert _chains(root) == [["kerasnets.data", "kerasnets.data.loaders"]]


def test_type_checking_imports_are_no_edges(tmp_path):
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kerasnets.b import B\n",
            "b.py": "from kerasnets.a import A\n",
        },
    )
    assert _chains(root) == []


def test_private_names_imported_or_reached_through_a_module(tmp_path):
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "_hidden = 1\n__version__ = '1'\n",
            "pkg/__init__.py": "",
            "pkg/b.py": "_x = 1\n",
            "c.py": textwrap.dedent(
                """
                import kerasnets.pkg.b
                import kerasnets.pkg.b as bee
                from kerasnets import a
                from kerasnets.a import _hidden, __version__
                from kerasnets.pkg import b

                def f():
                    return (
                        a._hidden,
                        b._x,
                        bee._x,
                        kerasnets.pkg.b._x,
                        a.__version__,
                        b.public,
                    )
                """
            ),
            "pkg/d.py": "from . import b\nfrom .b import _x\n",
        },
    )
    found = {(u.module, u.target, u.name) for u in ig.private_uses(root)}
    assert found == {
        ("kerasnets.c", "kerasnets.a", "_hidden"),
        ("kerasnets.c", "kerasnets.pkg.b", "_x"),
        ("kerasnets.pkg.d", "kerasnets.pkg.b", "_x"),
    }
    lines = sorted(u.line for u in ig.private_uses(root) if u.module == "kerasnets.c")
    assert lines == [5, 10, 11, 12, 13]  # the import, then a._hidden, b._x, bee._x, kerasnets.pkg.b._x


def test_the_listing_of_a_subpackage(capsys):
    assert ig.main(["kerasnets.tuning"]) == 0
    out = capsys.readouterr().out
    blocks: dict[str, list[str]] = {}
    module = ""
    for line in out.splitlines():
        if line.startswith(" "):
            blocks[module].append(line.strip())
        else:
            module = line
            blocks[module] = []
    assert all(m.startswith("kerasnets.tuning") for m in blocks) and "kerasnets.tuning.session" in blocks
    assert "kerasnets.tuning.sweep" in blocks["kerasnets.tuning"]
    assert "kerasnets.tuning.session  (lazy)" in blocks["kerasnets.tuning"]  # tune() imports it
