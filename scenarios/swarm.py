"""Swarm mode: every seed draws its own configuration.

After TigerBeetle's VOPR and FoundationDB's BUGGIFY: rather than one configuration tried
with many seeds, each seed picks a cluster size, timings, link and disk behaviour, which
fault kinds are on and how often, and the workload mix. Bugs that only show under an
unusual mix (tiny messages, no CheckQuorum, a lossy network and slow disks together) then
get their chance. The draw is written into the run's scenario, so a failing seed replays
from its folder with no other input.

Corners are drawn on purpose, each often enough to show within a few dozen seeds
(`CORNERS` holds the chances): every cluster size from 1 to 7 equally (even sizes, where a
majority is half plus one, and the single node and the largest cluster as often as three
or five); tight timings (an election timeout only a few round trips long, a heartbeat
interval close to the election timeout); one way of some links slow or lossy; faults in
bursts with long quiet periods between; a hot key fought over with compare-and-set; and,
drawn last, leader churn: five nodes without CheckQuorum whose leaders are cut off one
after another about as they take office and come back after others have led (the Raft
paper's figure 8).

The ranges keep every configuration one a careful operator could run, so that a liveness
or availability failure points at the code rather than at the settings: the election
timeout stays above the network's worst round trip plus the disk's fsync (ten times over,
or two and a half times in the tight corner), a heartbeat always arrives within a
follower's election timeout on the slowest clock, and only a minority of nodes has slow
or lossy links. Anything slower than the election timeout (a delay fault holding messages
for seconds) is a fault of the safety phase, healed before liveness is judged.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

import workloads
from scenarios import model
from scenarios.model import (
    FAULT_KINDS,
    ClockSpec,
    ClusterSpec,
    DiskSpec,
    LinksSpec,
    NemesisSpec,
    NetworkSpec,
    Scenario,
    WorkloadSpec,
)
from scenarios.rng import stream

NODE_CHOICES = (1, 2, 3, 4, 5, 6, 7)
"""Cluster sizes, each drawn equally often."""
CORNERS = {
    "tight-election": 0.25,  # election timeout 2.5 to 4 worst round trips, not 10 to 20
    "close-heartbeat": 0.25,  # heartbeat interval half the election timeout or more
    "asymmetric-links": 0.3,  # a minority's links slow or lossy one way
    "bursty-faults": 0.3,  # faults in bursts, long quiet periods between
    "quiet-faults": 0.15,  # a few faults only, far apart
    "hot-key": 0.25,  # one or two keys, mostly compare-and-set
}
"""The chance of each corner per seed, drawn independently."""
LATE_CORNERS = {
    "protocol-timed-faults": 0.3,  # a share of the faults start as a node campaigns or wins
    "leader-churn": 0.12,  # five nodes without CheckQuorum, each new leader soon cut off
}
"""Corners drawn after everything else, each at its own point of the draw (the last after
the workload), so that adding one left every earlier draw (and the seeds that do not take
it) as it was."""
READ_MODES = {"lease": 0.3, "serializable": 0.2}
"""The chance that a seed's leader reads under its lease (when CheckQuorum is drawn), and
that a register or etcd workload's clients send a share of serializable reads."""
SERIALIZABLE_KINDS = ("register", "etcd")
"""The workloads with a `serializable` share of reads."""
LATER_FAULT_KINDS = {"transfer": 0.5}
"""Fault kinds a random nemesis draws only when named (`model.NAMED_ONLY_FAULT_KINDS`) that
swarm switches on, each with this chance, by a die of a stream of its own: a seed that
leaves them off draws what it drew before they existed."""
CLOCK_FAULT_KINDS = ("clock",)
"""Fault kinds that move clocks beyond the drift bound."""
WORKLOAD_KINDS = (("register", 0.5), ("list-append", 0.1), ("etcd", 0.2), ("kubernetes", 0.15), ("election", 0.05))
"""Which workload a seed runs, drawn after every corner but the last: half the seeds keep
the register workload (and so their draws and digests from before the others were drawn).
`election` came last, taking the end of `kubernetes`' share (one die, cumulative weights):
every seed that does not draw it draws what it drew before. An election seed draws no clock
faults: a drift beyond the scenario's bound breaks leases by design (`lease-skew` shows it),
which is no bug of the store."""
WATCHING = 0.5
"""The chance that a seed whose workload keeps its keys under a prefix (etcd, kubernetes)
also runs watchers and informers of it (`workloads._watch`); drawn from a stream of its
own, so no other draw of any seed changes, and a seed that does not take them runs as before."""
MEMBERSHIP = 0.3
"""The chance that a seed's nemesis also draws `member` faults (a member removed, then
replaced by a new one), unless it drew slow links (`_membership`); drawn from a stream of
its own, so that no other draw of any seed changes and a seed that does not take them runs
as before."""
SNAPSHOTS = 0.5
"""The chance that a seed's nodes snapshot and compact their logs (`_snapshots`): every
`snapshot_every` entries, drawn from `SNAPSHOT_EVERY`, keeping `SNAPSHOT_CATCH_UP` entries
before each snapshot; drawn from a stream of its own, so no other draw of any seed changes,
and a seed that does not take it runs as before."""
SNAPSHOT_EVERY = (5, 20, 100, 500)
"""Often enough that followers back from a fault are sent snapshots, and restarts start
from them; seldom enough that some runs compact only a few times."""
SNAPSHOT_CATCH_UP = (0, 2, 10, 50)
LYING_DISKS = 0.3
"""The chance that a seed's disk faults may tear writes, flip bits or fill the disk rather
than only slow it (`_lying_disks`)."""
LYING_DISK_EFFECTS = ("slow", "torn", "full")
"""The disk effects of the lying-disks corner. Not `flip`: a flipped record keeps its node
down for good, and a cluster short of a node for its liveness phase is not one every drawn
timing and link promises to keep live (a three-node cluster left with two, one behind a
lossy link or with an election timeout a few round trips long, churns leaders); flips are
for scenarios that ask for them (`[nemesis] disk_effects`, `[[faults]] effect`)."""
CHURN_NODES = 5
"""The leader-churn corner's cluster: two leaders cut off at once still leave a majority
that elects a third, as in the Raft paper's figure 8."""
CHURN_MOST_FAULTS = 200
"""The most cuts the leader-churn corner adds, however short the election timeout (one
every 60 ms or so at the shortest timeout, 50 ms, would be 500 over a 30 s run)."""
LEASE_LAPSE_MOST = 1e-3
"""The highest chance that a drawn one-way loss drops every heartbeat of an election timeout."""
TIGHT_FACTOR = 2.5
ROOMY_FACTOR = 10


