"""The import direction of DESIGN.md, held over the repository's own packages.

Every ``import`` and ``from ... import`` is read with ``ast`` (module level, inside functions, under
``if TYPE_CHECKING``, relative ones resolved), as are ``importlib.import_module("...")`` calls with a
literal name, so a deferred or type-only import cannot hide an edge. A lazy import still ties the
packages together: the direction is about what each part may know, not about when it loads.
``import a.b`` is an edge to ``a.b`` alone: that Python runs ``a/__init__`` first is no dependency on
what ``a/__init__`` defines; ``from a import name`` is an edge to ``a.name`` when that is a module,
else to ``a``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = ("raftcore", "sim", "scenarios", "checkers", "reports", "raftsim", "workloads", "targets")

ALLOWED: Mapping[str, tuple[str, ...]] = {
    # Pure Raft and the etcd-like server: stdlib only, so the same core can be driven by SimPy or
    # by asyncio sockets.
    "raftcore": (),
    # Judges of recorded files: they serve histories recorded anywhere (Jepsen, Porcupine, another
    # system), so they know nothing of how ours are made.
    "checkers": (),
    # Views of a run's files: they read them through the checkers' readers, never through sim.
    "reports": ("checkers",),
    # Scenario files and their strategies: bug names come from raftcore, workload kinds and each
    # workload's own problems with its settings from workloads (so a new workload is its module
    # alone), and bad input is the project-wide checkers.errors.InputError; never sim, which
    # plays scenarios.
    "scenarios": ("raftcore", "workloads", "checkers.errors"),
    # The seeded world drives raftcore and plays a scenario (faults, workload, seeded streams).
    "sim": ("raftcore", "scenarios", "workloads", "checkers.errors"),
    # One module per workload: operations, generator, model and checkers composed as one value.
    # Requests and responses are raftcore's, models are the checkers'; never scenarios, which
    # asks workloads what a kind is, so the settings reach a workload through a protocol.
    "workloads": ("raftcore", "checkers"),
    # What is attacked: the simulated cluster or a real etcd.
    "targets": ("raftcore", "sim", "scenarios", "workloads", "checkers"),
    # The front door wires everything together; nothing below it imports it.
    "raftsim": ("raftcore", "sim", "scenarios", "workloads", "targets", "checkers", "reports"),
}
"""Which packages of ours each package may import besides itself (a name allows its submodules).

The tree of DESIGN.md: raftsim on top; scenarios, targets, sim, workloads, checkers and reports
beneath it; raftcore beneath sim. The tree leaves the siblings' mutual order open, so the table
fixes the one the code has: sim plays a scenario value (faults, workload, seeded streams), so it
may import scenarios, which never imports sim; scenarios may name raftcore's bugs, ask workloads
which kinds exist and what each cannot run with, and raise checkers.errors.InputError, the
project's one kind of bad input; workloads never imports scenarios. checkers and reports serve files
recorded anywhere, so they know nothing of sim, scenarios or raftcore. Anything not listed is
refused, so a new dependency is a decision made here, not an accident.
"""


@dataclass(frozen=True)
class Import:
    """One import of a module of ours: where it is written and what it resolves to."""

    path: str
    line: int
    text: str
    target: str


def _package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def _resolve_from(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = _package_of(module, is_package).split(".")
    assert node.level - 1 < len(base), f"{module}: relative import climbs above the top package"
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _literal_import_module(node: ast.Call) -> str | None:
    func = node.func
    named = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in ("import_module", "__import__")
    )
    if named and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def imported_names(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str, str]]:
    """Yield (line, text, dotted name) for every import in the source, submodule candidates included.

    ``from a import b`` yields ``a.b`` (the caller keeps it if ``a.b`` is a module, else ``a``).
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, ast.unparse(node), alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(node, module, is_package)
            for alias in node.names:
                name = f"{base}.{alias.name}" if alias.name != "*" else base
                yield node.lineno, ast.unparse(node), name
        elif isinstance(node, ast.Call) and (name := _literal_import_module(node)):
            yield node.lineno, ast.unparse(node), name


