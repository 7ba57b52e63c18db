"""How many seeds the harness needs to find each planted bug.

For every bug, runs its hunting ground (the built-in scenario named for it in
`tests/test_bug_hunt.py`, read from there so the two never disagree) with the bug on,
seed after seed from several starting points, and counts the seeds up to and including
the first whose verdict is invalid. Prints one row per bug: the count for each starting
point, and their median. A starting point that finds nothing within the cap counts as
"more than the cap"; the median is then "> cap" if that is the middle value.

    .venv/bin/python benchmarks/bug_hunt.py [--starts 1,1001,2001,3001,4001] [--cap 100]
                                            [--jobs N] [--bug NAME]... [--shrink ATTEMPTS]

With `--shrink`, each bug's first failing seed (from the first start) is also shrunk
(`raftsim shrink`'s passes, at most ATTEMPTS runs) and the table shows its faults and its
operations before and after (`faults`, `operations`, as `before->after`) and the CPU
seconds the shrink took (`shrink CPU s`, the shrink's runs and checks, in its worker)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from checkers.verdict import Verdict
from raftcore.bugs import BUGS
from raftsim import api
from scenarios import loader

HUNTS_FILE = Path(__file__).resolve().parent.parent / "tests" / "test_bug_hunt.py"
DEFAULT_STARTS = (1, 1001, 2001, 3001, 4001)
DEFAULT_CAP = 100
BUDGET_S = 30
"""Seconds the linearizability search may take per run; `unknown` does not count as found."""


def hunting_grounds() -> dict[str, str]:
    """bug -> scenario, as the bug-hunt tests state them."""
    spec = importlib.util.spec_from_file_location("test_bug_hunt", HUNTS_FILE)
    assert spec is not None and spec.loader is not None, HUNTS_FILE
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {bug: hunt[0] for bug, hunt in module.HUNTS.items()}


def seeds_to_find(bug: str, scenario: str, start: int, cap: int) -> int | None:
    """Seeds run, from `start` on, until one fails with `bug` planted (that seed counted);
    None if none of `cap` seeds does."""
    assert bug in BUGS, bug
    assert cap >= 1
    base = loader.load(scenario)
    for offset in range(cap):
        chosen = dataclasses.replace(base, seed=start + offset, bugs=(bug,))
        if api.run(chosen, None, budget_s=BUDGET_S).verdict.verdict is Verdict.INVALID:
            return offset + 1
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class HuntResult:
    bug: str
    scenario: str
    cap: int
    seeds_needed: tuple[int | None, ...]
    """One per starting point, in the order the starts were given."""

    @property
    def median(self) -> float | None:
        """The median count, a missed start counting as infinitely many; None if that is
        the middle value."""
        ordered = sorted(self.seeds_needed, key=lambda count: float("inf") if count is None else count)
        middle = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[middle]
        low, high = ordered[middle - 1], ordered[middle]
        return None if low is None or high is None else statistics.mean((low, high))


Column = tuple[str, Callable[[HuntResult], str]]


def _count(count: int | float | None, cap: int) -> str:
    if count is None:
        return f"> {cap}"
    return f"{count:g}"


def _seeds_needed_from(position: int) -> Callable[[HuntResult], str]:
    """The column of seeds needed counting from the `position`-th start (bound now, not late)."""

    def column(result: HuntResult) -> str:
        return _count(result.seeds_needed[position], result.cap)

    return column


def default_columns(starts: Sequence[int]) -> list[Column]:
    columns: list[Column] = [("bug", lambda result: result.bug), ("scenario", lambda result: result.scenario)]
    for position, start in enumerate(starts):
        columns.append((f"from {start}", _seeds_needed_from(position)))
    columns.append(("median", lambda result: _count(result.median, result.cap)))
    return columns


def format_table(results: Sequence[HuntResult], columns: Sequence[Column]) -> str:
    """A plain-text table, one row per result; `columns` are (header, cell) pairs."""
    rows = [[header for header, _ in columns]]
    rows += [[cell(result) for _, cell in columns] for result in results]
    widths = [max(len(row[index]) for row in rows) for index in range(len(columns))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _hunt(job: tuple[str, str, int, int]) -> tuple[str, int, int | None]:
    bug, scenario, start, cap = job
    return bug, start, seeds_to_find(bug, scenario, start, cap)


def hunt_all(grounds: dict[str, str], starts: Sequence[int], cap: int, jobs: int) -> list[HuntResult]:
    work = [(bug, grounds[bug], start, cap) for bug in sorted(grounds) for start in starts]
    found: dict[tuple[str, int], int | None] = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for bug, start, count in pool.map(_hunt, work):
            found[(bug, start)] = count
    return [
        HuntResult(bug, grounds[bug], cap, tuple(found[(bug, start)] for start in starts)) for bug in sorted(grounds)
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class Shrunk:
    """A failing seed before and after `raftsim shrink`, and the CPU time the shrink took."""

    faults: tuple[int, int]
    operations: tuple[int, int]
    cpu_s: float


def shrunk(bug: str, scenario: str, seed: int, attempts: int) -> Shrunk:
    """Shrink the failing seed with at most `attempts` runs; the CPU seconds counted are the
    shrink's own, in this process, not those of the run that recorded the seed."""
    from raftsim import shrink

    chosen = dataclasses.replace(loader.load(scenario), seed=seed, bugs=(bug,))
    with tempfile.TemporaryDirectory() as folder:
        outcome = api.run(chosen, Path(folder) / "run", budget_s=BUDGET_S)
        assert outcome.verdict.verdict is Verdict.INVALID
        began = time.process_time()
        result = shrink.shrink(Path(folder) / "run", BUDGET_S, attempts)
        cpu_s = time.process_time() - began
    before, after = result.before, result.after
    return Shrunk((before.faults, after.faults), (before.operations, after.operations), cpu_s)


