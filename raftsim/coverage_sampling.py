"""Branch coverage of `raftcore` over a sampled share of a fuzz campaign's seeds.

coverage.py watches the simulation of a sampled seed (not its judging) and keeps the arcs
(line to line, a branch taken) executed in `raftcore`; the campaign merges them and lists
what no sampled seed reached. Measuring only observes: coverage.py's tracer changes nothing a
run computes, and a test holds a seed's digest to be the same with and without it. It costs
about three times a seed's simulation, which is why only a share of seeds is measured.

raftcore's modules are imported before any seed is measured, so the lines that run on import
(imports, definitions, constants) are never seen executing; only lines inside functions count,
and only the branches that leave them.

Which seeds are measured is decided by the seed alone (as re-checks are), so a resumed
campaign measures the same seeds.
"""

from __future__ import annotations

import ast
import hashlib
import json
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import raftcore

SOURCE = Path(raftcore.__file__).resolve().parent
ROOT = SOURCE.parent
Arcs = dict[str, list[tuple[int, int]]]
"""Arcs executed, per file relative to the repository (`raftcore/raft.py`), sorted."""
T = TypeVar("T")


def source_digest() -> str:
    """A fingerprint of raftcore's source: arcs name line numbers, which mean nothing against
    other source (a campaign resumed after raftcore changed)."""
    digest = hashlib.sha256()
    for path in sorted(SOURCE.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


SOURCE_DIGEST = source_digest()
"""raftcore's source as this process imported it (read when this module is imported)."""


def sampled(seed: int, share: float) -> bool:
    """Whether this seed is measured; decided by the seed alone, so resuming agrees."""
    draw = int.from_bytes(hashlib.sha256(f"coverage:{seed}".encode()).digest()[:4], "big")
    return draw < share * 2**32


def measured(run: Callable[[], T]) -> tuple[T, Arcs]:
    """Run `run` under coverage.py and return its result with the raftcore arcs it executed."""
    import coverage

    watcher = coverage.Coverage(data_file=None, branch=True, source=[str(SOURCE)], config_file=False)
    watcher.start()
    try:
        result = run()
    finally:
        watcher.stop()
    data = watcher.get_data()
    arcs: Arcs = {}
    for path in sorted(data.measured_files()):
        executed = data.arcs(path) or []
        if executed:
            arcs[Path(path).resolve().relative_to(ROOT).as_posix()] = sorted(executed)
    return result, arcs


def merge(into: dict[str, set[tuple[int, int]]], arcs: Mapping[str, Iterable[Iterable[int]]]) -> None:
    for name, pairs in arcs.items():
        found = into.setdefault(name, set())
        for pair in pairs:
            source, target = pair
            found.add((int(source), int(target)))


@dataclass(frozen=True, slots=True)
class Unreached:
    """What no measured seed reached, of the lines and branches inside raftcore's functions."""

    lines_total: int
    lines_reached: int
    branches_total: int
    branches_reached: int
    lines: dict[str, list[int]]
    branches: dict[str, list[str]]

    def to_json(self) -> dict[str, Any]:
        return {
            "lines": [self.lines_reached, self.lines_total],
            "branches": [self.branches_reached, self.branches_total],
            "unreached_lines": self.lines,
            "unreached_branches": self.branches,
        }


def unreached(arcs: Mapping[str, set[tuple[int, int]]]) -> Unreached:
    """coverage.py's analysis of the merged arcs, kept to the lines inside functions."""
    report = _json_report(arcs)
    lines: dict[str, list[int]] = {}
    branches: dict[str, list[str]] = {}
    totals = [0, 0, 0, 0]
    for path in sorted(SOURCE.glob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        inside = _function_lines(path)
        entry = report.get(name, {})
        executed = set(entry.get("executed_lines", ()))
        missing = sorted(set(entry.get("missing_lines", ())) & inside)
        statements = (executed | set(missing)) & inside
        missing_branches = [tuple(pair) for pair in entry.get("missing_branches", ()) if pair[0] in inside]
        branch_total = sum(count for line, count in _branch_counts(entry).items() if line in inside)
        totals = [
            totals[0] + len(statements),
            totals[1] + len(statements) - len(missing),
            totals[2] + branch_total,
            totals[3] + branch_total - len(missing_branches),
        ]
        if missing:
            lines[name] = missing
        if missing_branches:
            branches[name] = [f"{source}->{'exit' if target < 0 else target}" for source, target in missing_branches]
    return Unreached(totals[0], totals[1], totals[2], totals[3], lines, branches)


def _branch_counts(entry: Mapping[str, Any]) -> dict[int, int]:
    """How many ways each branching line can go: the executed and missing branches from it."""
    counts: dict[int, int] = {}
    for key in ("executed_branches", "missing_branches"):
        for source, _target in entry.get(key, ()):
            counts[source] = counts.get(source, 0) + 1
    return counts


def _json_report(arcs: Mapping[str, set[tuple[int, int]]]) -> dict[str, Any]:
    """coverage.py's JSON report of the arcs, by file relative to the repository."""
    import coverage

    analyser = coverage.Coverage(data_file=None, branch=True, source=[str(SOURCE)], config_file=False)
    data = analyser.get_data()
    data.add_arcs({str(ROOT / name): dict.fromkeys(pairs) for name, pairs in arcs.items()})
    with tempfile.TemporaryDirectory(prefix="raftsim-coverage-") as folder:
        target = Path(folder) / "coverage.json"
        # Every module named, so that one no seed entered is reported whole, not left out.
        modules = [str(path) for path in sorted(SOURCE.glob("*.py"))]
        analyser.json_report(morfs=modules, outfile=str(target), show_contexts=False)
        files = json.loads(target.read_text(encoding="utf-8"))["files"]
    # Names are relative to the working folder when the source lies under it.
    return {Path(name).resolve().relative_to(ROOT).as_posix(): entry for name, entry in files.items()}


def _function_lines(path: Path) -> set[int]:
    """The lines of statements inside function bodies (at any depth)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for statement in node.body:
                for child in ast.walk(statement):
                    if isinstance(child, ast.stmt):
                        inside.add(child.lineno)
    return inside


def compact(numbers: Iterable[int]) -> str:
    """`[3, 4, 5, 9]` as `3-5, 9`."""
    ordered = sorted(set(numbers))
    spans: list[str] = []
    start = previous = None
    for number in ordered:
        if previous is not None and number == previous + 1:
            previous = number
            continue
        if start is not None:
            spans.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = number
    if start is not None:
        spans.append(str(start) if start == previous else f"{start}-{previous}")
    return ", ".join(spans)