@dataclass(frozen=True, slots=True)
class Weights:
    """The chances of the draw's on/off choices; the defaults are the plain draw, which
    `raftsim run swarm --seed N` makes. A fuzz campaign that adapts (`raftsim.adapt`) passes
    others. Each choice consumes the same one die whatever its chance, so the rest of the
    draw is the same and only the choices weighed here can differ."""

    fault_kinds: tuple[tuple[str, float], ...] = tuple((kind, 0.5) for kind in FAULT_KINDS)
    pre_vote: float = 0.75
    check_quorum: float = 0.75

    def __post_init__(self) -> None:
        assert tuple(kind for kind, _ in self.fault_kinds) == FAULT_KINDS, self.fault_kinds
        for chance in (self.pre_vote, self.check_quorum, *(chance for _, chance in self.fault_kinds)):
            assert 0.0 <= chance <= 1.0, f"a chance of {chance}"

    def chance_of(self, kind: str) -> float:
        return dict(self.fault_kinds)[kind]


PLAIN = Weights()


def draw(scenario: Scenario, weights: Weights = PLAIN) -> Scenario:
    """The scenario with a configuration drawn from its seed; `swarm` is cleared."""
    rng = stream(scenario.seed, "swarm")
    corners = {name: rng.random() < chance for name, chance in CORNERS.items()}
    network = _network(rng, tight=corners["tight-election"])
    disk = DiskSpec(fsync_us=rng.choice((100, 1000, 2000, 8000)), fsync_jitter_us=rng.choice((0, 500, 4000)))
    clock = ClockSpec(drift_ppm_max=rng.choice((0, 0, 1000, 50_000)))
    cluster = _cluster(rng, network, disk, clock, model.named_nodes(scenario.faults), corners, weights)
    election_ms = cluster.tick_ms * cluster.election_ticks
    links = _links(rng, cluster, election_ms) if corners["asymmetric-links"] else ()
    drawn = dataclasses.replace(
        scenario,
        swarm=False,
        cluster=cluster,
        network=network,
        disk=disk,
        clock=clock,
        links=links,
        workload=_patient(_workload(rng, hot_key=corners["hot-key"]), network, links),
        nemesis=_nemesis(rng, scenario.duration_ms, corners, weights),
        phases=dataclasses.replace(
            scenario.phases,
            quiet_ms=max(scenario.phases.quiet_ms, 20 * election_ms),
            leader_bound_ms=max(scenario.phases.leader_bound_ms, 8 * election_ms),
        ),
    )
    if rng.random() < LATE_CORNERS["protocol-timed-faults"]:
        # Crashes as voters' votes land, pauses as a candidate asks: the moments a fault at
        # a random time seldom hits, where persistence and term bugs bite.
        triggered = rng.choice((0.3, 0.6, 1.0))
        drawn = dataclasses.replace(drawn, nemesis=dataclasses.replace(drawn.nemesis, triggered=triggered))
    kind = rng.choices([kind for kind, _ in WORKLOAD_KINDS], [chance for _, chance in WORKLOAD_KINDS])[0]
    if kind != "register":
        drawn = dataclasses.replace(drawn, workload=_kind_of(drawn.workload, kind))
    if kind == "election":
        drawn = _without_clock_faults(drawn)
    if rng.random() < LATE_CORNERS["leader-churn"]:
        drawn = _leader_churn(rng, drawn)
    drawn = _later_kinds(stream(scenario.seed, "swarm-kinds"), drawn)
    return _snapshots(_membership(_lying_disks(_watching(_read_modes(stream(scenario.seed, "swarm-reads"), drawn)))))


