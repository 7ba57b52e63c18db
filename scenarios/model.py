"""A scenario is a value: everything a run needs, seed included.

Times are integers. Files speak milliseconds (`_ms`) where people think in them and
microseconds (`_us`) for network and disk latencies; the simulator works in microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import workloads

FAULT_KINDS = ("partition", "crash", "pause", "clock", "link", "disk")
PARTITION_SHAPES = ("isolate-node", "isolate-leader", "halves", "majorities-ring", "bridge")
TARGET_WORDS = ("random", "leader", "all", "minority", "majority")
NEMESIS_MODES = ("schedule", "random")
MAX_NODES = 9
# A schedule longer than this is a mistake, not a test; the bound keeps a resolved scenario
# (written faults plus drawn ones) a file of a few megabytes that replays.
MAX_WRITTEN_FAULTS = 2_000
MAX_DRAWN_FAULTS = 2_000
MAX_FAULTS = 2 * (MAX_WRITTEN_FAULTS + MAX_DRAWN_FAULTS)


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    nodes: int = 5
    tick_ms: int = 100
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_entries_per_message: int = 64


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    latency_us: int = 1000
    jitter_us: int = 500
    loss: float = 0.0
    duplicate: float = 0.0
    client_latency_us: int = 500


@dataclass(frozen=True, slots=True)
class DiskSpec:
    fsync_us: int = 2000
    fsync_jitter_us: int = 1000


@dataclass(frozen=True, slots=True)
class ClockSpec:
    drift_ppm_max: int = 0


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """The `[workload]` table. `kind` names a module of the `workloads` package, which
    decides what the kind-specific settings (`keys` and the mix weights) mean and which
    values it cannot run with; the rest drive the clients of every workload. `options`
    holds the settings the kind declares for itself (`workloads.Option`), as (name, value)
    pairs sorted by name: a kind's own settings never add a field here."""

    kind: str = "register"
    clients: int = 4
    keys: int = 3
    rate: int = 100
    read: float = 0.5
    write: float = 0.3
    cas: float = 0.2
    timeout_ms: int = 1000
    attempt_timeout_ms: int = 250
    options: tuple[tuple[str, workloads.OptionValue], ...] = ()


@dataclass(frozen=True, slots=True)
class NemesisSpec:
    mode: str = "schedule"
    kinds: tuple[str, ...] = FAULT_KINDS
    interval_ms: int = 5000
    fault_duration_ms: tuple[int, int] = (1000, 8000)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault of the schedule. `target` is a word of TARGET_WORDS or node ids; it is
    resolved against the cluster when the fault starts (the leader at that moment)."""

    kind: str
    start_ms: int
    duration_ms: int
    target: str | tuple[int, ...] = "random"
    shape: str = "isolate-node"
    one_way: bool = False
    drift_ppm: int = 0
    offset_ms: int = 0
    loss: float = 0.0
    duplicate: float = 0.0
    slow_factor: int = 10


@dataclass(frozen=True, slots=True)
class PhasesSpec:
    quiet_ms: int = 10000
    leader_bound_ms: int = 5000
    final_reads: bool = True
    final_reads_limit_ms: int = 10000


@dataclass(frozen=True, slots=True)
class ChecksSpec:
    """Bounds on what the checkers tolerate that are the scenario's to choose. None leaves
    the bound to the cluster's settings (see `Scenario.disruption_bound`); a file can
    only write a number, and `to_toml` leaves None out."""

    max_disruptions: int | None = None
    progress_bound_ms: int | None = None
    """How long a node may trail the leader's commit index in the quiet phases
    (`checkers.node_progress`); None leaves it to the cluster's timing."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str = ""
    seed: int = 0
    duration_ms: int = 30000
    swarm: bool = False
    trace_messages: bool = False
    bugs: tuple[str, ...] = ()
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    network: NetworkSpec = field(default_factory=NetworkSpec)
    disk: DiskSpec = field(default_factory=DiskSpec)
    clock: ClockSpec = field(default_factory=ClockSpec)
    workload: WorkloadSpec = field(default_factory=WorkloadSpec)
    nemesis: NemesisSpec = field(default_factory=NemesisSpec)
    faults: tuple[FaultSpec, ...] = ()
    phases: PhasesSpec = field(default_factory=PhasesSpec)
    checks: ChecksSpec = field(default_factory=ChecksSpec)

    @property
    def disruption_bound(self) -> int | None:
        """How many terms may begin over a healthy leader (`checkers.disruption`); None is
        no limit. Unless the file says, 0 when PreVote and CheckQuorum are both on, which
        exist to make it 0, and no limit without them, where a node that rejoins with a
        higher term deposing the leader is Raft working as designed."""
        if self.checks.max_disruptions is not None:
            return self.checks.max_disruptions
        return 0 if self.cluster.pre_vote and self.cluster.check_quorum else None

    @property
    def node_ids(self) -> tuple[int, ...]:
        return tuple(range(1, self.cluster.nodes + 1))


