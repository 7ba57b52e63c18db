"""How many seeds the harness needs to find each planted bug.

For every bug, runs its hunting ground (the built-in scenario named for it in
`tests/test_bug_hunt.py`, read from there so the two never disagree) with the bug on,
seed after seed from several starting points, and counts the seeds up to and including
the first whose verdict is invalid. Prints one row per bug: the count for each starting
point, and their median. A starting point that finds nothing within the cap counts as
"more than the cap"; the median is then "> cap" if that is the middle value.

    .venv/bin/python benchmarks/bug_hunt.py [--starts 1,1001,2001,3001,4001] [--cap 100]
                                            [--jobs N] [--bug NAME]... [--shrink ATTEMPTS]
                                            [--scenario NAME]

With `--scenario NAME` (say `swarm`), every bug is hunted in that one scenario instead of
its own hunting ground: what a campaign that knows nothing of the bug would need. The cap
then defaults to 200. Hunts go seed by seed together (every open hunt tries its next seed
before any tries the one after), so `--stop-after SECONDS` ends a long campaign with every
open hunt tried equally far, shown as more than the seeds tried.

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

from checkers.errors import InputError
from checkers.verdict import Verdict
from raftcore.bugs import BUGS
from raftsim import api
from scenarios import loader

HUNTS_FILE = Path(__file__).resolve().parent.parent / "tests" / "test_bug_hunt.py"
DEFAULT_STARTS = (1, 1001, 2001, 3001, 4001)
DEFAULT_CAP = 100
DEFAULT_SCENARIO_CAP = 200
"""With `--scenario`: a generic campaign needs more seeds than a bug's own hunting ground."""
BUDGET_S = 30
"""Seconds the linearizability search may take per run; `unknown` does not count as found."""


def hunting_grounds() -> dict[str, str]:
    """bug -> scenario, as the bug-hunt tests state them."""
    spec = importlib.util.spec_from_file_location("test_bug_hunt", HUNTS_FILE)
    assert spec is not None, HUNTS_FILE
    assert spec.loader is not None, HUNTS_FILE
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {bug: hunt[0] for bug, hunt in module.HUNTS.items()}


def seed_fails(bug: str, scenario: str, seed: int) -> bool:
    """Whether `seed` of `scenario` with `bug` planted ends invalid."""
    assert bug in BUGS, bug
    chosen = dataclasses.replace(loader.load(scenario), seed=seed, bugs=(bug,))
    try:
        verdict = api.run(chosen, None, budget_s=BUDGET_S).verdict.verdict
    except Exception as error:  # the harness failed on this seed, as `raftsim fuzz` records
        # A long hunt goes on past one seed the harness cannot judge; it is not a find.
        print(f"{bug} seed {seed}: harness error {error!r}", file=sys.stderr, flush=True)
        return False
    return verdict is Verdict.INVALID


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


def _try(job: tuple[str, str, int]) -> bool:
    bug, scenario, seed = job
    return seed_fails(bug, scenario, seed)


def hunt_all(
    grounds: dict[str, str], starts: Sequence[int], cap: int, jobs: int, stop_after_s: float | None = None
) -> list[HuntResult]:
    """Every hunt (a bug from a start) that has not found its bug yet tries its next seed,
    round after round, until each has found it or tried `cap` seeds: so a campaign that
    stops early (after `stop_after_s` seconds, checked between rounds) leaves every open hunt
    tried equally far, and the results then carry the seeds tried as their cap."""
    began = time.perf_counter()
    found: dict[tuple[str, int], int] = {}
    open_hunts = [(bug, start) for bug in sorted(grounds) for start in starts]
    tried = 0
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        while open_hunts and tried < cap:
            if stop_after_s is not None and time.perf_counter() - began > stop_after_s:
                break
            work = [(bug, grounds[bug], start + tried) for bug, start in open_hunts]
            for hunt, failed in zip(open_hunts, pool.map(_try, work), strict=True):
                if failed:
                    found[hunt] = tried + 1
                    print(f"{hunt[0]} from {hunt[1]}: {tried + 1}", file=sys.stderr, flush=True)
            tried += 1
            open_hunts = [hunt for hunt in open_hunts if hunt not in found]
            # One line per round: a long campaign shows where it is.
            print(f"seed {tried} of each: {len(open_hunts)} hunts open", file=sys.stderr, flush=True)
    # A hunt still open when the campaign stopped early missed only the seeds it tried.
    shown_cap = tried if open_hunts else cap
    return [
        HuntResult(bug, grounds[bug], shown_cap, tuple(found.get((bug, start)) for start in starts))
        for bug in sorted(grounds)
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
    parser.add_argument(
        "--cap",
        type=int,
        default=None,
        help=f"seeds per start (default {DEFAULT_CAP}; {DEFAULT_SCENARIO_CAP} with --scenario)",
    )
    parser.add_argument("--scenario", help="hunt every bug in this one scenario (say swarm) instead of its own ground")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--stop-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="start no new round of seeds after this long; open hunts then show as more than the seeds tried",
    )
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
    if arguments.scenario is not None:
        try:
            loader.load(arguments.scenario)
        except InputError as error:
            sys.exit(f"bug_hunt: --scenario: {error}")
        grounds = dict.fromkeys(grounds, arguments.scenario)
    cap = arguments.cap
    if cap is None:
        cap = DEFAULT_CAP if arguments.scenario is None else DEFAULT_SCENARIO_CAP
    if cap < 1:
        sys.exit("bug_hunt: --cap must be at least 1")
    if arguments.bug:
        unknown = sorted(set(arguments.bug) - set(grounds))
        if unknown:
            sys.exit(f"bug_hunt: unknown bug {', '.join(unknown)}")
        grounds = {bug: grounds[bug] for bug in arguments.bug}
    began = time.perf_counter()
    results = hunt_all(grounds, starts, cap, arguments.jobs, arguments.stop_after)
    columns = default_columns(starts)
    if arguments.shrink:
        columns += shrink_columns(shrink_all(results, starts[0], arguments.shrink, arguments.jobs))
    print(format_table(results, columns))
    stopped = results[0].cap < cap
    reach = f"stopped after {results[0].cap} seeds of each open hunt" if stopped else f"cap {cap} seeds"
    print(f"\n{len(results)} bugs, {len(starts)} starting points, {reach}, {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