def _snapshots(drawn: Scenario) -> Scenario:
    """With chance `SNAPSHOTS`, the nodes snapshot their stores and compact their logs."""
    rng = stream(drawn.seed, "swarm-snapshots")
    if rng.random() >= SNAPSHOTS:
        return drawn
    cluster = dataclasses.replace(
        drawn.cluster, snapshot_every=rng.choice(SNAPSHOT_EVERY), snapshot_catch_up=rng.choice(SNAPSHOT_CATCH_UP)
    )
    return dataclasses.replace(drawn, cluster=cluster)


def _lying_disks(drawn: Scenario) -> Scenario:
    """With chance `LYING_DISKS`, drawn disk faults may also tear writes or fill the disk
    (`LYING_DISK_EFFECTS`), not only slow it; from a stream of its own, so no other draw of
    any seed changes, and a seed that does not take it runs as before."""
    if "disk" not in drawn.nemesis.kinds or stream(drawn.seed, "swarm-disks").random() >= LYING_DISKS:
        return drawn
    return dataclasses.replace(drawn, nemesis=dataclasses.replace(drawn.nemesis, disk_effects=LYING_DISK_EFFECTS))


def _membership(drawn: Scenario) -> Scenario:
    """With chance `MEMBERSHIP`, `member` faults join the nemesis's random mix; not with
    slow or lossy `[[links]]`, drawn on the promise that a majority keeps good links,
    which the removal of a well-linked member breaks for good (until a new member joins,
    which takes a leader that the badly linked rest may never elect)."""
    rng = stream(drawn.seed, "swarm-members")
    if rng.random() >= MEMBERSHIP or drawn.nemesis.mode != "random" or drawn.links:
        return drawn
    kinds = tuple(kind for kind in model.ALL_FAULT_KINDS if kind in drawn.nemesis.kinds or kind == "member")
    return dataclasses.replace(drawn, nemesis=dataclasses.replace(drawn.nemesis, kinds=kinds))


