"""Shrinking a failing run to a smaller one that fails the same way.

The search is deterministic and greedy: it tries candidate scenarios in a fixed order and
keeps the first that still fails the same way and is smaller (`Size.key`, measured on the
candidate's own run: faults first down to FEW_FAULTS, then operations and faults weighed
together). Then it starts the passes again from the smaller scenario, until no candidate is
kept or the attempt budget runs out. A scenario already tried is never run twice: it failed
to fail, or was no smaller than a scenario that has since been improved on. Nor is a
schedule of fewer faults that failed to fail tried again once only the workload or the
run's length shrank, nor (for a safety anomaly) a run that ends no later than one of the
same scenario that did not show it. A candidate that fails the same way (a safety anomaly)
but is no smaller is cut just after its anomaly and tried so before the search goes on: a
run that went on past its anomaly may be the smaller one once it ends there.

Cheap candidates come first, because most candidates fail to fail and each costs a run:

1. End the run just after the first anomaly (its time + a margin), for every run kept, not
   only the original. For a safety anomaly the heal, liveness and final-read phases go too
   (`quiet_ms = 0` leaves liveness and node progress unjudged), so the run is a prefix of
   the one that failed, with the same dice, and ends where the anomaly did. This pass is
   tried before anything else, even before re-running the original, which is only run
   when no cut run fails.
2. A shorter run: healed a second after the last fault, then at each eighth of its length
   (for a safety anomaly, only those ending after it).
3. Fewer faults by delta debugging: none at all, then halves, then each chunk alone and
   each chunk removed at finer granularity, down to one fault at a time.
4. A smaller workload (a lower rate, in eighths, fewer clients with the rate lowered with
   them so the clients that stay keep their pace, fewer keys, no final reads; for a safety
   anomaly each in a run RUN_STRETCH times as long as its pace asks, since it shows the
   anomaly later if at all) and the faults moved earlier (on EARLIER_STEPS steps from the
   first leader's election, and with FEW_FAULTS faults or fewer also every FINE_STEP_MS for
   FINE_STEPS steps from it), together, cheapest run first.
5. Each stretch of up to WINDOW_FAULTS_MAX faults in a row of the original schedule alone,
   when nothing above helps: an escape from a schedule whose faults all serve an anomaly
   that a later stretch of the original shows alone. Late, because a late stretch makes a
   long run, which the passes above then cut and move earlier.
6. Shorter faults.

Each candidate's checkers get a budget proportional to its expected operations, so a small
candidate never waits on a budget sized for the original.

"Fails the same way" is `Target`: the candidate fails one of the checkers the original
failed, preferring the safety ones (a safety anomaly must stay a safety anomaly; liveness
counts only when the original failed liveness alone), and fails no checker the original
did not. The shrunk scenario is named after the run it came from (`NAME-shrunk`, described
as "shrunk from NAME seed N"), a name that changes no random draw, and the checkers it is
said to fail are those its own verdict fails. Every fault draws from a random stream named
by its own content and every client from one named by its slot, so deleting a fault or a
client leaves the rest of the world's dice as they were, which is what lets a smaller
schedule keep failing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.errors import InputError
from checkers.verdict import RunVerdict, Verdict
from raftsim import api
from raftsim.run_folder import RunFolder
from scenarios.loader import MAX_DESCRIPTION
from scenarios.model import FaultSpec, Scenario, problems

MINIMUM_FAULT_MS = 100
MINIMUM_DURATION_MS = 1000
LEAD_MS = 2 * MINIMUM_DURATION_MS
"""Time left for a first leader before the first fault when faults are moved earlier, if
the run it is moved in elected none."""
EARLIER_STEPS = 16
"""Start times tried for the first fault when faults are moved earlier, evenly from the
first leader's election to its start: whether a fault shows a bug hangs on the state it
finds (an entry in flight, a follower behind), so a fine grid is what finds an early
moment that works, and an early moment is what makes a short run."""
FEW_FAULTS = 3
"""Down to this many faults a run is smaller by its faults first; from there on, by its
operations and faults together (`Size.key`)."""
OPERATIONS_PER_FAULT = 10
"""What a fault weighs against operations in a run of FEW_FAULTS faults or fewer: one
fault fewer is worth up to ten operations more. A reader follows a few faults easily; a
long history before them is what hides the anomaly (one fault at 25 s with 110 operations
reads worse than three faults at 8 s with 40)."""
FINE_STEP_MS = 50
FINE_STEPS = 40
"""Start times tried besides the EARLIER_STEPS ones once a run has FEW_FAULTS faults or
fewer: every FINE_STEP_MS for FINE_STEPS steps from the first leader's election. A fault
that shows a bug alone may do so only in windows of about a hundred milliseconds (an entry
just appended, a vote just cast), a few per second of the run; the coarse grid over a long
run steps over all the early ones, and an early one is what makes a short run."""
RUN_STRETCH = 2
"""How much longer than its pace asks a smaller workload's run is, for a safety anomaly:
the run kept ends just after its anomaly, and a smaller workload, drawing other dice,
mostly shows it later if at all; the run is cut after the anomaly once it fails."""
WINDOW_FAULTS_MAX = 3
"""The longest stretch of the original schedule's faults tried alone (`_fault_windows`)."""
RATE_EIGHTHS = range(1, 8)
"""Lower rates tried, in eighths of the rate: the rate is what operations grow with, and a
bug that needs a busy cluster may stand only a small cut of it. Clients and keys are tried
at one, a half and seven eighths."""
CUT_MARGINS_MS = (100, 1000)
"""How long a cut run goes on after the first anomaly, the shortest tried first."""
MINIMUM_CHECK_S = 1.0
"""The least checker budget of a candidate, however small: enough for any history of a few
hundred operations, so a small budget never decides whether a candidate fails."""
LIVENESS = "liveness"
QUIET_CHECKERS = frozenset({LIVENESS, "node-progress"})
"""The checkers that judge only the quiet period after the heal (`api.judge`): a run cut
just after the anomaly, which has no quiet period, cannot fail them."""
SHRUNK_SUFFIX = "-shrunk"
NAME_LENGTH_MAX = 100
"""The longest scenario name the loader accepts."""


