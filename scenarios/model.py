"""A scenario is a value: everything a run needs, seed included.

Times are integers. Files speak milliseconds (`_ms`) where people think in them and
microseconds (`_us`) for network and disk latencies; the simulator works in microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import workloads

FAULT_KINDS = ("partition", "crash", "pause", "clock", "link", "disk", "delay")
NAMED_ONLY_FAULT_KINDS = ("member", "transfer")
"""Fault kinds a random nemesis draws only when `[nemesis] kinds` names them (swarm draws
`transfer` too, from a die of its own), so that every mix written before they existed draws
as it did: `member` removes its target from the membership through a membership change at
the leader and, when the fault heals, adds a new, empty member (a new node id) as a learner
and promotes it once it caught up: a failed member replaced. On a real cluster it is etcd's
member remove and add. `transfer` asks the leader to hand leadership to a follower
(`TRANSFER_TARGETS`), in the simulator or through etcd's move-leader; its heal undoes
nothing."""
ALL_FAULT_KINDS = FAULT_KINDS + NAMED_ONLY_FAULT_KINDS
TRANSFER_TARGETS = ("random", "lagging")
"""What a transfer fault's `target` may say besides one node id: a random follower, or the
running follower with the shortest log (`lagging`; under a partition, usually one on the
far side), which the leader must catch up before it hands over."""
PARTITION_SHAPES = ("isolate-node", "isolate-leader", "halves", "majorities-ring", "bridge")
TARGET_WORDS = ("random", "leader", "all", "minority", "majority")
NEMESIS_MODES = ("schedule", "random")
SERIALIZABLE_JUDGEMENTS = ("linearizable", "revision")
CLOCK_MODES = ("set", "bump", "strobe")
"""What a clock fault does to its targets' clocks: `set` their drift and offset, `bump` them
forward or back by `delta_ms` until the fault heals, or `strobe` them between true time
and time + `delta_ms` every `strobe_period_ms`; after Jepsen's clock nemesis."""
MAX_STROBE_FLIPS = 10_000
"""A strobe flips its clocks `duration_ms / strobe_period_ms` times, each a trace line."""
DISK_EFFECTS = ("slow", "torn", "flip", "full")
"""What a disk fault does to its targets' disks (`sim.disk`): `slow` multiplies fsync
latency by `slow_factor`; `torn` leaves the write in flight at each crash while it lasts
cut (a restart drops it); `flip` inverts a bit of one stored record (the node refuses to
start at its next restart); `full` refuses writes (the node stops, and starts again when
the fault heals). After Jepsen's lazyfs and FoundationDB's non-durable files."""
TRIGGERS = ("time", "campaign", "leader", "membership")
"""When a fault starts: at `start_ms` (`time`), or at the first moment at or after it that a
node starts an election (`campaign`, a real one, not a pre-vote), wins one (`leader`), or
a leader's commit index passes a membership change (`membership`: before that leader takes
its next Ready, so before it tells its followers, applies the change or writes it down)."""
DRAWN_TRIGGERS = ("campaign", "leader")
"""The protocol moments the random nemesis draws (`[nemesis] triggered`). `membership` is
not drawn, so that seeds drawing triggered faults draw as they did before it existed."""
MAX_NODES = 9
# A schedule longer than this is a mistake, not a test; the bound keeps a resolved scenario
# (written faults plus drawn ones) a file of a few megabytes that replays.
MAX_WRITTEN_FAULTS = 2_000
MAX_DRAWN_FAULTS = 2_000
MAX_FAULTS = 2 * (MAX_WRITTEN_FAULTS + MAX_DRAWN_FAULTS)
MAX_LINKS = 100
"""`[[links]]` entries a scenario may hold: more than a 9-node cluster has directed links."""
ADDED = {"added": True}
"""Field metadata of a setting newer than the files and runs that omit it: the field is left
out of its spec's repr (which names a fault's random stream) and out of a written file
while it holds its default, so every older scenario keeps its text and its dice."""


