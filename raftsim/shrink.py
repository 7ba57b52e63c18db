"""Shrinking a failing run to a smaller one that fails the same way.

The passes are deterministic and each keeps a candidate only if it still fails one of the
checkers the original failed: drop faults (large chunks first, then one at a time, as
delta debugging does), shorten the faults that remain, end the run sooner, use fewer
clients and keys and a lower rate. Passes repeat until none makes progress or the attempt
budget runs out. The shrunk scenario is named after the run it came from (`NAME-shrunk`,
described as "shrunk from NAME seed N"), a name that changes no random draw, and the
checkers it is said to fail are those its own verdict fails. Every fault draws from a
random stream named by its own content and every client from one named by its slot, so
deleting a fault or a client leaves the rest of the world's dice as they were, which is
what lets a smaller schedule keep failing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from checkers.errors import InputError
from checkers.verdict import RunVerdict
from raftsim import api
from raftsim.run_folder import RunFolder
from scenarios.loader import MAX_DESCRIPTION
from scenarios.model import Scenario

MINIMUM_FAULT_MS = 100
MINIMUM_DURATION_MS = 1000
SHRUNK_SUFFIX = "-shrunk"
NAME_LENGTH_MAX = 100
"""The longest scenario name the loader accepts."""


@dataclass(frozen=True, slots=True)
class Size:
    faults: int
    fault_ms: int
    duration_ms: int
    clients: int
    keys: int
    rate: int

    @staticmethod
    def of(scenario: Scenario) -> Size:
        return Size(
            len(scenario.faults),
            sum(f.duration_ms for f in scenario.faults),
            scenario.duration_ms,
            scenario.workload.clients,
            scenario.workload.keys,
            scenario.workload.rate,
        )

    def key(self) -> tuple[int, ...]:
        """Smaller is better, in this order of importance."""
        return (self.faults, self.fault_ms, self.duration_ms, self.clients, self.keys, self.rate)

    def describe(self) -> str:
        return (
            f"{self.faults} faults ({self.fault_ms} ms), {self.duration_ms} ms run, "
            f"{self.clients} clients, {self.keys} keys, {self.rate} ops/s"
        )


@dataclass(frozen=True, slots=True)
class ShrinkResult:
    """`checkers` are the checkers the shrunk run fails (its own verdict's), `targets` those
    the original failed; the shrunk run fails at least one of the targets."""

    original: Scenario
    shrunk: Scenario
    checkers: frozenset[str]
    attempts: int
    outcome: api.RunOutcome
    targets: frozenset[str] = frozenset()


def failing_checkers(verdict: RunVerdict) -> frozenset[str]:
    return frozenset(verdict.failing())


def shrunk_name(scenario: Scenario) -> Scenario:
    """The scenario renamed as a shrunk copy of `scenario` at its seed. The name is only
    written in the trace's first line; no random stream is derived from it, so the renamed
    scenario behaves as the original does."""
    name = scenario.name
    if not name.endswith(SHRUNK_SUFFIX) and len(name) + len(SHRUNK_SUFFIX) <= NAME_LENGTH_MAX:
        name += SHRUNK_SUFFIX
    origin = f"shrunk from {scenario.name} seed {scenario.seed}"
    description = f"{origin}: {scenario.description}" if scenario.description else origin
    if scenario.description.startswith("shrunk from "):
        description = scenario.description  # a shrunk run shrunk again keeps its first origin
    if len(description) > MAX_DESCRIPTION:  # else the run folder's scenario.toml would not load
        description = description[: MAX_DESCRIPTION - 1] + "…"
    return dataclasses.replace(scenario, name=name, description=description)


def shrink(
    folder: Path,
    budget_s: float = 60.0,
    max_attempts: int = 200,
    report: Callable[[int, Size], None] = lambda attempts, size: None,
) -> ShrinkResult:
    recorded = RunFolder(folder)
    scenario = recorded.scenario
    verdict_path = recorded.require("verdict.json")
    targets = failing_checkers(recorded.verdict)
    if not targets:
        raise InputError(str(verdict_path), None, "valid", "this run found no anomaly; there is nothing to shrink")
    attempts = 0

    def still_fails(candidate: Scenario) -> api.RunOutcome | None:
        nonlocal attempts
        attempts += 1
        outcome = api.run(candidate, None, budget_s)
        return outcome if failing_checkers(outcome.verdict) & targets else None

    best = shrunk_name(scenario)
    best_outcome = still_fails(best)
    if best_outcome is None:
        raise InputError(
            str(folder), None, None, "re-running this scenario no longer fails; replay it to compare digests"
        )
    report(attempts, Size.of(best))
    progressed = True
    while progressed and attempts < max_attempts:
        progressed = False
        for candidate in candidates(best):
            if attempts >= max_attempts:
                break
            if Size.of(candidate).key() >= Size.of(best).key():
                continue
            outcome = still_fails(candidate)
            if outcome is not None:
                best, best_outcome, progressed = candidate, outcome, True
                report(attempts, Size.of(best))
                break  # start the passes again from the smaller scenario
    return ShrinkResult(scenario, best, failing_checkers(best_outcome.verdict), attempts, best_outcome, targets)


def candidates(scenario: Scenario) -> Iterator[Scenario]:
    """Smaller variants of `scenario`, the most ambitious first, each once."""
    seen: set[Scenario] = set()
    for generate in (_fewer_faults, _shorter_faults, _shorter_run, _smaller_workload):
        for candidate in generate(scenario):
            if candidate not in seen:
                seen.add(candidate)
                yield candidate


def _fewer_faults(scenario: Scenario) -> Iterator[Scenario]:
    faults = scenario.faults
    chunk = len(faults) // 2
    while chunk >= 1:
        for start in range(0, len(faults), chunk):
            kept = faults[:start] + faults[start + chunk :]
            yield dataclasses.replace(scenario, faults=kept)
        chunk //= 2


def _shorter_faults(scenario: Scenario) -> Iterator[Scenario]:
    for index, fault in enumerate(scenario.faults):
        if fault.duration_ms // 2 >= MINIMUM_FAULT_MS:
            shorter = dataclasses.replace(fault, duration_ms=fault.duration_ms // 2)
            faults = (*scenario.faults[:index], shorter, *scenario.faults[index + 1 :])
            yield dataclasses.replace(scenario, faults=faults)


def _shorter_run(scenario: Scenario) -> Iterator[Scenario]:
    first_start_ms = min((f.start_ms for f in scenario.faults), default=0)
    lead_ms = MINIMUM_DURATION_MS * 2  # time for a first leader before the first fault
    if first_start_ms > lead_ms:
        shift_ms = first_start_ms - lead_ms
        earlier = tuple(dataclasses.replace(f, start_ms=f.start_ms - shift_ms) for f in scenario.faults)
        yield dataclasses.replace(
            scenario, faults=earlier, duration_ms=max(MINIMUM_DURATION_MS, scenario.duration_ms - shift_ms)
        )
    last_fault_end_ms = max((f.start_ms + f.duration_ms for f in scenario.faults), default=0)
    for duration_ms in (last_fault_end_ms + MINIMUM_DURATION_MS, scenario.duration_ms // 2):
        duration_ms = max(duration_ms, MINIMUM_DURATION_MS)
        if duration_ms < scenario.duration_ms:
            kept = tuple(f for f in scenario.faults if f.start_ms < duration_ms)
            yield dataclasses.replace(scenario, duration_ms=duration_ms, faults=kept)


def _smaller_workload(scenario: Scenario) -> Iterator[Scenario]:
    workload = scenario.workload
    if workload.clients - 1 >= 1:
        yield dataclasses.replace(scenario, workload=dataclasses.replace(workload, clients=workload.clients - 1))
    if workload.keys - 1 >= 1:
        yield dataclasses.replace(scenario, workload=dataclasses.replace(workload, keys=workload.keys - 1))
    if workload.rate // 2 >= 1:
        yield dataclasses.replace(scenario, workload=dataclasses.replace(workload, rate=workload.rate // 2))