@dataclass(frozen=True, slots=True)
class Size:
    """How big a run is; `operations` is what its history holds (client invocations,
    final reads included), measured, since no formula predicts it under faults."""

    faults: int
    operations: int
    fault_ms: int
    duration_ms: int
    quiet_ms: int
    clients: int
    keys: int
    rate: int
    final_reads: bool

    @staticmethod
    def of(scenario: Scenario, operations: int) -> Size:
        return Size(
            len(scenario.faults),
            operations,
            sum(f.duration_ms for f in scenario.faults),
            scenario.duration_ms,
            scenario.phases.quiet_ms,
            scenario.workload.clients,
            scenario.workload.keys,
            scenario.workload.rate,
            scenario.phases.final_reads,
        )

    def key(self) -> tuple[int, ...]:
        """Smaller is better, in this order of importance: faults down to FEW_FAULTS, then
        operations and faults weighed together (`OPERATIONS_PER_FAULT`), then each alone.
        So a shrink never ends at one fault and a hundred operations when a run of three
        faults and a few operations failed the same way, nor trades a fault for one operation."""
        return (
            max(self.faults, FEW_FAULTS),
            self.operations + OPERATIONS_PER_FAULT * self.faults,
            self.faults,
            self.operations,
            self.fault_ms,
            self.duration_ms,
            self.quiet_ms,
            self.clients,
            self.keys,
            self.rate,
            int(self.final_reads),
        )


@dataclass(frozen=True, slots=True)
class Target:
    """What a candidate must fail to fail the same way: one of `required`, and nothing
    outside `allowed` (the checkers the original failed)."""

    required: frozenset[str]
    allowed: frozenset[str]

    @staticmethod
    def of(failing: frozenset[str]) -> Target:
        assert failing, "a target is taken from a failing run"
        safety = failing - {LIVENESS}
        return Target(safety or failing, failing)

    @property
    def safety(self) -> bool:
        """Whether the anomaly is one a run ended just after it keeps: one that needs no
        quiet period to be judged."""
        return not self.required & QUIET_CHECKERS

    def met_by(self, failing: frozenset[str]) -> bool:
        return bool(failing & self.required) and failing <= self.allowed