@dataclass(frozen=True, slots=True)
class Problem:
    """One inconsistency between fields of a scenario: `table` ("" for the top level),
    `key`, the fault's index for `faults`, and what is wrong."""

    table: str
    key: str | None
    index: int | None
    message: str


def problems(scenario: Scenario) -> list[Problem]:
    """What makes a scenario impossible to run as written: each field may be in range while
    the combination is not. The loader reports the first; `resolve` asserts there are none,
    so no drawn configuration ever names a node that does not exist."""
    found = []
    cluster, workload = scenario.cluster, scenario.workload
    if cluster.heartbeat_ticks >= cluster.election_ticks:
        found.append(Problem("cluster", "heartbeat_ticks", None, "must be smaller than election_ticks"))
    found.extend(_workload_problems(workload))
    if workload.attempt_timeout_ms > workload.timeout_ms:
        found.append(
            Problem(
                "workload",
                "attempt_timeout_ms",
                None,
                f"{workload.attempt_timeout_ms} exceeds timeout_ms ({workload.timeout_ms}): "
                "an attempt cannot outlast the operation's deadline",
            )
        )
    # Swarm draws the cluster size later, never below the highest node a fault names.
    highest = MAX_NODES if scenario.swarm else cluster.nodes
    for index, fault in enumerate(scenario.faults):
        if isinstance(fault.target, tuple):
            for node in fault.target:
                if not 1 <= node <= highest:
                    found.append(
                        Problem("faults", "target", index, f"node {node} does not exist (nodes are 1..{highest})")
                    )
                    break
        if fault.start_ms >= scenario.duration_ms:
            found.append(
                Problem(
                    "faults",
                    "start_ms",
                    index,
                    f"starts at {fault.start_ms} ms, at or after the end of the safety phase "
                    f"(duration_ms = {scenario.duration_ms}), when every fault is healed",
                )
            )
    return found


def _workload_problems(workload: WorkloadSpec) -> list[Problem]:
    """What the workload of this kind cannot run with (the kind itself, when none is
    called so: the loader refuses it first, so only a scenario built in code gets here)."""
    chosen = workloads.find(workload.kind)
    if chosen is None:
        return [Problem("workload", "kind", None, f"{workload.kind!r} is not one of {', '.join(workloads.kinds())}")]
    found = [Problem("workload", key, None, message) for key, message in _option_problems(chosen, workload)]
    return found + [Problem("workload", key, None, message) for key, message in chosen.problems(workload)]


def _option_problems(chosen: workloads.Workload, workload: WorkloadSpec) -> list[tuple[str, str]]:
    """The kind's own settings as `WorkloadSpec.options` holds them: declared, allowed and
    sorted (the loader makes them so; a spec built in code is held to the same)."""
    names = [name for name, _ in workload.options]
    if names != sorted(set(names)):
        return [("options", "must be sorted by name, each name once")]
    for name, value in workload.options:
        option = chosen.option(name)
        if option is None:
            declared = ", ".join(declared.name for declared in chosen.options) or "none"
            return [(name, f"workload {chosen.kind} has no such setting (its own: {declared})")]
        problem = option.problem(value)
        if problem is not None:
            return [(name, problem)]
    return []


def named_nodes(faults: tuple[FaultSpec, ...]) -> int:
    """The highest node id a fault names (0 when none does): the cluster needs that many."""
    return max((node for fault in faults if isinstance(fault.target, tuple) for node in fault.target), default=0)