def added_field(default: Any) -> Any:
    """A field marked `ADDED` (see there)."""
    return field(default=default, repr=False, metadata=ADDED)


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    nodes: int = 5
    tick_ms: int = 100
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_entries_per_message: int = 64
    read_only: str = added_field("safe")
    """How the leader confirms linearizable reads: `safe` (a heartbeat round, ReadIndex) or
    `lease` (no round while its lease holds; needs CheckQuorum)."""
    snapshot_every: int = added_field(0)
    """Each node snapshots its store once this many entries were applied since its last
    snapshot, and compacts its log (etcd's `--snapshot-count`); 0 never does."""
    snapshot_catch_up: int = added_field(0)
    """Entries kept before a snapshot's index when the log is compacted (etcd's
    SnapshotCatchUpEntries): a follower lagging by fewer gets entries, not the snapshot."""


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

    def __post_init__(self) -> None:
        # The kind's own settings are all stated, at their defaults where not given, so a
        # spec built in code equals the one its written file reads back (a written
        # [workload] table states every setting its run used).
        kind = workloads.find(self.kind)
        if kind is not None and kind.options:
            stated = {option.name: option.default for option in kind.options}
            stated.update(self.options)
            object.__setattr__(self, "options", tuple(sorted(stated.items())))


@dataclass(frozen=True, slots=True)
class NemesisSpec:
    mode: str = "schedule"
    kinds: tuple[str, ...] = FAULT_KINDS
    interval_ms: int = 5000
    fault_duration_ms: tuple[int, int] = (1000, 8000)
    burst_faults: tuple[int, int] = added_field((1, 1))
    burst_window_ms: int = added_field(0)
    triggered: float = added_field(0.0)
    """The share of drawn faults that start at a protocol moment (`FaultSpec.after`) rather
    than at their drawn time."""
    disk_effects: tuple[str, ...] = added_field(("slow",))
    """The effects drawn disk faults take (DISK_EFFECTS), each as likely. Only a nemesis
    that draws more than `slow` casts a die for it, so other schedules stay as drawn."""


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
    delay_ms: int = added_field(2000)
    share: float = added_field(1.0)
    mode: str = added_field("set")
    """A clock fault's mode (CLOCK_MODES): `set` uses `drift_ppm` and `offset_ms`, `bump`
    `delta_ms`, `strobe` `delta_ms` and `strobe_period_ms`."""
    delta_ms: int = added_field(0)
    strobe_period_ms: int = added_field(0)
    effect: str = added_field("slow")
    """A disk fault's effect (DISK_EFFECTS); only `slow` uses `slow_factor`."""
    after: str = added_field("time")
    """`time`: the fault starts at `start_ms`. Otherwise (a word of TRIGGERS) it is armed at
    `start_ms` and starts at the next such moment of the protocol, if one comes before the
    heal; its `duration_ms` counts from there. Crashing voters as a leader wins, or pausing
    a candidate as it campaigns, lands where random times seldom do."""


@dataclass(frozen=True, slots=True)
class LinksSpec:
    """One `[[links]]` entry: the links from each node of `from_nodes` to each other node of
    `to_nodes` are slower (`extra_latency_us` on top of `[network]`'s latency) or lossier
    (`loss` in place of `[network]`'s, when higher) than the rest, one way only: the links
    back stay as `[network]` says unless another entry names them."""

    from_nodes: tuple[int, ...]
    to_nodes: tuple[int, ...]
    extra_latency_us: int = 0
    loss: float = 0.0

    def pairs(self) -> list[tuple[int, int]]:
        """The directed links this entry degrades, in order."""
        return [(a, b) for a in self.from_nodes for b in self.to_nodes if a != b]


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
    serializable_reads: str = added_field("linearizable")
    """How serializable reads are judged: `linearizable`, as every read (a stale one is an
    anomaly: the run asks to see them flagged); `revision`, as etcd promises them: each
    shows the store as of the revision it reports, which may be old (they are left out of
    the linearizability check and of revision-monotonic, and read-revision still holds)."""