@dataclass(frozen=True, slots=True)
class ShrinkResult:
    """`checkers` are the checkers the shrunk run fails (its own verdict's), `targets` those
    the original failed; the shrunk run fails at least one of the targets. `outcome` is the
    shrunk run's, judged without a folder: `api.keep` writes it without simulating again."""

    original: Scenario
    shrunk: Scenario
    checkers: frozenset[str]
    attempts: int
    outcome: api.RunOutcome
    targets: frozenset[str]
    before: Size
    after: Size


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


def operations_of(outcome: api.RunOutcome) -> int:
    return int(outcome.result.stats["operations"])


def first_anomaly_us(verdict: RunVerdict, checkers: frozenset[str]) -> int | None:
    """When the first anomaly of `checkers` became evident: an anomaly's `t`, or for a
    linearizability counterexample the latest time one of its operations returned (or was
    invoked, if it never returned). None when no failing checker says."""
    times: list[int] = []
    for name in sorted(checkers):
        result = verdict.checkers.get(name)
        if result is None or result.verdict is not Verdict.INVALID:
            continue
        times.extend(anomaly["t"] for anomaly in result.found if type(anomaly.get("t")) is int)
        for partition in result.partitions_with(Verdict.INVALID):
            ends = list(_counterexample_ends(partition.get("counterexample")))
            if ends:
                times.append(max(ends))
    return min(times, default=None)


def _counterexample_ends(counterexample: Any) -> Iterator[int]:
    """Each counterexample operation's return time, or its call time if it never returned;
    whatever is not so in a verdict read from a file is passed over."""
    operations = counterexample.get("operations") if isinstance(counterexample, dict) else None
    for operation in operations if isinstance(operations, list) else ():
        if not isinstance(operation, dict):
            continue
        for field in ("return_time_us", "call_time_us"):
            if type(operation.get(field)) is int:
                yield operation[field]
                break


def first_leader_ms(trace: str) -> int:
    """The millisecond after a run's first leader was elected (from its trace), or LEAD_MS
    if none was: before it, a fault meant for a leader finds none."""
    at = trace.find('"role":"leader"')
    if at < 0:
        return LEAD_MS
    end = trace.find("\n", at)
    line = trace[trace.rfind("\n", 0, at) + 1 : len(trace) if end < 0 else end]
    try:
        t_us = json.loads(line)["t"]
    except (ValueError, KeyError, TypeError):
        return LEAD_MS
    return t_us // 1000 + 1 if type(t_us) is int else LEAD_MS


def estimated_operations(scenario: Scenario) -> int:
    """Operations a run of `scenario` offers to invoke (the rate over the whole workload,
    and the final reads): what a candidate's run and check will cost, known before it runs."""
    workload, phases = scenario.workload, scenario.phases
    offered = workload.rate * (scenario.duration_ms + phases.quiet_ms) // 1000
    return offered + (workload.clients * workload.keys if phases.final_reads else 0)