def _most_specific(name: str, modules: Mapping[str, object]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def ours_imports(modules: Mapping[str, tuple[str, bool, str]]) -> dict[str, list[Import]]:
    """Map each module to its imports of our modules; modules maps name to (path, is_package, source)."""
    found: dict[str, list[Import]] = {}
    for module, (path, is_package, source) in sorted(modules.items()):
        edges = found.setdefault(module, [])
        for line, text, name in imported_names(source, module, is_package):
            if name.split(".")[0] not in PACKAGES:
                continue
            target = _most_specific(name, modules) or name
            edges.append(Import(path, line, text, target))
    return found


def stdlib_violations(modules: Mapping[str, tuple[str, bool, str]]) -> list[str]:
    """raftcore may import the standard library and itself only: no SimPy, no third party."""
    problems = []
    for module, (path, is_package, source) in sorted(modules.items()):
        if module.split(".")[0] != "raftcore":
            continue
        for line, text, name in imported_names(source, module, is_package):
            top = name.split(".")[0]
            if top != "raftcore" and top not in sys.stdlib_module_names:
                problems.append(f"{path}:{line}: {text}: raftcore imports only the standard library")
    return problems


def _allowed(importer: str, target: str) -> bool:
    if importer == target.split(".")[0]:
        return True
    return any(target == rule or target.startswith(rule + ".") for rule in ALLOWED[importer])


def direction_violations(found: Mapping[str, list[Import]]) -> list[str]:
    """One line per import against ALLOWED, naming file, line and the import."""
    problems = []
    for module, edges in sorted(found.items()):
        importer = module.split(".")[0]
        for edge in edges:
            if not _allowed(importer, edge.target):
                rule = ", ".join(ALLOWED[importer]) or "nothing of ours"
                problems.append(
                    f"{edge.path}:{edge.line}: {edge.text}: {importer} may not import {edge.target} (allowed: {rule})"
                )
    return problems


def cycle_violations(found: Mapping[str, list[Import]]) -> list[str]:
    """One line per strongly connected component of more than one module, with the imports closing it."""
    graph = nx.DiGraph()
    graph.add_nodes_from(found)
    for module, edges in found.items():
        for edge in edges:
            if edge.target != module:
                graph.add_edge(module, edge.target)
    problems = []
    for component in nx.strongly_connected_components(graph):
        if len(component) < 2:
            continue
        cycle = nx.find_cycle(graph.subgraph(component))
        steps = []
        for importer, target in cycle:
            first = next(e for e in found[importer] if e.target == target)
            steps.append(f"{first.path}:{first.line}: {first.text}")
        names = " -> ".join([*(a for a, _ in cycle), cycle[0][0]])
        problems.append(f"import cycle {names} among {sorted(component)}: " + "; ".join(steps))
    return sorted(problems)


def repository_modules(root: Path = ROOT) -> dict[str, tuple[str, bool, str]]:
    modules: dict[str, tuple[str, bool, str]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            is_package = path.name == "__init__.py"
            parts = relative.parent.parts if is_package else (*relative.parent.parts, path.stem)
            modules[".".join(parts)] = (str(relative), is_package, path.read_text(encoding="utf-8"))
    return modules


def all_violations(modules: Mapping[str, tuple[str, bool, str]]) -> list[str]:
    found = ours_imports(modules)
    return stdlib_violations(modules) + direction_violations(found) + cycle_violations(found)


def test_repository_holds_the_import_direction() -> None:
    modules = repository_modules()
    for package in ("raftcore", "sim", "scenarios", "checkers", "reports", "raftsim", "workloads"):
        assert package in modules, f"package {package} not found: the scan would hold nothing"
    assert len(modules) > 40
    problems = all_violations(modules)
    assert not problems, "\n".join(problems)


BAD = {
    "raftcore": ("raftcore/__init__.py", True, ""),
    "raftcore.raft": ("raftcore/raft.py", False, "import simpy\nfrom . import log\n"),
    "raftcore.log": ("raftcore/log.py", False, "def f():\n    from sim.world import World\n"),
    "sim": ("sim/__init__.py", True, ""),
    "sim.world": ("sim/world.py", False, "from raftcore.raft import step\n"),
    "checkers": ("checkers/__init__.py", True, ""),
    "checkers.a": (
        "checkers/a.py",
        False,
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sim import world\n",
    ),
    "reports": ("reports/__init__.py", True, ""),
    "reports.html": ("reports/html.py", False, "import importlib\nimportlib.import_module('raftsim.api')\n"),
    "raftsim": ("raftsim/__init__.py", True, ""),
    "raftsim.api": ("raftsim/api.py", False, "from . import report\nfrom checkers.a import x\n"),
    "raftsim.report": ("raftsim/report.py", False, "def g():\n    from .api import run\n"),
}


def test_checker_flags_a_bad_module_set() -> None:
    problems = all_violations(BAD)
    expected = [
        "raftcore/raft.py:1: import simpy: raftcore imports only the standard library",
        "raftcore/log.py:2: from sim.world import World: raftcore may not import sim.world",
        "checkers/a.py:3: from sim import world: checkers may not import sim.world",
        "reports/html.py:2: importlib.import_module('raftsim.api'): reports may not import raftsim.api",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), (line, problems)
    cycles = [p for p in problems if p.startswith("import cycle")]
    assert len(cycles) == 2, problems
    assert any("'raftcore.log', 'raftcore.raft', 'sim.world'" in c and "raftcore/log.py:2" in c for c in cycles)
    assert any(
        "'raftsim.api', 'raftsim.report'" in c and "raftsim/report.py:2: from .api import run" in c for c in cycles
    )


def test_relative_imports_resolve_from_package_and_module() -> None:
    names = [n for _, _, n in imported_names("from . import a\nfrom ..b import c\n", "x.y.z", False)]
    assert names == ["x.y.a", "x.b.c"]
    names = [n for _, _, n in imported_names("from . import a\nfrom .m import *\n", "x.y", True)]
    assert names == ["x.y.a", "x.y.m"]


def test_tests_import_their_helpers_by_module_name() -> None:
    """pytest puts `tests/` on the path, not the repository root (unless the caller's
    PYTHONPATH does): a test that imports `tests.helper` passes on one machine and cannot
    be collected on a clean one."""
    found = [
        f"{path.name}:{line}: {name}"
        for path in sorted((ROOT / "tests").glob("*.py"))
        for line, _, name in imported_names(path.read_text("utf-8"), path.stem, False)
        if name == "tests" or name.startswith("tests.")
    ]
    assert not found, found