def _later_kinds(rng: random.Random, drawn: Scenario) -> Scenario:
    """`LATER_FAULT_KINDS` switched on or off, one die each whatever the draw so far."""
    later = [kind for kind, chance in LATER_FAULT_KINDS.items() if rng.random() < chance]
    if not later:
        return drawn
    kinds = tuple(kind for kind in model.ALL_FAULT_KINDS if kind in drawn.nemesis.kinds or kind in later)
    return dataclasses.replace(drawn, nemesis=dataclasses.replace(drawn.nemesis, kinds=kinds))


def _watching(drawn: Scenario) -> Scenario:
    """With chance `WATCHING`, one to four watchers and informers of the workload's
    prefix, at least one of them an informer half the time."""
    if not workloads.get(drawn.workload.kind).watch_prefix:
        return drawn
    rng = stream(drawn.seed, "swarm-watchers")
    if rng.random() >= WATCHING:
        return drawn
    watchers = rng.randint(0, 3)
    informers = rng.randint(1 if watchers == 0 else 0, 2)
    options = dict(drawn.workload.options) | {"watchers": watchers, "informers": informers}
    workload = dataclasses.replace(drawn.workload, options=tuple(sorted(options.items())))
    return dataclasses.replace(drawn, workload=workload)


def _read_modes(rng: random.Random, drawn: Scenario) -> Scenario:
    """How reads are served, from a stream of their own, so that every other draw is as it
    was. Lease reads go with CheckQuorum and without clock faults: a clock fault is drift
    beyond the bound a lease is cut for, where stale reads are the expected outcome (the
    `lease-reads-skew` scenario shows it), not a finding. Serializable reads are judged as
    etcd promises them: a state as of the revision they report, which may be old."""
    # Every die is cast whatever the draw so far, so that a corner changing the cluster
    # or the workload leaves the read modes of the rest as they were.
    lease, serializable, share = rng.random(), rng.random(), rng.choice((0.1, 0.3, 0.6))
    if drawn.cluster.check_quorum and lease < READ_MODES["lease"]:
        kinds = tuple(kind for kind in drawn.nemesis.kinds if kind not in CLOCK_FAULT_KINDS)
        drawn = dataclasses.replace(
            drawn,
            cluster=dataclasses.replace(drawn.cluster, read_only="lease"),
            nemesis=dataclasses.replace(drawn.nemesis, kinds=kinds or ("partition",)),
        )
    if drawn.workload.kind in SERIALIZABLE_KINDS and serializable < READ_MODES["serializable"]:
        options = tuple(sorted({**dict(drawn.workload.options), "serializable": share}.items()))
        drawn = dataclasses.replace(
            drawn,
            workload=dataclasses.replace(drawn.workload, options=options),
            checks=dataclasses.replace(drawn.checks, serializable_reads="revision"),
        )
    return drawn