class _Search:
    """The state of one shrink: the smallest failing scenario so far and what it cost."""

    def __init__(
        self, target: Target, budget_s: float, max_attempts: int, original_operations: int, best: Scenario
    ) -> None:
        self.target = target
        self.budget_s = budget_s
        self.max_attempts = max_attempts
        self.original_operations = max(1, original_operations)
        self.attempts = 0
        self.tried: set[Scenario] = set()  # asked for membership only, never iterated
        self.futile_schedules: set[tuple[FaultSpec, ...]] = set()  # membership only
        self.futile_runs: dict[Scenario, int] = {}  # looked up only, never iterated
        self.best = best
        self.best_size = Size.of(best, original_operations)
        self.best_outcome: api.RunOutcome | None = None

    @property
    def exhausted(self) -> bool:
        return self.attempts >= self.max_attempts

    def check_budget_s(self, candidate: Scenario) -> float:
        """The original's budget scaled to the candidate's expected operations."""
        share = estimated_operations(candidate) / self.original_operations
        return min(self.budget_s, max(MINIMUM_CHECK_S, self.budget_s * share))

    def run(self, candidate: Scenario, budget_s: float) -> api.RunOutcome:
        self.tried.add(candidate)
        self.attempts += 1
        return api.run(candidate, None, budget_s)

    def attempt(self, candidate: Scenario) -> bool:
        """Run `candidate` if it is new, and keep it if it fails the same way and is smaller."""
        if self.exhausted or candidate in self.tried or problems(candidate):
            return False
        # Fewer faults in the best run as it is: a schedule that failed to fail is not
        # tried again once only the workload or the run's length shrank. It seldom fails
        # then, and trying every smaller schedule again after each smaller workload took a
        # third of the attempts, which the passes after it (moving faults earlier, the
        # original's stretches alone) need more.
        fewer_faults = dataclasses.replace(candidate, faults=self.best.faults) == self.best
        if fewer_faults and candidate.faults in self.futile_schedules:
            return False
        # A safety anomaly a run did not show, no shorter run of the same scenario shows:
        # up to its end it is the same run. Each run cut a little shorter would otherwise
        # try every smaller workload and earlier fault again.
        unended = dataclasses.replace(candidate, duration_ms=0)
        if self.target.safety and candidate.duration_ms <= self.futile_runs.get(unended, -1):
            return False
        outcome = self.run(candidate, self.check_budget_s(candidate))
        if not self.target.met_by(failing_checkers(outcome.verdict)):
            if fewer_faults:
                self.futile_schedules.add(candidate.faults)
            self.futile_runs[unended] = max(candidate.duration_ms, self.futile_runs.get(unended, -1))
            return False
        size = Size.of(candidate, operations_of(outcome))
        if size.key() < self.best_size.key():
            self.best, self.best_size, self.best_outcome = candidate, size, outcome
            return True
        # It fails the same way but ran on past its anomaly: a workload tried in a longer
        # run (`_smaller_workload`), or faults that act later. Cut just after the anomaly,
        # the same dice up to it, it may be the smaller run; cheap, and tried before any
        # other candidate, as a kept run is cut first.
        if self.target.safety:
            return self.first_kept(_cut_run(candidate, first_anomaly_us(outcome.verdict, self.target.required), True))
        return False

    def first_kept(self, candidates: Iterable[Scenario]) -> bool:
        """Try candidates in order until one is kept or the attempts run out."""
        for candidate in candidates:
            if self.exhausted:
                return False
            if self.attempt(candidate):
                return True
        return False


def shrink(
    folder: Path,
    budget_s: float = 60.0,
    max_attempts: int = 200,
    report: Callable[[int, Size], None] = lambda attempts, size: None,
) -> ShrinkResult:
    """Search for a smaller scenario that fails the way the run in `folder` failed, running
    at most `max_attempts` candidates, each checked within `budget_s` or less."""
    assert max_attempts >= 1, max_attempts
    recorded = RunFolder(folder)
    scenario = recorded.scenario
    verdict_path = recorded.require("verdict.json")
    targets = failing_checkers(recorded.verdict)
    if not targets:
        raise InputError(str(verdict_path), None, "valid", "this run found no anomaly; there is nothing to shrink")
    original = shrunk_name(scenario)
    original_operations = sum(1 for event in recorded.history if event.type == "invoke")
    search = _Search(Target.of(targets), budget_s, max_attempts, original_operations, original)
    anomaly_us = first_anomaly_us(recorded.verdict, search.target.required)
    # A cut run is a fraction of the original's cost: tried first, the original is re-run
    # only to confirm it still fails when no cut run does.
    if not search.first_kept(_cut_run(original, anomaly_us, search.target.safety)):
        outcome = search.run(original, budget_s)
        if not search.target.met_by(failing_checkers(outcome.verdict)):
            raise InputError(
                str(folder), None, None, "re-running this scenario no longer fails; replay it to compare digests"
            )
        search.best_size = Size.of(original, operations_of(outcome))
        search.best_outcome = outcome
    report(search.attempts, search.best_size)
    while not search.exhausted:
        assert search.best_outcome is not None
        anomaly_us = first_anomaly_us(search.best_outcome.verdict, search.target.required)
        lead_ms = first_leader_ms(search.best_outcome.result.trace_text)
        chosen = candidates(search.best, anomaly_us, search.target.safety, original, lead_ms)
        if not search.first_kept(chosen):
            break
        report(search.attempts, search.best_size)
    assert search.best_outcome is not None
    return ShrinkResult(
        scenario,
        search.best,
        failing_checkers(search.best_outcome.verdict),
        search.attempts,
        search.best_outcome,
        targets,
        Size.of(original, original_operations),
        search.best_size,
    )