def _shrink(job: tuple[str, str, int, int]) -> tuple[str, Shrunk]:
    bug, scenario, seed, attempts = job
    return bug, shrunk(bug, scenario, seed, attempts)


def shrink_all(results: Sequence[HuntResult], first_start: int, attempts: int, jobs: int) -> dict[str, Shrunk]:
    """Each found bug's first failing seed from the first start, shrunk (in parallel)."""
    work = [
        (result.bug, result.scenario, first_start + result.seeds_needed[0] - 1, attempts)
        for result in results
        if result.seeds_needed[0] is not None
    ]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return dict(pool.map(_shrink, work))


def shrink_columns(sizes: dict[str, Shrunk]) -> list[Column]:
    def cell(show: Callable[[Shrunk], str]) -> Callable[[HuntResult], str]:
        return lambda result: show(sizes[result.bug]) if result.bug in sizes else "-"

    return [
        ("faults", cell(lambda figures: f"{figures.faults[0]}->{figures.faults[1]}")),
        ("operations", cell(lambda figures: f"{figures.operations[0]}->{figures.operations[1]}")),
        ("shrink CPU s", cell(lambda figures: f"{figures.cpu_s:.1f}")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", default=",".join(str(start) for start in DEFAULT_STARTS))
    parser.add_argument("--cap", type=int, default=DEFAULT_CAP)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--bug", action="append", default=[], help="only this bug (repeatable)")
    parser.add_argument(
        "--shrink",
        type=int,
        default=0,
        metavar="ATTEMPTS",
        help="also shrink each bug's first failing seed with this many attempts",
    )
    arguments = parser.parse_args()
    starts = [int(text) for text in arguments.starts.split(",")]
    grounds = hunting_grounds()
    missing = sorted(set(BUGS) - set(grounds))
    if missing:
        sys.exit(f"bug_hunt: no hunting ground for {', '.join(missing)} in {HUNTS_FILE}")
    if arguments.bug:
        unknown = sorted(set(arguments.bug) - set(grounds))
        if unknown:
            sys.exit(f"bug_hunt: unknown bug {', '.join(unknown)}")
        grounds = {bug: grounds[bug] for bug in arguments.bug}
    began = time.perf_counter()
    results = hunt_all(grounds, starts, arguments.cap, arguments.jobs)
    columns = default_columns(starts)
    if arguments.shrink:
        columns += shrink_columns(shrink_all(results, starts[0], arguments.shrink, arguments.jobs))
    print(format_table(results, columns))
    print(
        f"\n{len(results)} bugs, {len(starts)} starting points, cap {arguments.cap} seeds, "
        f"{time.perf_counter() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