def _leader_churn(rng: random.Random, drawn: Scenario) -> Scenario:
    """Leader churn, a fault pattern of Jepsen-style campaigns: leader after leader is cut
    off, about when it has taken office, for a few election timeouts, while the others elect
    leaders of their own; then it comes back. Without CheckQuorum a cut-off leader keeps its
    role and takes writes no one else sees; with few writes in flight a leader often falls
    before an entry of its own term reaches a majority; and a returning old leader, whose
    log ends in a later term than the majority's, wins again and pushes its old entries.
    That is the Raft paper's figure 8, where a leader that counts replicas of an earlier
    term's entries commits what a later leader overwrites.

    Partitions, not crashes: a killed leader takes no writes while it is gone, and a crash
    of the newest leader ends the very term figure 8 needs to leave behind (with a fifth
    of the cuts crashes, the corner found commit-old-term in 13 of 60 seeds, not 28). A
    third of the cuts start as a leader wins (`after = "leader"`); the rest at their time,
    often on a leader some way into its term that has taken writes of its own (cut at the
    moment it wins, it has none; all cuts so found it in 2 of 60). The seed's other drawn
    faults stay on, adding churn of their own; its `[[links]]` go, as they were drawn for
    another cluster size."""
    cluster = drawn.cluster
    nodes = CHURN_NODES if model.named_nodes(drawn.faults) <= CHURN_NODES else cluster.nodes
    election_ms = cluster.tick_ms * cluster.election_ticks
    # A client waits on one node for its whole deadline: resent at once to another, one
    # request would reach two rival leaders, and their rival entries carry the same write.
    workload = dataclasses.replace(
        drawn.workload,
        rate=min(drawn.workload.rate, rng.choice((2, 5, 10))),
        attempt_timeout_ms=drawn.workload.timeout_ms,
    )
    faults = list(drawn.faults)
    at_ms = rng.randint(election_ms, 4 * election_ms)
    while at_ms < drawn.duration_ms and len(faults) - len(drawn.faults) < CHURN_MOST_FAULTS:
        # Cuts half an election timeout to two apart, each lasting two to eight: several
        # leaders are cut off at once, and each returns after others have led.
        faults.append(
            model.FaultSpec(
                "partition",
                at_ms,
                rng.randint(2 * election_ms, 8 * election_ms),
                shape="isolate-leader",
                after=rng.choice(("time", "time", "leader")),
            )
        )
        at_ms += rng.randint(election_ms // 2, 2 * election_ms)
    return dataclasses.replace(
        drawn,
        cluster=dataclasses.replace(cluster, nodes=nodes, check_quorum=False),
        links=(),
        workload=workload,
        faults=tuple(faults),
    )


def _without_clock_faults(drawn: Scenario) -> Scenario:
    """The drawn scenario with no clock fault, scheduled or random (see `WORKLOAD_KINDS`)."""
    kinds = tuple(kind for kind in drawn.nemesis.kinds if kind not in CLOCK_FAULT_KINDS)
    return dataclasses.replace(
        drawn,
        nemesis=dataclasses.replace(drawn.nemesis, kinds=kinds or ("partition",)),
        faults=tuple(fault for fault in drawn.faults if fault.kind not in CLOCK_FAULT_KINDS),
    )


def _kind_of(workload: WorkloadSpec, kind: str) -> WorkloadSpec:
    """The drawn mix run by another workload, with that workload's own settings at their
    defaults (a run's scenario.toml states them all). The mix weights keep their meaning
    where the kind has one: read reads, write writes, cas compares (list-append has none)."""
    options = tuple(sorted((option.name, option.default) for option in workloads.get(kind).options))
    cas = 0.0 if kind == "list-append" else workload.cas
    read = workload.read if workload.read + workload.write + cas > 0 else 0.5
    return dataclasses.replace(workload, kind=kind, read=read, cas=cas, options=options)


def _patient(workload: WorkloadSpec, network: NetworkSpec, links: tuple[LinksSpec, ...]) -> WorkloadSpec:
    """The workload with deadlines that outlast its slowest answer. A request sent to a node
    behind a slow direction travels it up to four times (the forward to the leader, the
    append and its acknowledgement a commit waits for, the answer back): a client whose
    every attempt ends sooner never hears an answer, and the liveness checkers would blame
    the cluster for the client's impatience. Nothing is drawn, so no other draw moves."""
    extra_us = max([0, *(entry.extra_latency_us for entry in links)])
    if not extra_us:
        return workload
    slowest_ms = -(-8 * (network.latency_us + network.jitter_us + extra_us) // 1000)
    return dataclasses.replace(
        workload,
        timeout_ms=max(workload.timeout_ms, slowest_ms),
        attempt_timeout_ms=max(workload.attempt_timeout_ms, slowest_ms),
    )


def _network(rng: random.Random, tight: bool) -> NetworkSpec:
    """In the tight corner the links are slow, so that the election timeout (a few round
    trips) is not rounded up to a whole number of ticks many round trips long."""
    latency_us = rng.choice((5000, 20_000, 50_000) if tight else (100, 1000, 1000, 5000, 20_000))
    return NetworkSpec(
        latency_us=latency_us,
        jitter_us=rng.choice((0, latency_us // 4, latency_us // 2) if tight else (0, latency_us // 2, latency_us * 2)),
        loss=rng.choice((0.0, 0.0, 0.01, 0.05)),
        duplicate=rng.choice((0.0, 0.0, 0.01, 0.05)),
        client_latency_us=rng.choice((100, 500, 2000)),
    )


def _cluster(
    rng: random.Random,
    network: NetworkSpec,
    disk: DiskSpec,
    clock: ClockSpec,
    named: int,
    corners: dict[str, bool],
    weights: Weights,
) -> ClusterSpec:
    """`named` is the highest node a written fault names: the cluster is never smaller."""
    tick_ms = rng.choice((10, 20) if corners["tight-election"] else (10, 20, 50, 100))
    tick_us = tick_ms * 1000
    # The slowest round trip plus an fsync, which an election needs at least.
    worst_round_trip_us = 2 * (network.latency_us + network.jitter_us) + disk.fsync_us + disk.fsync_jitter_us
    if corners["tight-election"]:
        minimum_ticks = max(3, -(-int(TIGHT_FACTOR * worst_round_trip_us) // tick_us))
        election_ticks = rng.randint(minimum_ticks, minimum_ticks + minimum_ticks // 2)
    else:
        minimum_ticks = max(5, -(-ROOMY_FACTOR * worst_round_trip_us // tick_us))
        election_ticks = rng.randint(minimum_ticks, minimum_ticks * 2)
    return ClusterSpec(
        nodes=rng.choice(tuple(n for n in NODE_CHOICES if n >= named) or (named,)),
        tick_ms=tick_ms,
        election_ticks=election_ticks,
        heartbeat_ticks=_heartbeat_ticks(rng, election_ticks, tick_us, network, disk, clock, corners),
        pre_vote=rng.random() < weights.pre_vote,
        check_quorum=rng.random() < weights.check_quorum,
        max_entries_per_message=rng.choice((1, 4, 64, 1024)),
    )


def _heartbeat_ticks(
    rng: random.Random,
    election_ticks: int,
    tick_us: int,
    network: NetworkSpec,
    disk: DiskSpec,
    clock: ClockSpec,
    corners: dict[str, bool],
) -> int:
    """Usually at most a fifth of the election timeout. In the close corner, as long as a
    heartbeat still reaches every follower before its shortest election timeout ends: the
    leader's ticks may run fast and the follower's slow (drift), the heartbeat may wait for
    a slow fsync of the Ready it leaves with, and arrivals spread by the jitter."""
    usual = rng.randint(1, max(1, election_ticks // 5))
    if not corners["close-heartbeat"]:
        return usual
    drift = clock.drift_ppm_max / 1_000_000
    slack_us = 2 * network.jitter_us + 2 * (disk.fsync_us + disk.fsync_jitter_us) + tick_us
    room_us = election_ticks * tick_us * (1 - drift) / (1 + drift) - slack_us
    longest = min(election_ticks - 1, int(room_us // tick_us))
    shortest = max(1, election_ticks // 2)
    return rng.randint(shortest, longest) if longest >= shortest else max(usual, longest)


def _links(rng: random.Random, cluster: ClusterSpec, election_ms: int) -> tuple[LinksSpec, ...]:
    """One way of a minority's links slow (up to twice the election timeout) or lossy or
    both: its messages out, or its messages in. A majority keeps healthy links both ways,
    so a leader is always possible. A two-node cluster has no minority: there only loss."""
    nodes = list(range(1, cluster.nodes + 1))
    if cluster.nodes == 1:
        return ()
    minority = rng.sample(nodes, max(1, (cluster.nodes - 1) // 2))
    others = [node for node in nodes if node not in minority]
    slow = cluster.nodes > 2 and rng.random() < 0.6
    extra_latency_us = int(election_ms * 1000 * rng.choice((0.25, 0.5, 1.0, 2.0))) if slow else 0
    # A loss that lapses a follower's lease often (every heartbeat of one election timeout
    # lost) keeps a leader of the lossy node from holding its followers: in a two-node
    # cluster, where that node is half the majority, nothing would ever commit.
    heartbeats_per_lease = max(1, cluster.election_ticks // cluster.heartbeat_ticks)
    losses = tuple(loss for loss in (0.2, 0.5) if loss**heartbeats_per_lease <= LEASE_LAPSE_MOST)
    loss = rng.choice(losses) if losses and (not slow or rng.random() < 0.3) else 0.0
    if not extra_latency_us and not loss:
        return ()
    outgoing = rng.random() < 0.5
    from_nodes, to_nodes = (minority, nodes) if outgoing else (others, minority)
    return (LinksSpec(tuple(sorted(from_nodes)), tuple(sorted(to_nodes)), extra_latency_us, loss),)


def _workload(rng: random.Random, hot_key: bool) -> WorkloadSpec:
    timeout_ms = rng.choice((500, 1000, 3000))
    if hot_key:
        # Many clients on one or two keys, most operations compare-and-set: contention.
        clients, keys, rate = rng.randint(3, 8), rng.choice((1, 1, 2)), rng.choice((100, 200, 400))
        read, write, cas = round(rng.uniform(0.0, 0.3), 2), round(rng.uniform(0.05, 0.3), 2), 1.0
    else:
        clients, keys, rate = rng.randint(1, 8), rng.randint(1, 5), rng.choice((10, 50, 100, 200))
        read = round(rng.random(), 2)
        write = min(1.0, round(rng.random(), 2) + 0.01)  # never 0, never past the loader's range
        cas = round(rng.random(), 2)
    return WorkloadSpec(
        clients=clients,
        keys=keys,
        rate=rate,
        read=read,
        write=write,
        cas=cas,
        timeout_ms=timeout_ms,
        attempt_timeout_ms=min(timeout_ms, rng.choice((100, 250, 1000))),
    )


def _nemesis(rng: random.Random, duration_ms: int, corners: dict[str, bool], weights: Weights) -> NemesisSpec:
    kinds = tuple(kind for kind in FAULT_KINDS if rng.random() < weights.chance_of(kind)) or (rng.choice(FAULT_KINDS),)
    shortest_ms = rng.choice((200, 500, 2000))
    interval_ms = rng.choice((500, 1000, 3000, 8000))
    burst_faults, burst_window_ms = (1, 1), 0
    if corners["bursty-faults"]:
        # The same faults, packed: each drawn moment starts several within a short window,
        # and the moments are far apart.
        burst_faults = (2, rng.choice((3, 5, 8)))
        burst_window_ms = rng.choice((20, 200, 1000))
        interval_ms = rng.choice((5000, 10_000, 20_000))
    elif corners["quiet-faults"]:
        interval_ms = rng.choice((15_000, 30_000))
    # A very long run draws rarer faults, so the schedule stays one a file can hold.
    fewest_ms = -(-duration_ms * burst_faults[1] // model.MAX_DRAWN_FAULTS)
    return NemesisSpec(
        mode="random",
        kinds=kinds,
        interval_ms=max(interval_ms, fewest_ms),
        fault_duration_ms=(shortest_ms, shortest_ms * rng.choice((2, 5, 10))),
        burst_faults=burst_faults,
        burst_window_ms=burst_window_ms,
    )