def candidates(
    scenario: Scenario,
    anomaly_us: int | None = None,
    safety: bool = True,
    origin: Scenario | None = None,
    lead_ms: int = LEAD_MS,
) -> Iterator[Scenario]:
    """Smaller variants of `scenario`, the cheapest and most ambitious first, each once.
    `anomaly_us` is when its first anomaly showed (None: unknown), `safety` whether that
    anomaly needs no quiet period (a run cut just after it keeps it), `origin` the scenario
    the shrink started from (its schedule's short stretches are tried alone), `lead_ms`
    when its run had elected a first leader (faults are moved no earlier)."""
    seen: set[Scenario] = set()  # membership only
    # A run that ends before a safety anomaly showed cannot show it: it is a prefix of the
    # run that did, with the same dice.
    ends_after_ms = -(-anomaly_us // 1000) if anomaly_us is not None and safety else 0
    passes: tuple[Iterable[Scenario], ...] = (
        _cut_run(scenario, anomaly_us, safety),
        _shorter_run(scenario, ends_after_ms),
        _fewer_faults(scenario),
        _cheaper_runs(scenario, lead_ms, safety, (origin or scenario).duration_ms),
        _fault_windows(scenario, origin or scenario, safety),
        _shorter_faults(scenario),
    )
    for generated in passes:
        for candidate in generated:
            if candidate != scenario and candidate not in seen:
                seen.add(candidate)
                yield candidate


def _ending_at(scenario: Scenario, duration_ms: int) -> Scenario:
    """`scenario` healed at `duration_ms`, without the faults that would start after it.
    Faults that remain keep their length (and so their random stream): the heal ends them."""
    kept = tuple(fault for fault in scenario.faults if fault.start_ms < duration_ms)
    return dataclasses.replace(scenario, duration_ms=duration_ms, faults=kept)


def _cut_run(scenario: Scenario, anomaly_us: int | None, safety: bool) -> Iterator[Scenario]:
    """The run ended a margin after its first anomaly, shortest margin first. Up to the new
    end nothing changes, so the anomaly happens again; a safety anomaly needs no phase after
    it (no quiet period, so no liveness to judge, and no final reads)."""
    if anomaly_us is None or not safety:
        return
    anomaly_ms = -(-anomaly_us // 1000)
    phases = dataclasses.replace(scenario.phases, quiet_ms=0, final_reads=False)
    for margin_ms in CUT_MARGINS_MS:
        duration_ms = max(MINIMUM_DURATION_MS, anomaly_ms + margin_ms)
        if duration_ms <= scenario.duration_ms:
            yield dataclasses.replace(_ending_at(scenario, duration_ms), phases=phases)


def _fewer_faults(scenario: Scenario) -> Iterator[Scenario]:
    """Delta debugging over the schedule: no faults, then at each granularity (halves,
    quarters, … single faults) each chunk alone and each chunk removed."""
    faults = scenario.faults
    if not faults:
        return
    yield dataclasses.replace(scenario, faults=())
    parts = 2
    while parts <= len(faults):
        bounds = [len(faults) * index // parts for index in range(parts + 1)]
        chunks = [(bounds[index], bounds[index + 1]) for index in range(parts)]
        for start, end in chunks:
            yield dataclasses.replace(scenario, faults=faults[start:end])
        for start, end in chunks:
            yield dataclasses.replace(scenario, faults=faults[:start] + faults[end:])
        parts = min(parts * 2, len(faults)) if parts < len(faults) else parts + 1


def _fault_windows(scenario: Scenario, origin: Scenario, safety: bool) -> Iterator[Scenario]:
    """Each stretch of up to WINDOW_FAULTS_MAX faults in a row of the original schedule,
    alone, fewest first, in a run ended LEAD_MS after the stretch. Faults that act together
    are mostly close in time, and an earlier stretch may have needed what a later one does
    alone, which delta debugging over the cut run (where the later stretch is gone) cannot
    find. Each is tried with the workload shrunk so far, then with the original one."""
    faults = origin.faults
    phases = dataclasses.replace(scenario.phases, quiet_ms=0, final_reads=False) if safety else scenario.phases
    for workload in dict.fromkeys((scenario.workload, origin.workload)):
        for size in range(1, min(WINDOW_FAULTS_MAX, len(scenario.faults) - 1) + 1):
            for start in range(len(faults) - size + 1):
                window = faults[start : start + size]
                end_ms = max(fault.start_ms + fault.duration_ms for fault in window) + LEAD_MS
                duration_ms = min(origin.duration_ms, max(end_ms, MINIMUM_DURATION_MS))
                if all(fault.start_ms < duration_ms for fault in window):
                    base = dataclasses.replace(scenario, workload=workload, phases=phases, faults=window)
                    yield dataclasses.replace(base, duration_ms=duration_ms)


def _cheaper_runs(scenario: Scenario, lead_ms: int, safety: bool = False, longest_ms: int = 0) -> list[Scenario]:
    """A smaller workload and the faults moved earlier, together, cheapest first (stable: a
    smaller workload first at equal cost). Once the faults are few, a bug that hangs on
    the state a fault finds sheds operations mostly by an earlier fault (the history before
    it goes), which trying every lower rate first, again after each small gain, starves."""
    smaller = _smaller_workload(scenario, safety, longest_ms)
    return sorted([*smaller, *_earlier_faults(scenario, lead_ms)], key=estimated_operations)


def _think_us(scenario: Scenario) -> int:
    """A client's mean think time, as the world derives it."""
    return scenario.workload.clients * 1_000_000 // scenario.workload.rate


def _stretched(scenario: Scenario, smaller: Scenario, longest_ms: int) -> Scenario:
    """`smaller` (a smaller workload of `scenario`) in a run RUN_STRETCH times as long as
    its clients need to make as many operations each as `scenario`'s made, at most
    `longest_ms` (and never shorter than `scenario`'s). Its first part has the same faults,
    and a safety anomaly it shows is cut just after (`_Search.attempt`): a workload tried
    only up to where the larger one showed its anomaly hardly ever shows it there (a
    compaction that four clients made 56 operations in, two slower ones made in 28)."""
    wanted_ms = -(-scenario.duration_ms * _think_us(smaller) * RUN_STRETCH // _think_us(scenario))
    duration_ms = max(scenario.duration_ms, min(wanted_ms, longest_ms))
    return dataclasses.replace(smaller, duration_ms=duration_ms)


def _smaller_workload(scenario: Scenario, safety: bool = False, longest_ms: int = 0) -> Iterator[Scenario]:
    """Lower rates (in eighths, no finer: a rate one lower than the last gains a few
    operations for a round of attempts), fewer clients, fewer keys, no final reads: the
    cheapest run first. For a safety anomaly each in a longer run (`_stretched`)."""
    workload = scenario.workload
    smaller: list[Scenario] = []

    def with_workload(**changes: Any) -> Scenario:
        changed = dataclasses.replace(scenario, workload=dataclasses.replace(workload, **changes))
        return _stretched(scenario, changed, longest_ms) if safety else changed

    for rate in _fewer(workload.rate, RATE_EIGHTHS, one_less=False):
        smaller.append(with_workload(rate=rate))
    for clients in _fewer(workload.clients, (0, 4, 7)):
        paced = _paced_rate(workload.clients, workload.rate, clients)
        if paced is not None:
            smaller.append(with_workload(clients=clients, rate=paced))
        smaller.append(with_workload(clients=clients))
    for keys in _fewer(workload.keys, (0, 4, 7)):
        smaller.append(with_workload(keys=keys))
    if scenario.phases.final_reads:
        smaller.append(dataclasses.replace(scenario, phases=dataclasses.replace(scenario.phases, final_reads=False)))
    yield from sorted(smaller, key=estimated_operations)  # stable: equal costs keep this order


def _fewer(value: int, eighths: Iterable[int], one_less: bool = True) -> list[int]:
    """`value` scaled by each number of eighths (rounded down, at least 1), and `value` - 1
    if `one_less`, ascending, each below `value`."""
    chosen = {max(1, value * eighth // 8) for eighth in eighths} | ({value - 1} if one_less else set())
    return sorted(number for number in chosen if 1 <= number < value)


def _paced_rate(clients: int, rate: int, fewer: int) -> int | None:
    """The rate at which `fewer` clients each keep the pace (mean think time, which the
    world derives as clients * 1 s // rate) they had as `clients` at `rate`; None if no
    whole rate does."""
    second_us = 1_000_000
    pace_us = clients * second_us // rate
    guess = max(1, rate * fewer // clients)
    for paced in (guess, guess + 1, guess - 1):
        if paced >= 1 and fewer * second_us // paced == pace_us:
            return paced
    return None


def _earlier_faults(scenario: Scenario, lead_ms: int = LEAD_MS) -> Iterator[Scenario]:
    """Every fault moved earlier, the first to start at EARLIER_STEPS even steps from
    `lead_ms` (when the run elected its first leader) to its start, and with FEW_FAULTS
    faults or fewer also every FINE_STEP_MS for FINE_STEPS steps from `lead_ms`, soonest
    first."""
    first_start_ms = min((f.start_ms for f in scenario.faults), default=0)
    span_ms = first_start_ms - lead_ms
    chosen = {lead_ms + span_ms * step // EARLIER_STEPS for step in range(EARLIER_STEPS)}
    if len(scenario.faults) <= FEW_FAULTS:
        chosen |= {lead_ms + FINE_STEP_MS * step for step in range(FINE_STEPS)}
    starts_ms = sorted(chosen)
    for start_ms in (start for start in starts_ms if start < first_start_ms):
        shift_ms = first_start_ms - start_ms
        earlier = tuple(dataclasses.replace(f, start_ms=f.start_ms - shift_ms) for f in scenario.faults)
        duration_ms = max(MINIMUM_DURATION_MS, scenario.duration_ms - shift_ms)
        yield _ending_at(dataclasses.replace(scenario, faults=earlier), duration_ms)


def _shorter_faults(scenario: Scenario) -> Iterator[Scenario]:
    for index, fault in enumerate(scenario.faults):
        if fault.duration_ms // 2 >= MINIMUM_FAULT_MS:
            shorter = dataclasses.replace(fault, duration_ms=fault.duration_ms // 2)
            faults = (*scenario.faults[:index], shorter, *scenario.faults[index + 1 :])
            yield dataclasses.replace(scenario, faults=faults)


def _shorter_run(scenario: Scenario, ends_after_ms: int = 0) -> Iterator[Scenario]:
    """The run healed a second after its last fault ends, then at each eighth of its length,
    shortest first, each ending after `ends_after_ms`: an anomaly seen only at the end (a
    write lost, a follower left behind) gives no time to cut at. The cheapest candidates of
    all, and one that ends before later faults start is one with fewer faults too."""
    last_fault_end_ms = max((f.start_ms + f.duration_ms for f in scenario.faults), default=0)
    eighths = (scenario.duration_ms * eighth // 8 for eighth in range(1, 8))
    for duration_ms in (last_fault_end_ms + MINIMUM_DURATION_MS, *eighths):
        duration_ms = max(duration_ms, MINIMUM_DURATION_MS)
        if ends_after_ms < duration_ms < scenario.duration_ms:
            yield _ending_at(scenario, duration_ms)