@dataclass(frozen=True, slots=True)
class RestoreSpec:
    """The `[restore]` table: the cluster starts from a backup (`raftcore.backup`), as etcd's
    `snapshot restore` rebuilds one (`raftcore.restore`). `backup` is the file's path as the
    loader found it (a relative one in the file is taken from the scenario file's folder),
    so a scenario written out again names the same file, except in a run folder, which
    keeps a copy (`backup.json`); `text` the file's content, read and checked by the
    loader, so that a scenario value is all a run needs."""

    backup: str
    text: str = field(repr=False)


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
    links: tuple[LinksSpec, ...] = added_field(())
    phases: PhasesSpec = field(default_factory=PhasesSpec)
    checks: ChecksSpec = field(default_factory=ChecksSpec)
    restore: RestoreSpec | None = field(default=None, repr=False, metadata=ADDED)
    """The backup the cluster is restored from; None: every node starts empty."""

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
        found.extend(_clock_problems(fault, index))
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
    found.extend(_links_problems(scenario))
    nemesis = scenario.nemesis
    if nemesis.disk_effects != ("slow",) and "disk" not in nemesis.kinds:
        found.append(Problem("nemesis", "disk_effects", None, "has no effect: kinds does not include disk"))
    if nemesis.burst_window_ms and nemesis.burst_faults[1] == 1:
        message = "has no effect when burst_faults is [1, 1] (each drawn moment starts one fault)"
        found.append(Problem("nemesis", "burst_window_ms", None, message))
    return found


def _clock_problems(fault: FaultSpec, index: int) -> list[Problem]:
    """A bump or strobe that would not move the clock, a strobe without a period or with
    more flips than a trace should hold. (Fields of another mode are the loader's to
    refuse, as it refuses fields of another kind.)"""
    if fault.kind != "clock" or fault.mode == "set":
        return []
    if fault.delta_ms == 0:
        return [Problem("faults", "delta_ms", index, f"a {fault.mode} of 0 ms changes nothing: give delta_ms")]
    if fault.mode == "strobe":
        if fault.strobe_period_ms == 0:
            return [Problem("faults", "strobe_period_ms", index, "a strobe needs strobe_period_ms (its flip period)")]
        flips = fault.duration_ms // fault.strobe_period_ms
        if flips > MAX_STROBE_FLIPS:
            message = f"{flips} flips over duration_ms ({fault.duration_ms}); at most {MAX_STROBE_FLIPS}"
            return [Problem("faults", "strobe_period_ms", index, message)]
    return []


def _links_problems(scenario: Scenario) -> list[Problem]:
    """`[[links]]` entries that name missing nodes, change nothing, or degrade a link that
    an earlier entry already degrades (one of the two would be ignored)."""
    found = []
    claimed: dict[tuple[int, int], int] = {}
    for index, links in enumerate(scenario.links):
        for key, nodes in (("from_nodes", links.from_nodes), ("to_nodes", links.to_nodes)):
            missing = [node for node in nodes if not 1 <= node <= scenario.cluster.nodes]
            if missing:
                message = f"node {missing[0]} does not exist (nodes are 1..{scenario.cluster.nodes})"
                found.append(Problem("links", key, index, message))
        if not links.pairs():
            found.append(Problem("links", "to_nodes", index, "names no link: every node listed is in from_nodes too"))
        if links.extra_latency_us == 0 and links.loss == 0.0:
            found.append(Problem("links", None, index, "sets neither extra_latency_us nor loss: it changes nothing"))
        elif links.loss and links.loss <= scenario.network.loss:
            message = f"{links.loss} has no effect: [network] loss is already {scenario.network.loss}"
            found.append(Problem("links", "loss", index, message))
        for pair in links.pairs():
            earlier = claimed.setdefault(pair, index)
            if earlier != index:
                message = f"link {pair[0]}->{pair[1]} is already degraded by links[{earlier}]"
                found.append(Problem("links", "to_nodes", index, message))
                break
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
